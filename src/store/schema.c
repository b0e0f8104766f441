/* schema.c - event columns: deriving them from events, writing sorted parts, reading events
 * back (see schema.h). */
#include "store/schema.h"

#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/metrics.h"
#include "core/strsort.h"
#include "core/strmap.h"
#include "core/textcodec.h"
#include "core/timeutil.h"
#include "store/derive.h"
#include "store/intern.h"
#include "store/props.h"

const struct ff_col_def ff_schema[FF_NCOLS] = {
    [FF_C_TIME] = {"time", FF_COL_I64, FF_CODEC_LZ4},
    [FF_C_RECEIVED] = {"received_at", FF_COL_I64, FF_CODEC_ZSTD},
    [FF_C_ORIGINAL_TIME] = {"original_time", FF_COL_I64, FF_CODEC_ZSTD},
    [FF_C_SENT_AT] = {"sent_at", FF_COL_I64, FF_CODEC_ZSTD},
    [FF_C_TYPE] = {"type", FF_COL_U8, FF_CODEC_LZ4},
    [FF_C_FORMAT] = {"format", FF_COL_U8, FF_CODEC_ZSTD},
    [FF_C_EVENT] = {"event", FF_COL_STR, FF_CODEC_LZ4},
    [FF_C_NAME] = {"name", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_MESSAGE_ID] = {"message_id", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_ANONYMOUS_ID] = {"anonymous_id", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_USER_ID] = {"user_id", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_PERSON_ID] = {"person_id", FF_COL_STR, FF_CODEC_LZ4},
    [FF_C_SESSION_ID] = {"session_id", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_GROUP_ID] = {"group_id", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_PREVIOUS_ID] = {"previous_id", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_WRITE_KEY] = {"write_key", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_PAGE_URL] = {"page_url", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_PAGE_PATH] = {"page_path", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_PAGE_TITLE] = {"page_title", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_PAGE_REFERRER] = {"page_referrer", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_UTM_SOURCE] = {"utm_source", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_UTM_MEDIUM] = {"utm_medium", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_UTM_CAMPAIGN] = {"utm_campaign", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_UTM_TERM] = {"utm_term", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_UTM_CONTENT] = {"utm_content", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_SOURCE] = {"source", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_CHANNEL] = {"channel", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_CLICK_ID] = {"click_id", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_BROWSER] = {"browser", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_BROWSER_VERSION] = {"browser_version", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_OS] = {"os", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_OS_VERSION] = {"os_version", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_DEVICE_TYPE] = {"device_type", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_COUNTRY] = {"country", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_REGION] = {"region", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_CITY] = {"city", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_BOT] = {"bot", FF_COL_U8, FF_CODEC_ZSTD},
    [FF_C_PROJECT] = {"project", FF_COL_STR, FF_CODEC_LZ4},
    [FF_C_PROPERTIES] = {"properties", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_TRAITS] = {"traits", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_CONTEXT] = {"context", FF_COL_STR, FF_CODEC_ZSTD},
    [FF_C_SEQ] = {"seq", FF_COL_I64, FF_CODEC_ZSTD},
};

#define DAY_US (86400LL * 1000000LL)

int32_t ff_day_of(int64_t t)
{
    int64_t d = t / DAY_US;
    if (t % DAY_US < 0) d--;
    if (d < INT32_MIN) return INT32_MIN;
    if (d > INT32_MAX) return INT32_MAX;
    return (int32_t)d;
}

/* Rows in part order visit events all over the array (arrival order): a loop over them asks
 * for the event this many rows ahead, all of its cache lines, while it works on this one. */
#define PREFETCH_ROWS 8

static inline __attribute__((always_inline)) void prefetch_event(const struct ff_event *ev)
{
    const char *p = (const char *)ev;
    for (size_t o = 0; o < sizeof *ev; o += 64) __builtin_prefetch(p + o);
    __builtin_prefetch(p + sizeof *ev - 1);
}

/* The text an event points to (its context, which ff_derive_known scans from both ends) is
 * elsewhere again: asked for once the event itself has arrived, PREFETCH_ROWS later. Up to
 * 1 KiB of it; a longer text's hardware prefetcher has caught on by then. */
static inline __attribute__((always_inline)) void prefetch_text(struct ff_str s)
{
    if (!s.len) return;
    for (uint32_t o = 0; o < s.len && o < 1024; o += 64) __builtin_prefetch(s.p + o);
    __builtin_prefetch(s.p + s.len - 1);
}

