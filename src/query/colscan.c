/* colscan.c - the rows a query kind counts, read from the store on every core (colscan.h).
 *
 * Keys. Every field a plan reads has, in a part, a key per row whose text is the field's
 * value: a dictionary column's code; "event" is the event column's code for a track call
 * and (dictionary size + type) for the others; "path" is the page_path code, or (its
 * dictionary size + the page_url code) when a page has no path field; "page" goes on to the
 * name column's codes for screens and pages with neither. A filter's verdict, a
 * matcher's event test and a value's index are cached per key for the whole part. A column
 * that is not dictionary-encoded gets a key per row (its row number), and its caches last
 * one block. properties.KEY reads the part's typed column p.KEY (its dictionary codes, or
 * one key per distinct value) and, for rows it does not hold, the rest of the properties
 * (struct pcol). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/log.h"
#include "core/textcodec.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "query/colscan.h"
#include "store/derive.h"
#include "store/part.h"
#include "store/person_runs.h"
#include "store/props.h"
#include "store/prune.h"
#include "store/schema.h"
#include "store/store.h"

struct shared {
    const struct ff_qplan *p;
    struct ff_store *s;
    struct ff_store_view *v;
    struct ff_traits *traits;
    int vector;                 /* parts are read as column vectors */
    uint8_t cols[FF_NCOLS];     /* the columns the event reader decodes */
    const struct ff_qtable *members; /* the query's segment: its persons, or NULL */
    size_t min_count;
    pthread_mutex_t mu;         /* plan->values and plan->persons */
    atomic_size_t next;         /* the next part to take; nparts: memory */
    atomic_int stop;
};

/* ---- a part as column vectors ---- */

/* A string column of the block read for keys: codes into dict (a part's dictionary, or the
 * block's own values, one per row). */
struct kcol {
    int pc;                     /* the part's column, -1 when it has none */
    int stable;                 /* keys mean the same in every block (a dictionary) */
    const uint32_t *codes;
    const struct ff_str *dict;
    uint32_t ndict;
    struct ff_colvec v;
};

/* A properties.KEY field, per block. Keys: below ndict, the typed dictionary's codes; ndict
 * + r, the value of row r (for a typed column's value, the block's first row holding it);
 * ndict + n, no value. A row's key is worked out when the row is first asked about: only
 * rows that get that far cost anything. A row the typed column does not hold (absent there,
 * or no such column, or a dotted path) reads the rest of its properties as the event reader
 * would, after a look for the key's name in the text.
 *
 * person.KEY fields use the same slots: their value is the person's, so a row's key is the
 * first row of its run of rows with the same ids, and the trait is looked up once a run. */
#define MAX_PFIELDS 8
struct pcol {
    const struct ff_field *f;
    int trait;                  /* person.KEY: keys are runs of rows with the same ids (below) */
    int typed_pc, rest_pc;      /* the part's p.KEY and properties columns, -1 when none */
    struct ff_colvec typed, rest;
    int rest_loaded;
    struct ff_str *dict;        /* the typed dictionary, presence byte taken off (p NULL: absent) */
    uint32_t ndict, dict_cap;
    uint32_t *keys, keys_cap;   /* per row; UINT32_MAX: not worked out yet */
    struct ff_strmap seen;      /* a typed value's bytes (in `typed`) → the first row with it */
    char needle[FF_QUERY_NAME_MAX + 8]; /* the key's first level as JSON writes it, quoted */
    size_t needle_len;          /* 0: no quick look */
    struct ff_event ev;         /* stands in for a row: properties = its rest */
    struct ff_buf text;         /* the value of row text_row */
    uint32_t text_row;
};

/* What one field (of a filter or a value) caches per key. */
struct fcache {
    const struct ff_field *f;
    int kind, col;
    uint32_t *slot;             /* per key: 0 unknown, else the verdict (1 no, 2 yes) or value index + 1 */
    uint32_t nslot;
    int stable;
};

struct keyed_cell {
    uint32_t stamp, weight;
};

struct worker {
    struct shared *sh;
    void *state;
    struct ff_qbatch *b;
    struct ff_field_ctx *ctx;   /* the event reader's */
    struct ff_field event_field;
    pcre2_match_data *md;
    struct ff_buf tmp;
    uint32_t nev;
    int rc;
    /* the vector reader's block */
    const struct ff_part *part;
    uint32_t n;
    int coarse;                 /* this block's times are not read: every row is at block_t */
    int inside;                 /* this block is inside the range: no row's time need be checked */
    int64_t block_t;
    uint8_t *proj_ok;           /* per project code of the block: the query's project (NULL: all are) */
    uint8_t *proj_buf;
    uint32_t proj_cap;
    struct ff_colvec time, seq, type, bot;
    int time_pc, seq_pc, type_pc, bot_pc;
    struct kcol k[FF_NCOLS];
    int kwant[FF_NCOLS];        /* columns read for keys */
    struct ff_idvec id[4];         /* project, user, anonymous, session */
    int match_all;              /* every matcher takes every event (no name, no filters) */
    int need_type;              /* a field or matcher reads the type column */
    int kept_runs;              /* persons come from the store's runs (ff_store_view_person_runs),
                                 * not from the id columns: the kind needs only their hashes */
    size_t part_index;          /* the part's index in the view */
    struct ff_person_run *runs; /* the block's */
    uint32_t nruns, runs_cap;
    uint32_t *iota, *zeros;     /* 0, 1, 2, …; and all 0 (a missing column's codes) */
    uint32_t *sel, *named;      /* the block's rows a first pass keeps, and their matchers by name */
    uint32_t rows_cap;
    struct keyed_cell *cells;   /* keyed_block's counts per (value key, matchers), and the cells */
    uint32_t *touched;          /* a run touched */
    size_t cells_cap;
    uint32_t stamp;             /* the run being counted: a cell of another is 0 */
    struct fcache filt[FF_QUERY_MAX_FILTERS];
    struct fcache mfilt[FF_QPLAN_MATCH][FF_QUERY_MAX_STEP_FILTERS];
    struct fcache val[3];       /* value, value_page, value_screen */
    struct fcache ev;           /* the matchers' event tests: a mask per event key */
    struct pcol prop[MAX_PFIELDS]; /* the properties.KEY and person.KEY fields */
    int nprop, ntrait;
    uint32_t block;
    struct fcache numf;         /* plan->number's field */
    double num;                 /* the number of the row being added */
    /* blocks skipped by event name (block_named): when every matcher names an event and rows
     * that no matcher takes are left out */
    int prune_names;
    uint8_t type_named[FF_EV_TYPE_MAX + 1]; /* calls of this type (not tracks) have a matcher's name */
    int event_pc;                           /* the part's event column, -1 when it has none */
    long name_code[FF_QPLAN_MATCH];         /* each matcher's name's code in the part (store/prune.h) */
};

enum { ID_PROJECT = FF_ID_PROJECT, ID_USER = FF_ID_USER, ID_ANON = FF_ID_ANON, ID_SESSION = FF_PERSON_IDS };
static const int id_cols[4] = {FF_C_PROJECT, FF_C_USER_ID, FF_C_ANONYMOUS_ID, FF_C_SESSION_ID};
static const struct ff_str empty = {"", 0};

static int deadline_passed(const struct ff_query *q) { return q->deadline_ns && (int64_t)ff_mono_ns() > q->deadline_ns; }

static int lock_index(struct shared *sh, struct ff_qvalues *d, struct ff_str v, uint32_t *out)
{
    if (!v.len) {
        *out = 0;
        return 0;
    }
    pthread_mutex_lock(&sh->mu);
    int rc = ff_qvalues_index(d, v, out);
    pthread_mutex_unlock(&sh->mu);
    return rc;
}

/* ---- rows out ---- */

static int flush_batch(struct worker *w)
{
    if (!w->b->n) return 0;
    int rc = w->sh->p->consume(w->state, w->b);
    w->b->n = 0;
    return rc;
}

static int add_rows(struct worker *w, int64_t t, uint64_t seq, uint64_t person, uint64_t session, uint32_t match,
                    uint32_t value, uint32_t who, uint32_t weight)
{
    struct ff_qbatch *b = w->b;
    uint32_t i = b->n++;
    b->t[i] = t, b->seq[i] = seq, b->person[i] = person, b->session[i] = session;
    b->match[i] = match, b->value[i] = value, b->who[i] = who, b->weight[i] = weight, b->num[i] = w->num;
    b->values[i] = 0;
    return b->n == FF_QBATCH ? flush_batch(w) : 0;
}

/* A run of person's rows, as the set of its value indexes (plan->value_sets). */
static int add_value_set(struct worker *w, uint64_t person, uint64_t values)
{
    struct ff_qbatch *b = w->b;
    uint32_t i = b->n++;
    b->t[i] = w->block_t, b->seq[i] = 0, b->person[i] = person, b->session[i] = 0;
    b->match[i] = 0, b->value[i] = 0, b->who[i] = 0, b->weight[i] = 0, b->num[i] = 0, b->values[i] = values;
    return b->n == FF_QBATCH ? flush_batch(w) : 0;
}

static int add_row(struct worker *w, int64_t t, uint64_t seq, uint64_t person, uint64_t session, uint32_t match,
                   uint32_t value, uint32_t who)
{
    return add_rows(w, t, seq, person, session, match, value, who, 1);
}

/* ---- the event reader ---- */

static const struct ff_field *value_field(const struct ff_qplan *p, int type)
{
    if (type == FF_EV_PAGE && p->value_page) return p->value_page;
    if (type == FF_EV_SCREEN && p->value_screen) return p->value_screen;
    return p->value;
}

