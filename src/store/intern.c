/* intern.c - a build's string fields interned in arrival order (see intern.h). */
#include "store/intern.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/strsort.h"
#include "core/strmap.h"
#include "core/textcodec.h"

#define DICT_SAMPLE 4096

/* The most distinct values a dictionary of a day of n rows may hold: a dictionary pays when
 * values repeat, at most a quarter as many as rows, and at most FF_DICT_MAX_VALUES of them,
 * since a reader keeps an open part's dictionaries in memory (context JSON that hardly
 * repeats made dictionaries of hundreds of MB). */
static size_t dict_limit(size_t n)
{
    size_t limit = n / 4 > 16 ? n / 4 : 16;
    return limit > FF_DICT_MAX_VALUES ? FF_DICT_MAX_VALUES : limit;
}

/* Item i's string at byte `off` of it. */
static const struct ff_str *field(const char *base, size_t stride, size_t i, size_t off)
{
    return (const struct ff_str *)(base + i * stride + off);
}

/* 1 when a sample spread over the n values is mostly distinct, so no dictionary is worth
 * building; 0 when not or when n is too small to tell; -ENOMEM. */
static int mostly_distinct(const char *base, size_t stride, size_t n, size_t off)
{
    if (n < 4 * DICT_SAMPLE) return 0;
    struct ff_strmap seen;
    ff_strmap_init(&seen);
    /* spread over all rows: sorted by person, a prefix would be a few people */
    for (size_t i = 0; i < DICT_SAMPLE; i++) {
        const struct ff_str *s = field(base, stride, i * (n / DICT_SAMPLE), off);
        int found;
        if (!ff_strmap_put(&seen, s->p, s->len, 0, &found)) {
            ff_strmap_free(&seen);
            return -ENOMEM;
        }
    }
    size_t distinct = seen.count;
    ff_strmap_free(&seen);
    return distinct > DICT_SAMPLE / 2;
}

static int is_uuid(struct ff_str s, uint8_t out[16])
{
    return s.len == 36 && ff_uuid_parse(s.p, s.len, out) && memcmp(out, (uint8_t[16]){0}, 16);
}

/* Every item's 16 bytes into *out when every non-empty value is a UUID (and one is there);
 * else *out stays NULL. 0 or -ENOMEM. */
static int parse_uuids(const char *base, size_t stride, size_t n, size_t off, uint8_t **out)
{
    *out = NULL;
    size_t i = 0;
    while (i < n && !field(base, stride, i, off)->len) i++;
    if (i == n || !is_uuid(*field(base, stride, i, off), (uint8_t[16]){0})) return 0; /* the usual answer, at once */
    uint8_t *b = ff_calloc(n, 16);
    if (!b) return -ENOMEM;
    for (; i < n; i++) {
        const struct ff_str *s = field(base, stride, i, off);
        /* the same as the item before (one person's anonymous id): copy, do not parse again */
        if (i && s->len && s->len == field(base, stride, i - 1, off)->len &&
            ff_bytes_same(s->p, field(base, stride, i - 1, off)->p, s->len))
            memcpy(b + i * 16, b + (i - 1) * 16, 16);
        else if (s->len && !is_uuid(*s, b + i * 16)) {
            ff_free(b);
            return 0;
        }
    }
    *out = b;
    return 0;
}

struct interning {
    struct ff_interned_col *out;
    size_t off;
    struct ff_strmap map;
    size_t bytes;
};

/* Interns ncols string fields (at byte offsets offs[k] of each of n items, `stride` bytes
 * apart from `base`) into *outs[k], all of an item's fields before the next item's. */
