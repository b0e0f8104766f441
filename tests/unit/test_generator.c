/* test_generator.c - the event generator (gen/generator.h): its window, its daily and weekly
 * rhythm, a seed that gives the same sessions and message ids whenever the window begins,
 * Zipf-distributed products, pages and posts, every kind of event R14's two reference cases
 * call for, and the shop's funnel dropping off step by step. */
#include <math.h>

#include "testutil.h"

#include "core/errors.h"
#include "gen/generator.h"

#define DAY_US (86400LL * 1000000)
#define HOUR_US (3600LL * 1000000)

struct seen {
    size_t n, cap;
    char (*mids)[37];
    int64_t *times;
    uint64_t *visits;
};

static void keep(void *arg, const struct ff_event *ev, uint64_t visit)
{
    struct seen *s = arg;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->mids = realloc(s->mids, s->cap * sizeof *s->mids);
        s->times = realloc(s->times, s->cap * sizeof *s->times);
        s->visits = realloc(s->visits, s->cap * sizeof *s->visits);
        assert_non_null(s->mids);
        assert_non_null(s->times);
        assert_non_null(s->visits);
    }
    assert_int_equal(ev->message_id.len, 36);
    memcpy(s->mids[s->n], ev->message_id.p, 36);
    s->mids[s->n][36] = 0;
    s->times[s->n] = ev->timestamp_us;
    s->visits[s->n++] = visit;
}

/* Generates `sessions` visits of `people` into fn(arg, ...); returns how many events came. */
static uint64_t drive(uint64_t seed, int64_t start_us, int days, int people, int sessions, ff_gen_emit_fn fn,
                      void *arg)
{
    struct ff_gen_opts o = {.seed = seed, .start_us = start_us, .days = days, .people = people};
    struct ff_gen *g;
    assert_int_equal(ff_gen_new(&g, &o), 0);
    for (int i = 0; i < sessions; i++) ff_gen_session(g, fn, arg);
    assert_int_equal(ff_gen_sessions(g), (uint64_t)sessions);
    uint64_t n = ff_gen_events(g);
    ff_gen_free(g);
    return n;
}

static void run(struct seen *s, uint64_t seed, int64_t start_us, int days, int sessions)
{
    memset(s, 0, sizeof *s);
    uint64_t n = drive(seed, start_us, days, 5000, sessions, keep, s);
    assert_int_equal(n, s->n);
}

static void seen_free(struct seen *s)
{
    free(s->mids);
    free(s->times);
    free(s->visits);
}

/* Sessions start inside the window, whatever minute it begins at; a session's events come
 * later than its start by at most its steps (a few minutes each). */
static void test_sessions_start_in_the_window(void **state)
{
    (void)state;
    const int64_t start = 1764633600LL * 1000000 + 37 * 60 * 1000000LL + 123456; /* 2025-12-02 00:37:00.123456 */
    struct seen s;
    run(&s, 5, start, 1, 3000);
    int64_t first_of_visit = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (!i || s.visits[i] != s.visits[i - 1]) {
            first_of_visit = s.times[i];
            assert_true(first_of_visit >= start);
            assert_true(first_of_visit < start + DAY_US);
        }
        assert_true(s.times[i] >= first_of_visit);
        assert_true(s.times[i] < first_of_visit + 2 * HOUR_US);
    }
    seen_free(&s);
}

/* The daily rhythm follows the clock's hours (UTC), not hours since the window began:
 * the evening hours (weights 10-11) get several times the sessions of the night (1). */
static void test_rhythm_follows_utc_hours(void **state)
{
    (void)state;
    const int64_t start = 1764633600LL * 1000000 + 7 * HOUR_US; /* a Tuesday, 07:00 UTC */
    struct seen s;
    run(&s, 9, start, 7, 20000);
    size_t by_hour[24] = {0};
    for (size_t i = 0; i < s.n; i++)
        if (!i || s.visits[i] != s.visits[i - 1]) by_hour[(s.times[i] / HOUR_US) % 24]++;
    size_t night = by_hour[2] + by_hour[3] + by_hour[4];   /* weights 1, 1, 1 */
    size_t evening = by_hour[19] + by_hour[20] + by_hour[21]; /* weights 11, 11, 9 */
    assert_true(night > 0);
    assert_true(evening > 6 * night);
    seen_free(&s);
}

/* The same seed gives the same sessions and message ids in the same order whatever the
 * window's start (so a second `footfall generate` with the same seed is all duplicates, an
 * hour or a day later too); only the times move. Another seed gives other ids. */
