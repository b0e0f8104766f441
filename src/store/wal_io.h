/* wal_io.h - durable appends to the WAL's last segment.
 *
 * Where the file system allows it, a group commit is one direct write (O_DIRECT) with
 * RWF_DSYNC: the data goes from our buffer to the disk and its cache is flushed in the same
 * call, with no copy into the page cache and no writeback scan afterwards. On this machine
 * that halves the CPU time of a durable append (bench/README.md). Direct writes cover whole
 * blocks, so the appender keeps the segment's last partial block in memory and writes it
 * again, unchanged, ahead of the new bytes. Its acknowledged bytes are the same in the old
 * block and the new one, so a write torn at any sector keeps them.
 *
 * Where direct I/O is refused (tmpfs, some network file systems), appends are pwritev and
 * fdatasync, as before. */
#ifndef FF_WAL_IO_H
#define FF_WAL_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Direct writes start and end on multiples of this (the largest common logical block). */
#define FF_WAL_IO_ALIGN 4096u

struct ff_wal_io {
    int fd;              /* the segment, opened normally (the WAL owns it) */
    int dfd;             /* the same file with O_DIRECT, or -1: buffered appends */
    unsigned char *tail; /* FF_WAL_IO_ALIGN bytes: the file's block holding `end` */
    unsigned char *buf;  /* aligned staging for one direct write */
    size_t cap;
};

/* 1 (default) tries direct writes; 0 keeps every append buffered (tests of that path). */
extern int ff_wal_io_direct;

/* Starts appending to `fd` (the file at `path`), whose log ends at `end`: directly when the
 * file system takes it and the block holding `end` can be read, else buffered. */
void ff_wal_io_open(struct ff_wal_io *io, int fd, const char *path, uint64_t end);
void ff_wal_io_close(struct ff_wal_io *io);
/* Writes the `total` bytes of iov[0..n) at `end` and makes them durable. 0 or a negative
 * errno (the file may then hold part of them past `end`). */
int ff_wal_io_append(struct ff_wal_io *io, uint64_t end, const struct iovec *iov, size_t n, size_t total);
/* Writes zeros over [from, to), past the log's end, without waiting for the disk (see
 * zero_ahead in wal.c). Returns the end of the zeros written, `from` when none. */
uint64_t ff_wal_io_zero(struct ff_wal_io *io, uint64_t from, uint64_t to);

#endif
