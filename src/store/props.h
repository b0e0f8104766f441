/* props.h - an event part's frequent property keys as typed columns of their own.
 *
 * When a part is written, a strided sample of its rows' `properties` picks the top-level
 * keys present in at least a fifth of them whose values are all of one kind (string,
 * integer, floating point, boolean): up to FF_PROPS_MAX become columns named "p.KEY", so a
 * query sums `p.revenue` or groups by `p.category` without parsing JSON. Per row:
 *
 *   integer  I64, absent = INT64_MIN (a key holding INT64_MIN itself is not typed)
 *   float    F64, absent = NaN (JSON has no NaN)
 *   boolean  U8: 0 false, 1 true, 2 absent
 *   string   STR: 0x01 then the value, "" absent
 *
 * The other members stay in the `properties` column as compact JSON (also a row's value of
 * a typed key when it is of another kind than the column's). Reading puts the object back
 * together: the typed members first, then the rest; member order may change, content not. */
#ifndef FF_PROPS_H
#define FF_PROPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "store/part.h"

#define FF_PROPS_MAX 16
#define FF_PROPS_PREFIX "p."
#define FF_PROPS_STR_PRESENT '\x01' /* a typed string's first byte */

/* Row i of typed column c holds a value (see the absent values above). */
static inline int ff_props_present(const struct ff_colvec *c, uint32_t i)
{
    switch (c->type) {
    case FF_COL_I64: return c->i64[i] != INT64_MIN;
    case FF_COL_F64: return c->f64[i] == c->f64[i]; /* not NaN */
    case FF_COL_U8: return c->u8[i] < 2;
    default: return c->str[i].len > 0 && c->str[i].p[0] == FF_PROPS_STR_PRESENT;
    }
}

struct ff_props_plan {
    int n;
    struct {
        char key[56];
        uint32_t len;
        uint8_t type; /* enum ff_col_type */
    } k[FF_PROPS_MAX];
};

/* Rows the plan looks at (evenly spread): 4096. Tests lower it, so that a key's values of
 * another kind can fall in rows it does not look at and go to the rest of a typed key. */
extern size_t ff_props_sample;

/* Chooses the typed keys from the rows' properties (JSON object text, "" for {}). */
int ff_props_plan(const struct ff_str *props, size_t n, struct ff_props_plan *plan);

/* Every row split: typed values (one vector per planned key, n each, type as planned) and
 * the rest as compact JSON. Strings point into `arena`. */
struct ff_props_split {
    struct ff_colvec cols[FF_PROPS_MAX];
    struct ff_str *rest;
    struct ff_buf arena;
};
int ff_props_split(const struct ff_str *props, size_t n, const struct ff_props_plan *plan, struct ff_props_split *out);
void ff_props_split_free(struct ff_props_split *s);

/* Appends row i's properties object: the typed members of `cols` (ncols columns named by
 * `names`, without the prefix) that are present, then the members of `rest`. */
int ff_props_join(struct ff_buf *out, struct ff_str rest, const struct ff_colvec *cols, const struct ff_str *names,
                  int ncols, uint32_t i);

#endif