static void test_seed_gives_the_same_ids_at_any_start(void **state)
{
    (void)state;
    const int64_t start = 1764633600LL * 1000000;
    struct seen a, b, c;
    run(&a, 42, start, 1, 500);
    run(&b, 42, start + 5 * HOUR_US + 17 * 60 * 1000000LL, 1, 500);
    run(&c, 43, start, 1, 500);
    assert_int_equal(a.n, b.n);
    size_t moved = 0;
    for (size_t i = 0; i < a.n; i++) {
        assert_string_equal(a.mids[i], b.mids[i]);
        assert_int_equal(a.visits[i], b.visits[i]);
        moved += a.times[i] != b.times[i];
    }
    assert_true(moved > a.n / 2);
    assert_string_not_equal(a.mids[0], c.mids[0]);
    seen_free(&a);
    seen_free(&b);
    seen_free(&c);
}

static void test_rejects_bad_options(void **state)
{
    (void)state;
    struct ff_gen *g = (struct ff_gen *)1;
    struct ff_gen_opts o = {.seed = 1, .start_us = 0, .days = 0, .people = 5000};
    assert_int_equal(ff_gen_new(&g, &o), FF_EINVAL);
    assert_null(g);
    o.days = 1, o.start_us = -1;
    assert_int_equal(ff_gen_new(&g, &o), FF_EINVAL);
    o.start_us = 0, o.people = 10;
    assert_int_equal(ff_gen_new(&g, &o), FF_EINVAL);
}

/* ---- what the sessions hold ---- */

/* One generated event, as the tests below read it. */
struct rec {
    uint8_t type;
    char event[24]; /* a track call's name */
    char name[24];  /* a page's or screen's name */
    char path[24];  /* context.page.path */
    int product, post; /* properties.product_id "sku-N", post_id "post-N"; -1: none */
    int64_t t;
    uint64_t visit;
};

struct recs {
    struct rec *v;
    size_t n, cap;
};

/* The number after `key` in text (such as "\"product_id\":\"sku-"), or -1 when it is not there. */
static int number_after(struct ff_str text, const char *key)
{
    const char *at = memmem(text.p, text.len, key, strlen(key));
    return at ? atoi(at + strlen(key)) : -1;
}

static void copy_field(char *out, size_t cap, struct ff_str s)
{
    snprintf(out, cap, "%.*s", (int)s.len, s.p);
}

static void record(void *arg, const struct ff_event *ev, uint64_t visit)
{
    struct recs *r = arg;
    r->v = test_grow(r->v, r->n, &r->cap, sizeof *r->v, 4096);
    struct rec *e = &r->v[r->n++];
    memset(e, 0, sizeof *e);
    e->type = ev->type;
    copy_field(e->event, sizeof e->event, ev->event);
    copy_field(e->name, sizeof e->name, ev->name);
    const char *path = memmem(ev->context.p, ev->context.len, "\"path\":\"", 8);
    assert_non_null(path);
    path += 8;
    const char *end = memchr(path, '"', (size_t)(ev->context.p + ev->context.len - path));
    assert_non_null(end);
    copy_field(e->path, sizeof e->path, (struct ff_str){path, (uint32_t)(end - path)});
    e->product = number_after(ev->properties, "\"product_id\":\"sku-");
    e->post = number_after(ev->properties, "\"post_id\":\"post-");
    e->t = ev->timestamp_us;
    e->visit = visit;
}

static void generate(struct recs *r, uint64_t seed, int64_t start_us, int days, int sessions)
{
    memset(r, 0, sizeof *r);
    uint64_t n = drive(seed, start_us, days, 20000, sessions, record, r);
    assert_int_equal(n, r->n);
}

#define MONDAY (20395LL * DAY_US) /* 2025-11-03, a Monday */

/* The weekly rhythm: over four whole weeks, each weekday gets its weight's share of the
 * sessions (Monday to Thursday 10, Friday 9, Saturday and Sunday 7, of 63): a weekend day
 * about 0.71 of a weekday's. */
static void test_weekly_rhythm(void **state)
{
    (void)state;
    struct recs r;
    const int sessions = 40000;
    generate(&r, 17, MONDAY, 28, sessions);
    size_t by_dow[7] = {0}, starts = 0;
    for (size_t i = 0; i < r.n; i++)
        if (!i || r.v[i].visit != r.v[i - 1].visit) {
            assert_true(r.v[i].t >= MONDAY && r.v[i].t < MONDAY + 28 * DAY_US);
            by_dow[(r.v[i].t - MONDAY) / DAY_US % 7]++;
            starts++;
        }
    assert_int_equal(starts, sessions);
    static const double weight[7] = {10, 10, 10, 10, 9, 7, 7};
    for (int d = 0; d < 7; d++) {
        double want = sessions * weight[d] / 63;
        if (by_dow[d] < want * 0.94 || by_dow[d] > want * 1.06)
            fail_msg("weekday %d: %zu sessions, %.0f expected", d, by_dow[d], want);
    }
    for (int d = 0; d < 4; d++) assert_true(by_dow[d] > by_dow[5] && by_dow[d] > by_dow[6]);
    double weekday = (by_dow[0] + by_dow[1] + by_dow[2] + by_dow[3] + by_dow[4]) / 5.0;
    double weekend = (by_dow[5] + by_dow[6]) / 2.0;
    assert_true(weekend / weekday > 0.66 && weekend / weekday < 0.77);
    free(r.v);
}

