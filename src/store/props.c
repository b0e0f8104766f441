/* props.c - typed property columns (see props.h). */
#include "store/props.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/jsonscan.h"

size_t ff_props_sample = 4096;

static uint8_t kind_of(const struct ff_json_node *v)
{
    switch (v->type) {
    case FF_JSON_STRING: return FF_COL_STR;
    case FF_JSON_INT: return v->v.i == INT64_MIN ? 0 : FF_COL_I64;
    case FF_JSON_DOUBLE: return FF_COL_F64;
    case FF_JSON_TRUE:
    case FF_JSON_FALSE: return FF_COL_U8;
    default: return 0; /* null, big unsigned, arrays, objects: stay in the rest */
    }
}

/* Parses a properties text into the parser; 0 when it is a JSON object. */
static int parse_obj(struct ff_json_parser *jp, struct ff_buf *scratch, struct ff_str s, struct ff_json_doc *doc)
{
    if (ff_json_parse_copy(jp, scratch, s.p, s.len, doc)) return -1;
    return doc->nodes[0].type == FF_JSON_OBJECT ? 0 : -1;
}

struct cand {
    char key[56];
    uint32_t len, count;
    uint8_t type; /* 0 = mixed */
};

static int by_count(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

int ff_props_plan(const struct ff_str *props, size_t n, struct ff_props_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    if (!n) return 0;
    struct ff_json_parser *jp = ff_json_parser_new();
    if (!jp) return -ENOMEM;
    struct ff_buf scratch;
    ff_buf_init(&scratch, (size_t)1 << 32);
    struct cand *c = NULL;
    size_t nc = 0, cap = 0, sampled = 0;
    size_t sample = ff_props_sample ? ff_props_sample : 1;
    size_t step = n > sample ? n / sample : 1;
    int rc = 0;
    for (size_t r = 0; r < n && !rc; r += step) {
        sampled++;
        struct ff_json_doc doc;
        if (parse_obj(jp, &scratch, props[r], &doc)) continue;
        for (uint32_t m = 1; m < doc.nodes[0].end; m = doc.nodes[m].end) {
            const struct ff_json_node *v = &doc.nodes[m];
            if (!v->key_len || v->key_len >= sizeof c->key) continue;
            size_t k = 0;
            while (k < nc && !(c[k].len == v->key_len && !memcmp(c[k].key, v->key, v->key_len))) k++;
            if (k == nc) {
                if (nc == 256) continue; /* plenty of candidates already */
                if (nc == cap) {
                    cap = cap ? cap * 2 : 32;
                    struct cand *nc2 = ff_realloc(c, cap * sizeof *c);
                    if (!nc2) {
                        rc = -ENOMEM;
                        break;
                    }
                    c = nc2;
                }
                memset(&c[nc], 0, sizeof c[nc]);
                memcpy(c[nc].key, v->key, v->key_len);
                c[nc].len = v->key_len;
                c[nc].type = kind_of(v);
                nc++;
            } else if (c[k].type != kind_of(v)) {
                c[k].type = 0;
            }
            c[k].count++;
        }
    }
    if (!rc) {
        if (nc) qsort(c, nc, sizeof *c, by_count);
        for (size_t k = 0; k < nc && plan->n < FF_PROPS_MAX; k++) {
            if (!c[k].type || c[k].count * 5 < sampled) continue;
            memcpy(plan->k[plan->n].key, c[k].key, c[k].len);
            plan->k[plan->n].len = c[k].len;
            plan->k[plan->n].type = c[k].type;
            plan->n++;
        }
    }
    ff_free(c);
    ff_buf_free(&scratch);
    ff_json_parser_free(jp);
    return rc;
}

void ff_props_split_free(struct ff_props_split *s)
{
    for (int k = 0; k < FF_PROPS_MAX; k++) {
        ff_free(s->cols[k].i64);
        ff_free(s->cols[k].f64);
        ff_free(s->cols[k].u8);
        ff_free(s->cols[k].str);
    }
    ff_free(s->rest);
    ff_buf_free(&s->arena);
    memset(s, 0, sizeof *s);
}

/* Spans into the arena while it may still move. */
struct span {
    size_t off;
    uint32_t len;
};

static void set_absent(struct ff_props_split *out, const struct ff_props_plan *plan, struct span **strs, size_t r)
{
    for (int k = 0; k < plan->n; k++) {
        struct ff_colvec *v = &out->cols[k];
        if (v->type == FF_COL_I64) v->i64[r] = INT64_MIN;
        else if (v->type == FF_COL_F64) v->f64[r] = NAN;
        else if (v->type == FF_COL_U8) v->u8[r] = 2;
        else strs[k][r] = (struct span){0, 0};
    }
}

static uint8_t scanned_kind(const struct ff_jscan_member *m)
{
    switch (m->kind) {
    case FF_JS_STRING: return FF_COL_STR;
    case FF_JS_INT: return FF_COL_I64;
    case FF_JS_DOUBLE: return FF_COL_F64;
    case FF_JS_TRUE:
    case FF_JS_FALSE: return FF_COL_U8;
    default: return 0;
    }
}

/* The plan's column for a member's key, or plan->n; `guess` first (the column the member
 * in the same place of the row before had: SDKs write one kind of event's properties in
 * one order). */
static int plan_column(const struct ff_props_plan *plan, struct ff_str key, int guess)
{
    if (guess < plan->n && plan->k[guess].len == key.len && ff_bytes_same(plan->k[guess].key, key.p, key.len))
        return guess;
    int k = 0;
    while (k < plan->n && !(plan->k[k].len == key.len && ff_bytes_same(plan->k[k].key, key.p, key.len))) k++;
    return k;
}

/* What a split remembers from row to row. */
struct split_state {
    int8_t col_at[64]; /* the plan column of the member at each place of the last row */
};

/* Row r split without a parse (jsonscan.h): the same values and rest as the parsing way
 * below for the compact text footfall writes. 0, 1 to parse instead, or an error. */
static int split_scanned(struct ff_str text, const struct ff_props_plan *plan, struct ff_props_split *out,
                         struct span **strs, size_t r, struct ff_buf *restbuf, struct split_state *st)
{
    struct ff_jscan sc;
    struct ff_jscan_member m;
    if (ff_jscan_begin(&sc, text.p, text.len)) return 1;
    int taken[FF_PROPS_MAX] = {0}, members = 0, more, rc = 0, place = 0;
    ff_buf_reset(restbuf);
    rc = ff_buf_putc(restbuf, '{');
    while (!rc && (more = ff_jscan_next(&sc, &m)) == 1) {
        const int at = place < (int)sizeof st->col_at ? place : -1;
        place++;
        int k = plan_column(plan, m.key, at >= 0 ? st->col_at[at] : plan->n);
        if (at >= 0) st->col_at[at] = (int8_t)k;
        if (k < plan->n && !taken[k] && scanned_kind(&m) == plan->k[k].type) {
            if (m.escaped) return 1; /* its content needs unescaping: the parser does that */
            taken[k] = 1;
            struct ff_colvec *c = &out->cols[k];
            if (c->type == FF_COL_I64) c->i64[r] = m.i;
            else if (c->type == FF_COL_F64) c->f64[r] = m.d;
            else if (c->type == FF_COL_U8) c->u8[r] = m.kind == FF_JS_TRUE;
            else {
                strs[k][r] = (struct span){out->arena.len, m.value.len + 1};
                if (!(rc = ff_buf_putc(&out->arena, FF_PROPS_STR_PRESENT))) rc = ff_buf_append(&out->arena, m.value.p, m.value.len);
            }
            continue;
        }
        if (members++) rc = ff_buf_putc(restbuf, ',');
        if (!rc) rc = ff_buf_append(restbuf, m.member.p, m.member.len);
    }
    if (rc) return rc;
    if (more < 0) return 1;
    return ff_buf_putc(restbuf, '}');
}

int ff_props_split(const struct ff_str *props, size_t n, const struct ff_props_plan *plan, struct ff_props_split *out)
{
    memset(out, 0, sizeof *out);
    ff_buf_init(&out->arena, (size_t)1 << 34);
    struct span *rest = ff_malloc((n ? n : 1) * sizeof *rest);
    struct span *strs[FF_PROPS_MAX] = {0};
    int rc = rest ? 0 : -ENOMEM;
    for (int k = 0; k < plan->n && !rc; k++) {
        struct ff_colvec *v = &out->cols[k];
        v->type = plan->k[k].type;
        v->n = (uint32_t)n;
        size_t cnt = n ? n : 1;
        if (v->type == FF_COL_I64 && !(v->i64 = ff_malloc(cnt * 8))) rc = -ENOMEM;
        if (v->type == FF_COL_F64 && !(v->f64 = ff_malloc(cnt * 8))) rc = -ENOMEM;
        if (v->type == FF_COL_U8 && !(v->u8 = ff_malloc(cnt))) rc = -ENOMEM;
        if (v->type == FF_COL_STR && (!(v->str = ff_malloc(cnt * sizeof *v->str)) || !(strs[k] = ff_malloc(cnt * sizeof **strs))))
            rc = -ENOMEM;
    }
    struct ff_json_parser *jp = rc ? NULL : ff_json_parser_new();
    if (!rc && !jp) rc = -ENOMEM;
    struct ff_buf scratch, restbuf;
    struct split_state st;
    memset(st.col_at, FF_PROPS_MAX, sizeof st.col_at); /* no guesses yet */
    ff_buf_init(&scratch, (size_t)1 << 32);
    ff_buf_init(&restbuf, (size_t)1 << 32);
    for (size_t r = 0; r < n && !rc; r++) {
        /* rows come in part order, their texts from all over the memtable: every row's
         * first read missed the cache (half of this stage, for generated events) */
        if (r + 8 < n && props[r + 8].len) __builtin_prefetch(props[r + 8].p);
        set_absent(out, plan, strs, r); /* until found */
        int fast = props[r].len ? split_scanned(props[r], plan, out, strs, r, &restbuf, &st) : 1;
        if (fast < 0) {
            rc = fast;
            break;
        }
        if (fast == 0) {
            rest[r].off = out->arena.len;
            rest[r].len = (uint32_t)restbuf.len;
            rc = ff_buf_append(&out->arena, restbuf.data, restbuf.len);
            continue;
        }
        set_absent(out, plan, strs, r); /* the parsing way: whatever the scan set goes */
        struct ff_json_doc doc;
        if (parse_obj(jp, &scratch, props[r], &doc)) {
            /* not an object (or empty): kept whole as the rest */
            rest[r].off = out->arena.len;
            rest[r].len = props[r].len;
            rc = ff_buf_append(&out->arena, props[r].p ? props[r].p : "", props[r].len);
            continue;
        }
        int taken[FF_PROPS_MAX] = {0};
        int members = 0;
        ff_buf_reset(&restbuf);
        rc = ff_buf_putc(&restbuf, '{');
        for (uint32_t m = 1; !rc && m < doc.nodes[0].end; m = doc.nodes[m].end) {
            const struct ff_json_node *v = &doc.nodes[m];
            int k = plan_column(plan, (struct ff_str){v->key, v->key_len}, plan->n);
            if (k < plan->n && !taken[k] && kind_of(v) == plan->k[k].type) {
                taken[k] = 1;
                struct ff_colvec *c = &out->cols[k];
                if (c->type == FF_COL_I64) c->i64[r] = v->v.i;
                else if (c->type == FF_COL_F64) c->f64[r] = v->v.d;
                else if (c->type == FF_COL_U8) c->u8[r] = v->type == FF_JSON_TRUE;
                else {
                    /* the string after a presence byte, in the arena (pointers fixed at the end) */
                    strs[k][r] = (struct span){out->arena.len, v->len + 1};
                    if (!(rc = ff_buf_putc(&out->arena, FF_PROPS_STR_PRESENT))) rc = ff_buf_append(&out->arena, v->v.s, v->len);
                }
                continue;
            }
            if (members++) rc = ff_buf_putc(&restbuf, ',');
            if (!rc) rc = ff_json_write_str(&restbuf, v->key, v->key_len);
            if (!rc) rc = ff_buf_putc(&restbuf, ':');
            if (!rc) rc = ff_json_write_node(&restbuf, &doc, m);
        }
        if (!rc) rc = ff_buf_putc(&restbuf, '}');
        if (!rc) {
            rest[r].off = out->arena.len;
            rest[r].len = (uint32_t)restbuf.len;
            rc = ff_buf_append(&out->arena, restbuf.data, restbuf.len);
        }
    }
    /* An empty rest object is kept as "" (the column's way of saying {}). */
    if (!rc && !(out->rest = ff_malloc((n ? n : 1) * sizeof *out->rest))) rc = -ENOMEM;
    for (size_t r = 0; !rc && r < n; r++) {
        const char *p = out->arena.data + rest[r].off;
        int empty = rest[r].len == 2 && p[0] == '{' && p[1] == '}';
        out->rest[r] = empty ? (struct ff_str){"", 0} : (struct ff_str){p, rest[r].len};
        for (int k = 0; k < plan->n; k++)
            if (strs[k])
                out->cols[k].str[r] = strs[k][r].len ? (struct ff_str){out->arena.data + strs[k][r].off, strs[k][r].len}
                                                     : (struct ff_str){"", 0};
    }
    for (int k = 0; k < FF_PROPS_MAX; k++) ff_free(strs[k]);
    ff_free(rest);
    ff_buf_free(&scratch);
    ff_buf_free(&restbuf);
    ff_json_parser_free(jp);
    if (rc) ff_props_split_free(out);
    return rc;
}

int ff_props_join(struct ff_buf *out, struct ff_str rest, const struct ff_colvec *cols, const struct ff_str *names,
                  int ncols, uint32_t i)
{
    int rc = ff_buf_putc(out, '{'), members = 0;
    for (int k = 0; k < ncols && !rc; k++) {
        const struct ff_colvec *c = &cols[k];
        if (i >= c->n) continue;
        if (!ff_props_present(c, i)) continue;
        if (members++) rc = ff_buf_putc(out, ',');
        if (!rc) rc = ff_json_write_str(out, names[k].p, names[k].len);
        if (!rc) rc = ff_buf_putc(out, ':');
        if (rc) break;
        if (c->type == FF_COL_I64) rc = ff_json_write_int(out, c->i64[i]);
        else if (c->type == FF_COL_F64) rc = ff_json_write_double(out, c->f64[i]);
        else if (c->type == FF_COL_U8) rc = ff_buf_append_str(out, c->u8[i] ? "true" : "false");
        else rc = ff_json_write_str(out, c->str[i].p + 1, c->str[i].len - 1);
    }
    /* the rest's members: its text between the braces */
    if (!rc && rest.len > 2 && rest.p[0] == '{') {
        if (members) rc = ff_buf_putc(out, ',');
        if (!rc) rc = ff_buf_append(out, rest.p + 1, rest.len - 2);
    }
    if (!rc) rc = ff_buf_putc(out, '}');
    return rc;
}