/* ---- sorting ---- */

static struct ff_str person_key(const struct ff_event *ev)
{
    return ev->person_id.len ? ev->person_id : ev->user_id.len ? ev->user_id : ev->anonymous_id;
}

/* The sort key of a row. Person keys are replaced by their rank among the distinct keys
 * (sorted once, as strings), so sorting compares integers only: ids that share a long prefix
 * ("user-1000...") made string comparisons most of a flush's sort. seq is unique per event. */
struct sort_row {
    int32_t day;
    uint32_t rank;
    int64_t time, received;
    uint64_t seq;
    uint32_t row;
};

static int cmp_rows(const void *a, const void *b)
{
    const struct sort_row *x = a, *y = b;
    if (x->day != y->day) return x->day < y->day ? -1 : 1;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    if (x->received != y->received) return x->received < y->received ? -1 : 1;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}


static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* Stable counting sort of src into dst by key(row) in [0, nkeys). */
static int counting_sort(const struct sort_row *src, struct sort_row *dst, size_t n, size_t nkeys, int by_day)
{
    size_t *at = ff_calloc(nkeys + 1, sizeof *at);
    if (!at) return -ENOMEM;
    for (size_t i = 0; i < n; i++) at[(by_day ? (uint32_t)src[i].day : src[i].rank) + 1]++;
    for (size_t k = 0; k < nkeys; k++) at[k + 1] += at[k];
    for (size_t i = 0; i < n; i++) dst[at[by_day ? (uint32_t)src[i].day : src[i].rank]++] = src[i];
    ff_free(at);
    return 0;
}

/* Fills rows[] with 0..n-1 in part order: day, person key, time, arrival, and row_day[] with
 * each row's day in that order (so splitting by day reads no event again). Two counting
 * sorts (by person rank, then by day) leave each person's rows of a day together and in
 * arrival order, which is nearly always time order already: only runs that are not get a
 * real sort. */
static int sort_rows(const struct ff_event *evs, size_t n, uint32_t *rows, int32_t *row_day)
{
    struct ff_strmap ids;
    ff_strmap_init(&ids);
    struct sort_row *keys = ff_malloc(n * sizeof *keys), *tmp = ff_malloc(n * sizeof *tmp);
    struct ff_str *distinct = NULL;
    uint32_t *rank_of = NULL;
    int32_t *days = ff_malloc(n * sizeof *days);
    int rc = keys && tmp && days ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        struct ff_str pk = person_key(&evs[i]);
        int found;
        /* a run of one person's events: no hash needed */
        uint32_t *v = i && ff_str_eq(pk, person_key(&evs[i - 1])) ? &keys[i - 1].rank
                                                                     : ff_strmap_put(&ids, pk.p, pk.len, (uint32_t)ids.count, &found);
        if (!v) rc = -ENOMEM;
        else keys[i] = (struct sort_row){ff_day_of(evs[i].timestamp_us), *v, evs[i].timestamp_us,
                                         evs[i].received_at_us, evs[i].seq, (uint32_t)i};
    }
    size_t k = ids.count, ndays = 0;
    if (!rc && (!(distinct = ff_malloc((k ? k : 1) * sizeof *distinct)) || !(rank_of = ff_malloc((k ? k : 1) * 4))))
        rc = -ENOMEM;
    uint32_t *order = rc ? NULL : ff_malloc((k ? k : 1) * sizeof *order); /* the ids in key order */
    if (!rc && !order) rc = -ENOMEM;
    if (!rc) { /* distinct[id]: the key numbered id */
        for (size_t i = 0; i < ids.cap; i++)
            if (ids.slots[i].p) distinct[ids.slots[i].value] = (struct ff_str){ids.slots[i].p, ids.slots[i].len};
        for (size_t r = 0; r < k; r++) order[r] = (uint32_t)r;
        rc = ff_str_sort_index(distinct, order, k);
        for (size_t r = 0; r < k && !rc; r++) rank_of[order[r]] = (uint32_t)r;
    }
    ff_free(order);
    if (!rc) {
        /* The distinct days, sorted: a flush holds one or two, an import may hold years. */
        for (size_t i = 0; i < n; i++) {
            if (ndays && days[ndays - 1] == keys[i].day) continue;
            size_t j = 0;
            while (j < ndays && j < 16 && days[j] != keys[i].day) j++;
            if (j < ndays && days[j] == keys[i].day) continue;
            days[ndays++] = keys[i].day; /* may repeat one seen beyond the first 16: removed below */
        }
        qsort(days, ndays, sizeof *days, cmp_i32);
        size_t u = 0;
        for (size_t i = 0; i < ndays; i++)
            if (!u || days[u - 1] != days[i]) days[u++] = days[i];
        ndays = u;
        for (size_t i = 0; i < n; i++) {
            keys[i].rank = rank_of[keys[i].rank];
            /* the day's index among the distinct days, kept in `day` while sorting */
            int32_t *at = bsearch(&keys[i].day, days, ndays, sizeof *days, cmp_i32);
            keys[i].day = (int32_t)(at - days);
        }
        rc = counting_sort(keys, tmp, n, k, 0);
        if (!rc) rc = counting_sort(tmp, keys, n, ndays, 1);
    }
    for (size_t a = 0, z; !rc && a < n; a = z) {
        int sorted = 1;
        for (z = a + 1; z < n && keys[z].day == keys[a].day && keys[z].rank == keys[a].rank; z++)
            if (sorted && cmp_rows(&keys[z - 1], &keys[z]) > 0) sorted = 0;
        if (!sorted) qsort(keys + a, z - a, sizeof *keys, cmp_rows);
    }
    for (size_t i = 0; !rc && i < n; i++) rows[i] = keys[i].row, row_day[i] = days[keys[i].day];
    ff_strmap_free(&ids);
    ff_free(keys);
    ff_free(tmp);
    ff_free(days);
    ff_free(distinct);
    ff_free(rank_of);
    return rc;
}

