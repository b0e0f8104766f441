/* statefile.c - checksummed state files (see statefile.h). */
#include "core/statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/errors.h"
#include "core/fileio.h"
#include "core/log.h"

int ff_statefile_begin(struct ff_buf *b, const char magic[8], uint64_t count)
{
    ff_buf_reset(b);
    int rc = ff_buf_append(b, magic, 8);
    return rc ? rc : ff_buf_put_u64(b, count);
}

/* Appends the checksum to what b holds and writes it to `path`: 0, FF_IO_UNSYNCED or a
 * negative error (the old file stays). */
static int commit(const char *path, struct ff_buf *b)
{
    int rc = ff_buf_put_u64(b, XXH3_64bits(b->data, b->len));
    return rc ? rc : ff_io_write_file_atomic(path, b->data, b->len);
}

/* Reads `path` into b: 0 with *r reading the records (r->len ends before the checksum) and
 * *count; 1 when there is no such file; FF_ECORRUPT when the magic or checksum is wrong; or
 * another negative error. */
static int load(const char *path, const char magic[8], struct ff_buf *b, struct ff_reader *r, uint64_t *count)
{
    int rc = ff_io_read_file(path, b);
    if (rc == -ENOENT) return 1;
    if (rc) return rc;
    uint64_t sum = 0;
    struct ff_reader t = {(const unsigned char *)b->data, b->len, b->len >= 8 ? b->len - 8 : 0};
    *r = (struct ff_reader){(const unsigned char *)b->data, b->len >= 8 ? b->len - 8 : 0, 8};
    if (b->len < 24 || memcmp(b->data, magic, 8) || ff_rd_u64(&t, &sum) || XXH3_64bits(b->data, b->len - 8) != sum ||
        ff_rd_u64(r, count))
        return FF_ECORRUPT;
    return 0;
}

/* The checksum that ends a file held in b: what its journal's chunks name as their base. */
static uint64_t sum_of(const struct ff_buf *b)
{
    uint64_t sum = 0;
    struct ff_reader t = {(const unsigned char *)b->data, b->len, b->len >= 8 ? b->len - 8 : 0};
    return ff_rd_u64(&t, &sum) ? 0 : sum;
}

static const char journal_magic[8] = {'F', 'F', 'J', 'R', 'N', 'L', '0', '1'};
#define CHUNK_HEAD 32 /* magic, base, count, len */

static int journal_path(const char *path, char out[PATH_MAX])
{
    return snprintf(out, PATH_MAX, "%s.journal", path) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Appends a chunk of `count` records (len bytes) extending the file whose checksum is base
 * to PATH.journal at offset *end, and makes it durable; moves *end past it. 0, or a
 * negative error (*end stays). */
static int journal_append(const char *path, uint64_t base, uint64_t *end, uint64_t count, const void *records,
                          size_t len)
{
    char jpath[PATH_MAX];
    int rc = journal_path(path, jpath);
    if (rc) return rc;
    unsigned char head[CHUNK_HEAD], tail[8];
    memcpy(head, journal_magic, 8);
    put64(head + 8, base);
    put64(head + 16, count);
    put64(head + 24, len);
    XXH3_state_t *st = XXH3_createState();
    if (!st) return -ENOMEM;
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, head, sizeof head);
    XXH3_64bits_update(st, records, len);
    put64(tail, XXH3_64bits_digest(st));
    XXH3_freeState(st);
    int fd = open(jpath, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    off_t at = (off_t)*end;
    rc = ff_io_pwrite_all(fd, head, sizeof head, at);
    if (!rc) rc = ff_io_pwrite_all(fd, records, len, at + (off_t)sizeof head);
    if (!rc) rc = ff_io_pwrite_all(fd, tail, sizeof tail, at + (off_t)(sizeof head + len));
    if (!rc) rc = ff_io_fsync(fd);
    if (close(fd) && !rc) rc = -errno;
    if (!rc && !*end) rc = ff_io_fsync_parent(jpath); /* the first chunk made the file: its entry must last too */
    if (!rc) *end += sizeof head + len + sizeof tail;
    return rc;
}

/* Reads PATH.journal: each chunk extending base, in order, to chunk(arg, ...). Sets *end to
 * the end of the last whole chunk (0 for a journal of an earlier file), where the next
 * append goes. */
static int journal_load(const char *path, uint64_t base, struct ff_buf *b, uint64_t *end, ff_statefile_records_fn chunk,
                        void *arg)
{
    *end = 0;
    char jpath[PATH_MAX];
    int rc = journal_path(path, jpath);
    if (rc) return rc;
    rc = ff_io_read_file(jpath, b);
    if (rc == -ENOENT) return 0;
    if (rc) return rc;
    const unsigned char *d = (const unsigned char *)b->data;
    size_t off = 0;
    while (!rc && b->len - off >= CHUNK_HEAD + 8) {
        struct ff_reader h = {d, b->len, off + 8};
        uint64_t cbase, count, len, sum;
        if (memcmp(d + off, journal_magic, 8) || ff_rd_u64(&h, &cbase) || ff_rd_u64(&h, &count) ||
            ff_rd_u64(&h, &len) || cbase != base || len > b->len - off - CHUNK_HEAD - 8)
            break;
        struct ff_reader t = {d, b->len, off + CHUNK_HEAD + (size_t)len};
        if (ff_rd_u64(&t, &sum) || XXH3_64bits(d + off, CHUNK_HEAD + (size_t)len) != sum) break;
        struct ff_reader r = {d, off + CHUNK_HEAD + (size_t)len, off + CHUNK_HEAD};
        rc = chunk(arg, &r, count);
        if (!rc && r.off != r.len) rc = FF_ECORRUPT;
        if (!rc) off += CHUNK_HEAD + (size_t)len + 8;
    }
    if (rc) return rc;
    /* What follows (a torn append, or chunks of an earlier file) stays: the next append
     * overwrites it from here, and whatever is left after that ends the journal as it does
     * now. Not cut off here: a reader that opens the state while the server appends would
     * take a chunk half written for a torn one. */
    *end = off;
    return 0;
}

static int journal_remove(const char *path)
{
    char jpath[PATH_MAX];
    int rc = journal_path(path, jpath);
    if (rc) return rc;
    return unlink(jpath) && errno != ENOENT ? -errno : 0;
}

int ff_statefile_read(const char *path, const char magic[8], struct ff_buf *b, ff_statefile_records_fn file,
                      ff_statefile_records_fn chunk, void *arg, struct ff_statefile_disk *disk)
{
    memset(disk, 0, sizeof *disk);
    struct ff_reader r;
    uint64_t count = 0;
    int rc = load(path, magic, b, &r, &count);
    if (!rc) rc = file(arg, &r, count);
    if (!rc && r.off != r.len) rc = FF_ECORRUPT;
    if (rc) return rc;
    disk->sum = sum_of(b);
    disk->bytes = b->len;
    return journal_load(path, disk->sum, b, &disk->journal_end, chunk, arg);
}

int ff_statefile_save(const char *path, struct ff_buf *b, int journal, uint64_t count, struct ff_statefile_disk *disk)
{
    if (journal) return count ? journal_append(path, disk->sum, &disk->journal_end, count, b->data, b->len) : 0;
    int rc = commit(path, b);
    if (rc < 0) return rc;
    disk->sum = sum_of(b);
    disk->bytes = b->len;
    disk->journal_end = 0;
    int jrc = journal_remove(path);
    if (jrc) /* it names the file before this one, so it is never read */
        ff_warn("%s.journal: cannot remove it: %s", path, ff_strerror(jrc));
    return rc;
}
