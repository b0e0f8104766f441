/* wal_io.c - durable appends to the WAL's last segment (see wal_io.h). */
#include "store/wal_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fileio.h"

#define ALIGN ((uint64_t)FF_WAL_IO_ALIGN)
#define DOWN(x) ((x) & ~(ALIGN - 1))
#define UP(x) DOWN((x) + ALIGN - 1)

int ff_wal_io_direct = 1;

static void drop_direct(struct ff_wal_io *io)
{
    if (io->dfd >= 0) close(io->dfd);
    io->dfd = -1;
    free(io->buf);
    io->buf = NULL;
    io->cap = 0;
}

void ff_wal_io_open(struct ff_wal_io *io, int fd, const char *path, uint64_t end)
{
    memset(io, 0, sizeof *io);
    io->fd = fd;
    io->dfd = -1;
    if (!ff_wal_io_direct) return;
    if (posix_memalign((void **)&io->tail, ALIGN, ALIGN)) {
        io->tail = NULL;
        return; /* buffered appends need no tail */
    }
    memset(io->tail, 0, ALIGN);
    /* The block the next append starts in, as the file has it (the rest of it is zeros). */
    size_t head = (size_t)(end - DOWN(end));
    for (size_t got = 0; got < head;) {
        ssize_t n = pread(fd, io->tail + got, head - got, (off_t)(DOWN(end) + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; /* then appends stay buffered */
        got += (size_t)n;
    }
    io->dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
}

void ff_wal_io_close(struct ff_wal_io *io)
{
    drop_direct(io);
    free(io->tail);
    io->tail = NULL;
}

static int buffered_append(struct ff_wal_io *io, uint64_t end, const struct iovec *iov, size_t n)
{
    uint64_t off = end;
    struct iovec local[256];
    while (n) {
        /* pwritev may consume part of an iovec: work on a copy of the next few */
        size_t k = n < 256 ? n : 256;
        memcpy(local, iov, k * sizeof *local);
        struct iovec *v = local;
        size_t left_v = k;
        while (left_v) {
            ssize_t got = pwritev(io->fd, v, (int)left_v, (off_t)off);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) return got < 0 ? -errno : -EIO;
            off += (uint64_t)got;
            size_t left = (size_t)got;
            while (left_v && left >= v->iov_len) left -= v->iov_len, v++, left_v--;
            if (left_v && left) v->iov_base = (char *)v->iov_base + left, v->iov_len -= left;
        }
        iov += k;
        n -= k;
    }
    return fdatasync(io->fd) ? -errno : 0;
}

/* 1 when done (rc in *rc), 0 when the file system refused direct I/O: append buffered. */
static int direct_append(struct ff_wal_io *io, uint64_t end, const struct iovec *iov, size_t n, size_t total,
                         int *rc)
{
    uint64_t base = DOWN(end), new_end = end + total;
    size_t head = (size_t)(end - base), len = head + total, wlen = (size_t)UP((uint64_t)len);
    if (wlen > io->cap) {
        size_t cap = wlen + wlen / 2;
        cap = (size_t)UP((uint64_t)cap);
        unsigned char *p;
        if (posix_memalign((void **)&p, ALIGN, cap)) {
            *rc = -ENOMEM;
            return 1;
        }
        free(io->buf);
        io->buf = p;
        io->cap = cap;
    }
    unsigned char *b = io->buf;
    memcpy(b, io->tail, head);
    size_t at = head;
    for (size_t i = 0; i < n; i++) {
        memcpy(b + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
    }
    memset(b + len, 0, wlen - len);
    for (size_t done = 0; done < wlen;) {
        struct iovec v = {b + done, wlen - done};
        ssize_t got = pwritev2(io->dfd, &v, 1, (off_t)(base + done), RWF_DSYNC);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EINVAL && done == 0) return 0; /* alignment this device does not take */
        if (got <= 0 || (size_t)got % ALIGN) {
            *rc = got < 0 ? -errno : -EIO;
            return 1;
        }
        done += (size_t)got;
    }
    if (new_end % ALIGN) memcpy(io->tail, b + (DOWN(new_end) - base), ALIGN);
    else memset(io->tail, 0, ALIGN);
    *rc = 0;
    return 1;
}

int ff_wal_io_append(struct ff_wal_io *io, uint64_t end, const struct iovec *iov, size_t n, size_t total)
{
    if (io->dfd >= 0) {
        int rc;
        if (direct_append(io, end, iov, n, total, &rc)) return rc;
        drop_direct(io);
    }
    return buffered_append(io, end, iov, n);
}

uint64_t ff_wal_io_zero(struct ff_wal_io *io, uint64_t from, uint64_t to)
{
    /* 1 MiB a write: zeroing 4 MiB ahead took 7 ms of wall time and 2.8 of CPU in 64 KiB
     * direct writes on this disk, 3.3 and 0.35 in 1 MiB ones (each write is a request the
     * writer waits for, between two group commits). */
    static const char zeros[1 << 20] __attribute__((aligned(FF_WAL_IO_ALIGN)));
    int fd = io->fd;
    uint64_t off = from;
    if (io->dfd >= 0) {
        /* Through the direct descriptor, so no page of the file is cached to be dropped again
         * by the appends. From the next block on: the file reads zeros up to it. */
        fd = io->dfd;
        off = UP(from);
        to = DOWN(to);
    }
    uint64_t start = off;
    while (off < to) {
        size_t n = to - off < sizeof zeros ? (size_t)(to - off) : sizeof zeros;
        ssize_t got = pwrite(fd, zeros, n, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0 || (fd == io->dfd && (size_t)got % ALIGN)) break;
        off += (uint64_t)got;
    }
    return off > start ? off : from;
}
