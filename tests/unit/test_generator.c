/* test_generator.c - the event generator (gen/generator.h): its window, its daily rhythm,
 * and a seed that gives the same sessions and message ids whenever the window begins. */
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

static void run(struct seen *s, uint64_t seed, int64_t start_us, int days, int sessions)
{
    struct ff_gen_opts o = {.seed = seed, .start_us = start_us, .days = days, .people = 5000};
    struct ff_gen *g;
    assert_int_equal(ff_gen_new(&g, &o), 0);
    memset(s, 0, sizeof *s);
    for (int i = 0; i < sessions; i++) ff_gen_session(g, keep, s);
    assert_int_equal(ff_gen_events(g), s->n);
    assert_int_equal(ff_gen_sessions(g), (uint64_t)sessions);
    ff_gen_free(g);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sessions_start_in_the_window),
        cmocka_unit_test(test_rhythm_follows_utc_hours),
        cmocka_unit_test(test_seed_gives_the_same_ids_at_any_start),
        cmocka_unit_test(test_rejects_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
