/* session_read.c - sessions read back from their events (see ff_store_sessions_json in
 * store.h): each session's span, counts, entry and exit page, bounce, and where the visit
 * came from, summed over the events that carry its id. Nothing is kept apart from the
 * events, so a summary is always what the events say, late events and erasures included.
 * Only [from, to + FF_SESSION_SPAN_US) is scanned. (The query kinds "sessions" and "top" of
 * entry and exit pages sum sessions from column vectors instead: query/visits.c.) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "store/derive.h"
#include "store/store_int.h"


struct field {
    uint64_t off;
    uint32_t len;
};

struct summary {
    char id[FF_SESSION_ID_LEN];
    int64_t start, end;
    int64_t entry_t, exit_t; /* times of the pageviews (or first event) the attributes came from */
    uint64_t entry_seq, exit_seq;
    uint32_t events, pageviews, tracks;
    int bot, has_pageview, matched;
    struct field a[FF_SA_COUNT]; /* enum ff_session_attr: what the entry and exit events said */
};

struct gather {
    const struct ff_session_filter *f;
    int (*match)(void *arg, const struct ff_event *ev);
    void *match_arg;
    struct summary *v;
    size_t n, cap;
    uint32_t *slots; /* index + 1, by the id's hash */
    size_t nslots;
    struct ff_buf arena;
    struct ff_deriver d;
    uint32_t visited;
    int rc;
};

static uint64_t hash_id(const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < FF_SESSION_ID_LEN; i++) h = (h ^ (unsigned char)id[i]) * 1099511628211ULL;
    return h;
}

static int grow(struct gather *g)
{
    size_t n = g->nslots ? g->nslots * 2 : 4096;
    uint32_t *s = ff_calloc(n, sizeof *s);
    if (!s) return -ENOMEM;
    for (size_t k = 0; k < g->n; k++) {
        size_t i = hash_id(g->v[k].id) & (n - 1);
        while (s[i]) i = (i + 1) & (n - 1);
        s[i] = (uint32_t)k + 1;
    }
    ff_free(g->slots);
    g->slots = s;
    g->nslots = n;
    return 0;
}

static struct summary *lookup(struct gather *g, const char *id)
{
    if ((g->n + 1) * 2 > g->nslots && grow(g)) return NULL;
    size_t i = hash_id(id) & (g->nslots - 1);
    for (; g->slots[i]; i = (i + 1) & (g->nslots - 1))
        if (memcmp(g->v[g->slots[i] - 1].id, id, FF_SESSION_ID_LEN) == 0) return &g->v[g->slots[i] - 1];
    if (g->n == g->cap) {
        if (g->n >= FF_SESSIONS_READ_MAX) {
            g->rc = FF_ETOOBIG;
            return NULL;
        }
        size_t nc = g->cap ? g->cap * 2 : 1024;
        struct summary *nv = ff_realloc(g->v, nc * sizeof *nv);
        if (!nv) return NULL;
        g->v = nv;
        g->cap = nc;
    }
    struct summary *s = &g->v[g->n++];
    memset(s, 0, sizeof *s);
    memcpy(s->id, id, FF_SESSION_ID_LEN);
    s->start = INT64_MAX;
    s->end = INT64_MIN;
    g->slots[i] = (uint32_t)g->n;
    return s;
}

static void keep(struct gather *g, struct field *f, struct ff_str v)
{
    f->len = 0;
    if (!v.len || ff_buf_append(&g->arena, v.p, v.len)) return;
    f->off = g->arena.len - v.len;
    f->len = v.len;
}

static struct ff_str at(const struct gather *g, const struct field *f)
{
    return (struct ff_str){f->len ? g->arena.data + f->off : "", f->len};
}

/* Before (t, seq)? */
static int earlier(int64_t t, uint64_t seq, int64_t t2, uint64_t seq2) { return t < t2 || (t == t2 && seq < seq2); }

/* The page a pageview names: a screen's name, a page's path (else its URL's, else its name). */
static struct ff_str page_of(const struct ff_event *ev, const struct ff_deriver *d, const struct ff_span *sp)
{
    if (ev->type == FF_EV_SCREEN) return ev->name;
    struct ff_str path = ff_derived_path(d, sp);
    return path.len ? path : ev->name;
}

