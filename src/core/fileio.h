/* fileio.h - file writes, syncs and renames that retry short writes and can be told to fail.
 *
 * The store writes parts and manifests through these, so a test can make the Nth write,
 * fsync or rename fail and check that what is on disk still opens and holds every
 * acknowledged event. All return 0 or -errno. */
#ifndef FF_FILEIO_H
#define FF_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "core/buf.h"

enum ff_io_op { FF_IO_WRITE, FF_IO_FSYNC, FF_IO_RENAME, FF_IO_OPS };

int ff_io_write_all(int fd, const void *p, size_t n);
int ff_io_pwrite_all(int fd, const void *p, size_t n, off_t off);
int ff_io_fsync(int fd);               /* fdatasync */
int ff_io_rename(const char *from, const char *to);
int ff_io_fsync_dir(const char *dir);  /* makes a rename or unlink in `dir` durable */
int ff_io_fsync_parent(const char *path); /* the same for the directory that holds `path` */

/* Writes `path` so that it holds all of p[0..n) or keeps what it held before: a temporary
 * file beside it, fsync, rename over `path`, fsync of the directory. Returns 0, a negative
 * error (the old contents stay), or FF_IO_UNSYNCED: the new contents are in place but the
 * directory's fsync failed, so after a power loss either version may be there. */
#define FF_IO_UNSYNCED 1
int ff_io_write_file_atomic(const char *path, const void *p, size_t n);
/* The same for a file made of pieces, written one after the other (no copy into one buffer
 * first: a segment's dedup keys are tens of MB). */
struct ff_io_piece {
    const void *p;
    size_t n;
};
int ff_io_write_file_atomic_pieces(const char *path, const struct ff_io_piece *pieces, size_t npieces);
/* The same, written with O_DIRECT where the file system takes it (else as above): for files
 * read back only after a restart (a WAL segment's dedup keys). Through the page cache such a
 * file is copied into pages nobody reads again, each new to the process: here the host backs
 * those at about 2.9 ns a byte, 2% of a busy server's CPU for the keys, and they crowd out
 * the parts' pages. The pieces are copied into one aligned buffer instead: `scratch`, kept
 * by the caller from one file to the next (new memory would cost what the page cache did),
 * or NULL for one of this call's own. */
struct ff_io_scratch {
    void *p; /* aligned for O_DIRECT; {0} to start */
    size_t cap;
};
int ff_io_write_file_atomic_direct(const char *path, const struct ff_io_piece *pieces, size_t npieces,
                                   struct ff_io_scratch *scratch);
void ff_io_scratch_free(struct ff_io_scratch *s);
/* Reads a whole file into `out` (replacing its contents), at most out->max bytes. */
int ff_io_read_file(const char *path, struct ff_buf *out);

/* Test hook: the `n`th call of `op` from now (1 = the next) fails with `err` (e.g. -EIO);
 * n = 0 turns it off. Counts calls from every thread. */
void ff_io_fail_after(enum ff_io_op op, long n, int err);
/* Turns every injected failure off. */
void ff_io_fail_reset(void);

#endif