/* ---- writing ---- */

/* One day's rows, in part order; every array below starts at the day's first row. */
struct builder {
    const struct ff_event *evs;
    const uint32_t *rows;         /* index into evs of each row */
    const struct ff_str *derived; /* FF_NDERIVED columns of the whole build, `stride` rows apart */
    size_t stride;
    size_t n;
    const struct ff_props_plan *plan;   /* typed property columns: FF_NCOLS + k */
    const struct ff_props_split *props; /* their values and the rest of the properties */
    size_t props_off;                   /* the day's first row in props */
    const struct ff_interned *in;       /* the build's string fields, interned */
};

#define MAX_COLS (FF_NCOLS + FF_PROPS_MAX)

/* Where each column lives in struct ff_event, plus one (0: elsewhere). */
#define AT(field) (offsetof(struct ff_event, field) + 1)
static const size_t field_off[FF_NCOLS] = {
    [FF_C_TIME] = AT(timestamp_us), [FF_C_RECEIVED] = AT(received_at_us),
    [FF_C_ORIGINAL_TIME] = AT(original_timestamp_us),
    [FF_C_SENT_AT] = AT(sent_at_us), [FF_C_SEQ] = AT(seq),
    [FF_C_TYPE] = AT(type), [FF_C_FORMAT] = AT(format),
    [FF_C_EVENT] = AT(event), [FF_C_NAME] = AT(name),
    [FF_C_MESSAGE_ID] = AT(message_id),
    [FF_C_ANONYMOUS_ID] = AT(anonymous_id),
    [FF_C_USER_ID] = AT(user_id), [FF_C_GROUP_ID] = AT(group_id), [FF_C_PERSON_ID] = AT(person_id),
    [FF_C_SESSION_ID] = AT(session_id),
    [FF_C_PREVIOUS_ID] = AT(previous_id),
    [FF_C_WRITE_KEY] = AT(write_key), [FF_C_TRAITS] = AT(traits),
    [FF_C_CONTEXT] = AT(context),
    [FF_C_BROWSER] = AT(browser), [FF_C_BROWSER_VERSION] = AT(browser_version),
    [FF_C_OS] = AT(os), [FF_C_OS_VERSION] = AT(os_version),
    [FF_C_DEVICE_TYPE] = AT(device_type), [FF_C_BOT] = AT(bot),
    [FF_C_COUNTRY] = AT(country), [FF_C_REGION] = AT(region), [FF_C_CITY] = AT(city),
    [FF_C_PROJECT] = AT(project),
};

/* A day's columns, each one array in row order: taken from the events in one pass, so that
 * choosing encodings and writing blocks read memory in sequence (reading every column of
 * every row through the sort order cost a cache miss each, most of a flush). Arrays the
 * property split already holds in row order are borrowed, not copied. */
struct columns {
    int ncols;
    struct ff_colvec v[MAX_COLS]; /* n rows each; str for STR columns */
    uint8_t own[MAX_COLS];
};

