/* statefile.h - state files rewritten whole (DATA/IDENTITY, DATA/SESSIONS): "MAGIC" (8
 * bytes)  count:u64le  count records  xxh3:u64le of all before it. Written through
 * ff_io_write_file_atomic, so a crash leaves the old file or the new one; read back only
 * when the magic and the checksum hold.
 *
 * Between rewrites a file may grow a journal, PATH.journal, of the records that changed
 * since, so that a save costs what changed rather than everything (a day's devices are
 * millions): chunks appended and fdatasync'd one after the other,
 *   chunk := "FFJRNL01"  base:u64le  count:u64le  len:u64le  len bytes of count records
 *            xxh3:u64le of all before it in the chunk
 * base is the checksum of the file the chunk extends: a journal left from before a rewrite
 * (its removal failed, or a crash came first) matches no file and is not read. A torn or
 * damaged chunk ends the journal there: the next append overwrites it. */
#ifndef FF_STATEFILE_H
#define FF_STATEFILE_H

#include <stdint.h>

#include "core/binread.h"
#include "core/buf.h"

/* Starts a file in b (reset first): the magic and the record count. 0 or an error. */
int ff_statefile_begin(struct ff_buf *b, const char magic[8], uint64_t count);
/* Appends the checksum to what b holds and writes it to `path`: 0, FF_IO_UNSYNCED or a
 * negative error (the old file stays). */
int ff_statefile_commit(const char *path, struct ff_buf *b);
/* Reads `path` into b: 0 with *r reading the records (r->len ends before the checksum) and
 * *count; 1 when there is no such file; FF_ECORRUPT when the magic or checksum is wrong; or
 * another negative error. */
int ff_statefile_load(const char *path, const char magic[8], struct ff_buf *b, struct ff_reader *r, uint64_t *count);
/* The checksum of a file that ff_statefile_commit wrote from b, or ff_statefile_load read
 * into b: what its journal's chunks name as their base. */
uint64_t ff_statefile_sum(const struct ff_buf *b);

/* Appends a chunk of `count` records (len bytes) extending the file whose checksum is base
 * to PATH.journal at offset *end, its end as last read or written, and makes it durable;
 * moves *end past it. 0, or a negative error (*end stays: the next chunk overwrites what a
 * failed one left). */
int ff_statefile_journal_append(const char *path, uint64_t base, uint64_t *end, uint64_t count, const void *records,
                                size_t len);
/* Reads PATH.journal: each chunk extending base, in order, to chunk(arg, reader over its
 * records, count), which returns 0 or an error that ends the read. Sets *end to the end of
 * the last whole chunk (0 for a journal of an earlier file), where the next append goes.
 * Changes nothing on disk: readers of a live server's data call it too. 0 (no journal is 0
 * too), or an error. */
int ff_statefile_journal_load(const char *path, uint64_t base, struct ff_buf *b, uint64_t *end,
                              int (*chunk)(void *arg, struct ff_reader *r, uint64_t count), void *arg);
/* Removes PATH.journal after a rewrite of PATH: 0 or a negative error. */
int ff_statefile_journal_remove(const char *path);

/* What a state file has on disk: its checksum and size, and its journal's end. */
struct ff_statefile_disk {
    uint64_t sum, bytes, journal_end;
};
/* Writes what a save gathered in b: with `journal`, its `count` records (no file header) as a
 * chunk of PATH.journal, nothing when count is 0; else the whole file (b begun with
 * ff_statefile_begin), PATH.journal then removed. Updates *disk when it succeeds. 0,
 * FF_IO_UNSYNCED or a negative error. */
int ff_statefile_save(const char *path, struct ff_buf *b, int journal, uint64_t count, struct ff_statefile_disk *disk);

#endif
