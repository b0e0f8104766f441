/* generator.c - realistic behaviour events (see generator.h). */
#include "gen/generator.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/splitmix.h"

struct zipf {
    double *cdf;
    int n;
};

struct ff_gen {
    struct ff_gen_opts o;
    uint64_t rng;
    struct zipf products, posts, users;
    uint64_t sessions, events;
    /* one event's strings */
    char mid[40], anon[40], user[24], props[256], ctx[640], name[40], ev[32];
};

static uint64_t next64(struct ff_gen *g)
{
    g->rng ^= g->rng >> 12, g->rng ^= g->rng << 25, g->rng ^= g->rng >> 27;
    return g->rng * 0x2545f4914f6cdd1dULL;
}
static double unit(struct ff_gen *g) { return (double)(next64(g) >> 11) / 9007199254740992.0; }
static int chance(struct ff_gen *g, double p) { return unit(g) < p; }

static int zipf_init(struct zipf *z, int n, double s)
{
    z->n = n;
    if (!(z->cdf = ff_malloc((size_t)n * sizeof *z->cdf))) return -ENOMEM;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += 1.0 / pow(i + 1, s);
    double acc = 0;
    for (int i = 0; i < n; i++) z->cdf[i] = (acc += 1.0 / pow(i + 1, s) / sum);
    return 0;
}

static int zipf_draw(struct ff_gen *g, const struct zipf *z)
{
    double u = unit(g);
    int lo = 0, hi = z->n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (z->cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static const char *const categories[] = {"shoes", "jackets", "bags", "watches", "shirts", "hats", "toys", "books"};
static const char *const queries[] = {"running shoes", "rain jacket", "leather bag", "smart watch", "linen shirt", "sun hat"};
static const char *const agents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"};
static const char *const sources[] = {"google", "newsletter", "facebook", "instagram"};
static const char *const mediums[] = {"cpc", "email", "social", "social"};
static const char *const referrers[] = {"https://www.google.com/", "", "https://www.facebook.com/", "https://www.instagram.com/"};
/* Public addresses by country (the first three octets; the person picks the last), weighted
 * by repetition: the United States, Germany, the United Kingdom, France, Japan, Brazil, India,
 * the Netherlands. */
static const char *const nets[] = {"8.8.4", "8.8.4", "8.8.4", "93.184.216", "46.4.84", "46.4.84", "81.2.69", "81.2.69",
                                   "90.84.1", "133.11.0", "200.160.2", "49.44.64", "145.97.39"};

/* Hour-of-day and day-of-week weights: evenings and weekdays busier. */
static const double hour_w[24] = {2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 9, 9, 8, 8, 8, 9, 10, 11, 11, 9, 6, 4};
static const double dow_w[7] = {10, 10, 10, 10, 9, 7, 7};

int ff_gen_new(struct ff_gen **out, const struct ff_gen_opts *o)
{
    *out = NULL;
    if (o->days < 1 || o->days > 3650 || o->start_us < 0 || o->people < 1000 || o->people > 100000000) return FF_EINVAL;
    struct ff_gen *g = ff_calloc(1, sizeof *g);
    if (!g) return -ENOMEM;
    g->o = *o;
    g->rng = o->seed * 0x9e3779b97f4a7c15ULL + 1;
    if (zipf_init(&g->products, 5000, 1.1) || zipf_init(&g->posts, 20000, 1.2) ||
        zipf_init(&g->users, (int)o->people, 0.8)) {
        ff_gen_free(g);
        return -ENOMEM;
    }
    *out = g;
    return 0;
}

void ff_gen_free(struct ff_gen *g)
{
    if (!g) return;
    ff_free(g->products.cdf);
    ff_free(g->posts.cdf);
    ff_free(g->users.cdf);
    ff_free(g);
}

uint64_t ff_gen_events(const struct ff_gen *g) { return g->events; }
uint64_t ff_gen_sessions(const struct ff_gen *g) { return g->sessions; }

static void uuid(struct ff_gen *g, char out[37])
{
    uint64_t a = next64(g), b = next64(g);
    snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16 & 0xffff),
             (unsigned)(a & 0xfff), (unsigned)(0x8000 | (b >> 48 & 0x3fff)), (unsigned long long)(b & 0xffffffffffffULL));
}

