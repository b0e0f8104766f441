/* intern.h - the string fields of a build's events, interned in arrival order, so that a
 * part's string encodings (schema.c) are chosen without reading every row's bytes again.
 *
 * Choosing a day's encodings read each row's value through the sort order, one column at a
 * time: with the events' bytes spread over the memtable, a cache miss per row and column,
 * most of a flush's CPU. Here every field is read in one pass over the events as they lie in
 * memory, each value compared with the event before's (a run needs no hash), and a day's
 * dictionary is then the set of ids its rows use. */
#ifndef FF_INTERN_H
#define FF_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "event/event.h"
#include "store/schema.h"

struct ff_interned_col {
    uint32_t *ids;        /* event i's value is vals[ids[i]]; NULL: not interned (see below) */
    struct ff_str *vals;  /* distinct values, first seen first */
    uint32_t nvals;
    /* Mostly distinct values (message ids): not interned. When every non-empty value of the
     * build is a UUID, uuid16 holds each event's 16 bytes (zeros when empty), parsed here. */
    uint8_t *uuid16;
};

struct ff_interned {
    struct ff_interned_col col[FF_NCOLS];
};

/* Interns the string field at byte offset field_off[c] - 1 of struct ff_event for every
 * column c with field_off[c] != 0 and ff_schema[c].type == FF_COL_STR. A column with too many
 * distinct values for any day's dictionary is left out (ids NULL): the caller falls back.
 * 0 or -ENOMEM. */
int ff_intern_columns(const struct ff_event *evs, size_t n, const size_t field_off[FF_NCOLS], struct ff_interned *out);
void ff_interned_free(struct ff_interned *in);

/* The most distinct values a dictionary of a day of n rows may hold: a dictionary pays when
 * values repeat, at most a quarter as many as rows, and at most FF_DICT_MAX_VALUES of them,
 * since a reader keeps an open part's dictionaries in memory (context JSON that hardly
 * repeats made dictionaries of hundreds of MB). */
static inline size_t ff_dict_limit(size_t n)
{
    size_t limit = n / 4 > 16 ? n / 4 : 16;
    return limit > FF_DICT_MAX_VALUES ? FF_DICT_MAX_VALUES : limit;
}

/* 1 when a sample spread over n strings (the first at `first`, each `stride` bytes after the
 * one before) is mostly distinct, so no dictionary is worth building; 0 when not or when n is
 * too small to tell; -ENOMEM. */
int ff_mostly_distinct(const void *first, size_t stride, size_t n);

/* A day's encoding of an interned column, for the rows `rows` (indexes into the events):
 * FF_ENC_UUID with each row's 16 bytes, FF_ENC_DICT with the sorted dictionary and each row's
 * code, or FF_ENC_PLAIN. Returns 0, 1 when the column cannot decide it (the caller reads the
 * values itself), or -ENOMEM. */
int ff_interned_encoding(const struct ff_interned_col *ic, const uint32_t *rows, size_t n, uint8_t *enc,
                         struct ff_str **dict, uint32_t *count, uint32_t **row_codes, uint8_t **uuid16);

#endif