static int intern_fields(const char *base, size_t stride, size_t n, const size_t *offs,
                         struct ff_interned_col *const *outs, int ncols)
{
    struct interning cur[FF_NCOLS];
    int ncur = 0, rc = 0;
    /* No day of these items has a dictionary of more values than this. */
    const size_t cap = dict_limit(n);
    for (int k = 0; k < ncols && !rc; k++) {
        struct ff_interned_col *o = outs[k];
        memset(o, 0, sizeof *o);
        int distinct = n ? mostly_distinct(base, stride, n, offs[k]) : 0;
        if (distinct < 0) rc = distinct;
        else if (distinct) rc = parse_uuids(base, stride, n, offs[k], &o->uuid16); /* no dictionary */
        else if (!(o->ids = ff_malloc((n ? n : 1) * sizeof *o->ids))) rc = -ENOMEM;
        else {
            cur[ncur] = (struct interning){.out = o, .off = offs[k]};
            ff_strmap_init(&cur[ncur].map);
            ncur++;
        }
    }
    for (size_t i = 0; i < n && !rc; i++)
        for (int k = 0; k < ncur; k++) {
            struct interning *in = &cur[k];
            uint32_t *ids = in->out->ids;
            if (!ids) continue;
            const struct ff_str *s = field(base, stride, i, in->off);
            if (i) { /* a run (one person's user id, one page, one browser): no hash */
                const struct ff_str *prev = field(base, stride, i - 1, in->off);
                if (s->len == prev->len && ff_bytes_same(s->p, prev->p, s->len)) {
                    ids[i] = ids[i - 1];
                    continue;
                }
            }
            int found;
            uint32_t *v = ff_strmap_put(&in->map, s->p, s->len, (uint32_t)in->map.count, &found);
            if (!v) {
                rc = -ENOMEM;
                break;
            }
            ids[i] = *v;
            if (!found) in->bytes += s->len;
            if (in->map.count > cap || in->bytes > FF_DICT_MAX_BYTES) { /* no day could use it */
                ff_free(ids);
                in->out->ids = NULL;
                ff_strmap_free(&in->map);
            }
        }
    for (int k = 0; k < ncur; k++) {
        struct ff_interned_col *ic = cur[k].out;
        const struct ff_strmap *m = &cur[k].map;
        if (!rc && ic->ids) {
            if (!(ic->vals = ff_malloc((m->count ? m->count : 1) * sizeof *ic->vals))) rc = -ENOMEM;
            else
                for (size_t s = 0; s < m->cap; s++)
                    if (m->slots[s].p) ic->vals[m->slots[s].value] = (struct ff_str){m->slots[s].p, m->slots[s].len};
            ic->nvals = (uint32_t)m->count;
        } else if (!rc) { /* given up: too many values for a dictionary; perhaps UUIDs */
            rc = parse_uuids(base, stride, n, cur[k].off, &ic->uuid16);
        }
        ff_strmap_free(&cur[k].map);
    }
    return rc;
}

static void interned_col_free(struct ff_interned_col *ic)
{
    ff_free(ic->ids);
    ff_free(ic->vals);
    ff_free(ic->uuid16);
    memset(ic, 0, sizeof *ic);
}

int ff_intern_columns(const struct ff_event *evs, size_t n, const size_t field_off[FF_NCOLS], struct ff_interned *out)
{
    memset(out, 0, sizeof *out);
    size_t offs[FF_NCOLS];
    struct ff_interned_col *outs[FF_NCOLS];
    int k = 0;
    for (int c = 0; c < FF_NCOLS; c++)
        if (field_off[c] && ff_schema[c].type == FF_COL_STR) offs[k] = field_off[c] - 1, outs[k++] = &out->col[c];
    int rc = intern_fields((const char *)evs, sizeof *evs, n, offs, outs, k);
    if (rc) ff_interned_free(out);
    return rc;
}

void ff_interned_free(struct ff_interned *in)
{
    for (int c = 0; c < FF_NCOLS; c++) interned_col_free(&in->col[c]);
}