/* A uniform draw in [0, 1) from a splitmix64 state of its own. */
static double unit_of(uint64_t *state) { return (double)(ff_splitmix64(state) >> 11) / 9007199254740992.0; }

static int64_t session_start(struct ff_gen *g)
{
    /* Rejection sampling of a moment of the window by its hour (daily rhythm) and its weekday
     * (weekly rhythm), both in UTC: the window need not begin at a midnight. Its draws come
     * from a stream of the session's own, so how many it takes (which depends on when the
     * window begins) leaves the generator's stream alone: the same seed gives the same
     * sessions and message ids whenever it runs, only their times move with the window. */
    uint64_t st = g->o.seed * 0xd1b54a32d192ed03ULL + g->sessions;
    const double span = (double)g->o.days * 86400e6;
    for (;;) {
        int64_t t = g->o.start_us + (int64_t)(unit_of(&st) * span);
        int64_t sec = t / 1000000, day = sec / 86400;
        int hour = (int)(sec % 86400 / 3600), dow = (int)((day + 3) % 7); /* 0 = Monday: 1970-01-01 was a Thursday */
        if (unit_of(&st) * 11 > hour_w[hour] || unit_of(&st) * 10 > dow_w[dow]) continue;
        return t;
    }
}

/* The person of the session being emitted. */
struct visit {
    uint64_t number;
    int agent, source; /* source: -1 none */
    char ip[24];
};

static void emit(struct ff_gen *g, const struct visit *v, ff_gen_emit_fn fn, void *arg, int type, const char *event,
                 int64_t t, const char *page_path, const char *title, int landing, const char *props)
{
    struct ff_event ev;
    memset(&ev, 0, sizeof ev);
    uuid(g, g->mid);
    ev.type = (uint8_t)type;
    ev.format = FF_FMT_SEGMENT;
    ev.timestamp_us = t;
    ev.received_at_us = t + 40000 + (int64_t)(unit(g) * 200000);
    ev.original_timestamp_us = t;
    ev.sent_at_us = ev.received_at_us - 20000;
    ev.message_id = (struct ff_str){g->mid, 36};
    ev.anonymous_id = (struct ff_str){g->anon, 36};
    ev.user_id = (struct ff_str){g->user, (uint32_t)strlen(g->user)};
    ev.write_key = (struct ff_str){"wk_live", 7};
    if (type == FF_EV_PAGE || type == FF_EV_SCREEN) { /* a page or screen call's name */
        snprintf(g->name, sizeof g->name, "%s", title);
        ev.name = (struct ff_str){g->name, (uint32_t)strlen(g->name)};
    } else {
        snprintf(g->ev, sizeof g->ev, "%s", event);
        ev.event = (struct ff_str){g->ev, (uint32_t)strlen(g->ev)};
    }
    snprintf(g->props, sizeof g->props, "%s", props);
    ev.properties = (struct ff_str){g->props, (uint32_t)strlen(g->props)};
    /* the campaign's parameters and referrer on the page the visit landed on */
    char utm[96] = "";
    int s = landing ? v->source : -1;
    if (s >= 0)
        snprintf(utm, sizeof utm, "?utm_source=%s&utm_medium=%s&utm_campaign=spring_sale", sources[s], mediums[s]);
    int n = snprintf(g->ctx, sizeof g->ctx,
                     "{\"page\":{\"path\":\"%s\",\"url\":\"https://shop.example%s%s\",\"title\":\"%s\",\"referrer\":\"%s\"},"
                     "\"userAgent\":\"%s\",\"ip\":\"%s\",\"locale\":\"en-US\",\"library\":{\"name\":\"analytics.js\",\"version\":\"5.2.0\"}}",
                     page_path, page_path, utm, title, s >= 0 ? referrers[s] : "", agents[v->agent], v->ip);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof g->ctx) n = (int)sizeof g->ctx - 1; /* cannot happen with these strings */
    ev.context = (struct ff_str){g->ctx, (uint32_t)n};
    fn(arg, &ev, v->number);
    g->events++;
}

