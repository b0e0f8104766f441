/* export.c - raw data out of the store (see export.h). */
#include "store/export.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/timeutil.h"
#include "event/event.h"

/* A person's events are gathered in their binary encoding, then sorted by time. */
struct gathered {
    struct ff_buf recs;
    struct entry {
        int64_t t;
        uint64_t seq;
        size_t off;
    } *v;
    size_t n, cap;
};

static int gather(void *arg, const struct ff_event *ev)
{
    struct gathered *g = arg;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 256;
        struct entry *v = ff_realloc(g->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        g->v = v;
        g->cap = cap;
    }
    g->v[g->n] = (struct entry){ev->timestamp_us, ev->seq, g->recs.len};
    int rc = ff_event_encode(&g->recs, ev);
    if (!rc) g->n++;
    return rc;
}

static int by_time(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int ff_export_person(struct ff_store *s, const char *project, const char *id, size_t len, enum ff_export_format format, struct ff_buf *out,
                     size_t *count)
{
    struct gathered g;
    memset(&g, 0, sizeof g);
    ff_buf_init(&g.recs, (size_t)1 << 34);
    struct ff_scan_filter f = {.person = id, .person_len = len, .from_us = FF_TIME_NONE, .to_us = FF_TIME_NONE, .project = project};
    int rc = len ? ff_store_scan(s, &f, gather, &g) : 0;
    if (!rc && g.n) qsort(g.v, g.n, sizeof *g.v, by_time);
    size_t start = out->len;
    if (!rc && format == FF_EXPORT_CSV) rc = ff_event_csv_header(out);
    struct ff_buf person;
    ff_buf_init(&person, (size_t)1 << 20);
    for (size_t i = 0; !rc && i < g.n; i++) {
        size_t off = g.v[i].off;
        struct ff_record rec;
        if ((rc = ff_record_decode(g.recs.data, g.recs.len, &off, &rec))) break;
        if ((rc = ff_store_person_of(s, &rec.u.ev, &person))) break; /* (the binary form does not keep it) */
        if (format == FF_EXPORT_CSV) {
            rc = ff_event_write_csv(out, &rec.u.ev);
        } else if (!(rc = ff_event_write_json(out, &rec.u.ev))) {
            rc = ff_buf_putc(out, '\n');
        }
    }
    ff_buf_free(&person);
    if (rc) out->len = start;
    else *count = g.n;
    ff_buf_free(&g.recs);
    ff_free(g.v);
    return rc;
}

struct streamer {
    FILE *fp;
    enum ff_export_format format;
    struct ff_buf buf;
    size_t count;
};

static int drain(struct streamer *st)
{
    if (st->buf.len && fwrite(st->buf.data, 1, st->buf.len, st->fp) != st->buf.len) return -EIO;
    ff_buf_reset(&st->buf);
    return 0;
}

static int stream_one(void *arg, const struct ff_event *ev)
{
    struct streamer *st = arg;
    int rc = st->format == FF_EXPORT_CSV ? ff_event_write_csv(&st->buf, ev) : ff_event_write_json(&st->buf, ev);
    if (!rc && st->format != FF_EXPORT_CSV) rc = ff_buf_putc(&st->buf, '\n');
    if (!rc) st->count++;
    if (!rc && st->buf.len > (1u << 20)) rc = drain(st);
    return rc;
}

int ff_export_range(struct ff_store *s, const char *project, int64_t from_us, int64_t to_us, enum ff_export_format format, FILE *fp,
                    size_t *count)
{
    struct streamer st = {fp, format, {0}, 0};
    ff_buf_init(&st.buf, (size_t)1 << 32);
    int rc = format == FF_EXPORT_CSV ? ff_event_csv_header(&st.buf) : 0;
    struct ff_scan_filter f = {.from_us = from_us, .to_us = to_us, .project = project};
    if (!rc) rc = ff_store_scan(s, &f, stream_one, &st);
    if (!rc) rc = drain(&st);
    if (!rc && fflush(fp)) rc = -EIO;
    ff_buf_free(&st.buf);
    *count = st.count;
    return rc;
}
