/* prune.h - skipping a part's blocks by what its footer says of their chunks (part.h), without
 * reading them: the block's least and greatest dictionary code of a column. The store's
 * listings (store_read.c) and the queries' column reader (query/colscan.c) skip blocks
 * without an event name asked for through these same two functions. */
#ifndef FF_PRUNE_H
#define FF_PRUNE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/part.h"

/* What ff_part_dict_code says besides a code. */
#define FF_CODE_ABSENT (-1L)  /* no row of the part has the value */
#define FF_CODE_UNKNOWN (-2L) /* it cannot tell: every block may have it */

/* The dictionary code of `value` in column `col` of part p (-1: no such column): the code
 * (>= 0); FF_CODE_ABSENT when the column's dictionary lacks it; FF_CODE_UNKNOWN when the
 * column is not dictionary-encoded or its dictionary does not read (the block's read then
 * reports the damage). The dictionary is sorted and distinct (part.h): a binary search. */
static inline long ff_part_dict_code(const struct ff_part *p, int col, const char *value, size_t len)
{
    if (col < 0 || (uint32_t)col >= p->info.ncols || p->cols[col].enc != FF_ENC_DICT || len > UINT32_MAX)
        return FF_CODE_UNKNOWN;
    const struct ff_str want = {value, (uint32_t)len};
    const struct ff_str *dict;
    uint32_t count;
    char err[512];
    if (ff_part_dict(p, (uint32_t)col, &dict, &count, err, sizeof err)) return FF_CODE_UNKNOWN;
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = ff_str_cmp(dict[mid], want);
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return FF_CODE_ABSENT;
}

/* Whether a block whose chunk of a dictionary column is `ch` may hold a row with `code`
 * (ff_part_dict_code's answer): the chunk's codes range over it, or the code is unknown. */
static inline int ff_chunk_may_hold_code(const struct ff_chunkref *ch, long code)
{
    if (code == FF_CODE_ABSENT) return 0;
    if (code < 0) return 1;
    return code >= ch->min && code <= ch->max;
}

#endif
