/* fsync_cost - what one durable append costs on the disk under DIR: pwrite of 4 KiB into a
 * file whose blocks already exist (as the WAL's zero-ahead arranges), then fdatasync.
 * Prints wall time, CPU time (user + system) and context switches per append, so the
 * benchmark can show how much of footfall's CPU the group commits take.
 *
 *   fsync_cost DIR [COUNT]      (COUNT defaults to 2000) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double usec(struct timeval t) { return t.tv_sec * 1e6 + t.tv_usec; }

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fsync_cost DIR [COUNT]\n");
        return 2;
    }
    int count = argc > 2 ? atoi(argv[2]) : 2000;
    if (count < 1) count = 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/fsync_cost.tmp", argv[1]);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fsync_cost: cannot create %s: %s\n", path, strerror(errno));
        return 1;
    }
    static char block[4096];
    size_t bytes = (size_t)count * sizeof block;
    /* Allocate the blocks first, so the timed fdatasyncs flush data and no metadata. */
    for (size_t off = 0; off < bytes; off += sizeof block) {
        if (pwrite(fd, block, sizeof block, (off_t)off) != (ssize_t)sizeof block) goto fail;
    }
    if (fsync(fd)) goto fail;
    memset(block, 'x', sizeof block);
    struct rusage r0, r1;
    struct timespec t0, t1;
    getrusage(RUSAGE_SELF, &r0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < count; i++) {
        if (pwrite(fd, block, sizeof block, (off_t)i * (off_t)sizeof block) != (ssize_t)sizeof block) goto fail;
        if (fdatasync(fd)) goto fail;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    getrusage(RUSAGE_SELF, &r1);
    double wall = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
    double cpu = usec(r1.ru_utime) - usec(r0.ru_utime) + usec(r1.ru_stime) - usec(r0.ru_stime);
    long cs = (r1.ru_nvcsw - r0.ru_nvcsw) + (r1.ru_nivcsw - r0.ru_nivcsw);
    printf("FSYNC count=%d wall_us=%.1f cpu_us=%.1f switches=%.2f\n", count, wall / count, cpu / count,
           (double)cs / count);
    close(fd);
    unlink(path);
    return 0;
fail:
    fprintf(stderr, "fsync_cost: %s: %s\n", path, strerror(errno));
    close(fd);
    unlink(path);
    return 1;
}