static int event_row(void *arg, const struct ff_event *ev)
{
    struct worker *w = arg;
    const struct ff_qplan *p = w->sh->p;
    const struct ff_query *q = p->q;
    if ((++w->nev & 255) == 0 && (deadline_passed(q) || atomic_load(&w->sh->stop))) return FF_QUERY_TIMEOUT;
    if (ev->timestamp_us < p->from_us || (ev->bot && !q->bots)) return 0;
    int ok = ff_query_wants(w->ctx, q, ev);
    if (!ok && !p->filter_bit) return 0;
    uint32_t passed = ok ? p->filter_bit : 0;
    uint32_t match = 0;
    for (size_t m = 0; m < p->nmatch; m++)
        if (ff_query_event_is(w->ctx, &w->event_field, ev, p->match_event[m]) &&
            ff_filters_pass(w->ctx, ev, p->match_filters[m], p->match_nfilters[m]))
            match |= 1u << m;
    if (!match && !p->keep_unmatched) return 0;
    match |= passed;
    struct ff_str who = ff_query_person(ev);
    if (p->person == FF_QP_REQUIRED && !who.len) return 0;
    if (w->sh->members && !ff_segment_has(w->sh->members, w->sh->min_count, who.len ? XXH3_64bits(who.p, who.len) : 0))
        return 0;
    if (p->session == FF_QP_REQUIRED && !ev->session_id.len) return 0;
    uint32_t value = 0, widx = 0;
    int rc = 0;
    if (p->value && (!p->value_mask || (match & p->value_mask))) {
        struct ff_str v;
        if (!ff_field_value(w->ctx, ev, value_field(p, ev->type), &v)) v.len = 0;
        rc = lock_index(w->sh, p->values, v, &value);
        if (!rc && !value && p->value_required) return 0;
    }
    if (!rc && p->who) rc = lock_index(w->sh, p->persons, who, &widx);
    if (rc) return rc;
    if (p->number) {
        struct ff_str v;
        if (!ff_field_value(w->ctx, ev, p->number, &v) || !ff_field_number(v, &w->num)) return 0;
    }
    uint64_t person = p->person && who.len ? XXH3_64bits(who.p, who.len) : 0;
    uint64_t session = p->session && ev->session_id.len ? XXH3_64bits(ev->session_id.p, ev->session_id.len) : 0;
    return add_row(w, ev->timestamp_us, ev->seq, person, session, match, value, widx);
}

/* ---- the vector reader ---- */

static int grow_rows(struct worker *w, uint32_t n)
{
    if (n <= w->rows_cap) return 0;
    uint32_t *iota = ff_realloc(w->iota, n * sizeof *iota), *zeros;
    if (!iota) return -ENOMEM;
    w->iota = iota;
    if (!(zeros = ff_realloc(w->zeros, n * sizeof *zeros))) return -ENOMEM;
    w->zeros = zeros;
    uint32_t *sel = ff_realloc(w->sel, n * sizeof *sel), *named;
    if (!sel) return -ENOMEM;
    w->sel = sel;
    if (!(named = ff_realloc(w->named, n * sizeof *named))) return -ENOMEM;
    w->named = named;
    for (uint32_t i = 0; i < n; i++) w->iota[i] = i, w->zeros[i] = 0;
    w->rows_cap = n;
    return 0;
}

static int load_kcol(struct worker *w, uint32_t b, struct kcol *k, char *err, size_t errlen)
{
    if (k->pc < 0) { /* a part without it: every row "" */
        k->codes = w->zeros;
        k->dict = &empty;
        k->ndict = 1;
        return 0;
    }
    if (w->part->cols[k->pc].enc == FF_ENC_DICT) {
        int rc = ff_part_read_codes(w->part, b, (uint32_t)k->pc, &k->v, err, errlen);
        if (!rc) rc = ff_part_dict(w->part, (uint32_t)k->pc, &k->dict, &k->ndict, err, errlen);
        k->codes = k->v.codes;
        return rc;
    }
    int rc = ff_part_read(w->part, b, (uint32_t)k->pc, &k->v, err, errlen);
    k->codes = w->iota;
    k->dict = k->v.str;
    k->ndict = w->n;
    return rc;
}

/* ---- properties.KEY ---- */

/* Readies the field for a part: its typed column, dictionary and the rest. */
static int prop_part(struct worker *w, struct pcol *pc, char *err, size_t errlen)
{
    const struct ff_part *part = w->part;
    pc->typed_pc = -1;
    pc->ndict = 0;
    if (pc->trait) return 0;
    pc->rest_pc = ff_part_schema_col(part, FF_C_PROPERTIES);
    if (strchr(pc->f->prop, '.')) return 0; /* typed columns are top-level keys */
    char name[FF_QUERY_NAME_MAX + 8];
    snprintf(name, sizeof name, FF_PROPS_PREFIX "%s", pc->f->prop);
    int k = ff_part_column_index(part, name);
    if (k < 0) return 0;
    uint8_t t = part->cols[k].type;
    if (t != FF_COL_STR && t != FF_COL_I64 && t != FF_COL_F64 && t != FF_COL_U8) return 0;
    pc->typed_pc = k;
    if (t != FF_COL_STR || part->cols[k].enc != FF_ENC_DICT) return 0;
    const struct ff_str *d;
    uint32_t nd;
    int rc = ff_part_dict(part, (uint32_t)k, &d, &nd, err, errlen);
    if (rc) return rc;
    if (nd > pc->dict_cap) {
        struct ff_str *nd2 = ff_realloc(pc->dict, nd * sizeof *nd2);
        if (!nd2) return -ENOMEM;
        pc->dict = nd2;
        pc->dict_cap = nd;
    }
    for (uint32_t c = 0; c < nd; c++)
        pc->dict[c] = d[c].len && d[c].p[0] == FF_PROPS_STR_PRESENT ? (struct ff_str){d[c].p + 1, d[c].len - 1}
                                                                     : (struct ff_str){NULL, 0};
    pc->ndict = nd;
    return 0;
}

static int prop_block(struct worker *w, struct pcol *pc, uint32_t b, char *err, size_t errlen)
{
    if (w->n > pc->keys_cap) {
        uint32_t *k = ff_realloc(pc->keys, w->n * sizeof *k);
        if (!k) return -ENOMEM;
        pc->keys = k;
        pc->keys_cap = w->n;
    }
    memset(pc->keys, 0xff, w->n * sizeof *pc->keys);
    ff_strmap_free(&pc->seen);
    ff_strmap_init(&pc->seen);
    pc->rest_loaded = 0;
    pc->text_row = UINT32_MAX;
    if (pc->typed_pc < 0) return 0;
    return pc->ndict ? ff_part_read_codes(w->part, b, (uint32_t)pc->typed_pc, &pc->typed, err, errlen)
                     : ff_part_read(w->part, b, (uint32_t)pc->typed_pc, &pc->typed, err, errlen);
}

/* Row i's value from the rest of its properties, into pc->text: 1 when it has one. */
static int prop_rest(struct worker *w, struct pcol *pc, uint32_t i)
{
    if (pc->text_row == i) return pc->text.len > 0;
    if (pc->rest_pc < 0) return 0;
    if (!pc->rest_loaded) {
        char err[512];
        if (ff_part_read(w->part, w->block, (uint32_t)pc->rest_pc, &pc->rest, err, sizeof err)) {
            ff_error("store: %s (read as holding no property '%s')", err, pc->f->prop);
            pc->rest_pc = -1;
            return 0;
        }
        pc->rest_loaded = 1;
    }
    struct ff_str r = pc->rest.str[i], v;
    pc->text_row = i;
    ff_buf_reset(&pc->text);
    if (!r.len || (pc->needle_len && !memmem(r.p, r.len, pc->needle, pc->needle_len))) return 0;
    ff_field_ctx_reset(w->ctx);
    pc->ev.properties = r;
    if (ff_field_value(w->ctx, &pc->ev, pc->f, &v) && ff_buf_append(&pc->text, v.p, v.len)) ff_buf_reset(&pc->text);
    return pc->text.len > 0;
}

/* Rows i and j have the same project, user and anonymous ids: the same person. */
static int same_person_ids(const struct worker *w, uint32_t i, uint32_t j) { return ff_person_ids_same(w->id, i, j); }

/* Row i as an event of its ids only, its person resolved (identity.h); the ids' text may
 * be in buf. 0, or an error of the identity map. */
static int row_person(struct worker *w, uint32_t i, struct ff_event *ev, char buf[FF_PERSON_IDS][36])
{
    return ff_idvec_person(w->sh->s, w->id, i, ev, buf, &w->tmp);
}

/* Row i's person trait into pc->text: 1 when the person has it. */
static int trait_value(struct worker *w, struct pcol *pc, uint32_t i)
{
    char buf[FF_PERSON_IDS][36];
    struct ff_event ev;
    pc->text_row = i;
    ff_buf_reset(&pc->text);
    struct ff_str v;
    if (row_person(w, i, &ev, buf)) return 0;
    ff_field_ctx_reset(w->ctx);
    if (ff_field_value(w->ctx, &ev, pc->f, &v) && ff_buf_append(&pc->text, v.p, v.len)) ff_buf_reset(&pc->text);
    return pc->text.len > 0;
}

static uint32_t trait_key(struct worker *w, struct pcol *pc, uint32_t i)
{
    if (pc->keys[i] != UINT32_MAX) return pc->keys[i];
    uint32_t last = pc->text_row;
    if (last != UINT32_MAX && last < w->n && same_person_ids(w, i, last)) return pc->keys[i] = pc->keys[last];
    return pc->keys[i] = trait_value(w, pc, i) ? i : w->n;
}

static uint32_t prop_key(struct worker *w, struct pcol *pc, uint32_t i)
{
    if (pc->trait) return trait_key(w, pc, i);
    uint32_t k = pc->keys[i];
    if (k != UINT32_MAX) return k;
    k = pc->ndict + w->n; /* none */
    const struct ff_colvec *v = &pc->typed;
    if (pc->typed_pc >= 0 && pc->ndict) {
        uint32_t c = v->codes[i];
        if (c < pc->ndict && pc->dict[c].p) return pc->keys[i] = c;
    } else if (pc->typed_pc >= 0 && ff_props_present(v, i)) {
        const char *p = v->type == FF_COL_I64 ? (const char *)&v->i64[i]
                        : v->type == FF_COL_F64 ? (const char *)&v->f64[i]
                        : v->type == FF_COL_U8  ? (const char *)&v->u8[i]
                                                : v->str[i].p;
        size_t len = v->type == FF_COL_U8 ? 1 : v->type == FF_COL_STR ? v->str[i].len : 8;
        int found;
        uint32_t *first = ff_strmap_put(&pc->seen, p, len, i, &found);
        return pc->keys[i] = pc->ndict + (first ? *first : i);
    }
    /* the typed column holds no value for the row (a typed member comes first when the
     * object is put back together, so only then does the rest count) */
    if (prop_rest(w, pc, i)) k = pc->ndict + i;
    return pc->keys[i] = k;
}