/* Counts per id (0 .. n-1) of the events whose id `which` (product or post) is set and whose
 * name is `event`; checks the ranks' frequencies fall as Zipf's law with exponent s says: id 0
 * (rank 1) is the most frequent, 2^s times id 1's or so, far above the median of the ids seen,
 * and the mean count falls from each decade of ranks to the next. */
static void assert_zipf(const struct recs *r, const char *event, int product, int n, double s)
{
    size_t *count = calloc((size_t)n, sizeof *count), total = 0;
    for (size_t i = 0; i < r->n; i++) {
        int id = product ? r->v[i].product : r->v[i].post;
        if (id < 0 || strcmp(r->v[i].event, event)) continue;
        assert_true(id < n);
        count[id]++, total++;
    }
    assert_true(total > 10000);
    for (int i = 1; i < n; i++) assert_true(count[0] >= count[i]);
    double ratio = (double)count[0] / (double)count[1], want = pow(2, s);
    if (ratio < want * 0.8 || ratio > want * 1.25)
        fail_msg("%s: top %zu, second %zu: ratio %.2f, Zipf says %.2f", event, count[0], count[1], ratio, want);
    /* the median of the ids seen at least once */
    size_t *seen = malloc((size_t)n * sizeof *seen), nseen = 0;
    for (int i = 0; i < n; i++)
        if (count[i]) seen[nseen++] = count[i];
    for (size_t i = 1; i < nseen; i++) /* insertion sort: a few thousand */
        for (size_t j = i; j > 0 && seen[j - 1] > seen[j]; j--) {
            size_t t = seen[j];
            seen[j] = seen[j - 1], seen[j - 1] = t;
        }
    size_t median = seen[nseen / 2];
    assert_true(count[0] >= 100 * median);
    /* decades of ranks: 1, 2-10, 11-100, 101-1000, the rest */
    const int edge[] = {0, 1, 10, 100, 1000, n};
    double prev = INFINITY;
    for (int d = 0; d < 5; d++) {
        size_t sum = 0;
        for (int i = edge[d]; i < edge[d + 1]; i++) sum += count[i];
        double mean = (double)sum / (edge[d + 1] - edge[d]);
        /* Zipf: the decade's mean is about 10^s times below the one before */
        assert_true(mean < prev);
        if (d >= 2 && d < 4) assert_true(mean * pow(10, s) > prev / 3 && mean * pow(10, s) < prev * 3);
        prev = mean;
    }
    free(seen);
    free(count);
}

/* Products and posts are Zipf-distributed (exponents 1.1 and 1.2): so are the product pages,
 * and the home page, every shopping visit's landing page, is the most viewed of all. */
static void test_zipf_products_pages_posts(void **state)
{
    (void)state;
    struct recs r;
    generate(&r, 23, MONDAY, 7, 30000);
    assert_zipf(&r, "Product Viewed", 1, 5000, 1.1);
    assert_zipf(&r, "Post Viewed", 0, 20000, 1.2);
    /* pages: each product page viewed as often as its product (the view follows the page) */
    size_t *page = calloc(5000, sizeof *page), home = 0, product_views = 0;
    for (size_t i = 0; i < r.n; i++) {
        if (r.v[i].type != FF_EV_PAGE) continue;
        if (!strcmp(r.v[i].path, "/")) home++;
        else if (!strncmp(r.v[i].path, "/p/", 3)) page[atoi(r.v[i].path + 3)]++;
        else fail_msg("page %s", r.v[i].path);
    }
    for (size_t i = 0; i < r.n; i++) product_views += r.v[i].product >= 0 && !strcmp(r.v[i].event, "Product Viewed");
    size_t pages = 0;
    for (int i = 0; i < 5000; i++) pages += page[i];
    assert_int_equal(pages, product_views);
    for (int i = 0; i < 5000; i++) assert_true(home > page[i] && page[0] >= page[i]);
    free(page);
    free(r.v);
}

/* Every kind of event the reference cases call for comes out, and nothing else: the shop's
 * page views (home and product pages), searches, product views, cart, checkout and purchases;
 * the social app's feed (a screen, named), post views, likes, comments and shares. A visit
 * lands on the shop's home page (about 70% of them) or on the feed, and its events come in
 * time order. */
