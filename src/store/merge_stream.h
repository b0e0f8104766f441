/* merge_stream.h - merging a day's event parts block by block (see merge_stream.c). */
#ifndef FF_MERGE_STREAM_H
#define FF_MERGE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "store/part.h"
#include "store/schema.h"

#define FF_MERGE_MAX_INPUTS 64
/* The inputs' columns differ (names, types, typed property columns): merge them as events. */
#define FF_MERGE_FALLBACK 1

/* Decoded column vectors one merge leaves for the next. Their buffers are up to a few MB;
 * fresh ones cost a page fault per 4 KiB (a third of a merge's CPU when every merge decoded
 * into new memory). Owned by one thread. */
struct ff_merge_pool {
    struct ff_colvec **vecs;
    size_t n, cap;
    size_t bytes; /* their capacity, noted idle (ff_mem_note_idle) while pooled */
};
void ff_merge_pool_free(struct ff_merge_pool *pool);

/* Merges the n event parts of one day into a new part at `path` (fsync'd and renamed into
 * place; the caller publishes it) and describes it in *out. 0, FF_MERGE_FALLBACK, or an
 * error (FF_ECORRUPT with `err` naming file and offset). `pool` (or NULL) lends decoded
 * vectors and takes them back, up to FF_MERGE_POOL_VECS of them and FF_MERGE_POOL_BYTES:
 * a merge reads the sort keys of a block of each input (six vectors each), then one column
 * of a block of each at a time, and holds a second one for an input whose plain strings the
 * output block still points into. */
#define FF_MERGE_POOL_VECS (8 * FF_MERGE_MAX_INPUTS)
#define FF_MERGE_POOL_BYTES ((size_t)512 << 20)
int ff_parts_merge_stream(struct ff_part *const *in, size_t n, const char *path, uint32_t block_rows,
                          struct ff_merge_pool *pool, struct ff_built_part *out, char *err, size_t errlen);

#endif