static struct ff_str prop_text(struct worker *w, struct pcol *pc, uint32_t key)
{
    if (pc->trait) {
        if (key >= w->n) return empty;
        if (pc->text_row != key && !trait_value(w, pc, key)) return empty;
        return (struct ff_str){pc->text.data, (uint32_t)pc->text.len};
    }
    if (key < pc->ndict) return pc->dict[key].p ? pc->dict[key] : empty;
    uint32_t r = key - pc->ndict;
    if (r >= w->n) return empty;
    const struct ff_colvec *v = &pc->typed;
    if (pc->typed_pc >= 0 && !pc->ndict && ff_props_present(v, r)) {
        int rc = 0;
        pc->text_row = UINT32_MAX;
        ff_buf_reset(&pc->text);
        switch (v->type) {
        case FF_COL_I64: rc = ff_json_write_int(&pc->text, v->i64[r]); break;
        case FF_COL_F64: rc = ff_field_double_text(&pc->text, v->f64[r]); break;
        case FF_COL_U8: return v->u8[r] ? (struct ff_str){"true", 4} : (struct ff_str){"false", 5};
        default: return (struct ff_str){v->str[r].p + 1, v->str[r].len - 1};
        }
        return rc ? empty : (struct ff_str){pc->text.data, (uint32_t)pc->text.len};
    }
    return prop_rest(w, pc, r) ? (struct ff_str){pc->text.data, (uint32_t)pc->text.len} : empty;
}

/* The plan's slot for a property field: one per key path, however many filters name it. */
static int prop_slot(struct worker *w, const struct ff_field *f)
{
    int trait = ff_field_is_trait(f);
    for (int i = 0; i < w->nprop; i++)
        if (w->prop[i].trait == trait && !strcmp(w->prop[i].f->prop, f->prop)) return i;
    struct pcol *pc = &w->prop[w->nprop];
    pc->f = f;
    pc->trait = trait;
    if (trait) w->ntrait++;
    pc->typed_pc = pc->rest_pc = -1;
    ff_buf_init(&pc->text, (size_t)1 << 30);
    pc->ev.type = FF_EV_TRACK;
    /* the first level of the path, quoted as footfall's compact JSON writes it; a name
     * that JSON escapes gets no quick look */
    size_t n = strcspn(f->prop, ".");
    int plain = n + 2 < sizeof pc->needle;
    for (size_t k = 0; k < n && plain; k++)
        plain = (unsigned char)f->prop[k] >= 0x20 && f->prop[k] != '"' && f->prop[k] != '\\' && (unsigned char)f->prop[k] < 0x7f;
    if (plain) {
        pc->needle[0] = '"';
        memcpy(pc->needle + 1, f->prop, n);
        pc->needle[n + 1] = '"';
        pc->needle_len = n + 2;
    }
    return w->nprop++;
}

static void prop_free(struct pcol *pc)
{
    ff_colvec_free(&pc->typed);
    ff_colvec_free(&pc->rest);
    ff_free(pc->dict);
    ff_free(pc->keys);
    ff_strmap_free(&pc->seen);
    ff_buf_free(&pc->text);
}

/* The event key of row i: a track call's event code, or (dictionary size + type). */
static inline uint32_t event_key(const uint8_t *type, const uint32_t *codes, uint32_t ndict, uint32_t i)
{
    uint32_t t = type ? type[i] : 0, code = codes[i];
    /* chosen by a mask, not a branch: pages and tracks alternate at random */
    uint32_t track = 0u - (uint32_t)(t == FF_EV_TRACK);
    return (code & track) | ((ndict + t) & ~track);
}

/* A field's key at row i, and the text of a key. */
static uint32_t key_of(struct worker *w, int kind, int col, uint32_t i)
{
    switch (kind) {
    case FF_FV_PROP:
    case FF_FV_TRAIT: return prop_key(w, &w->prop[col], i);
    case FF_FV_EVENT: return event_key(w->type.u8, w->k[FF_C_EVENT].codes, w->k[FF_C_EVENT].ndict, i);
    case FF_FV_TYPE: return w->type.u8 ? w->type.u8[i] : 0;
    case FF_FV_BOT: return w->bot.u8 ? (w->bot.u8[i] != 0) : 0;
    case FF_FV_PROJECT: return w->k[FF_C_PROJECT].codes[i];
    case FF_FV_PATH: {
        const struct kcol *p = &w->k[FF_C_PAGE_PATH];
        uint32_t c = p->codes[i];
        return p->dict[c].len ? c : p->ndict + w->k[FF_C_PAGE_URL].codes[i];
    }
    case FF_FV_PAGE: {
        const struct kcol *p = &w->k[FF_C_PAGE_PATH], *u = &w->k[FF_C_PAGE_URL], *nm = &w->k[FF_C_NAME];
        uint32_t names = p->ndict + u->ndict;
        uint8_t t = w->type.u8 ? w->type.u8[i] : 0;
        if (t == FF_EV_SCREEN) return names + nm->codes[i];
        if (t != FF_EV_PAGE) return names + nm->ndict; /* not a pageview: none */
        if (p->dict[p->codes[i]].len) return p->codes[i];
        if (u->dict[u->codes[i]].len) return p->ndict + u->codes[i];
        return names + nm->codes[i];
    }
    default: return w->k[col].codes[i];
    }
}

static uint32_t key_count(const struct worker *w, int kind, int col)
{
    switch (kind) {
    case FF_FV_PROP:
    case FF_FV_TRAIT: return w->prop[col].ndict + w->n + 1;
    case FF_FV_EVENT: return w->k[FF_C_EVENT].ndict + 256;
    case FF_FV_TYPE: return 256;
    case FF_FV_BOT: return 2;
    case FF_FV_PROJECT: return w->k[FF_C_PROJECT].ndict;
    case FF_FV_PATH: return w->k[FF_C_PAGE_PATH].ndict + w->k[FF_C_PAGE_URL].ndict;
    case FF_FV_PAGE: return w->k[FF_C_PAGE_PATH].ndict + w->k[FF_C_PAGE_URL].ndict + w->k[FF_C_NAME].ndict + 1;
    default: return w->k[col].ndict;
    }
}

static int key_stable(const struct worker *w, int kind, int col)
{
    switch (kind) {
    case FF_FV_PROP:
    case FF_FV_TRAIT: return 0;
    case FF_FV_EVENT: return w->k[FF_C_EVENT].stable;
    case FF_FV_TYPE:
    case FF_FV_BOT: return 1;
    case FF_FV_PROJECT: return w->k[FF_C_PROJECT].stable;
    case FF_FV_PATH: return w->k[FF_C_PAGE_PATH].stable && w->k[FF_C_PAGE_URL].stable;
    case FF_FV_PAGE: return w->k[FF_C_PAGE_PATH].stable && w->k[FF_C_PAGE_URL].stable && w->k[FF_C_NAME].stable;
    default: return w->k[col].stable;
    }
}

static struct ff_str key_text(struct worker *w, int kind, int col, uint32_t key)
{
    switch (kind) {
    case FF_FV_PROP:
    case FF_FV_TRAIT: return prop_text(w, &w->prop[col], key);
    case FF_FV_EVENT: {
        const struct kcol *e = &w->k[FF_C_EVENT];
        return key < e->ndict ? e->dict[key] : ff_event_query_name((int)(key - e->ndict), empty);
    }
    case FF_FV_TYPE: {
        const char *n = ff_event_type_name((int)key);
        return n ? (struct ff_str){n, (uint32_t)strlen(n)} : empty;
    }
    case FF_FV_BOT: return key ? (struct ff_str){"true", 4} : (struct ff_str){"false", 5};
    case FF_FV_PROJECT: {
        struct ff_str p = w->k[FF_C_PROJECT].dict[key];
        return p.len ? p : (struct ff_str){FF_DEFAULT_PROJECT, sizeof FF_DEFAULT_PROJECT - 1};
    }
    case FF_FV_PATH: {
        const struct kcol *p = &w->k[FF_C_PAGE_PATH];
        if (key < p->ndict) return p->dict[key];
        struct ff_str url = w->k[FF_C_PAGE_URL].dict[key - p->ndict];
        return url.len ? ff_url_path(url) : url;
    }
    case FF_FV_PAGE: {
        const struct kcol *p = &w->k[FF_C_PAGE_PATH], *u = &w->k[FF_C_PAGE_URL], *nm = &w->k[FF_C_NAME];
        if (key < p->ndict) return p->dict[key];
        if (key < p->ndict + u->ndict) return ff_url_path(u->dict[key - p->ndict]);
        key -= p->ndict + u->ndict;
        return key < nm->ndict ? nm->dict[key] : empty;
    }
    default: return w->k[col].dict[key];
    }
}

/* Readies a cache for this block: sized to its keys, emptied when its keys changed meaning
 * (then 1). */
static int cache_ready(struct worker *w, struct fcache *c, int new_part)
{
    if (!c->f && c->kind == FF_FV_NONE) return 0;
    if (!new_part && c->stable) return 0;
    uint32_t n = key_count(w, c->kind, c->col);
    c->stable = key_stable(w, c->kind, c->col);
    if (n > c->nslot) {
        uint32_t *s = ff_realloc(c->slot, n * sizeof *s);
        if (!s) return -ENOMEM;
        c->slot = s;
        c->nslot = n;
    }
    memset(c->slot, 0, n * sizeof *c->slot);
    return 1;
}

/* The typed integer or float property column a field reads its numbers from, or NULL; and
 * row i's number straight from it, which is what the text it reads as would give: 1, or 0
 * when the field has no such column or the row has none there. */
static const struct ff_colvec *typed_numbers(const struct worker *w, const struct fcache *c)
{
    if (c->kind != FF_FV_PROP) return NULL;
    const struct pcol *pc = &w->prop[c->col];
    return pc->typed_pc >= 0 && (pc->typed.type == FF_COL_I64 || pc->typed.type == FF_COL_F64) ? &pc->typed : NULL;
}