int ff_interned_encoding(const struct ff_interned_col *ic, const uint32_t *rows, size_t n, uint8_t *enc,
                         struct ff_str **dict, uint32_t *count, uint32_t **row_codes, uint8_t **uuid16)
{
    *row_codes = NULL;
    *uuid16 = NULL;
    if (ic->uuid16) { /* every value is a UUID or empty */
        uint8_t *b = ff_malloc((n ? n : 1) * 16);
        if (!b) return -ENOMEM;
        int any = 0;
        for (size_t r = 0; r < n; r++) {
            memcpy(b + r * 16, ic->uuid16 + (size_t)(rows ? rows[r] : r) * 16, 16);
            any |= memcmp(b + r * 16, (uint8_t[16]){0}, 16) != 0;
        }
        if (any) {
            *enc = FF_ENC_UUID;
            *uuid16 = b;
            return 0;
        }
        /* all empty on this day: a one-entry dictionary */
        ff_free(b);
        struct ff_str *d = ff_malloc(sizeof *d);
        if (!d || !(*row_codes = ff_calloc(n ? n : 1, sizeof **row_codes))) {
            ff_free(d);
            return -ENOMEM;
        }
        d[0] = (struct ff_str){"", 0};
        *enc = FF_ENC_DICT;
        *dict = d;
        *count = 1;
        return 0;
    }
    if (!ic->ids) return 1;
    /* The day's distinct values, by the first row that uses each. */
    uint32_t *slot_of = ff_malloc((ic->nvals ? ic->nvals : 1) * sizeof *slot_of);
    struct ff_str *used = ff_malloc((ic->nvals ? ic->nvals : 1) * sizeof *used);
    uint32_t *codes = ff_malloc((n ? n : 1) * sizeof *codes);
    if (!slot_of || !used || !codes) {
        ff_free(slot_of), ff_free(used), ff_free(codes);
        return -ENOMEM;
    }
    memset(slot_of, 0xff, (size_t)ic->nvals * sizeof *slot_of);
    uint32_t k = 0;
    size_t bytes = 0;
    int any = 0;
    for (size_t r = 0; r < n; r++) {
        uint32_t g = ic->ids[rows ? rows[r] : r];
        if (slot_of[g] == UINT32_MAX) {
            slot_of[g] = k;
            used[k] = ic->vals[g];
            k++;
            bytes += ic->vals[g].len;
            any |= ic->vals[g].len != 0;
        }
        codes[r] = slot_of[g];
    }
    int rc = 0;
    uint8_t *u16 = NULL;
    if (any) { /* UUIDs: every non-empty value parses */
        int uuid = 1;
        uint8_t *parsed = ff_malloc((size_t)k * 16);
        if (!parsed) rc = -ENOMEM;
        for (uint32_t j = 0; j < k && !rc && uuid; j++)
            if (used[j].len) uuid = is_uuid(used[j], parsed + (size_t)j * 16);
            else memset(parsed + (size_t)j * 16, 0, 16);
        if (!rc && uuid) {
            if (!(u16 = ff_malloc((n ? n : 1) * 16))) rc = -ENOMEM;
            for (size_t r = 0; r < n && !rc; r++) memcpy(u16 + r * 16, parsed + (size_t)codes[r] * 16, 16);
        }
        ff_free(parsed);
    }
    if (!rc && u16) {
        *enc = FF_ENC_UUID;
        *uuid16 = u16;
    } else if (!rc && (k > dict_limit(n) || bytes > FF_DICT_MAX_BYTES)) {
        *enc = FF_ENC_PLAIN;
    } else if (!rc) {
        /* The dictionary sorted, and each row's code its value's rank. */
        struct ff_str *d = ff_malloc((k ? k : 1) * sizeof *d);
        uint32_t *order = ff_malloc((k ? k : 1) * sizeof *order); /* slots in value order */
        if (!d || !order) rc = -ENOMEM;
        for (uint32_t j = 0; j < k && !rc; j++) order[j] = j;
        if (!rc) rc = ff_str_sort_index(used, order, k);
        for (uint32_t j = 0; j < k && !rc; j++) {
            d[j] = used[order[j]];
            slot_of[order[j]] = j; /* slot -> rank, re-using the array */
        }
        ff_free(order);
        if (rc) ff_free(d);
        for (size_t r = 0; r < n && !rc; r++) codes[r] = slot_of[codes[r]];
        if (!rc) {
            *enc = FF_ENC_DICT;
            *dict = d;
            *count = k;
            *row_codes = codes;
            codes = NULL;
        }
    }
    ff_free(slot_of);
    ff_free(used);
    ff_free(codes);
    return rc;
}

int ff_string_encoding(const struct ff_str *vals, size_t n, uint8_t *enc, struct ff_str **dict, uint32_t *count,
                       uint32_t **row_codes, uint8_t **uuid16)
{
    struct ff_interned_col ic, *out = &ic;
    const size_t off = 0;
    int rc = intern_fields((const char *)vals, sizeof *vals, n, &off, &out, 1);
    if (!rc) rc = ff_interned_encoding(&ic, NULL, n, enc, dict, count, row_codes, uuid16);
    if (rc == 1) { /* too many distinct values, not UUIDs */
        *enc = FF_ENC_PLAIN;
        rc = 0;
    }
    interned_col_free(&ic);
    return rc;
}
