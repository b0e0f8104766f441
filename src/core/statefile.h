/* statefile.h - small state files rewritten whole at each save (DATA/IDENTITY,
 * DATA/SESSIONS): "MAGIC" (8 bytes)  count:u64le  count records  xxh3:u64le of all before it.
 * Written through ff_io_write_file_atomic, so a crash leaves the old file or the new one;
 * read back only when the magic and the checksum hold. */
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

#endif