static int typed_number(const struct worker *w, const struct fcache *c, uint32_t i, double *d)
{
    const struct ff_colvec *v = typed_numbers(w, c);
    if (!v || !ff_props_present(v, i)) return 0;
    *d = v->type == FF_COL_I64 ? (double)v->i64[i] : v->f64[i];
    return 1;
}

/* gt and lt over a typed numeric property compare the number itself (-1: not that case) */
static int number_pass(struct worker *w, const struct fcache *c, const struct ff_filter *f, uint32_t i)
{
    double d;
    if ((f->op != FF_OP_GT && f->op != FF_OP_LT) || !typed_number(w, c, i, &d)) return -1;
    return f->op == FF_OP_GT ? d > f->number : d < f->number;
}

/* plan->number at row i into w->num: 1, or 0 when the row has none */
static int number_at(struct worker *w, uint32_t i)
{
    const struct fcache *c = &w->numf;
    return typed_number(w, c, i, &w->num) ||
           ff_field_number(key_text(w, c->kind, c->col, key_of(w, c->kind, c->col, i)), &w->num);
}

static int filter_pass(struct worker *w, struct fcache *c, const struct ff_filter *f, uint32_t i)
{
    int num = number_pass(w, c, f, i);
    if (num >= 0) return num;
    uint32_t key = key_of(w, c->kind, c->col, i);
    if (!c->slot[key]) {
        struct ff_str v = key_text(w, c->kind, c->col, key);
        c->slot[key] = 1 + (uint32_t)ff_filter_match(f, v.len > 0, v, w->md);
    }
    return c->slot[key] == 2;
}

static int filters_pass(struct worker *w, struct fcache *c, const struct ff_filter *fs, size_t n, uint32_t i)
{
    for (size_t k = 0; k < n; k++)
        if (!filter_pass(w, &c[k], &fs[k], i)) return 0;
    return 1;
}

/* Per event key: bit m set when the event's name is what matcher m names (its filters
 * apart). Worked out for every key at once: rows then only look theirs up. */
static void fill_event_masks(struct worker *w)
{
    const struct ff_qplan *p = w->sh->p;
    uint32_t n = key_count(w, FF_FV_EVENT, 0);
    for (uint32_t key = 0; key < n; key++) {
        struct ff_str name = key_text(w, FF_FV_EVENT, 0, key);
        uint32_t mask = 0;
        for (size_t m = 0; m < p->nmatch; m++) {
            const char *e = p->match_event[m];
            if (!e[0] || (name.len == strlen(e) && memcmp(name.p, e, name.len) == 0)) mask |= 1u << m;
        }
        w->ev.slot[key] = mask;
    }
}

/* The index in plan->values of a value field's key (cached per key). */
static int key_value(struct worker *w, struct fcache *c, uint32_t key, uint32_t *out)
{
    if (!c->slot[key]) {
        uint32_t idx;
        int rc = lock_index(w->sh, w->sh->p->values, key_text(w, c->kind, c->col, key), &idx);
        if (rc) return rc;
        c->slot[key] = idx + 1;
    }
    *out = c->slot[key] - 1;
    return 0;
}

static int value_at(struct worker *w, uint32_t i, uint32_t *out)
{
    const struct ff_qplan *p = w->sh->p;
    struct fcache *c = &w->val[0];
    if (p->value_page || p->value_screen) {
        uint8_t t = w->type.u8 ? w->type.u8[i] : 0;
        if (t == FF_EV_PAGE && p->value_page) c = &w->val[1];
        else if (t == FF_EV_SCREEN && p->value_screen) c = &w->val[2];
    }
    return key_value(w, c, key_of(w, c->kind, c->col, i), out);
}

struct runs {
    uint32_t person_row, session_row; /* the rows last resolved (UINT32_MAX: none yet) */
    uint32_t run;                     /* with kept runs: the index of the run person_row is in */
    uint64_t person, session;
    uint32_t who;
    int member;                       /* the person is in the query's segment (when it has one) */
};

/* The person (hash and index) of row i: resolved again only when its ids differ from the
 * row last resolved. */
static int person_at(struct worker *w, struct runs *r, uint32_t i)
{
    if (w->kept_runs) {
        if (r->person_row != UINT32_MAX && i < w->runs[r->run].end) return 0;
        while (r->run < w->nruns && w->runs[r->run].end <= i) r->run++;
        r->person_row = i;
        r->person = r->run < w->nruns ? w->runs[r->run].person : 0;
        r->member = !w->sh->members || ff_segment_has(w->sh->members, w->sh->min_count, r->person);
        r->who = 0;
        return 0;
    }
    if (r->person_row != UINT32_MAX && same_person_ids(w, i, r->person_row)) return 0;
    r->person_row = i;
    char buf[FF_PERSON_IDS][36];
    struct ff_event ev;
    row_person(w, i, &ev, buf);
    struct ff_str who = ff_query_person(&ev);
    r->person = who.len ? XXH3_64bits(who.p, who.len) : 0;
    r->member = !w->sh->members || ff_segment_has(w->sh->members, w->sh->min_count, r->person);
    r->who = 0;
    return w->sh->p->who ? lock_index(w->sh, w->sh->p->persons, who, &r->who) : 0;
}

static void session_at(struct worker *w, struct runs *r, uint32_t i)
{
    if (r->session_row != UINT32_MAX && ff_idvec_same(&w->id[ID_SESSION], i, r->session_row)) return;
    r->session_row = i;
    char buf[36];
    struct ff_str sid = ff_idvec_text(&w->id[ID_SESSION], i, buf);
    r->session = sid.len ? XXH3_64bits(sid.p, sid.len) : 0;
}

/* Marks the columns the plan's fields are keyed on. */
static void want_field(struct worker *w, const struct ff_field *f, struct fcache *c)
{
    int col;
    c->f = f;
    c->kind = ff_field_vector(f, &col);
    c->col = col;
    c->stable = 0;
    switch (c->kind) {
    case FF_FV_EVENT: w->kwant[FF_C_EVENT] = 1; break;
    case FF_FV_PROJECT: w->kwant[FF_C_PROJECT] = 1; break;
    case FF_FV_PATH: w->kwant[FF_C_PAGE_PATH] = w->kwant[FF_C_PAGE_URL] = 1; break;
    case FF_FV_PAGE: w->kwant[FF_C_PAGE_PATH] = w->kwant[FF_C_PAGE_URL] = w->kwant[FF_C_NAME] = 1; break;
    case FF_FV_COLUMN: w->kwant[col] = 1; break;
    case FF_FV_PROP:
    case FF_FV_TRAIT: c->col = prop_slot(w, f); break;
    default: break;
    }
}

static void plan_columns(struct worker *w)
{
    const struct ff_qplan *p = w->sh->p;
    const struct ff_query *q = p->q;
    memset(w->kwant, 0, sizeof w->kwant);
    for (size_t i = 0; i < q->nfilters; i++) want_field(w, &q->filters[i].field, &w->filt[i]);
    for (size_t m = 0; m < p->nmatch; m++)
        for (size_t i = 0; i < p->match_nfilters[m]; i++) want_field(w, &p->match_filters[m][i].field, &w->mfilt[m][i]);
    const struct ff_field *vf[3] = {p->value, p->value_page, p->value_screen};
    for (int i = 0; i < 3; i++)
        if (vf[i]) want_field(w, vf[i], &w->val[i]);
    if (p->number) want_field(w, p->number, &w->numf);
    w->match_all = p->nmatch > 0;
    for (size_t m = 0; m < p->nmatch; m++)
        if (p->match_event[m][0] || p->match_nfilters[m]) w->match_all = 0;
    if (p->nmatch && !w->match_all) {
        w->ev.kind = FF_FV_EVENT;
        w->kwant[FF_C_EVENT] = 1;
    }
    /* only an event's name, page or type (fields, values, matchers) needs it */
    w->need_type = q->nfilters || p->value || p->value_page || p->value_screen || p->number || (p->nmatch && !w->match_all);
    if (q->project[0]) w->kwant[FF_C_PROJECT] = 1;
    /* a block none of whose rows a matcher names can be skipped unread (block_named) */
    w->prune_names = p->nmatch && !p->keep_unmatched;
    for (size_t m = 0; m < p->nmatch; m++) w->prune_names &= p->match_event[m][0] != '\0';
    memset(w->type_named, 0, sizeof w->type_named);
    for (int t = 0; t <= FF_EV_TYPE_MAX; t++) {
        struct ff_str name = ff_event_query_name(t, empty); /* "$pageview", …; tracks: their own */
        for (size_t m = 0; t != FF_EV_TRACK && name.len && m < p->nmatch; m++)
            if (name.len == strlen(p->match_event[m]) && !memcmp(name.p, p->match_event[m], name.len)) w->type_named[t] = 1;
    }
}

static int load_block(struct worker *w, uint32_t b, char *err, size_t errlen)
{
    const struct ff_qplan *p = w->sh->p;
    w->n = w->part->blocks[b].nrows;
    int rc = grow_rows(w, w->n);
    if (!rc && !w->coarse) rc = ff_part_read(w->part, b, (uint32_t)w->time_pc, &w->time, err, errlen);
    if (!rc && p->seq && w->seq_pc >= 0) rc = ff_part_read(w->part, b, (uint32_t)w->seq_pc, &w->seq, err, errlen);
    if (!rc && w->need_type && w->type_pc >= 0) rc = ff_part_read(w->part, b, (uint32_t)w->type_pc, &w->type, err, errlen);
    /* a block without bots (the chunk's max says so) reads as one: nothing to decode */
    memset(&w->bot, 0, offsetof(struct ff_colvec, mem));
    if (!rc && w->bot_pc >= 0 && w->part->blocks[b].chunks[w->bot_pc].max != 0)
        rc = ff_part_read(w->part, b, (uint32_t)w->bot_pc, &w->bot, err, errlen);
    for (int c = 0; !rc && c < FF_NCOLS; c++)
        if (w->kwant[c]) rc = load_kcol(w, b, &w->k[c], err, errlen);
    w->block = b;
    if (!rc && w->kept_runs)
        rc = ff_store_view_person_runs(w->sh->v, w->part_index, b, &w->runs, &w->runs_cap, &w->nruns, err, errlen);
    for (int i = 0; !rc && i < w->nprop; i++) rc = prop_block(w, &w->prop[i], b, err, errlen);
    for (int k = 0; !rc && k < 4; k++) {
        int need = k == ID_SESSION ? p->session != FF_QP_NONE
                                   : !w->kept_runs && (p->person != FF_QP_NONE || p->who || w->sh->members || w->ntrait);
        if (need) rc = ff_idvec_read(w->part, b, &w->id[k], err, errlen);
    }
    return rc;
}