static void columns_free(struct columns *c)
{
    for (int k = 0; k < MAX_COLS; k++)
        if (c->own[k]) {
            ff_free(c->v[k].i64);
            ff_free(c->v[k].f64);
            ff_free(c->v[k].u8);
            ff_free(c->v[k].str);
        }
    memset(c, 0, sizeof *c);
}

/* skip[k]: a string column whose encoding is settled without its values (dictionary codes
 * or UUID bytes from the interned ids): not taken. */
static int columns_take(const struct builder *b, const struct ff_part_column *cols, int ncols, const uint8_t *skip,
                        struct columns *c)
{
    memset(c, 0, sizeof *c);
    c->ncols = ncols;
    size_t n = b->n ? b->n : 1;
    for (int k = 0; k < ncols; k++) {
        struct ff_colvec *v = &c->v[k];
        v->type = cols[k].type;
        if (k >= FF_NCOLS) { /* a typed property column */
            const struct ff_colvec *pv = &b->props->cols[k - FF_NCOLS];
            v->i64 = pv->i64 ? pv->i64 + b->props_off : NULL;
            v->f64 = pv->f64 ? pv->f64 + b->props_off : NULL;
            v->u8 = pv->u8 ? pv->u8 + b->props_off : NULL;
            v->str = pv->str ? pv->str + b->props_off : NULL;
            continue;
        }
        if (k == FF_C_PROPERTIES) {
            v->str = b->props->rest + b->props_off;
            continue;
        }
        if (k >= FF_C_PAGE_URL && k <= FF_LAST_DERIVED) { /* derived: column-major already */
            v->str = (struct ff_str *)b->derived + (size_t)(k - FF_C_PAGE_URL) * b->stride;
            continue;
        }
        if (skip[k]) continue;
        c->own[k] = 1;
        int rc = 0;
        if (v->type == FF_COL_I64) rc = !(v->i64 = ff_malloc(n * 8));
        else if (v->type == FF_COL_U8) rc = !(v->u8 = ff_calloc(n, 1));
        else if (v->type == FF_COL_STR) rc = !(v->str = ff_calloc(n, sizeof *v->str));
        if (rc) {
            columns_free(c);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        if (i + PREFETCH_ROWS < b->n) prefetch_event(&b->evs[b->rows[i + PREFETCH_ROWS]]);
        const char *ev = (const char *)&b->evs[b->rows[i]];
        for (int k = 0; k < FF_NCOLS; k++) {
            struct ff_colvec *v = &c->v[k];
            if (!c->own[k] || !field_off[k]) continue;
            const char *f = ev + field_off[k] - 1;
            if (v->type == FF_COL_I64) memcpy(&v->i64[i], f, 8);
            else if (v->type == FF_COL_U8) v->u8[i] = *(const uint8_t *)f;
            else v->str[i] = *(const struct ff_str *)f;
        }
    }
    return 0;
}

static void minmax(const int64_t *v, size_t n, int64_t *lo, int64_t *hi)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i] < *lo) *lo = v[i];
        if (v[i] > *hi) *hi = v[i];
    }
}

