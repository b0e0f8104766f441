/* store_read.c - newest-first listings of events and quarantined input (see store.h).
 *
 * "Newest" is arrival order, the WAL sequence number every record keeps (the `seq` column
 * of a part). The newest `limit` matches are kept in a min-heap on seq; the memtable (the
 * newest records) is read first, then the parts in descending order of their newest record,
 * and a part or block whose newest record is older than everything kept is skipped without
 * being read, as is one outside the time range or without the event name asked for. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "store/prune.h"
#include "store/store_int.h"

struct kept {
    uint64_t seq;
    char *p;
    uint32_t len;
};

struct keeper {
    size_t limit, budget, bytes;
    struct kept *heap; /* min-heap on seq */
    size_t n, cap;
    uint64_t floor;    /* matches at or below it gave way to the byte budget: not wanted again */
    int has_floor;
};

static int wants(const struct keeper *k, uint64_t seq)
{
    if (!k->limit || (k->has_floor && seq <= k->floor)) return 0;
    return k->n < k->limit || seq > k->heap[0].seq;
}

/* True when nothing numbered `seq` or below is wanted any more: a part or block whose newest
 * record is that old need not be read. */
static int older_than_all(const struct keeper *k, uint64_t seq)
{
    return !k->limit || (k->has_floor && seq <= k->floor) || (k->n >= k->limit && seq <= k->heap[0].seq);
}

static void sift_down(struct keeper *k, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < k->n && k->heap[l].seq < k->heap[m].seq) m = l;
        if (r < k->n && k->heap[r].seq < k->heap[m].seq) m = r;
        if (m == i) return;
        struct kept t = k->heap[i];
        k->heap[i] = k->heap[m];
        k->heap[m] = t;
        i = m;
    }
}

static void pop_min(struct keeper *k)
{
    k->bytes -= k->heap[0].len;
    ff_free(k->heap[0].p);
    k->heap[0] = k->heap[--k->n];
    sift_down(k, 0);
}

static int offer(struct keeper *k, uint64_t seq, const char *p, size_t len)
{
    if (!wants(k, seq)) return 0;
    if (k->n == k->limit) pop_min(k);
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        struct kept *h = ff_realloc(k->heap, cap * sizeof *h);
        if (!h) return -ENOMEM;
        k->heap = h;
        k->cap = cap;
    }
    char *c = ff_malloc(len ? len : 1);
    if (!c) return -ENOMEM;
    memcpy(c, p, len);
    size_t i = k->n++;
    k->heap[i] = (struct kept){seq, c, (uint32_t)len};
    while (i && k->heap[(i - 1) / 2].seq > k->heap[i].seq) {
        struct kept t = k->heap[i];
        k->heap[i] = k->heap[(i - 1) / 2];
        k->heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    k->bytes += len;
    while (k->bytes > k->budget && k->n > 1) {
        if (!k->has_floor || k->heap[0].seq > k->floor) k->floor = k->heap[0].seq;
        k->has_floor = 1;
        pop_min(k);
    }
    return 0;
}

static void keeper_free(struct keeper *k)
{
    for (size_t i = 0; i < k->n; i++) ff_free(k->heap[i].p);
    ff_free(k->heap);
}