/* Which of the block's project codes are the query's: none to check when every one is. */
static int ready_projects(struct worker *w)
{
    const char *project = w->sh->p->q->project;
    struct kcol *k = &w->k[FF_C_PROJECT];
    w->proj_ok = NULL;
    if (!project[0]) return 0;
    if (k->ndict > w->proj_cap) {
        uint8_t *ok = ff_realloc(w->proj_buf, k->ndict);
        if (!ok) return -ENOMEM;
        w->proj_buf = ok;
        w->proj_cap = k->ndict;
    }
    int all = 1;
    for (uint32_t c = 0; c < k->ndict; c++) all &= w->proj_buf[c] = (uint8_t)ff_in_project(k->dict[c], project);
    if (!all) w->proj_ok = w->proj_buf;
    return 0;
}

static int ready_caches(struct worker *w, int new_part)
{
    const struct ff_qplan *p = w->sh->p;
    const struct ff_query *q = p->q;
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < q->nfilters; i++) rc = cache_ready(w, &w->filt[i], new_part);
    for (size_t m = 0; m < p->nmatch; m++)
        for (size_t i = 0; rc >= 0 && i < p->match_nfilters[m]; i++) rc = cache_ready(w, &w->mfilt[m][i], new_part);
    for (int i = 0; rc >= 0 && i < 3; i++)
        if (w->val[i].f) rc = cache_ready(w, &w->val[i], new_part);
    if (rc >= 0 && w->ev.kind && (rc = cache_ready(w, &w->ev, new_part)) == 1) fill_event_masks(w);
    return rc < 0 ? rc : 0;
}

/* Row i is kept by the block's bot flags (NULL: bots are counted, or the block has none) and
 * the query's project (proj_ok NULL: every code is). */
static inline int row_kept(const uint8_t *bot, const uint8_t *proj_ok, const uint32_t *proj, uint32_t i)
{
    return (!bot || !bot[i]) && (!proj_ok || proj_ok[proj[i]]);
}

/* The block's bot flags when bots are left out, else NULL. */
static const uint8_t *bot_flags(const struct worker *w) { return w->sh->p->q->bots ? NULL : w->bot.u8; }

/* A block inside the range and one interval, when the kind wants only how many events of
 * each name there are (no filters, values, persons or sessions): counted per event key, one
 * weighted row per name. 1 when it did so. */
static int count_block(struct worker *w, int *rc)
{
    const struct ff_qplan *p = w->sh->p;
    const struct ff_query *q = p->q;
    if (!p->weighted || !w->coarse || p->person || p->who || w->sh->members || p->session || p->value || p->number ||
        p->keep_unmatched || q->nfilters || !p->nmatch || w->match_all)
        return 0;
    for (size_t m = 0; m < p->nmatch; m++)
        if (p->match_nfilters[m]) return 0;
    uint32_t nkeys = key_count(w, FF_FV_EVENT, 0);
    uint32_t *counts = ff_calloc(nkeys, sizeof *counts);
    if (!counts) return *rc = -ENOMEM, 1;
    const uint8_t *bot = bot_flags(w), *proj_ok = w->proj_ok;
    const uint32_t *proj = w->k[FF_C_PROJECT].codes;
    for (uint32_t i = 0; i < w->n; i++)
        if (row_kept(bot, proj_ok, proj, i)) counts[key_of(w, FF_FV_EVENT, 0, i)]++;
    *rc = 0;
    for (uint32_t k = 0; !*rc && k < nkeys; k++)
        if (counts[k] && w->ev.slot[k]) *rc = add_rows(w, w->block_t, 0, 0, 0, w->ev.slot[k], 0, 0, counts[k]);
    ff_free(counts);
    return 1;
}

/* A block inside the range and one interval, when the kind wants only how many events (of
 * any name) each person has there, or how many there are: one weighted row per run of a
 * person's rows (the store's kept runs), or one for the block, with nothing of a row read
 * but its bot flag and project. 1 when it did so. */
static int run_block(struct worker *w, int *rc)
{
    const struct ff_qplan *p = w->sh->p;
    const struct ff_query *q = p->q;
    int persons = p->person || w->sh->members;
    if (!w->match_all || !p->weighted || !w->coarse || p->who || p->session || p->value || p->number || q->nfilters ||
        (persons && !w->kept_runs))
        return 0;
    const uint8_t *bot = bot_flags(w), *proj_ok = w->proj_ok;
    const uint32_t *proj = w->k[FF_C_PROJECT].codes;
    uint32_t match = ((1u << p->nmatch) - 1) | p->filter_bit;
    uint32_t nruns = persons ? w->nruns : 1;
    *rc = 0;
    for (uint32_t k = 0, i = 0; !*rc && k < nruns; k++) {
        uint32_t end = persons ? w->runs[k].end : w->n, weight = 0;
        uint64_t person = persons ? w->runs[k].person : 0;
        if (!bot && !proj_ok) weight = end - i, i = end;
        for (; i < end; i++) weight += (uint32_t)row_kept(bot, proj_ok, proj, i);
        if (!weight || (p->person == FF_QP_REQUIRED && !person) ||
            (w->sh->members && !ff_segment_has(w->sh->members, w->sh->min_count, person)))
            continue;
        *rc = add_rows(w, w->block_t, 0, p->person ? person : 0, 0, match, 0, 0, weight);
    }
    return 1;
}

/* Rows on their way out to a weighted kind: rows that share time, order, person, session and
 * who, and differ only in their matchers and value (a person's run of events in one
 * interval, say), go out as one row per (matchers, value) with their count. */
#define PEND_MAX 16
struct pending {
    int64_t t;
    uint64_t seq, person, session;
    uint32_t who, n;
    struct {
        uint64_t mv; /* match << 32 | value: one 64-bit compare (two halves stored apart stall the load) */
        uint32_t weight;
    } v[PEND_MAX];
};

static int flush_pending(struct worker *w, struct pending *pd)
{
    int rc = 0;
    for (uint32_t k = 0; !rc && k < pd->n; k++)
        rc = add_rows(w, pd->t, pd->seq, pd->person, pd->session, (uint32_t)(pd->v[k].mv >> 32), (uint32_t)pd->v[k].mv,
                      pd->who, pd->v[k].weight);
    pd->n = 0;
    return rc;
}

static int add_weighted(struct worker *w, struct pending *pd, int64_t t, uint64_t seq, uint64_t person,
                        uint64_t session, uint32_t match, uint32_t value, uint32_t who)
{
    uint64_t mv = (uint64_t)match << 32 | value;
    if (pd->n && pd->t == t && pd->seq == seq && pd->person == person && pd->session == session && pd->who == who) {
        for (uint32_t k = pd->n; k-- > 0;)
            if (pd->v[k].mv == mv) {
                pd->v[k].weight++;
                return 0;
            }
        if (pd->n < PEND_MAX) {
            pd->v[pd->n].mv = mv, pd->v[pd->n].weight = 1, pd->n++;
            return 0;
        }
    }
    int rc = flush_pending(w, pd);
    pd->t = t, pd->seq = seq, pd->person = person, pd->session = session, pd->who = who;
    pd->v[0].mv = mv, pd->v[0].weight = 1, pd->n = 1;
    return rc;
}

/* The block's rows in the range, not bots' (unless asked for), of the query's project, and
 * taken by a matcher's event name (unless the kind keeps every row): into w->sel, with their
 * matchers by name in w->named; how many. A tight pass first, so that the rows a query does
 * not want (most, for one event's trend) cost no more than this. */
__attribute__((noinline)) static uint32_t select_rows(struct worker *w) /* its own registers: inlined, they spill */
{
    const struct ff_qplan *p = w->sh->p;
    const int64_t *t = w->time.i64, to = ff_qplan_to(p);
    const uint8_t *bot = bot_flags(w), *proj_ok = w->proj_ok;
    const uint32_t *proj = w->k[FF_C_PROJECT].codes;
    int by_name = p->nmatch && !w->match_all, inside = w->inside;
    uint32_t keep = !p->nmatch || p->keep_unmatched;
    /* in locals: the stores below could alias the worker's fields, which would be read again every row */
    const uint8_t *type = w->type.u8;
    const uint32_t *codes = w->k[FF_C_EVENT].codes, *slot = w->ev.slot, ndict = w->k[FF_C_EVENT].ndict;
    uint32_t *restrict sel = w->sel, *restrict named_out = w->named;
    uint32_t all = p->nmatch ? ((1u << p->nmatch) - 1) : 0, n = 0, rows = w->n;
    int64_t from = p->from_us;
    /* Whether a row is in is worked out with & and |, not && and ||: a query's event is in
     * a third of the rows, say, at random, and a branch on it mispredicted every other row. */
    if (!bot && !proj_ok && inside && by_name) { /* the usual block: only the name decides */
        for (uint32_t i = 0; i < rows; i++) {
            uint32_t named = slot[event_key(type, codes, ndict, i)];
            sel[n] = i, named_out[n] = named; /* written always, kept when in */
            n += keep | (named != 0);
        }
        return n;
    }
    for (uint32_t i = 0; i < rows; i++) {
        uint32_t named = by_name ? slot[event_key(type, codes, ndict, i)] : all;
        uint32_t in = keep | (named != 0);
        if (bot) in &= !bot[i];
        if (proj_ok) in &= proj_ok[proj[i]];
        if (!inside) in &= (uint32_t)(t[i] >= from) & (uint32_t)(t[i] < to);
        sel[n] = i, named_out[n] = named;
        n += in;
    }
    return n;
}

/* Keeps of the n selected rows (w->sel, w->named) those that pass the query's filters, for a
 * plan that leaves out rows that fail them (no filter_bit); how many. A typed number compared
 * with gt or lt is read straight from its column, row after row. */