static int visit(void *arg, const struct ff_event *ev)
{
    struct gather *g = arg;
    if (g->f->deadline_ns && (++g->visited & 255) == 0 && ff_mono_ns() > g->f->deadline_ns) return -ETIMEDOUT;
    if (ev->session_id.len != FF_SESSION_ID_LEN) return 0; /* no session: identify, or stored before sessions */
    struct summary *s = lookup(g, ev->session_id.p);
    if (!s) return g->rc ? g->rc : -ENOMEM;
    int pageview = ev->type == FF_EV_PAGE || ev->type == FF_EV_SCREEN;
    int64_t t = ev->timestamp_us;
    s->events++;
    if (!s->matched && (!g->match || g->match(g->match_arg, ev))) s->matched = 1;
    s->pageviews += (uint32_t)pageview;
    s->tracks += ev->type == FF_EV_TRACK;
    s->bot |= ev->bot;
    if (t < s->start) s->start = t;
    if (t > s->end) s->end = t;
    /* the entry: the first pageview, or the first event while there is none */
    int entry = pageview ? !s->has_pageview || earlier(t, ev->seq, s->entry_t, s->entry_seq)
                         : !s->has_pageview && (s->events == 1 || earlier(t, ev->seq, s->entry_t, s->entry_seq));
    int exit = pageview && (!s->has_pageview || !earlier(t, ev->seq, s->exit_t, s->exit_seq));
    if (!s->a[FF_SA_PERSON].len) keep(g, &s->a[FF_SA_PERSON], ev->person_id); /* one device: one person now */
    if (!entry && !exit) return 0;
    ff_buf_reset(&g->d.arena);
    struct ff_span sp[FF_NDERIVED];
    ff_derive(&g->d, ev, sp);
    if (exit) {
        keep(g, &s->a[FF_SA_EXIT], page_of(ev, &g->d, sp));
        s->exit_t = t;
        s->exit_seq = ev->seq;
    }
    if (entry) {
        s->entry_t = t;
        s->entry_seq = ev->seq;
        keep(g, &s->a[FF_SA_ENTRY], pageview ? page_of(ev, &g->d, sp) : (struct ff_str){"", 0});
        keep(g, &s->a[FF_SA_DEVICE], ev->anonymous_id.len ? ev->anonymous_id : ev->user_id);
        static const int derived[][2] = {{FF_SA_REFERRER, FF_C_PAGE_REFERRER}, {FF_SA_SOURCE, FF_C_SOURCE},
                                         {FF_SA_CHANNEL, FF_C_CHANNEL},        {FF_SA_UTM_SOURCE, FF_C_UTM_SOURCE},
                                         {FF_SA_UTM_MEDIUM, FF_C_UTM_MEDIUM},  {FF_SA_UTM_CAMPAIGN, FF_C_UTM_CAMPAIGN}};
        for (size_t k = 0; k < sizeof derived / sizeof *derived; k++)
            keep(g, &s->a[derived[k][0]], ff_span_str(&g->d, &sp[FF_D(derived[k][1])]));
        keep(g, &s->a[FF_SA_BROWSER], ev->browser);
        keep(g, &s->a[FF_SA_OS], ev->os);
        keep(g, &s->a[FF_SA_DEVICE_TYPE], ev->device_type);
        keep(g, &s->a[FF_SA_COUNTRY], ev->country);
        keep(g, &s->a[FF_SA_PROJECT], ev->project.len ? ev->project : (struct ff_str){FF_DEFAULT_PROJECT, sizeof FF_DEFAULT_PROJECT - 1});
    }
    s->has_pageview |= pageview;
    return 0;
}

static int by_start_desc(const void *a, const void *b)
{
    const struct ff_session_summary *x = a, *y = b;
    if (x->start != y->start) return x->start > y->start ? -1 : 1;
    return memcmp(x->id, y->id, FF_SESSION_ID_LEN);
}