static void test_every_event_name(void **state)
{
    (void)state;
    struct recs r;
    const int sessions = 20000;
    generate(&r, 29, MONDAY, 7, sessions);
    static const char *const tracks[] = {"Products Searched", "Product Viewed", "Product Added", "Checkout Started",
                                         "Order Completed", "Post Viewed", "Post Liked", "Comment Added", "Post Shared"};
    size_t seen[9] = {0}, pages = 0, screens = 0, shop = 0, social = 0;
    for (size_t i = 0; i < r.n; i++) {
        const struct rec *e = &r.v[i];
        if (e->type == FF_EV_PAGE) {
            pages++;
            assert_true(!strcmp(e->name, "Home") || !strncmp(e->name, "Product ", 8));
            continue;
        }
        if (e->type == FF_EV_SCREEN) {
            screens++;
            /* the feed: a screen call named as its page is */
            assert_string_equal(e->name, "Feed");
            assert_string_equal(e->path, "/feed");
            continue;
        }
        assert_int_equal(e->type, FF_EV_TRACK);
        size_t k = 0;
        while (k < 9 && strcmp(e->event, tracks[k])) k++;
        if (k == 9) fail_msg("unexpected event %s", e->event);
        seen[k]++;
    }
    /* within a visit, events come in time order (generator.h), likes, shares and comments
     * included, and before the next post's view */
    for (size_t i = 1; i < r.n; i++)
        if (r.v[i].visit == r.v[i - 1].visit && r.v[i].t < r.v[i - 1].t)
            fail_msg("visit %llu: %s at %lld after %s at %lld", (unsigned long long)r.v[i].visit, r.v[i].event,
                     (long long)r.v[i].t, r.v[i - 1].event, (long long)r.v[i - 1].t);
    for (size_t i = 0; i < r.n; i++)
        if (!i || r.v[i].visit != r.v[i - 1].visit) {
            /* a visit lands on the shop's home page or the app's feed */
            if (r.v[i].type == FF_EV_PAGE) assert_string_equal(r.v[i].name, "Home"), shop++;
            else assert_int_equal(r.v[i].type, FF_EV_SCREEN), assert_string_equal(r.v[i].path, "/feed"), social++;
        }
    for (int k = 0; k < 9; k++)
        if (seen[k] < 100) fail_msg("%s: %zu", tracks[k], seen[k]);
    assert_true(pages > shop && screens == social);
    assert_int_equal(shop + social, sessions);
    assert_true(shop > 0.67 * sessions && shop < 0.73 * sessions);
    /* likes, comments and shares: fewer than views, in that order (15%, 4%, 2% of views) */
    assert_true(seen[5] > seen[6] && seen[6] > seen[7] && seen[7] > seen[8]);
    free(r.v);
}

/* The shop's funnel drops off at every step: fewer products added than viewed (20%), fewer
 * checkouts than additions (50%), fewer orders than checkouts (60%); within a visit each step
 * follows the one before it (an addition the view of the same product, a checkout an
 * addition, an order a checkout), and an order ends the visit. */
static void test_funnel_drop_off(void **state)
{
    (void)state;
    struct recs r;
    generate(&r, 31, MONDAY, 7, 30000);
    static const char *const steps[] = {"Product Viewed", "Product Added", "Checkout Started", "Order Completed"};
    size_t count[4] = {0};
    int last_viewed = -1, added = 0, checkout = 0;
    for (size_t i = 0; i < r.n; i++) {
        const struct rec *e = &r.v[i];
        if (!i || e->visit != r.v[i - 1].visit) last_viewed = -1, added = checkout = 0;
        int k = 0;
        while (k < 4 && strcmp(e->event, steps[k])) k++;
        if (k == 4) continue;
        count[k]++;
        switch (k) {
        case 0: last_viewed = e->product; break;
        case 1:
            assert_true(last_viewed >= 0 && e->product == last_viewed);
            added = 1;
            break;
        case 2:
            assert_true(added);
            checkout = 1;
            break;
        case 3:
            assert_true(checkout);
            assert_true(i + 1 == r.n || r.v[i + 1].visit != e->visit); /* the visit's last event */
            break;
        }
    }
    assert_true(count[0] > count[1] && count[1] > count[2] && count[2] > count[3] && count[3] > 100);
    double add = (double)count[1] / count[0], co = (double)count[2] / count[1], buy = (double)count[3] / count[2];
    assert_true(add > 0.16 && add < 0.24);
    assert_true(co > 0.44 && co < 0.56);
    assert_true(buy > 0.54 && buy < 0.66);
    free(r.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sessions_start_in_the_window),
        cmocka_unit_test(test_rhythm_follows_utc_hours),
        cmocka_unit_test(test_seed_gives_the_same_ids_at_any_start),
        cmocka_unit_test(test_rejects_bad_options),
        cmocka_unit_test(test_weekly_rhythm),
        cmocka_unit_test(test_zipf_products_pages_posts),
        cmocka_unit_test(test_every_event_name),
        cmocka_unit_test(test_funnel_drop_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