static uint32_t filter_rows(struct worker *w, uint32_t nsel)
{
    const struct ff_query *q = w->sh->p->q;
    uint32_t *restrict sel = w->sel, *restrict named = w->named;
    for (size_t f = 0; f < q->nfilters; f++) {
        struct fcache *c = &w->filt[f];
        const struct ff_filter *fl = &q->filters[f];
        const int gt = fl->op == FF_OP_GT;
        const struct ff_colvec *v = gt || fl->op == FF_OP_LT ? typed_numbers(w, c) : NULL;
        const double *f64 = v && v->type == FF_COL_F64 ? v->f64 : NULL;
        const int64_t *i64 = v && v->type == FF_COL_I64 ? v->i64 : NULL;
        const double x = fl->number;
        uint32_t n = 0;
        for (uint32_t k = 0; k < nsel; k++) {
            uint32_t i = sel[k];
            int pass;
            /* NaN and INT64_MIN: absent from the typed column, perhaps in the rest */
            double d = f64 ? f64[i] : i64 && i64[i] != INT64_MIN ? (double)i64[i] : NAN;
            if (d == d) pass = gt ? d > x : d < x;
            else pass = filter_pass(w, c, fl, i);
            sel[n] = i, named[n] = named[k];
            n += (uint32_t)pass;
        }
        nsel = n;
    }
    return nsel;
}

/* The k-th row kept: sel[k], or k itself when every row is (sel NULL; iota would cost a load). */
static inline uint32_t row_at(const uint32_t *sel, uint32_t k) { return sel ? sel[k] : k; }

/* What keyed_block reads of a block's rows, worked out once per block. */
struct keyed {
    const struct ff_qplan *p;
    struct fcache *c;                /* the value's field */
    const uint32_t *sel;             /* NULL: every row is in */
    const uint32_t *codes, *ecodes;  /* the value's column codes (else NULL), the event codes */
    const uint32_t *ev_slot;         /* event key → matchers by name */
    const uint8_t *type;
    uint32_t endict, nm, all_named;  /* nm: cells per key (1 << matchers) */
    int all, by_name, by_event;
};

/* Row k's value key and its matchers (*named). */
static inline uint32_t keyed_row(struct worker *w, const struct keyed *kb, uint32_t k, uint32_t *named)
{
    uint32_t i = row_at(kb->sel, k);
    uint32_t ekey = kb->by_event || (kb->all && kb->by_name) ? event_key(kb->type, kb->ecodes, kb->endict, i) : 0;
    *named = (!kb->all ? w->named[k] : kb->by_name ? kb->ev_slot[ekey] : kb->all_named) & (kb->nm - 1);
    return kb->by_event ? ekey : kb->codes ? kb->codes[i] : kb->p->value ? key_of(w, kb->c->kind, kb->c->col, i) : 0;
}

/* One row for a key's rows with these matchers, `weight` of them, of person (0: none). */
static int keyed_emit(struct worker *w, const struct keyed *kb, uint32_t key, uint32_t named, uint64_t person,
                      uint32_t weight)
{
    const struct ff_qplan *p = kb->p;
    uint32_t value = 0;
    if (p->value) {
        int rc = key_value(w, kb->c, key, &value);
        if (rc) return rc;
        if (!value && p->value_required) return 0;
    }
    return add_rows(w, w->block_t, 0, p->person ? person : 0, 0, named | p->filter_bit, value, 0, weight);
}

/* Up to 64 cells (a top list of events: a cell per event key, whose name says its matchers;
 * else per (key, matchers)). The keys and matchers of a few-cells cell. */
static inline uint32_t few_key(const struct keyed *kb, uint32_t cell, uint32_t *named)
{
    *named = kb->by_event ? (kb->by_name ? kb->ev_slot[cell] : kb->all_named) & (kb->nm - 1) : cell % kb->nm;
    return kb->by_event ? cell : cell / kb->nm;
}

/* The cells rows *k.. of the run ending at row `end` touch, as bits (a register, not a stamp
 * read and written per row: a chain from row to row through memory was most of a scan's
 * time), each row counted in count[row & 1][cell] (alternate arrays, for the same reason). */
static inline uint64_t few_run(struct worker *w, const struct keyed *kb, uint32_t *kp, uint32_t nsel, uint32_t end,
                               uint32_t count[2][64])
{
    uint64_t touched = 0;
    uint32_t k = *kp;
    if (kb->by_event && !kb->sel) /* a top list of events: this loop alone, its own registers */
        for (; k < end; k++) {
            uint32_t cell = event_key(kb->type, kb->ecodes, kb->endict, k);
            cell = cell < 64 ? cell : 63; /* a damaged type byte: a type without a name, as 63 is */
            touched |= (uint64_t)1 << cell;
            count[k & 1][cell]++;
        }
    for (; k < nsel && row_at(kb->sel, k) < end; k++) {
        uint32_t named, key = keyed_row(w, kb, k, &named);
        uint32_t cell = kb->by_event ? (key < 64 ? key : 63) : key * kb->nm + named;
        touched |= (uint64_t)1 << cell;
        count[k & 1][cell]++;
    }
    *kp = k;
    return touched;
}

/* Value sets (plan->value_sets): each key's value, and as a bit, worked out once a block
 * (a look-up per touched key and run cost a tenth of a top list). */
struct value_bits {
    uint64_t bit[64];      /* 0 for no value or one past 63 */
    uint32_t value[64];
    uint64_t known, past;  /* keys worked out; keys whose value is past 63 */
};

/* A run that touched these cells, as one row with the set of its values; those past 63 go
 * one row each, weight 0 (the counts go out at the block's end). */
static int few_run_set(struct worker *w, const struct keyed *kb, struct value_bits *vb, uint64_t touched, uint64_t person)
{
    uint64_t values = 0;
    int rc = 0;
    for (; touched && !rc; touched &= touched - 1) {
        uint32_t named, key = few_key(kb, (uint32_t)__builtin_ctzll(touched), &named);
        if (!(vb->known >> key & 1)) {
            uint32_t value = 0;
            if ((rc = key_value(w, kb->c, key, &value))) break;
            vb->value[key] = value;
            vb->bit[key] = value && value < 64 ? (uint64_t)1 << value : 0;
            vb->past |= (uint64_t)(value >= 64) << key;
            vb->known |= (uint64_t)1 << key;
        }
        values |= vb->bit[key];
        if (vb->past >> key & 1) rc = add_rows(w, w->block_t, 0, kb->p->person ? person : 0, 0, 0, vb->value[key], 0, 0);
    }
    return !rc && values ? add_value_set(w, kb->p->person ? person : 0, values) : rc;
}

/* A block inside the range and one interval, for a weighted kind that wants, per person (a
 * kept run) or for the whole block, how many rows it has of each (matchers, value), and no
 * order, session or number (the query's filters are applied first): rows are counted in a
 * cell per (value key, matchers), a few instructions a row, and each cell a run touched goes
 * out as one row with its count (the row-by-row path searches its pending rows for every
 * row). 1 when it did so. */
#define KEYED_MATCH_MAX 2 /* matchers: cells per key 1 << this */
static int keyed_block(struct worker *w, int *rc)
{
    const struct ff_qplan *p = w->sh->p;
    const struct ff_query *q = p->q;
    int persons = p->person || w->sh->members;
    if (!p->weighted || !w->coarse || p->seq || p->who || p->session || p->number || (q->nfilters && p->filter_bit) ||
        p->nmatch > KEYED_MATCH_MAX || p->value_page || p->value_screen || p->value_mask || (persons && !w->kept_runs))
        return 0;
    for (size_t m = 0; m < p->nmatch; m++)
        if (p->match_nfilters[m]) return 0;
    struct fcache *c = &w->val[0];
    const uint32_t nm = 1u << p->nmatch, nkeys = p->value ? key_count(w, c->kind, c->col) : 1;
    const size_t ncells = (size_t)nkeys * nm;
    *rc = 0;
    /* every row of the block in (the usual top list): no selection pass, the matchers read here */
    const int all = (!p->nmatch || p->keep_unmatched) && !bot_flags(w) && !w->proj_ok && !q->nfilters;
    uint32_t nsel = all ? w->n : filter_rows(w, select_rows(w)), run = 0;
    struct keyed kb = {
        .p = p, .c = c, .sel = all ? NULL : w->sel,
        /* the usual keys read here, not through key_of's switch and call */
        .codes = p->value && c->kind == FF_FV_COLUMN ? w->k[c->col].codes : NULL,
        .ecodes = w->k[FF_C_EVENT].codes, .ev_slot = w->ev.slot, .type = w->type.u8,
        .endict = w->k[FF_C_EVENT].ndict, .nm = nm, .all_named = p->nmatch ? (1u << p->nmatch) - 1 : 0,
        .all = all, .by_name = p->nmatch && !w->match_all, .by_event = p->value && c->kind == FF_FV_EVENT};
    /* by event: cell 63 is a type past FF_EV_TYPE_MAX, where a damaged type byte goes */
    const int few = (kb.by_event ? kb.endict + FF_EV_TYPE_MAX + 2 : ncells) <= 64;
    const int sets = few && p->value_sets && p->value; /* one row a run, the counts a block */
    uint32_t few_count[2][64] = {{0}};
    struct value_bits vb;
    vb.known = vb.past = 0;
    if (!few && ncells > w->cells_cap) {
        ff_free(w->cells);
        ff_free(w->touched);
        w->cells = ff_calloc(ncells, sizeof *w->cells);
        w->touched = ff_malloc((ncells + 1) * sizeof *w->touched); /* one written past the last touched */
        w->cells_cap = w->cells && w->touched ? ncells : 0;
        w->stamp = 0;
        if (!w->cells_cap) return *rc = -ENOMEM, 1;
    }
    struct keyed_cell *cells = w->cells;
    uint32_t *touched = w->touched;
    for (uint32_t k = 0; k < nsel && !*rc;) {
        uint32_t end = w->n;
        uint64_t person = 0;
        if (persons) {
            while (w->runs[run].end <= row_at(kb.sel, k)) run++;
            end = w->runs[run].end, person = w->runs[run].person;
            if ((p->person == FF_QP_REQUIRED && !person) ||
                (w->sh->members && !ff_segment_has(w->sh->members, w->sh->min_count, person))) {
                while (k < nsel && row_at(kb.sel, k) < end) k++;
                continue;
            }
        }
        if (few) {
            uint64_t cells_touched = few_run(w, &kb, &k, nsel, end, few_count);
            if (sets) {
                *rc = few_run_set(w, &kb, &vb, cells_touched, person);
                continue;
            }
            for (; cells_touched && !*rc; cells_touched &= cells_touched - 1) {
                uint32_t cell = (uint32_t)__builtin_ctzll(cells_touched), named, key = few_key(&kb, cell, &named);
                uint32_t weight = few_count[0][cell] + few_count[1][cell];
                few_count[0][cell] = few_count[1][cell] = 0;
                *rc = keyed_emit(w, &kb, key, named, person, weight);
            }
            continue;
        }
        if (++w->stamp == 0) { /* wrapped: no cell may look counted */
            memset(cells, 0, w->cells_cap * sizeof *cells);
            w->stamp = 1;
        }
        const uint32_t stamp = w->stamp;
        uint32_t ntouched = 0;
        for (; k < nsel && row_at(kb.sel, k) < end; k++) {
            uint32_t named, cell = keyed_row(w, &kb, k, &named) * nm;
            cell += named;
            /* without a branch: whether a row's cell is new in the run is a coin toss */
            uint32_t fresh = cells[cell].stamp != stamp;
            touched[ntouched] = cell, ntouched += fresh;
            cells[cell].weight = (cells[cell].weight & (fresh - 1)) + 1, cells[cell].stamp = stamp;
        }
        for (uint32_t t = 0; t < ntouched && !*rc; t++)
            *rc = keyed_emit(w, &kb, touched[t] / nm, touched[t] % nm, person, cells[touched[t]].weight);
    }
    for (uint32_t cell = 0; sets && cell < 64 && !*rc; cell++) { /* the block's counts, without a person */
        uint32_t named, key = few_key(&kb, cell, &named), weight = few_count[0][cell] + few_count[1][cell];
        if (weight) *rc = keyed_emit(w, &kb, key, named, 0, weight);
    }
    return 1;
}