int ff_store_sessions(struct ff_store *s, const struct ff_session_filter *f,
                      int (*match)(void *arg, const struct ff_event *ev), void *arg, struct ff_session_list *out)
{
    memset(out, 0, sizeof *out);
    struct gather g;
    memset(&g, 0, sizeof g);
    g.f = f;
    g.match = match;
    g.match_arg = arg;
    ff_buf_init(&g.arena, (size_t)1 << 34);
    int rc = ff_deriver_init(&g.d);
    struct ff_scan_filter sf = {.person = f->person, .person_len = f->person_len, .from_us = f->from_us,
                                .to_us = FF_TIME_NONE, .project = f->project};
    if (f->to_us != FF_TIME_NONE)
        sf.to_us = f->to_us > INT64_MAX - FF_SESSION_SPAN_US ? INT64_MAX : f->to_us + FF_SESSION_SPAN_US;
    if (!rc) rc = ff_store_scan(s, &sf, visit, &g);
    if (rc == -ENOMEM && g.rc) rc = g.rc;
    /* only those that start in range and match, bots left out unless asked for */
    if (!rc && g.n && !(out->v = ff_malloc(g.n * sizeof *out->v))) rc = -ENOMEM;
    for (size_t i = 0; !rc && i < g.n; i++) {
        const struct summary *x = &g.v[i];
        if ((f->to_us != FF_TIME_NONE && x->start >= f->to_us) || (x->bot && !f->bots) || !x->matched) continue;
        struct ff_session_summary *o = &out->v[out->n++];
        memcpy(o->id, x->id, FF_SESSION_ID_LEN);
        o->start = x->start, o->end = x->end;
        o->events = x->events, o->pageviews = x->pageviews, o->tracks = x->tracks, o->bot = x->bot;
        for (int k = 0; k < FF_SA_COUNT; k++) o->attr[k] = at(&g, &x->a[k]);
    }
    if (!rc && out->n) qsort(out->v, out->n, sizeof *out->v, by_start_desc);
    out->text = g.arena; /* the attributes point into it */
    ff_deriver_free(&g.d);
    ff_free(g.v);
    ff_free(g.slots);
    if (rc) ff_session_list_free(out);
    return rc;
}

void ff_session_list_free(struct ff_session_list *l)
{
    ff_free(l->v);
    ff_buf_free(&l->text);
    memset(l, 0, sizeof *l);
}

static int put_str(struct ff_buf *o, const char *name, struct ff_str v)
{
    int rc = ff_buf_printf(o, ",\"%s\":", name);
    return rc ? rc : ff_json_write_str(o, v.p, v.len);
}

static int put_time(struct ff_buf *o, const char *name, int64_t t)
{
    char ts[32];
    int n = ff_time_format_iso(t, ts);
    return put_str(o, name, (struct ff_str){ts, (uint32_t)n});
}

static int write_summary(const struct ff_session_summary *s, struct ff_buf *o)
{
    static const char *const names[FF_SA_COUNT] = {
        [FF_SA_PERSON] = "personId", [FF_SA_DEVICE] = "deviceId", [FF_SA_ENTRY] = "entryPage", [FF_SA_EXIT] = "exitPage",
        [FF_SA_REFERRER] = "referrer", [FF_SA_SOURCE] = "source", [FF_SA_CHANNEL] = "channel", [FF_SA_UTM_SOURCE] = "utmSource",
        [FF_SA_UTM_MEDIUM] = "utmMedium", [FF_SA_UTM_CAMPAIGN] = "utmCampaign", [FF_SA_BROWSER] = "browser", [FF_SA_OS] = "os",
        [FF_SA_DEVICE_TYPE] = "deviceType", [FF_SA_COUNTRY] = "country", [FF_SA_PROJECT] = "project"};
    int rc = ff_buf_append_str(o, "{\"id\":");
    if (!rc) rc = ff_json_write_str(o, s->id, FF_SESSION_ID_LEN);
    if (!rc) rc = put_time(o, "start", s->start);
    if (!rc) rc = put_time(o, "end", s->end);
    if (!rc)
        rc = ff_buf_printf(o, ",\"durationSeconds\":%.3f,\"events\":%u,\"pageviews\":%u,\"bounce\":%s,\"bot\":%s",
                           (double)(s->end - s->start) / 1e6, s->events, s->pageviews,
                           ff_session_bounce(s) ? "true" : "false", s->bot ? "true" : "false");
    for (int k = 0; !rc && k < FF_SA_COUNT; k++)
        if (s->attr[k].len) rc = put_str(o, names[k], s->attr[k]);
    return rc ? rc : ff_buf_putc(o, '}');
}

int ff_store_sessions_json(struct ff_store *s, const struct ff_session_filter *f, const char *sep, struct ff_buf *out,
                           size_t *count)
{
    *count = 0;
    struct ff_session_list l;
    int rc = ff_store_sessions(s, f, NULL, NULL, &l);
    size_t start = out->len;
    for (size_t i = 0; !rc && i < l.n && i < f->limit; i++) {
        if (i) rc = ff_buf_append_str(out, sep);
        if (!rc) rc = write_summary(&l.v[i], out);
        if (!rc) ++*count;
    }
    if (rc) {
        out->len = start;
        *count = 0;
    }
    ff_session_list_free(&l);
    return rc;
}
