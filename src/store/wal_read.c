/* wal_read.c - newest-first reads of the WAL (see wal_read.h).
 *
 * The log is read oldest first, so the newest `limit` matches are kept in a ring (events in
 * their binary encoding, cheaper to copy than JSON is to write; quarantined input as JSON
 * with its raw bytes cut short) and written out backwards. This scans the whole log: fine for the collector's own API and
 * for debugging, and replaced by the columnar store for queries. */
#include "store/wal_read.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "store/wal.h"

struct ring {
    const struct ff_read_filter *f;
    char **items;
    uint32_t *lens, *caps;
    size_t cap, n, head; /* head: index of the oldest kept */
    struct ff_buf tmp;
    int err;
};

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
    if (rc) return r->err = rc;
    if (f->limit == 0) return 0;
    size_t slot;
    if (r->n < f->limit) {
        if (r->n == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 64;
            if (cap > f->limit) cap = f->limit;
            char **items = ff_realloc(r->items, cap * sizeof *items);
            if (!items) return r->err = -ENOMEM;
            r->items = items;
            uint32_t *lens = ff_realloc(r->lens, cap * sizeof *lens);
            if (!lens) return r->err = -ENOMEM;
            r->lens = lens;
            uint32_t *caps = ff_realloc(r->caps, cap * sizeof *caps);
            if (!caps) return r->err = -ENOMEM;
            r->caps = caps;
            r->cap = cap;
        }
        slot = r->n++;
        r->items[slot] = NULL;
        r->caps[slot] = 0;
    } else {
        slot = r->head; /* the oldest kept gives way; its buffer is reused */
        r->head = (r->head + 1) % r->n;
    }
    if (r->caps[slot] < r->tmp.len) {
        char *p = ff_realloc(r->items[slot], r->tmp.len);
        if (!p) return r->err = -ENOMEM;
        r->items[slot] = p;
        r->caps[slot] = (uint32_t)r->tmp.len;
    }
    memcpy(r->items[slot], r->tmp.data, r->tmp.len);
    r->lens[slot] = (uint32_t)r->tmp.len;
    return 0;
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
    /* Ring order: head is the oldest; walk backwards from the newest. */
    for (size_t k = 0; !rc && k < r.n; k++) {
        size_t i = (r.head + r.n - 1 - k) % r.n, off = 0;
        struct ff_record rec;
        if (k && (rc = ff_buf_append_str(out, sep))) break;
        if (f->kind != FF_REC_EVENT) {
            rc = ff_buf_append(out, r.items[i], r.lens[i]);
            continue;
        }
        if ((rc = ff_record_decode(r.items[i], r.lens[i], &off, &rec))) break;
        rc = ff_event_write_json(out, &rec.u.ev);
    }
    if (rc) out->len = start;
    else *count = r.n;
    for (size_t i = 0; i < r.n; i++) ff_free(r.items[i]);
    ff_free(r.items);
    ff_free(r.lens);
    ff_free(r.caps);
    ff_buf_free(&r.tmp);
    return rc;
}