static int vector_block(struct worker *w)
{
    const struct ff_qplan *p = w->sh->p;
    const struct ff_query *q = p->q;
    const int64_t *t = w->time.i64;
    struct runs r = {UINT32_MAX, UINT32_MAX, 0, 0, 0, 0, 1};
    struct pending pend;
    pend.n = 0;
    int persons = p->person || p->who || w->sh->members;
    int rc = 0;
    if (count_block(w, &rc) || run_block(w, &rc) || keyed_block(w, &rc)) return rc;
    uint32_t nsel = select_rows(w);
    for (uint32_t k = 0; !rc && k < nsel; k++) {
        uint32_t i = w->sel[k];
        int64_t ti = w->coarse ? w->block_t : t[i];
        /* the matchers first: a row none of them takes needs no filter read (a property's
         * value may mean reading the rest of the row's properties) */
        uint32_t match = 0;
        if (p->nmatch) {
            uint32_t named = w->named[k];
            for (size_t m = 0; m < p->nmatch; m++)
                if ((named >> m & 1) &&
                    (!p->match_nfilters[m] || filters_pass(w, w->mfilt[m], p->match_filters[m], p->match_nfilters[m], i)))
                    match |= 1u << m;
            if (!match && !p->keep_unmatched) continue;
        }
        uint32_t passed = p->filter_bit;
        if (q->nfilters && !filters_pass(w, w->filt, q->filters, q->nfilters, i)) {
            if (!p->filter_bit) continue;
            passed = 0;
        }
        match |= passed;
        if (persons) {
            if ((rc = person_at(w, &r, i))) break;
            if ((p->person == FF_QP_REQUIRED && !r.person) || !r.member) continue;
        }
        if (p->session) {
            session_at(w, &r, i);
            if (p->session == FF_QP_REQUIRED && !r.session) continue;
        }
        uint32_t value = 0;
        if (p->value && (!p->value_mask || (match & p->value_mask))) {
            if ((rc = value_at(w, i, &value))) break;
            if (!value && p->value_required) continue;
        }
        if (p->number && !number_at(w, i)) continue;
        uint64_t seq = p->seq && w->seq.i64 ? (uint64_t)w->seq.i64[i] : 0, person = p->person ? r.person : 0;
        rc = p->weighted ? add_weighted(w, &pend, ti, seq, person, r.session, match, value, r.who)
                         : add_row(w, ti, seq, person, r.session, match, value, r.who);
    }
    return rc ? rc : flush_pending(w, &pend);
}

/* Whether block b may hold a row that a matcher takes by its name (w->prune_names), by its
 * chunks' ranges alone: a track call whose name's dictionary code is within the block's event
 * codes (store/prune.h, the check the store's listings make), or a call of another type within
 * the block's range of types whose name ("$pageview", …) a matcher gives. */
static int block_named(const struct worker *w, uint32_t b)
{
    const struct ff_qplan *p = w->sh->p;
    const struct ff_chunkref *ch = w->part->blocks[b].chunks;
    if (w->type_pc < 0) return 1; /* no types to go by */
    const int64_t tmin = ch[w->type_pc].min, tmax = ch[w->type_pc].max;
    if (tmin <= FF_EV_TRACK && tmax >= FF_EV_TRACK)
        for (size_t m = 0; m < p->nmatch; m++)
            if (w->event_pc < 0 || ff_chunk_may_hold_code(&ch[w->event_pc], w->name_code[m])) return 1;
    for (int64_t t = tmin < 0 ? 0 : tmin; t <= tmax && t <= FF_EV_TYPE_MAX; t++)
        if (w->type_named[t]) return 1;
    return 0; /* a type past FF_EV_TYPE_MAX has no name (event_key) */
}

static int vector_part(struct worker *w, size_t index)
{
    const struct ff_qplan *p = w->sh->p;
    const struct ff_query *q = p->q;
    const struct ff_part *part = ff_store_view_part(w->sh->v, index);
    w->part = part;
    w->part_index = index;
    if ((w->time_pc = ff_part_schema_col(part, FF_C_TIME)) < 0) return 0;
    w->seq_pc = ff_part_schema_col(part, FF_C_SEQ);
    w->type_pc = ff_part_schema_col(part, FF_C_TYPE);
    w->bot_pc = ff_part_schema_col(part, FF_C_BOT);
    /* a column the part lacks reads as 0 */
    memset(&w->type, 0, offsetof(struct ff_colvec, mem));
    memset(&w->bot, 0, offsetof(struct ff_colvec, mem));
    memset(&w->seq, 0, offsetof(struct ff_colvec, mem));
    for (int c = 0; c < FF_NCOLS; c++) {
        w->k[c].pc = w->kwant[c] ? ff_part_schema_col(part, c) : -1;
        w->k[c].stable = w->k[c].pc < 0 || part->cols[w->k[c].pc].enc == FF_ENC_DICT;
    }
    for (int k = 0; k < 4; k++) w->id[k].pc = ff_part_schema_col(part, id_cols[k]);
    if (w->prune_names) {
        w->event_pc = ff_part_schema_col(part, FF_C_EVENT);
        for (size_t m = 0; m < p->nmatch; m++)
            w->name_code[m] = ff_part_dict_code(part, w->event_pc, p->match_event[m], strlen(p->match_event[m]));
    }
    char err[1024];
    int rc = 0, first = 1;
    for (int i = 0; !rc && i < w->nprop; i++) rc = prop_part(w, &w->prop[i], err, sizeof err);
    if (rc == FF_ECORRUPT) {
        ff_error("store: %s (the part is skipped; footfall check --repair sets it aside)", err);
        return 0;
    }
    for (uint32_t b = 0; b < part->info.nblocks && !rc; b++) {
        const struct ff_chunkref *tc = &part->blocks[b].chunks[w->time_pc];
        if (tc->max < p->from_us || tc->min >= ff_qplan_to(p)) continue;
        if (w->prune_names && !block_named(w, b)) continue;
        if (deadline_passed(q) || atomic_load(&w->sh->stop)) return FF_QUERY_TIMEOUT;
        int inside = tc->min >= p->from_us && tc->max < ff_qplan_to(p);
        w->inside = inside;
        w->coarse = inside && (p->t_use == FF_QT_NONE ||
                               (p->t_use == FF_QT_BUCKET && ff_query_bucket(q, tc->min) == ff_query_bucket(q, tc->max)));
        w->block_t = tc->min;
        rc = load_block(w, b, err, sizeof err);
        if (rc == FF_ECORRUPT) { /* a damaged block costs its rows, not the answer */
            ff_error("store: %s (skipped; footfall check --repair sets the part aside)", err);
            rc = 0;
            continue;
        }
        if (!rc) rc = ready_caches(w, first);
        if (!rc && (first || !w->k[FF_C_PROJECT].stable)) rc = ready_projects(w);
        first = 0;
        if (!rc) rc = vector_block(w);
    }
    return rc;
}

/* ---- threads ---- */

/* Every field the plan reads: the query's filters, the matchers' filters, the values and
 * the number. */
#define PLAN_FIELDS_MAX (FF_QUERY_MAX_FILTERS + FF_QPLAN_MATCH * FF_QUERY_MAX_STEP_FILTERS + 4)
static size_t plan_fields(const struct ff_qplan *p, const struct ff_field **fs)
{
    const struct ff_query *q = p->q;
    size_t n = 0;
    for (size_t i = 0; i < q->nfilters; i++) fs[n++] = &q->filters[i].field;
    for (size_t m = 0; m < p->nmatch; m++)
        for (size_t i = 0; i < p->match_nfilters[m]; i++) fs[n++] = &p->match_filters[m][i].field;
    const struct ff_field *vf[4] = {p->value, p->value_page, p->value_screen, p->number};
    for (int i = 0; i < 4; i++)
        if (vf[i]) fs[n++] = vf[i];
    return n;
}