static int by_seq_desc(const void *a, const void *b)
{
    uint64_t x = ((const struct kept *)a)->seq, y = ((const struct kept *)b)->seq;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* ---- matching ---- */

static int event_matches(const struct ff_read_filter *f, const struct ff_event *ev)
{
    if (f->event && (ev->event.len != f->event_len || memcmp(ev->event.p, f->event, f->event_len) != 0)) return 0;
    if (f->from_us != FF_TIME_NONE && ev->timestamp_us < f->from_us) return 0;
    if (f->to_us != FF_TIME_NONE && ev->timestamp_us >= f->to_us) return 0;
    return 1;
}

static int time_overlaps(const struct ff_read_filter *f, int64_t min, int64_t max)
{
    if (f->from_us != FF_TIME_NONE && max < f->from_us) return 0;
    if (f->to_us != FF_TIME_NONE && min >= f->to_us) return 0;
    return 1;
}

struct reader {
    const struct ff_read_filter *f;
    struct keeper k;
    struct ff_buf tmp;
    char err[1024];
};

/* What a kept item holds: an event's session id (FF_SESSION_ID_LEN bytes, zeros for none)
 * and its binary encoding (cheaper to copy than JSON is to write; JSON is written only for
 * what is kept at the end), or a quarantined item as its
 * JSON, raw bytes cut short (a few huge bodies must not take gigabytes to list). */
static int offer_record(struct reader *r, uint64_t seq, const struct ff_record *rec)
{
    if (!ff_in_project(rec->kind == FF_REC_EVENT ? rec->u.ev.project : rec->u.q.project, r->f->project)) return 0;
    ff_buf_reset(&r->tmp);
    int rc;
    if (rec->kind == FF_REC_EVENT) {
        char sid[FF_SESSION_ID_LEN] = {0};
        memcpy(sid, rec->u.ev.session_id.p, rec->u.ev.session_id.len == FF_SESSION_ID_LEN ? FF_SESSION_ID_LEN : 0);
        rc = ff_buf_append(&r->tmp, sid, sizeof sid);
        if (!rc) rc = ff_event_encode(&r->tmp, &rec->u.ev);
    } else {
        rc = ff_quarantine_write_json(&r->tmp, &rec->u.q);
    }
    return rc ? rc : offer(&r->k, seq, r->tmp.data, r->tmp.len);
}

static int read_memtable(struct reader *r, const struct snapshot *snap)
{
    for (size_t i = 0; i < snap->nslabs; i++) {
        size_t off = 0;
        uint64_t seq;
        struct ff_record rec;
        int rc;
        while ((rc = ff_memtable_next(snap->slabs[i]->data, snap->lens[i], &off, &seq, &rec)) == 0) {
            if (rec.kind != r->f->kind || !wants(&r->k, seq)) continue;
            if (rec.kind == FF_REC_EVENT && !event_matches(r->f, &rec.u.ev)) continue;
            if ((rc = offer_record(r, seq, &rec))) return rc;
        }
        if (rc < 0) return rc;
    }
    return 0;
}

static int by_max_seq_desc(const void *a, const void *b)
{
    uint64_t x = (*(struct live_part *const *)a)->meta.max_seq, y = (*(struct live_part *const *)b)->meta.max_seq;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int read_event_block(struct reader *r, const struct ff_part *p, uint32_t b, const int *cols, long code,
                            struct ff_part_events *pe, struct ff_colvec *v)
{
    const struct ff_read_filter *f = r->f;
    const struct ff_chunkref *ch = p->blocks[b].chunks;
    if (older_than_all(&r->k, (uint64_t)ch[cols[FF_C_SEQ]].max)) return 0;
    if (!time_overlaps(f, ch[cols[FF_C_TIME]].min, ch[cols[FF_C_TIME]].max)) return 0;
    if (f->event && !ff_chunk_may_hold_code(&ch[cols[FF_C_EVENT]], code)) return 0; /* prune.h */
    int rc = ff_part_read(p, b, (uint32_t)cols[FF_C_SEQ], &v[0], r->err, sizeof r->err);
    if (!rc) rc = ff_part_read(p, b, (uint32_t)cols[FF_C_TIME], &v[1], r->err, sizeof r->err);
    if (!rc && f->event) rc = ff_part_read(p, b, (uint32_t)cols[FF_C_EVENT], &v[2], r->err, sizeof r->err);
    if (rc) return rc;
    int loaded = 0;
    for (uint32_t i = 0; i < v[0].n; i++) {
        uint64_t seq = (uint64_t)v[0].i64[i];
        int64_t t = v[1].i64[i];
        if (!wants(&r->k, seq)) continue;
        if ((f->from_us != FF_TIME_NONE && t < f->from_us) || (f->to_us != FF_TIME_NONE && t >= f->to_us)) continue;
        if (f->event) {
            if (code >= 0 ? v[2].codes[i] != (uint32_t)code
                          : (v[2].str[i].len != f->event_len || memcmp(v[2].str[i].p, f->event, f->event_len)))
                continue;
        }
        if (!loaded && (rc = ff_part_events_load(pe, p, b, r->err, sizeof r->err))) return rc;
        loaded = 1;
        struct ff_record rec = {.kind = FF_REC_EVENT};
        ff_part_events_get(pe, i, &rec.u.ev);
        if ((rc = offer_record(r, seq, &rec))) return rc;
    }
    return 0;
}

static int read_event_part(struct reader *r, const struct ff_part *p)
{
    int cols[FF_NCOLS];
    for (int c = 0; c < FF_NCOLS; c++) cols[c] = ff_part_column_index(p, ff_schema[c].name);
    if (cols[FF_C_SEQ] < 0 || cols[FF_C_TIME] < 0) return 0;
    /* the event name's dictionary code in this part (prune.h): FF_CODE_UNKNOWN compares strings */
    long code = FF_CODE_UNKNOWN;
    if (r->f->event) {
        if (cols[FF_C_EVENT] < 0) return 0;
        if ((code = ff_part_dict_code(p, cols[FF_C_EVENT], r->f->event, r->f->event_len)) == FF_CODE_ABSENT) return 0;
    }
    struct ff_part_events pe;
    ff_part_events_init(&pe, p);
    struct ff_colvec v[3];
    memset(v, 0, sizeof v);
    int rc = 0;
    /* Newest blocks are not at the end (rows are sorted by person), so every block is a
     * candidate; the seq range of each decides. */
    for (uint32_t b = 0; b < p->info.nblocks && !rc; b++) {
        rc = read_event_block(r, p, b, cols, code, &pe, v);
        if (rc == FF_ECORRUPT) { /* a damaged block costs its rows, not the answer */
            ff_error("store: %s (skipped; footfall check --repair sets the part aside)", r->err);
            rc = 0;
        }
    }
    for (int i = 0; i < 3; i++) ff_colvec_free(&v[i]);
    ff_part_events_free(&pe);
    return rc;
}

static int read_quarantine_part(struct reader *r, const struct ff_part *p)
{
    int cols[FF_QPART_NCOLS];
    if (ff_qpart_columns(p, cols)) return 0;
    struct ff_colvec v[FF_QPART_NCOLS];
    memset(v, 0, sizeof v);
    int rc = 0;
    for (uint32_t b = 0; b < p->info.nblocks && !rc; b++) {
        if (older_than_all(&r->k, (uint64_t)p->blocks[b].chunks[cols[6]].max)) continue;
        for (int c = 0; c < FF_QPART_NCOLS && !rc; c++)
            if (cols[c] >= 0) rc = ff_part_read(p, b, (uint32_t)cols[c], &v[c], r->err, sizeof r->err);
        if (rc == FF_ECORRUPT) {
            ff_error("store: %s (skipped; footfall check --repair sets the part aside)", r->err);
            rc = 0;
            continue;
        }
        for (uint32_t i = 0; i < p->blocks[b].nrows && !rc; i++) {
            uint64_t seq = (uint64_t)v[6].i64[i];
            if (!wants(&r->k, seq)) continue;
            struct ff_record rec = {.kind = FF_REC_QUARANTINE};
            struct ff_quarantined *q = &rec.u.q;
            q->received_at_us = v[0].i64[i];
            q->format = v[1].u8[i];
            q->index = (int32_t)v[2].i64[i];
            q->reason = v[3].str[i];
            q->field = v[4].str[i];
            q->raw = v[5].str[i];
            q->project = cols[7] >= 0 ? v[7].str[i] : (struct ff_str){"", 0};
            rc = offer_record(r, seq, &rec);
        }
    }
    for (int c = 0; c < FF_QPART_NCOLS; c++) ff_colvec_free(&v[c]);
    return rc;
}

int ff_store_read_json(struct ff_store *s, const struct ff_read_filter *f, const char *sep, struct ff_buf *out,
                       size_t *count)
{
    struct reader r;
    memset(&r, 0, sizeof r);
    r.f = f;
    r.k.limit = f->limit;
    r.k.budget = f->max_bytes ? f->max_bytes : FF_READ_BUDGET_BYTES;
    ff_buf_init(&r.tmp, (size_t)1 << 30);
    struct snapshot snap;
    int rc = ff_store_snapshot(s, &snap);
    if (rc) return rc;
    rc = read_memtable(&r, &snap);
    struct live_part **parts = NULL;
    size_t n = 0;
    if (!rc && snap.ps->n && !(parts = ff_malloc(snap.ps->n * sizeof *parts))) rc = -ENOMEM;
    int want_kind = f->kind == FF_REC_EVENT ? FF_PART_EVENTS : FF_PART_QUARANTINE;
    for (size_t i = 0; !rc && i < snap.ps->n; i++)
        if (snap.ps->parts[i]->meta.kind == want_kind) parts[n++] = snap.ps->parts[i];
    if (!rc && n) qsort(parts, n, sizeof *parts, by_max_seq_desc);
    for (size_t i = 0; !rc && i < n; i++) {
        if (older_than_all(&r.k, parts[i]->meta.max_seq)) break; /* the rest are older still */
        if (f->kind == FF_REC_EVENT && !time_overlaps(f, parts[i]->meta.min_time, parts[i]->meta.max_time)) continue;
        rc = f->kind == FF_REC_EVENT ? read_event_part(&r, parts[i]->p) : read_quarantine_part(&r, parts[i]->p);
    }
    ff_free(parts);
    /* Newest first. */
    if (!rc && r.k.n) qsort(r.k.heap, r.k.n, sizeof *r.k.heap, by_seq_desc);
    size_t start = out->len;
    for (size_t i = 0; !rc && i < r.k.n; i++) {
        if (i && (rc = ff_buf_append_str(out, sep))) break;
        if (f->kind != FF_REC_EVENT) {
            rc = ff_buf_append(out, r.k.heap[i].p, r.k.heap[i].len);
            continue;
        }
        size_t off = FF_SESSION_ID_LEN;
        struct ff_record rec;
        if (!(rc = ff_record_decode(r.k.heap[i].p, r.k.heap[i].len, &off, &rec)) &&
            !(rc = ff_store_person_of(s, &rec.u.ev, &r.tmp))) {
            const char *sid = r.k.heap[i].p;
            rec.u.ev.session_id = (struct ff_str){sid, sid[0] ? FF_SESSION_ID_LEN : 0};
            rc = ff_event_write_json(out, &rec.u.ev);
        }
    }
    if (rc) out->len = start;
    else *count = r.k.n;
    keeper_free(&r.k);
    ff_buf_free(&r.tmp);
    ff_snapshot_release(&snap);
    return rc;
}

/* ---- scans (export) ---- */

/* Sets ev->person_id (fresh from the identity map: a part's column may predate a merge of
 * people) and says whether the event is wanted. */
static int scan_matches(struct ff_store *s, const struct ff_scan_filter *f, struct ff_event *ev, struct ff_buf *tmp,
                        struct ff_buf *tmp2)
{
    if (f->type && ev->type != f->type) return 0;
    if (f->from_us != FF_TIME_NONE && ev->timestamp_us < f->from_us) return 0;
    if (f->to_us != FF_TIME_NONE && ev->timestamp_us >= f->to_us) return 0;
    if (!ff_in_project(ev->project, f->project)) return 0;
    if (f->person && !ff_store_is_persons(s, ev, (struct ff_str){f->person, (uint32_t)f->person_len}, tmp, tmp2))
        return 0;
    if (!f->columns || f->columns[FF_C_PERSON_ID]) ff_store_person_of(s, ev, tmp);
    return 1;
}

static int by_day_then_seq(const void *a, const void *b)
{
    const struct ff_manifest_part *x = &(*(struct live_part *const *)a)->meta, *y = &(*(struct live_part *const *)b)->meta;
    if (x->day != y->day) return x->day < y->day ? -1 : 1;
    return x->min_seq < y->min_seq ? -1 : x->min_seq > y->min_seq;
}

static int scan_part(struct ff_store *s, const struct ff_part *p, const struct ff_scan_filter *f, ff_event_visit_fn visit,
                     void *arg, struct ff_buf *tmp, struct ff_buf *tmp2, char *err, size_t errlen)
{
    int time_col = ff_part_column_index(p, "time");
    if (time_col < 0) return 0;
    struct ff_part_events pe;
    ff_part_events_init(&pe, p);
    if (f->columns) { /* what the visitor does not read stays on disk */
        static const int always[] = {FF_C_TIME, FF_C_SEQ, FF_C_PROJECT, FF_C_USER_ID, FF_C_ANONYMOUS_ID};
        uint8_t want[FF_NCOLS];
        memcpy(want, f->columns, sizeof want);
        for (size_t k = 0; k < sizeof always / sizeof *always; k++) want[always[k]] = 1;
        for (int c = 0; c < FF_NCOLS; c++)
            if (!want[c]) pe.part_col[c] = -1;
        if (!want[FF_C_PROPERTIES]) pe.nprops = 0;
    }
    int rc = 0;
    for (uint32_t b = 0; b < p->info.nblocks && !rc; b++) {
        const struct ff_chunkref *t = &p->blocks[b].chunks[time_col];
        struct ff_read_filter tf = {.from_us = f->from_us, .to_us = f->to_us};
        if (!time_overlaps(&tf, t->min, t->max) || (f->newest_bound && t->max < *f->newest_bound)) continue;
        rc = ff_part_events_load(&pe, p, b, err, errlen);
        if (rc == FF_ECORRUPT) {
            ff_error("store: %s (skipped; footfall check --repair sets the part aside)", err);
            rc = 0;
            continue;
        }
        if (rc) break;
        for (uint32_t i = 0; i < pe.n && !rc; i++) {
            if (f->type && ff_part_events_type(&pe, i) != f->type) continue;
            struct ff_event ev;
            ff_part_events_get(&pe, i, &ev);
            if (scan_matches(s, f, &ev, tmp, tmp2)) rc = visit(arg, &ev);
        }
    }
    ff_part_events_free(&pe);
    return rc;
}

struct ff_store_view {
    struct ff_store *s;
    struct snapshot snap;
    struct live_part **parts; /* event parts of the range, by day then arrival */
    size_t n;
};

int ff_store_view_open(struct ff_store *s, int64_t from_us, int64_t to_us, struct ff_store_view **out)
{
    *out = NULL;
    struct ff_store_view *v = ff_calloc(1, sizeof *v);
    if (!v) return -ENOMEM;
    v->s = s;
    int rc = ff_store_snapshot(s, &v->snap);
    if (rc) {
        ff_free(v);
        return rc;
    }
    if (v->snap.ps->n && !(v->parts = ff_malloc(v->snap.ps->n * sizeof *v->parts))) {
        ff_store_view_close(v);
        return -ENOMEM;
    }
    struct ff_read_filter tf = {.from_us = from_us, .to_us = to_us};
    for (size_t i = 0; i < v->snap.ps->n; i++) {
        struct live_part *lp = v->snap.ps->parts[i];
        if (lp->meta.kind == FF_PART_EVENTS && time_overlaps(&tf, lp->meta.min_time, lp->meta.max_time))
            v->parts[v->n++] = lp;
    }
    if (v->n) qsort(v->parts, v->n, sizeof *v->parts, by_day_then_seq);
    *out = v;
    return 0;
}

void ff_store_view_close(struct ff_store_view *v)
{
    if (!v) return;
    ff_free(v->parts);
    ff_snapshot_release(&v->snap);
    ff_free(v);
}

size_t ff_store_view_nparts(const struct ff_store_view *v) { return v->n; }
const struct ff_part *ff_store_view_part(const struct ff_store_view *v, size_t i) { return v->parts[i]->p; }

int ff_store_view_person_runs(struct ff_store_view *v, size_t i, uint32_t block, struct ff_person_run **runs,
                              uint32_t *cap, uint32_t *n, char *err, size_t errlen)
{
    return ff_live_person_runs(v->s, v->parts[i], block, runs, cap, n, err, errlen);
}

int ff_store_view_scan_part(struct ff_store_view *v, size_t i, const struct ff_scan_filter *f, ff_event_visit_fn visit,
                            void *arg)
{
    char err[1024];
    struct ff_buf tmp, tmp2;
    ff_buf_init(&tmp, (size_t)1 << 20);
    ff_buf_init(&tmp2, (size_t)1 << 20);
    int rc = scan_part(v->s, v->parts[i]->p, f, visit, arg, &tmp, &tmp2, err, sizeof err);
    ff_buf_free(&tmp);
    ff_buf_free(&tmp2);
    return rc;
}

int ff_store_view_scan_memory(struct ff_store_view *v, const struct ff_scan_filter *f, ff_event_visit_fn visit,
                              void *arg)
{
    struct ff_buf tmp, tmp2;
    ff_buf_init(&tmp, (size_t)1 << 20);
    ff_buf_init(&tmp2, (size_t)1 << 20);
    int rc = 0;
    for (size_t i = 0; !rc && i < v->snap.nslabs; i++) {
        size_t off = 0;
        uint64_t seq;
        struct ff_record rec;
        int r;
        while (!rc && (r = ff_memtable_next(v->snap.slabs[i]->data, v->snap.lens[i], &off, &seq, &rec)) == 0) {
            if (rec.kind != FF_REC_EVENT) continue;
            rec.u.ev.seq = seq;
            if (scan_matches(v->s, f, &rec.u.ev, &tmp, &tmp2)) rc = visit(arg, &rec.u.ev);
        }
        if (!rc && r < 0) rc = r;
    }
    ff_buf_free(&tmp);
    ff_buf_free(&tmp2);
    return rc;
}

/* A part and the time of its latest event (its blocks' maxima). */
struct by_latest {
    size_t i;
    int64_t latest;
};

static int latest_first(const void *a, const void *b)
{
    const struct by_latest *x = a, *y = b;
    return x->latest != y->latest ? (x->latest > y->latest ? -1 : 1) : (x->i > y->i) - (x->i < y->i);
}

/* ff_store_scan with f->newest_bound: memory, then parts newest first while they can help. */
static int scan_newest(struct ff_store_view *v, const struct ff_scan_filter *f, ff_event_visit_fn visit, void *arg)
{
    int rc = ff_store_view_scan_memory(v, f, visit, arg);
    struct by_latest *order = rc || !v->n ? NULL : ff_malloc(v->n * sizeof *order);
    if (!rc && v->n && !order) rc = -ENOMEM;
    for (size_t i = 0; !rc && i < v->n; i++) {
        const struct ff_part *p = v->parts[i]->p;
        int tc = ff_part_column_index(p, "time");
        order[i] = (struct by_latest){i, INT64_MIN};
        for (uint32_t b = 0; tc >= 0 && b < p->info.nblocks; b++)
            if (p->blocks[b].chunks[tc].max > order[i].latest) order[i].latest = p->blocks[b].chunks[tc].max;
    }
    if (order) qsort(order, v->n, sizeof *order, latest_first);
    for (size_t k = 0; !rc && k < v->n && order[k].latest >= *f->newest_bound; k++)
        rc = ff_store_view_scan_part(v, order[k].i, f, visit, arg);
    ff_free(order);
    return rc;
}

int ff_store_scan(struct ff_store *s, const struct ff_scan_filter *f, ff_event_visit_fn visit, void *arg)
{
    struct ff_store_view *v = NULL;
    int rc = ff_store_view_open(s, f->from_us, f->to_us, &v);
    if (!rc && f->newest_bound) rc = scan_newest(v, f, visit, arg);
    for (size_t i = 0; !rc && !f->newest_bound && i < v->n; i++) rc = ff_store_view_scan_part(v, i, f, visit, arg);
    if (!rc && !f->newest_bound) rc = ff_store_view_scan_memory(v, f, visit, arg);
    if (v) ff_store_view_close(v);
    return rc;
}
