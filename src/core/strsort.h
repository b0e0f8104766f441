/* strsort.h - sorting many strings, as ff_str_cmp orders them.
 *
 * A flush ranks its distinct person ids and sorts each column's dictionary; a merge sorts
 * the union of its inputs' dictionaries. With qsort every comparison was a memcmp through
 * a shared prefix ("user-1-000123", "user-1-000124"): for 200,000 distinct ids, a third of
 * a flush. Here each string gets an 8-byte key, its bytes just past the prefix all of them
 * share, and a radix sort orders the keys; only strings whose keys tie are compared whole. */
#ifndef FF_STRSORT_H
#define FF_STRSORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Permutes idx[0..n) (indexes into s) so that s[idx[0]] <= s[idx[1]] <= ... by
 * ff_str_cmp. 0, or -ENOMEM (idx then in no particular order). */
int ff_str_sort_index(const struct ff_str *s, uint32_t *idx, size_t n);

#endif
