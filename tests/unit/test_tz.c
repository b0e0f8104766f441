/* test_tz.c - time zones (core/tz.h) against glibc's own reading of the same tzdata files:
 * localtime_r with TZ set to the zone is the independent model of the offset, both inside
 * the transition table and past it (2037 on, where the footer's POSIX rule decides). */
#include <time.h>

#include "testutil.h"

#include "core/errors.h"
#include "core/tz.h"

/* Northern and southern DST, negative DST (Dublin), 30/45-minute offsets, a zone whose
 * rules changed often, and zones without DST. */
static const char *const zones[] = {
    "Europe/Berlin", "America/New_York", "Australia/Sydney", "Europe/Dublin", "Asia/Kolkata",
    "Pacific/Chatham", "America/Santiago", "Asia/Tehran", "Europe/London", "America/Sao_Paulo",
    "Pacific/Apia", "Antarctica/Troll", "Asia/Shanghai", "America/St_Johns", "Etc/GMT+5", "UTC",
};

static long model_offset(const char *zone, int64_t t)
{
    setenv("TZ", zone, 1);
    tzset();
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    return tm.tm_gmtoff;
}

static void test_offsets_match_glibc(void **state)
{
    (void)state;
    test_rng_init(0x7a11);
    for (size_t z = 0; z < sizeof zones / sizeof *zones; z++) {
        struct ff_tz *tz;
        assert_int_equal(ff_tz_load(zones[z], &tz), 0);
        int64_t lo = -2208988800LL /* 1900 */, hi = 5680281600LL /* 2150 */;
        for (int i = 0; i < 4000; i++) {
            /* half of them near now, where transitions are dense */
            int64_t t = i % 2 ? test_rand_range(lo, hi) : test_rand_range(1577836800LL, 2524608000LL);
            long want = model_offset(zones[z], t);
            int32_t got = ff_tz_offset(tz, t);
            if (got != want) print_error("%s at %lld: got %d, glibc %ld\n", zones[z], (long long)t, got, want);
            assert_int_equal(got, want);
        }
        /* every hour of two years past the table, so each rule change is crossed */
        for (int64_t t = 2556144000LL /* 2051 */; t < 2556144000LL + 2 * 366 * 86400; t += 3600 - 7) {
            long want = model_offset(zones[z], t);
            if (ff_tz_offset(tz, t) != want)
                print_error("%s at %lld: got %d, glibc %ld\n", zones[z], (long long)t, ff_tz_offset(tz, t), want);
            assert_int_equal(ff_tz_offset(tz, t), want);
        }
        ff_tz_free(tz);
    }
    unsetenv("TZ");
}

static void test_local_day(void **state)
{
    (void)state;
    struct ff_tz *tz;
    assert_int_equal(ff_tz_load("Asia/Shanghai", &tz), 0);
    /* 2026-11-29T15:59:59Z is 23:59:59 on the 29th in Shanghai, a second later the 30th */
    int64_t t = 1795967999LL * 1000000;
    int32_t a = ff_tz_local_day(tz, t), b = ff_tz_local_day(tz, t + 1000000);
    assert_int_equal(b, a + 1);
    assert_int_equal(ff_tz_local_day(NULL, t), a); /* UTC: still the 29th at 15:59 */
    assert_int_equal(ff_tz_local_day(NULL, t + 1000000), a);
    /* before the epoch, days count down without rounding toward zero */
    assert_int_equal(ff_tz_local_day(NULL, -1), -1);
    ff_tz_free(tz);
}

static void test_rejects(void **state)
{
    (void)state;
    struct ff_tz *tz = (struct ff_tz *)1;
    assert_int_equal(ff_tz_load("Nowhere/City", &tz), FF_EINVAL);
    assert_null(tz);
    assert_int_equal(ff_tz_load("../../etc/passwd", &tz), FF_EINVAL);
    assert_int_equal(ff_tz_load("/etc/localtime", &tz), FF_EINVAL);
    assert_int_equal(ff_tz_load("", &tz), FF_EINVAL);
    assert_int_equal(ff_tz_load("Europe", &tz), FF_EINVAL); /* a directory */
    static const unsigned char junk[] = "TZif2 and then not much else";
    assert_int_equal(ff_tz_parse(junk, sizeof junk, &tz), FF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offsets_match_glibc),
        cmocka_unit_test(test_local_day),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
