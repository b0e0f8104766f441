/* wal_read.c - newest-first reads of the WAL (see wal_read.h).
 *
 * The log is read oldest first, so the newest `limit` matches are kept in a ring (events in
 * their binary encoding, cheaper to copy than JSON is to write; quarantined input as JSON
 * with its raw bytes cut short) and written out backwards, at most a byte budget of them.
 * This scans the whole log: fine for the collector's own API and for debugging, and replaced
 * by the columnar store for queries. */
#include "store/wal_read.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "store/wal.h"

/* A deque of the newest matches, oldest at `head`; each slot keeps its buffer for reuse. */
struct slot {
    char *p;
    uint32_t len, cap;
};

struct ring {
    const struct ff_read_filter *f;
    struct slot *slots;
    size_t cap, n, head;
    size_t bytes;        /* held by the kept matches */
    struct ff_buf tmp;
    int err;
};

static struct slot *slot_at(struct ring *r, size_t i) { return &r->slots[(r->head + i) % r->cap]; }

static void drop_oldest(struct ring *r, int keep_buffer)
{
    struct slot *s = slot_at(r, 0);
    r->bytes -= s->len;
    if (!keep_buffer) {
        ff_free(s->p);
        s->p = NULL;
        s->cap = 0;
    }
    s->len = 0;
    r->head = (r->head + 1) % r->cap;
    r->n--;
}

static int grow(struct ring *r, size_t limit)
{
    size_t cap = r->cap ? r->cap * 2 : 64;
    if (cap > limit) cap = limit;
    struct slot *fresh = ff_calloc(cap, sizeof *fresh);
    if (!fresh) return -ENOMEM;
    for (size_t i = 0; i < r->n; i++) fresh[i] = *slot_at(r, i);
    /* Slots past the kept ones may still own buffers (dropped for the budget): keep them. */
    for (size_t i = r->n; i < r->cap; i++) ff_free(slot_at(r, i)->p);
    ff_free(r->slots);
    r->slots = fresh;
    r->cap = cap;
    r->head = 0;
    return 0;
}

static int keep(struct ring *r, const char *p, size_t len)
{
    size_t limit = r->f->limit;
    if (r->n == limit) drop_oldest(r, 1); /* the oldest gives way; its buffer is reused */
    else if (r->n == r->cap) {
        int rc = grow(r, limit);
        if (rc) return rc;
    }
    struct slot *s = slot_at(r, r->n);
    if (s->cap < len) {
        char *q = ff_realloc(s->p, len ? len : 1);
        if (!q) return -ENOMEM;
        s->p = q;
        s->cap = (uint32_t)len;
    }
    memcpy(s->p, p, len);
    s->len = (uint32_t)len;
    r->n++;
    r->bytes += len;
    size_t budget = r->f->max_bytes ? r->f->max_bytes : FF_READ_BUDGET_BYTES;
    while (r->bytes > budget && r->n > 1) drop_oldest(r, 0);
    return 0;
}

static int visit(void *arg, uint64_t seq, const struct ff_record *rec)
{
    struct ring *r = arg;
    const struct ff_read_filter *f = r->f;
    (void)seq;
    if (rec->kind != f->kind) return 0;
    ff_buf_reset(&r->tmp);
    int rc;
    if (rec->kind == FF_REC_EVENT) {
        const struct ff_event *ev = &rec->u.ev;
        if (f->event && (ev->event.len != f->event_len || memcmp(ev->event.p, f->event, f->event_len) != 0)) return 0;
        if (f->from_us != FF_TIME_NONE && ev->timestamp_us < f->from_us) return 0;
        if (f->to_us != FF_TIME_NONE && ev->timestamp_us >= f->to_us) return 0;
        /* Kept in the binary encoding: JSON is written only for the `limit` kept at the end,
         * not for every match of a long log. */
        rc = ff_event_encode(&r->tmp, ev);
    } else {
        /* Quarantined input is kept as its JSON, whose raw bytes are cut to a bounded
         * length: a few huge bodies must not take gigabytes to list. */
        rc = ff_quarantine_write_json(&r->tmp, &rec->u.q);
    }
    if (!rc && f->limit) rc = keep(r, r->tmp.data, r->tmp.len);
    return rc ? (r->err = rc) : 0;
}

int ff_wal_read_json(const char *dir, const struct ff_read_filter *f, const char *sep, struct ff_buf *out,
                     size_t *count)
{
    struct ring r;
    memset(&r, 0, sizeof r);
    r.f = f;
    ff_buf_init(&r.tmp, (size_t)1 << 30);
    int rc = ff_wal_scan(dir, visit, &r);
    if (r.err) rc = r.err;
    size_t start = out->len;
    for (size_t k = 0; !rc && k < r.n; k++) { /* newest first */
        const struct slot *s = slot_at(&r, r.n - 1 - k);
        size_t off = 0;
        struct ff_record rec;
        if (k && (rc = ff_buf_append_str(out, sep))) break;
        if (f->kind != FF_REC_EVENT) {
            rc = ff_buf_append(out, s->p, s->len);
            continue;
        }
        if ((rc = ff_record_decode(s->p, s->len, &off, &rec))) break;
        rc = ff_event_write_json(out, &rec.u.ev);
    }
    if (rc) out->len = start;
    else *count = r.n;
    for (size_t i = 0; i < r.cap; i++) ff_free(r.slots[i].p);
    ff_free(r.slots);
    ff_buf_free(&r.tmp);
    return rc;
}