static int write_day(const struct builder *b, const char *path, uint32_t block_rows, struct ff_built_part *bp)
{
    struct ff_part_info *info = &bp->info;
    struct ff_part_column cols[MAX_COLS];
    struct ff_str *dicts[MAX_COLS] = {0};
    uint32_t dict_count[MAX_COLS] = {0};
    uint32_t *row_codes[MAX_COLS] = {0}; /* DICT: the code of each row */
    uint8_t *uuid16[MAX_COLS] = {0};     /* UUID: each row's 16 bytes */
    memset(cols, 0, sizeof cols);
    const int ncols = FF_NCOLS + b->plan->n;
    for (int c = 0; c < ncols; c++) {
        if (c < FF_NCOLS) {
            snprintf(cols[c].name, sizeof cols[c].name, "%s", ff_schema[c].name);
            cols[c].type = ff_schema[c].type;
        } else {
            const int k = c - FF_NCOLS;
            snprintf(cols[c].name, sizeof cols[c].name, FF_PROPS_PREFIX "%.*s", (int)b->plan->k[k].len, b->plan->k[k].key);
            cols[c].type = b->plan->k[k].type;
        }
        cols[c].codec = ff_schema_codec((uint32_t)c);
        cols[c].enc = FF_ENC_PLAIN;
    }
    /* Interned string columns first: those that come out as codes or UUID bytes need no
     * column of values taken from the events (a read of every row through the sort order). */
    uint8_t settled[MAX_COLS] = {0}, undecided[MAX_COLS] = {0};
    int rc = 0;
    for (int c = 0; c < FF_NCOLS && !rc; c++)
        if (cols[c].type == FF_COL_STR) {
            rc = ff_interned_encoding(&b->in->col[c], b->rows, b->n, &cols[c].enc, &dicts[c], &dict_count[c],
                                      &row_codes[c], &uuid16[c]);
            if (rc == 1) undecided[c] = 1, rc = 0;
            else if (!rc) settled[c] = cols[c].enc != FF_ENC_PLAIN;
        }
    for (int c = FF_NCOLS; c < ncols; c++) undecided[c] = cols[c].type == FF_COL_STR;
    struct columns cv;
    memset(&cv, 0, sizeof cv);
    if (!rc) rc = columns_take(b, cols, ncols, settled, &cv);
    for (int c = 0; c < ncols && !rc; c++)
        if (undecided[c])
            rc = ff_string_encoding(cv.v[c].str, b->n, &cols[c].enc, &dicts[c], &dict_count[c], &row_codes[c],
                                    &uuid16[c]);
    struct ff_part_writer *w = NULL;
    if (!rc) rc = ff_part_writer_open(&w, path, cols, (uint32_t)ncols, block_rows);
    for (int c = 0; c < ncols && !rc; c++)
        if (cols[c].enc == FF_ENC_DICT) rc = ff_part_writer_dict(w, (uint32_t)c, dicts[c], dict_count[c]);
    memset(info, 0, sizeof *info);
    info->min_time = info->min_received = INT64_MAX;
    info->max_time = info->max_received = INT64_MIN;
    int64_t min_seq = INT64_MAX, max_seq = INT64_MIN;
    if (!rc) { /* the columns were taken */
        minmax(cv.v[FF_C_TIME].i64, b->n, &info->min_time, &info->max_time);
        minmax(cv.v[FF_C_RECEIVED].i64, b->n, &info->min_received, &info->max_received);
        minmax(cv.v[FF_C_SEQ].i64, b->n, &min_seq, &max_seq);
    }
    bp->min_seq = b->n ? (uint64_t)min_seq : UINT64_MAX;
    bp->max_seq = b->n ? (uint64_t)max_seq : 0;
    /* A block is a window on the day's columns. */
    struct ff_colvec v[MAX_COLS];
    for (size_t r0 = 0; r0 < b->n && !rc; r0 += block_rows) {
        uint32_t n = (uint32_t)(b->n - r0 < block_rows ? b->n - r0 : block_rows);
        for (int c = 0; c < ncols; c++) {
            const struct ff_colvec *src = &cv.v[c];
            v[c] = (struct ff_colvec){.type = src->type, .n = n};
            if (src->i64) v[c].i64 = src->i64 + r0;
            if (src->f64) v[c].f64 = src->f64 + r0;
            if (src->u8) v[c].u8 = src->u8 + r0;
            if (row_codes[c]) v[c].codes = row_codes[c] + r0;
            else if (src->str) v[c].str = src->str + r0;
            if (uuid16[c]) v[c].uuid16 = uuid16[c] + r0 * 16;
        }
        rc = ff_part_writer_block(w, v, n, person_key(&b->evs[b->rows[r0]]), person_key(&b->evs[b->rows[r0 + n - 1]]));
    }
    info->nrows = b->n;
    info->block_rows = block_rows;
    info->ncols = (uint32_t)ncols;
    info->day = b->n ? ff_day_of(b->evs[b->rows[0]].timestamp_us) : 0;
    if (!rc) rc = ff_part_writer_finish(w, info);
    else if (w) ff_part_writer_abort(w);
    for (int c = 0; c < MAX_COLS; c++) {
        ff_free(dicts[c]);
        ff_free(row_codes[c]);
        ff_free(uuid16[c]);
    }
    columns_free(&cv);
    return rc;
}

void ff_part_name(char out[64], int32_t day, uint64_t id)
{
    snprintf(out, 64, "%08lld-%06llu.part", (long long)day, (unsigned long long)id);
}

void ff_parts_remove(const char *dir, const struct ff_built_part *parts, size_t n)
{
    char path[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, parts[i].name);
        unlink(path);
    }
}