/* How many distinct property and trait paths fields fs[n] name. */
static int count_props(const struct ff_field *const *fs, size_t n)
{
    int col, count = 0;
    for (size_t i = 0; i < n; i++) {
        int kind = ff_field_vector(fs[i], &col);
        if (kind != FF_FV_PROP && kind != FF_FV_TRAIT) continue;
        size_t j = 0;
        while (j < i && !(ff_field_vector(fs[j], &col) == kind && !strcmp(fs[j]->prop, fs[i]->prop))) j++;
        count += j == i;
    }
    return count;
}

static int plan_is_vector(const struct ff_qplan *p)
{
    const char *force = getenv("FOOTFALL_QUERY_EVENTS");
    if (force && force[0] == '1') return 0;
    const struct ff_field *fs[PLAN_FIELDS_MAX];
    size_t n = plan_fields(p, fs);
    int col;
    for (size_t i = 0; i < n; i++)
        if (ff_field_vector(fs[i], &col) == FF_FV_NONE) return 0;
    return count_props(fs, n) <= MAX_PFIELDS;
}

static void worker_free(struct worker *w)
{
    ff_field_ctx_free(w->ctx);
    if (w->md) pcre2_match_data_free(w->md);
    ff_buf_free(&w->tmp);
    ff_free(w->b);
    ff_colvec_free(&w->time);
    ff_colvec_free(&w->seq);
    ff_colvec_free(&w->type);
    ff_colvec_free(&w->bot);
    for (int c = 0; c < FF_NCOLS; c++) ff_colvec_free(&w->k[c].v);
    for (int k = 0; k < 4; k++) ff_colvec_free(&w->id[k].v);
    ff_free(w->runs);
    ff_free(w->iota);
    ff_free(w->zeros);
    ff_free(w->sel);
    ff_free(w->named);
    ff_free(w->cells);
    ff_free(w->touched);
    ff_free(w->proj_buf);
    for (size_t i = 0; i < FF_QUERY_MAX_FILTERS; i++) ff_free(w->filt[i].slot);
    for (size_t m = 0; m < FF_QPLAN_MATCH; m++)
        for (size_t i = 0; i < FF_QUERY_MAX_STEP_FILTERS; i++) ff_free(w->mfilt[m][i].slot);
    for (int i = 0; i < 3; i++) ff_free(w->val[i].slot);
    ff_free(w->ev.slot);
    for (int i = 0; i < w->nprop; i++) prop_free(&w->prop[i]);
}

static int worker_init(struct worker *w, struct shared *sh, void *state)
{
    char err[256];
    memset(w, 0, sizeof *w);
    w->sh = sh;
    w->state = state;
    ff_buf_init(&w->tmp, (size_t)1 << 20);
    if (!(w->b = ff_malloc(sizeof *w->b)) || !(w->ctx = ff_field_ctx_new()) ||
        !(w->md = pcre2_match_data_create(32, NULL)))
        return -ENOMEM;
    w->b->n = 0;
    if (ff_field_compile("event", 5, &w->event_field, err, sizeof err)) return FF_EINVAL;
    ff_field_ctx_set_traits(w->ctx, sh->traits);
    plan_columns(w);
    w->kept_runs = (sh->p->person || sh->members) && !sh->p->who && !w->ntrait;
    return 0;
}

static int work(struct worker *w)
{
    struct shared *sh = w->sh;
    const struct ff_query *q = sh->p->q;
    struct ff_scan_filter f;
    ff_query_scan_filter(q, &f);
    f.from_us = sh->p->from_us;
    f.to_us = ff_qplan_to(sh->p);
    f.columns = sh->cols;
    size_t nparts = ff_store_view_nparts(sh->v);
    int rc = 0;
    while (!rc && !atomic_load(&sh->stop)) {
        size_t i = atomic_fetch_add(&sh->next, 1);
        if (i > nparts) break;
        if (i == nparts) rc = ff_store_view_scan_memory(sh->v, &f, event_row, w);
        else if (sh->vector) rc = vector_part(w, i);
        else rc = ff_store_view_scan_part(sh->v, i, &f, event_row, w);
    }
    if (!rc) rc = flush_batch(w);
    if (!rc && sh->p->finish) rc = sh->p->finish(w->state);
    if (rc) atomic_store(&sh->stop, 1);
    return rc;
}

static void *work_thread(void *arg)
{
    struct worker *w = arg;
    pthread_setname_np(pthread_self(), "ff-query");
    w->rc = work(w);
    return NULL;
}

int ff_qplan_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > FF_QTHREADS_MAX ? FF_QTHREADS_MAX : (int)n;
}

int ff_qplan_run(struct ff_store *s, const struct ff_qplan *p, void *const *state)
{
    const struct ff_query *q = p->q;
    struct shared sh;
    memset(&sh, 0, sizeof sh);
    sh.p = p;
    sh.s = s;
    sh.vector = plan_is_vector(p);
    atomic_init(&sh.next, 0);
    atomic_init(&sh.stop, 0);
    /* the event reader decodes what the query and the plan's own fields read */
    ff_query_columns(q, sh.cols);
    const struct ff_field *fs[PLAN_FIELDS_MAX];
    size_t nfs = plan_fields(p, fs);
    for (size_t i = 0; i < nfs; i++) ff_field_columns(fs[i], sh.cols);
    if (p->person || p->who || q->segment.set) sh.cols[FF_C_PERSON_ID] = 1;
    if (p->session) sh.cols[FF_C_SESSION_ID] = 1;
    struct ff_qtable members = {0};
    int rc = q->segment.set ? ff_segment_members(s, q, &members, &sh.min_count) : 0;
    if (q->segment.set) sh.members = &members;
    if (!rc) rc = ff_query_uses_traits(q) ? ff_traits_load(s, q, &sh.traits) : 0;
    if (!rc) rc = ff_store_view_open(s, p->from_us, ff_qplan_to(p), &sh.v);
    if (rc) {
        ff_traits_free(sh.traits);
        ff_qtable_free(&members);
        return rc;
    }
    pthread_mutex_init(&sh.mu, NULL);
    int nt = ff_qplan_threads();
    struct worker *w = ff_calloc((size_t)nt, sizeof *w);
    pthread_t th[FF_QTHREADS_MAX];
    int started[FF_QTHREADS_MAX] = {0};
    if (!w) rc = -ENOMEM;
    for (int i = 0; !rc && i < nt; i++) rc = worker_init(&w[i], &sh, state[i]);
    for (int i = 1; !rc && i < nt; i++)
        started[i] = pthread_create(&th[i], NULL, work_thread, &w[i]) == 0; /* one fewer: still correct */
    if (!rc) w[0].rc = work(&w[0]);
    for (int i = 1; i < nt; i++)
        if (started[i]) pthread_join(th[i], NULL);
    for (int i = 0; !rc && w && i < nt; i++)
        if (w[i].rc && w[i].rc != FF_QUERY_TIMEOUT) rc = w[i].rc; /* a real error before the others' stop */
    for (int i = 0; !rc && w && i < nt; i++) rc = w[i].rc;
    for (int i = 1; !rc && p->merge && i < nt; i++) rc = p->merge(state[0], state[i]);
    for (int i = 0; w && i < nt; i++) worker_free(&w[i]);
    ff_free(w);
    pthread_mutex_destroy(&sh.mu);
    ff_store_view_close(sh.v);
    ff_traits_free(sh.traits);
    ff_qtable_free(&members);
    return rc;
}

/* ---- segments ---- */

static int count_person(void *arg, const struct ff_qbatch *b)
{
    struct ff_qtable *t = arg;
    for (uint32_t i = 0; i < b->n; i++) {
        int rc = ff_qtable_add(t, b->person[i], 0, b->weight[i]);
        if (rc < 0) return rc;
    }
    return 0;
}

static int merge_counts(void *into, void *from) { return ff_qtable_merge_with(into, from, FF_QMERGE_ADD); }

int ff_segment_members(struct ff_store *s, const struct ff_query *q, struct ff_qtable *members, size_t *min_count)
{
    const struct ff_segment *sg = &q->segment;
    *min_count = sg->npersons ? 1 : sg->min_count;
    if (sg->npersons) { /* the persons the ids lead to now, in the query's project */
        struct ff_buf tmp;
        ff_buf_init(&tmp, (size_t)1 << 20);
        static const char *const any[] = {"", FF_DEFAULT_PROJECT};
        int rc = 0;
        for (size_t i = 0; !rc && i < sg->npersons; i++)
            for (int k = 0; !rc && k < (q->project[0] ? 1 : 2); k++) {
                const char *project = q->project[0] ? q->project : any[k];
                struct ff_event ev;
                memset(&ev, 0, sizeof ev);
                ev.project = (struct ff_str){project, (uint32_t)strlen(project)};
                ev.user_id = sg->persons[i];
                ff_store_person_of(s, &ev, &tmp);
                struct ff_str who = ff_query_person(&ev);
                if (ff_qtable_add(members, XXH3_64bits(who.p, who.len), 0, 1) < 0) rc = -ENOMEM;
            }
        ff_buf_free(&tmp);
        return rc;
    }
    /* who did the event (with its filters) in the segment's range: the same query machinery */
    struct ff_query sq = *q;
    memset(&sq.segment, 0, sizeof sq.segment);
    sq.kind = FF_Q_TRENDS;
    sq.from_us = sg->from_us, sq.to_us = sg->to_us;
    memcpy(sq.filters, sg->filters, sizeof sg->filters);
    sq.nfilters = sg->nfilters;
    sq.has_breakdown = 0, sq.nsteps = 0;
    struct ff_qplan p = {.q = &sq, .from_us = sq.from_us, .nmatch = 1, .match_event = {sg->event},
                         .person = FF_QP_REQUIRED, .t_use = FF_QT_NONE, .weighted = 1, .consume = count_person,
                         .merge = merge_counts};
    struct ff_qtable st[FF_QTHREADS_MAX];
    memset(st, 0, sizeof st);
    void *states[FF_QTHREADS_MAX];
    for (int i = 0; i < FF_QTHREADS_MAX; i++) states[i] = &st[i];
    int rc = ff_qplan_run(s, &p, states);
    *members = st[0];
    for (int i = 1; i < FF_QTHREADS_MAX; i++) ff_qtable_free(&st[i]);
    if (rc) ff_qtable_free(members);
    return rc;
}