void ff_gen_session(struct ff_gen *g, ff_gen_emit_fn fn, void *arg)
{
    struct visit v = {.number = ++g->sessions, .source = -1};
    int u = zipf_draw(g, &g->users);
    /* a person keeps an anonymous id and an address; 60% of people are signed in */
    uint64_t save = g->rng;
    g->rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(u + 1);
    uuid(g, g->anon);
    g->rng = save;
    if (u % 5 < 3) snprintf(g->user, sizeof g->user, "user_%d", u);
    else g->user[0] = 0;
    if (g->o.public_ips)
        snprintf(v.ip, sizeof v.ip, "%s.%d", nets[(unsigned)u % (sizeof nets / sizeof nets[0])], 1 + u % 250);
    else
        snprintf(v.ip, sizeof v.ip, "203.0.%d.%d", (int)(g->sessions % 200), (int)(g->sessions % 250));
    int64_t t = session_start(g);
    v.agent = u % 4;
    char props[256], path[96], title[96];
    if (chance(g, 0.3)) v.source = (int)(unit(g) * 4);
#define STEP() (t += (int64_t)(2 + unit(g) * 60) * 1000000)
    if (chance(g, 0.7)) { /* shop */
        emit(g, &v, fn, arg, FF_EV_PAGE, "", t, "/", "Home", 1, "{}");
        int views = 1 + (int)(unit(g) * 6);
        for (int i = 0; i < views; i++) {
            STEP();
            if (chance(g, 0.25)) {
                snprintf(props, sizeof props, "{\"query\":\"%s\"}", queries[(int)(unit(g) * 6)]);
                emit(g, &v, fn, arg, FF_EV_TRACK, "Products Searched", t, "/search", "Search", 0, props);
                STEP();
            }
            int p = zipf_draw(g, &g->products);
            const char *cat = categories[p % 8];
            snprintf(path, sizeof path, "/p/%d", p);
            snprintf(title, sizeof title, "Product %d", p);
            emit(g, &v, fn, arg, FF_EV_PAGE, "", t, path, title, 0, "{}");
            snprintf(props, sizeof props, "{\"product_id\":\"sku-%d\",\"category\":\"%s\",\"price\":%d.99,\"currency\":\"USD\"}",
                     p, cat, 5 + p % 200);
            emit(g, &v, fn, arg, FF_EV_TRACK, "Product Viewed", t + 300000, path, title, 0, props);
            if (chance(g, 0.2)) {
                STEP();
                emit(g, &v, fn, arg, FF_EV_TRACK, "Product Added", t, path, title, 0, props);
                if (chance(g, 0.5)) {
                    STEP();
                    emit(g, &v, fn, arg, FF_EV_TRACK, "Checkout Started", t, "/checkout", "Checkout", 0, props);
                    if (chance(g, 0.6)) {
                        STEP();
                        snprintf(props, sizeof props,
                                 "{\"order_id\":\"o-%llu\",\"revenue\":%d.99,\"currency\":\"USD\",\"products\":1}",
                                 (unsigned long long)g->sessions, 5 + p % 200);
                        emit(g, &v, fn, arg, FF_EV_TRACK, "Order Completed", t, "/checkout/done", "Thank you", 0, props);
                        break;
                    }
                }
            }
        }
    } else { /* social */
        emit(g, &v, fn, arg, FF_EV_SCREEN, "", t, "/feed", "Feed", 1, "{}");
        int posts = 2 + (int)(unit(g) * 10);
        for (int i = 0; i < posts; i++) {
            STEP();
            int p = zipf_draw(g, &g->posts);
            snprintf(path, sizeof path, "/post/%d", p);
            snprintf(props, sizeof props, "{\"post_id\":\"post-%d\",\"author\":\"user_%d\"}", p, p % 997);
            emit(g, &v, fn, arg, FF_EV_TRACK, "Post Viewed", t, path, "Post", 0, props);
            /* drawn in this order (the seed's stream), emitted in time order: a like after
             * 1.5 s, a share after 3, a comment after 9; the next post after the last of them */
            int liked = chance(g, 0.15), commented = chance(g, 0.04), shared = chance(g, 0.02);
            if (liked) emit(g, &v, fn, arg, FF_EV_TRACK, "Post Liked", t + 1500000, path, "Post", 0, props);
            if (shared) emit(g, &v, fn, arg, FF_EV_TRACK, "Post Shared", t + 3000000, path, "Post", 0, props);
            if (commented) emit(g, &v, fn, arg, FF_EV_TRACK, "Comment Added", t + 9000000, path, "Post", 0, props);
            t += commented ? 9000000 : shared ? 3000000 : liked ? 1500000 : 0;
        }
    }
#undef STEP
}