/* Adds the CPU time since t0 to the stage's counter; returns the time now. */
static uint64_t stage_done(int stage, uint64_t t0)
{
    uint64_t t = ff_thread_cpu_ns();
    ff_counter_add(ff_metrics.part_build_cpu_ns[stage], t - t0);
    return t;
}

int ff_parts_build(const char *dir, uint64_t *next_id, const struct ff_event *evs, size_t n, uint32_t block_rows,
                   struct ff_built_part **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (n > UINT32_MAX) return FF_ETOOBIG;
    if (!n) return 0;
    if (!block_rows) block_rows = FF_PART_BLOCK_ROWS;
    /* Large arrays (the derived columns are 384 bytes an event: 64 MB for a flush of 64 MiB
     * of single events) come from the big-block cache and go back to it: past glibc's 32 MiB
     * each would be mapped afresh and faulted in for every flush. */
    uint32_t *rows = ff_big_alloc(n * sizeof *rows);
    int32_t *row_day = ff_big_alloc(n * sizeof *row_day);
    struct ff_span *spans = ff_big_alloc(n * FF_NDERIVED * sizeof *spans);
    struct ff_str *derived = ff_big_alloc(n * FF_NDERIVED * sizeof *derived);
    struct ff_built_part *parts = NULL;
    size_t nparts = 0;
    struct ff_deriver d;
    int rc = ff_deriver_init(&d);
    if (!rows || !row_day || !spans || !derived) rc = -ENOMEM;
    struct ff_interned in;
    memset(&in, 0, sizeof in);
    uint64_t t = ff_thread_cpu_ns();
    if (!rc) rc = sort_rows(evs, n, rows, row_day);
    t = stage_done(FF_BUILD_SORT, t);
    if (!rc) rc = ff_intern_columns(evs, n, field_off, &in);
    t = stage_done(FF_BUILD_INTERN, t);
    /* From here on everything is in part order: row i is evs[rows[i]]. */
    const uint32_t *ctx_ids = in.col[FF_C_CONTEXT].ids; /* NULL when contexts are mostly distinct */
    struct ff_str *props = rc ? NULL : ff_big_alloc(n * sizeof *props);
    if (!rc && !props) rc = -ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        if (i + 2 * PREFETCH_ROWS < n) prefetch_event(&evs[rows[i + 2 * PREFETCH_ROWS]]);
        /* not when the row before has the same context: the deriver's memo answers without it */
        if (i + PREFETCH_ROWS < n && !(ctx_ids && ctx_ids[rows[i + PREFETCH_ROWS]] == ctx_ids[rows[i + PREFETCH_ROWS - 1]]))
            prefetch_text(evs[rows[i + PREFETCH_ROWS]].context);
        const struct ff_event *ev = &evs[rows[i]];
        ff_derive_known(&d, ev, ctx_ids ? ctx_ids[rows[i]] : UINT32_MAX, spans + i * FF_NDERIVED);
        props[i] = ev->properties;
    }
    /* Column by column, so a day's part borrows them as they are; a few hundred rows at a
     * time, so each column's stores run in sequence rather than twelve streams at once. */
    for (size_t i0 = 0; i0 < n && !rc; i0 += 256) {
        size_t i1 = n - i0 < 256 ? n : i0 + 256;
        for (size_t k = 0; k < FF_NDERIVED; k++)
            for (size_t i = i0; i < i1; i++) {
                const struct ff_span *sp = &spans[i * FF_NDERIVED + k];
                derived[k * n + i] = (struct ff_str){sp->len ? d.arena.data + sp->off : "", sp->len};
            }
    }
    t = stage_done(FF_BUILD_DERIVE, t);
    /* Typed property columns: one plan for the events of this build, their values split out. */
    struct ff_props_plan plan;
    struct ff_props_split split;
    memset(&split, 0, sizeof split);
    if (!rc) rc = ff_props_plan(props, n, &plan);
    if (!rc) rc = ff_props_split(props, n, &plan, &split);
    ff_big_free(props);
    t = stage_done(FF_BUILD_PROPERTIES, t);
    for (size_t a = 0; a < n && !rc;) {
        int32_t day = row_day[a];
        size_t z = a;
        while (z < n && row_day[z] == day) z++;
        struct ff_built_part *np = ff_realloc(parts, (nparts + 1) * sizeof *parts);
        if (!np) {
            rc = -ENOMEM;
            break;
        }
        parts = np;
        struct ff_built_part *bp = &parts[nparts];
        memset(bp, 0, sizeof *bp);
        ff_part_name(bp->name, day, (*next_id)++);
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, bp->name) >= (int)sizeof path) {
            rc = -ENAMETOOLONG;
            break;
        }
        struct builder b = {evs, rows + a, derived + a, n, z - a, &plan, &split, a, &in};
        if ((rc = write_day(&b, path, block_rows, bp))) break;
        nparts++;
        struct stat st;
        if (stat(path, &st) == 0) bp->bytes = (uint64_t)st.st_size;
        a = z;
    }
    stage_done(FF_BUILD_WRITE, t);
    if (!rc) ff_counter_add(ff_metrics.part_build_rows, n);
    if (rc) {
        ff_parts_remove(dir, parts, nparts);
        ff_free(parts);
        parts = NULL;
        nparts = 0;
    }
    ff_props_split_free(&split);
    ff_interned_free(&in);
    ff_deriver_free(&d);
    ff_big_free(rows);
    ff_big_free(row_day);
    ff_big_free(spans);
    ff_big_free(derived);
    *out = parts;
    *nout = nparts;
    return rc;
}

