/* intern.h - how a part's string columns are encoded: the values interned (each distinct
 * value an id), then per day of rows a sorted dictionary, 16-byte UUIDs, or plain text.
 *
 * A flush interns the string fields of all its events in one pass over them as they lie in
 * memory, each value compared with the event before's (a run needs no hash); a day's
 * dictionary is then the set of ids its rows use. Reading each row's value through the sort
 * order instead, one column at a time, cost a cache miss per row and column: most of a
 * flush's CPU. Columns that are arrays already (derived values, properties) are interned
 * the same way, one at a time (ff_string_encoding). */
#ifndef FF_INTERN_H
#define FF_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "event/event.h"
#include "store/schema.h"

struct ff_interned_col {
    uint32_t *ids;        /* item i's value is vals[ids[i]]; NULL: not interned (see below) */
    struct ff_str *vals;  /* distinct values, first seen first */
    uint32_t nvals;
    /* Not interned: mostly distinct values (message ids), or more than any day's dictionary
     * may hold. When every non-empty value is then a UUID, uuid16 holds each item's 16 bytes
     * (zeros when empty). */
    uint8_t *uuid16;
};

struct ff_interned {
    struct ff_interned_col col[FF_NCOLS];
};

/* Interns the string field at byte offset field_off[c] - 1 of struct ff_event for every
 * column c with field_off[c] != 0 and ff_schema[c].type == FF_COL_STR. 0 or -ENOMEM. */
int ff_intern_columns(const struct ff_event *evs, size_t n, const size_t field_off[FF_NCOLS], struct ff_interned *out);
void ff_interned_free(struct ff_interned *in);

/* A day's encoding of an interned column, for the rows `rows` (indexes into the items; NULL:
 * all n items in order): FF_ENC_UUID with each row's 16 bytes, FF_ENC_DICT with the sorted
 * dictionary and each row's code, or FF_ENC_PLAIN. Returns 0, 1 when the column was not
 * interned and its values are not UUIDs (the caller may look at the day's values alone:
 * ff_string_encoding), or -ENOMEM. */
int ff_interned_encoding(const struct ff_interned_col *ic, const uint32_t *rows, size_t n, uint8_t *enc,
                         struct ff_str **dict, uint32_t *count, uint32_t **row_codes, uint8_t **uuid16);

/* The encoding of one column of n values, as ff_interned_encoding gives it (FF_ENC_PLAIN when
 * it has too many distinct values). 0 or -ENOMEM. */
int ff_string_encoding(const struct ff_str *vals, size_t n, uint8_t *enc, struct ff_str **dict, uint32_t *count,
                       uint32_t **row_codes, uint8_t **uuid16);

#endif
