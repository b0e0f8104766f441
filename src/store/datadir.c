/* datadir.c - the data directory's lock (see datadir.h). */
#include "store/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/errors.h"
#include "core/log.h"

int ff_datadir_lock(const char *dir, int *fd_out)
{
    if (mkdir(dir, 0755) && errno != EEXIST) {
        int rc = -errno;
        ff_error("cannot create the data directory %s: %s", dir, ff_strerror(rc));
        return rc;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/LOCK", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int rc = -errno;
        ff_error("cannot open %s: %s", path, ff_strerror(rc));
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int rc = -errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        if (n > 0) pid[n] = '\0';
        if (rc == -EWOULDBLOCK)
            ff_error("the data directory %s is in use by another footfall process (pid %s)", dir, n > 0 ? pid : "?");
        else
            ff_error("cannot lock %s: %s", path, ff_strerror(rc));
        close(fd);
        return rc;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) != n) ff_warn("cannot write the pid into %s", path);
    *fd_out = fd;
    return 0;
}
