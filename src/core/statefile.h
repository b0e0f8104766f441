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

/* What a state file has on disk: its checksum and size, and its journal's end. */
struct ff_statefile_disk {
    uint64_t sum, bytes, journal_end;
};
/* Records, count of them from r, to whoever keeps the state: 0 or an error that ends the
 * read (FF_ECORRUPT for records that do not read). */
typedef int (*ff_statefile_records_fn)(void *arg, struct ff_reader *r, uint64_t count);
/* Reads `path` (through b) to file(arg, ...), then each chunk of PATH.journal that extends
 * it, in order, to chunk(arg, ...); records must fill the file and each chunk exactly. Sets
 * *disk for the saves that follow. 0; 1 when there is no such file (*disk zero);
 * FF_ECORRUPT when the magic, the checksum or the records are wrong; or another negative
 * error. A torn or damaged chunk ends the journal, and nothing on disk changes: readers of
 * a live server's data call this too. */
int ff_statefile_read(const char *path, const char magic[8], struct ff_buf *b, ff_statefile_records_fn file,
                      ff_statefile_records_fn chunk, void *arg, struct ff_statefile_disk *disk);
/* Writes what a save gathered in b: with `journal`, its `count` records (no file header) as a
 * chunk of PATH.journal at disk->journal_end, durable, nothing when count is 0; else the
 * whole file (b begun with ff_statefile_begin; its checksum is appended), written through a
 * temporary file and a rename, PATH.journal then removed. Updates *disk when it succeeds.
 * 0, FF_IO_UNSYNCED or a negative error (a failed append is overwritten by the next). */
int ff_statefile_save(const char *path, struct ff_buf *b, int journal, uint64_t count, struct ff_statefile_disk *disk);

#endif