/* ---- reading events back ---- */

/* The columns a whole event is rebuilt from. */
static const int event_cols[] = {FF_C_TIME, FF_C_RECEIVED, FF_C_ORIGINAL_TIME, FF_C_SENT_AT, FF_C_TYPE, FF_C_FORMAT,
                                 FF_C_EVENT, FF_C_NAME, FF_C_MESSAGE_ID, FF_C_ANONYMOUS_ID, FF_C_USER_ID,
                                 FF_C_GROUP_ID, FF_C_PREVIOUS_ID, FF_C_WRITE_KEY, FF_C_PROPERTIES, FF_C_TRAITS,
                                 FF_C_CONTEXT, FF_C_SEQ, FF_C_BROWSER, FF_C_BROWSER_VERSION, FF_C_OS,
                                 FF_C_OS_VERSION, FF_C_DEVICE_TYPE, FF_C_BOT, FF_C_COUNTRY, FF_C_REGION,
                                 FF_C_CITY, FF_C_PROJECT, FF_C_SESSION_ID};

int ff_part_schema_col(const struct ff_part *p, int c)
{
    int k = ff_part_column_index(p, ff_schema[c].name);
    return k >= 0 && p->cols[k].type == ff_schema[c].type ? k : -1;
}

void ff_part_events_init(struct ff_part_events *pe, const struct ff_part *p)
{
    memset(pe, 0, sizeof *pe);
    for (int c = 0; c < FF_NCOLS; c++) pe->part_col[c] = ff_part_schema_col(p, c);
    const size_t np = sizeof FF_PROPS_PREFIX - 1;
    for (uint32_t c = 0; c < p->info.ncols && pe->nprops < FF_PROPS_MAX; c++)
        if (!strncmp(p->cols[c].name, FF_PROPS_PREFIX, np) && p->cols[c].name[np]) {
            pe->prop_col[pe->nprops] = (int)c;
            pe->prop_name[pe->nprops] = (struct ff_str){p->cols[c].name + np, (uint32_t)strlen(p->cols[c].name + np)};
            pe->nprops++;
        }
    ff_buf_init(&pe->props_json, (size_t)1 << 34);
}

void ff_part_events_free(struct ff_part_events *pe)
{
    for (int c = 0; c < FF_NCOLS; c++) ff_colvec_free(&pe->cols[c]);
    for (int k = 0; k < pe->nprops; k++) ff_colvec_free(&pe->prop_vec[k]);
    ff_buf_free(&pe->props_json);
    ff_free(pe->props_off);
    pe->props_off = NULL;
}

