/* fileio.c - durable file helpers with failure injection (see fileio.h). */
#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/errors.h"

static atomic_long fail_in[FF_IO_OPS];
static atomic_int fail_err[FF_IO_OPS];

void ff_io_fail_after(enum ff_io_op op, long n, int err)
{
    atomic_store(&fail_err[op], err ? err : -EIO);
    atomic_store(&fail_in[op], n);
}

void ff_io_fail_reset(void)
{
    for (int op = 0; op < FF_IO_OPS; op++) ff_io_fail_after((enum ff_io_op)op, 0, 0);
}

/* Non-zero (the error to return) when this call of `op` is the one told to fail. */
static int injected(enum ff_io_op op)
{
    long n = atomic_load(&fail_in[op]);
    while (n > 0) {
        if (atomic_compare_exchange_weak(&fail_in[op], &n, n - 1)) return n == 1 ? atomic_load(&fail_err[op]) : 0;
    }
    return 0;
}

/* All n bytes, retrying short writes; no injected failure (the callers count theirs). */
static int write_raw(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n > (size_t)INT_MAX ? (size_t)INT_MAX : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int ff_io_write_all(int fd, const void *p, size_t n)
{
    int e = injected(FF_IO_WRITE);
    return e ? e : write_raw(fd, p, n);
}

int ff_io_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
    int e = injected(FF_IO_WRITE);
    if (e) return e;
    const char *c = p;
    while (n) {
        ssize_t w = pwrite(fd, c, n > (size_t)INT_MAX ? (size_t)INT_MAX : n, off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        c += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

int ff_io_fsync(int fd)
{
    int e = injected(FF_IO_FSYNC);
    if (e) return e;
    return fdatasync(fd) ? -errno : 0;
}

int ff_io_rename(const char *from, const char *to)
{
    int e = injected(FF_IO_RENAME);
    if (e) return e;
    return rename(from, to) ? -errno : 0;
}

int ff_io_fsync_dir(const char *dir)
{
    int e = injected(FF_IO_FSYNC);
    if (e) return e;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

int ff_io_fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    return ff_io_fsync_dir(dir);
}

/* The end of an atomic file write into `tmp` on fd (rc: how the writing went): fsync'd,
 * closed and renamed to `path`, or removed. */
static int finish_atomic(int fd, int rc, const char *tmp, const char *path)
{
    if (!rc) rc = ff_io_fsync(fd);
    close(fd);
    if (!rc) rc = ff_io_rename(tmp, path);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    /* Past the rename the new contents are what everyone sees: a failure now cannot be
     * undone, only reported. */
    return ff_io_fsync_parent(path) ? FF_IO_UNSYNCED : 0;
}

int ff_io_write_file_atomic_pieces(const char *path, const struct ff_io_piece *pieces, size_t npieces)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    int rc = injected(FF_IO_WRITE); /* one write as fault injection counts them, however many pieces */
    for (size_t i = 0; i < npieces && !rc; i++) rc = write_raw(fd, pieces[i].p, pieces[i].n);
    return finish_atomic(fd, rc, tmp, path);
}

#define DIRECT_ALIGN ((size_t)4096) /* what O_DIRECT wants of offsets, lengths and buffers */

void ff_io_scratch_free(struct ff_io_scratch *s)
{
    free(s->p);
    s->p = NULL;
    s->cap = 0;
}

int ff_io_write_file_atomic_direct(const char *path, const struct ff_io_piece *pieces, size_t npieces,
                                   struct ff_io_scratch *scratch)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return -ENAMETOOLONG;
    size_t total = 0;
    for (size_t i = 0; i < npieces; i++) total += pieces[i].n;
    size_t padded = (total + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
    if (fd < 0) return errno == EINVAL ? ff_io_write_file_atomic_pieces(path, pieces, npieces) : -errno;
    struct ff_io_scratch own = {0}, *sc = scratch ? scratch : &own;
    int rc = injected(FF_IO_WRITE); /* one write, as the buffered path counts it */
    if (!rc && sc->cap < padded) {
        ff_io_scratch_free(sc);
        if (posix_memalign(&sc->p, DIRECT_ALIGN, padded)) sc->p = NULL, rc = -ENOMEM;
        else sc->cap = padded;
    }
    char *buf = sc->p;
    if (!rc && padded) {
        size_t at = 0;
        for (size_t i = 0; i < npieces; i++) {
            if (pieces[i].n) memcpy(buf + at, pieces[i].p, pieces[i].n);
            at += pieces[i].n;
        }
        memset(buf + at, 0, padded - at);
        rc = write_raw(fd, buf, padded); /* the tail's zeros go with the ftruncate below */
    }
    ff_io_scratch_free(&own);
    if (rc == -EINVAL) { /* a file system that opens with O_DIRECT but will not write so */
        close(fd);
        unlink(tmp);
        return ff_io_write_file_atomic_pieces(path, pieces, npieces);
    }
    if (!rc && ftruncate(fd, (off_t)total)) rc = -errno;
    return finish_atomic(fd, rc, tmp, path);
}

int ff_io_write_file_atomic(const char *path, const void *p, size_t n)
{
    return ff_io_write_file_atomic_pieces(path, &(struct ff_io_piece){p, n}, 1);
}

int ff_io_read_file(const char *path, struct ff_buf *out)
{
    ff_buf_reset(out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    int rc = fstat(fd, &st) ? -errno : 0;
    if (!rc && (uint64_t)st.st_size > out->max) rc = FF_ETOOBIG;
    if (!rc) rc = ff_buf_reserve(out, (size_t)st.st_size);
    while (!rc && out->len < (size_t)st.st_size) {
        ssize_t r = read(fd, out->data + out->len, (size_t)st.st_size - out->len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = -errno;
        else if (r == 0) break; /* shrank while read: what is there is what there is */
        else out->len += (size_t)r;
    }
    close(fd);
    return rc;
}