int ff_part_events_load(struct ff_part_events *pe, const struct ff_part *p, uint32_t b, char *err, size_t errlen)
{
    pe->n = p->blocks[b].nrows;
    for (size_t k = 0; k < sizeof event_cols / sizeof *event_cols; k++) {
        int c = event_cols[k];
        if (pe->part_col[c] < 0) {
            ff_colvec_free(&pe->cols[c]); /* absent: read as empty */
            continue;
        }
        int rc = ff_part_read(p, b, (uint32_t)pe->part_col[c], &pe->cols[c], err, errlen);
        if (rc) return rc;
    }
    if (!pe->nprops) return 0;
    /* Typed property columns: each row's object is rebuilt once for the block. */
    for (int k = 0; k < pe->nprops; k++) {
        int rc = ff_part_read(p, b, (uint32_t)pe->prop_col[k], &pe->prop_vec[k], err, errlen);
        if (rc) return rc;
    }
    ff_free(pe->props_off);
    if (!(pe->props_off = ff_malloc(((size_t)pe->n + 1) * sizeof *pe->props_off))) return -ENOMEM;
    ff_buf_reset(&pe->props_json);
    const struct ff_colvec *rest = &pe->cols[FF_C_PROPERTIES];
    for (uint32_t i = 0; i < pe->n; i++) {
        pe->props_off[i] = (uint32_t)pe->props_json.len;
        struct ff_str r = rest->str && i < rest->n ? rest->str[i] : (struct ff_str){"", 0};
        int rc = ff_props_join(&pe->props_json, r, pe->prop_vec, pe->prop_name, pe->nprops, i);
        if (rc) return rc;
        if (pe->props_json.len > UINT32_MAX) return FF_ETOOBIG;
    }
    pe->props_off[pe->n] = (uint32_t)pe->props_json.len;
    return 0;
}

static struct ff_str str_at(const struct ff_colvec *v, uint32_t i)
{
    return v->str && i < v->n ? v->str[i] : (struct ff_str){"", 0};
}

static int64_t i64_at(const struct ff_colvec *v, uint32_t i) { return v->i64 && i < v->n ? v->i64[i] : FF_TIME_NONE; }

void ff_part_events_get(const struct ff_part_events *pe, uint32_t i, struct ff_event *ev)
{
    memset(ev, 0, sizeof *ev);
    const struct ff_colvec *c = pe->cols;
    ev->timestamp_us = i64_at(&c[FF_C_TIME], i);
    ev->received_at_us = i64_at(&c[FF_C_RECEIVED], i);
    ev->original_timestamp_us = i64_at(&c[FF_C_ORIGINAL_TIME], i);
    ev->sent_at_us = i64_at(&c[FF_C_SENT_AT], i);
    ev->seq = c[FF_C_SEQ].i64 && i < c[FF_C_SEQ].n ? (uint64_t)c[FF_C_SEQ].i64[i] : 0;
    ev->type = ff_part_events_type(pe, i);
    ev->format = c[FF_C_FORMAT].u8 && i < c[FF_C_FORMAT].n ? c[FF_C_FORMAT].u8[i] : FF_FMT_SEGMENT;
    ev->event = str_at(&c[FF_C_EVENT], i);
    ev->name = str_at(&c[FF_C_NAME], i);
    ev->message_id = str_at(&c[FF_C_MESSAGE_ID], i);
    ev->anonymous_id = str_at(&c[FF_C_ANONYMOUS_ID], i);
    ev->user_id = str_at(&c[FF_C_USER_ID], i);
    ev->group_id = str_at(&c[FF_C_GROUP_ID], i);
    ev->previous_id = str_at(&c[FF_C_PREVIOUS_ID], i);
    ev->write_key = str_at(&c[FF_C_WRITE_KEY], i);
    if (pe->nprops && pe->props_off && i < pe->n) {
        uint32_t a = pe->props_off[i], z = pe->props_off[i + 1];
        /* "{}" is how the other columns say empty: keep it "" as the rest would */
        ev->properties = z - a == 2 ? (struct ff_str){"", 0} : (struct ff_str){pe->props_json.data + a, z - a};
    } else {
        ev->properties = str_at(&c[FF_C_PROPERTIES], i);
    }
    ev->traits = str_at(&c[FF_C_TRAITS], i);
    ev->context = str_at(&c[FF_C_CONTEXT], i);
    ev->browser = str_at(&c[FF_C_BROWSER], i);
    ev->browser_version = str_at(&c[FF_C_BROWSER_VERSION], i);
    ev->os = str_at(&c[FF_C_OS], i);
    ev->os_version = str_at(&c[FF_C_OS_VERSION], i);
    ev->device_type = str_at(&c[FF_C_DEVICE_TYPE], i);
    ev->country = str_at(&c[FF_C_COUNTRY], i);
    ev->region = str_at(&c[FF_C_REGION], i);
    ev->city = str_at(&c[FF_C_CITY], i);
    ev->project = str_at(&c[FF_C_PROJECT], i);
    ev->session_id = str_at(&c[FF_C_SESSION_ID], i);
    ev->bot = c[FF_C_BOT].u8 && i < c[FF_C_BOT].n ? c[FF_C_BOT].u8[i] : 0;
}
