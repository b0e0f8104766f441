/* test_projects.c - the project catalog (project/catalog.h) and what is loaded from it
 * (project/projects.h): keys made, looked up, rotated with and without grace, given keys,
 * the keyless project, origins, settings checked; the stored-project rule of event.h; and the
 * rate limiter's buckets (net/ratelimit.h) on a clock the test drives. */
#include <errno.h>
#include <string.h>

#include "testutil.h"

#include "core/errors.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "net/ratelimit.h"
#include "project/catalog.h"

static struct ff_catalog *open_new(char *dir, size_t cap)
{
    assert_int_equal(test_mkdtemp(dir, cap, "projects"), 0);
    struct ff_catalog *c = NULL;
    char err[512];
    assert_int_equal(ff_catalog_open(dir, 0, &c, err, sizeof err), -ENOENT); /* no catalog yet */
    assert_non_null(strstr(err, "projects.db"));
    assert_int_equal(ff_catalog_open(dir, 1, &c, err, sizeof err), 0);
    return c;
}

static void test_keys_open_their_project_only(void **state)
{
    (void)state;
    char dir[256], err[512], w1[FF_KEY_MAX + 1], r1[FF_KEY_MAX + 1], w2[FF_KEY_MAX + 1], r2[FF_KEY_MAX + 1];
    struct ff_catalog *c = open_new(dir, sizeof dir);
    assert_int_equal(ff_catalog_count(c), 0);
    assert_int_equal(ff_catalog_create(c, "site", "Site", NULL, 0, w1, r1, err, sizeof err), 0);
    assert_int_equal(ff_catalog_create(c, "app", "App", NULL, 0, w2, r2, err, sizeof err), 0);
    assert_int_equal(ff_catalog_count(c), 2);
    assert_int_equal(strncmp(w1, "ffw_", 4), 0);
    assert_int_equal(strlen(w1), 26);
    assert_int_equal(strlen(r1), 36);
    assert_true(strcmp(w1, w2) != 0 && strcmp(r1, r2) != 0);

    struct ff_projects p;
    assert_int_equal(ff_catalog_load(c, &p, err, sizeof err), 0);
    assert_int_equal(p.n, 2);
    int64_t now = ff_now_us();
    const struct ff_project *site = ff_projects_by_write_key(&p, w1, strlen(w1), now);
    assert_non_null(site);
    assert_string_equal(site->id, "site");
    assert_string_equal(site->timezone, "UTC");
    assert_true(site->scrub_pii && !site->honor_dnt && !site->accept_keyless);
    assert_string_equal(ff_projects_by_read_key(&p, r2, strlen(r2), now)->id, "app");
    /* a write key is no read key, and the other way round */
    assert_null(ff_projects_by_read_key(&p, w1, strlen(w1), now));
    assert_null(ff_projects_by_write_key(&p, r1, strlen(r1), now));
    assert_null(ff_projects_by_write_key(&p, "", 0, now)); /* no keyless project */
    assert_null(ff_projects_by_write_key(&p, w1, strlen(w1) - 1, now));
    ff_projects_free(&p);

    /* taken and malformed ids */
    assert_int_equal(ff_catalog_create(c, "site", "x", NULL, 0, w1, r1, err, sizeof err), FF_EINVAL);
    assert_non_null(strstr(err, "exists already"));
    assert_int_equal(ff_catalog_create(c, "-x", "x", NULL, 0, w1, r1, err, sizeof err), FF_EINVAL);
    assert_int_equal(ff_catalog_create(c, "UP", "x", NULL, 0, w1, r1, err, sizeof err), FF_EINVAL);
    ff_catalog_close(c);
    test_rmtree(dir);
}

static void test_rotation_grace_and_given_keys(void **state)
{
    (void)state;
    char dir[256], err[512], w[FF_KEY_MAX + 1], r[FF_KEY_MAX + 1], w2[FF_KEY_MAX + 1], w3[FF_KEY_MAX + 1];
    struct ff_catalog *c = open_new(dir, sizeof dir);
    const char *given[] = {"YOUR_WRITE_KEY", "abc123"};
    assert_int_equal(ff_catalog_create(c, "s", "S", given, 2, w, r, err, sizeof err), 0);
    assert_string_equal(w, "YOUR_WRITE_KEY");
    const char *bad[] = {"has space"};
    assert_int_equal(ff_catalog_create(c, "t", "T", bad, 1, w, r, err, sizeof err), FF_EINVAL);
    /* a key can open one project only */
    assert_int_equal(ff_catalog_add_key(c, "s", FF_KEY_WRITE, "abc123", w2, err, sizeof err), FF_EINVAL);
    assert_int_equal(ff_catalog_add_key(c, "s", FF_KEY_READ, "chosen", w2, err, sizeof err), FF_EINVAL);

    assert_int_equal(ff_catalog_rotate_key(c, "s", FF_KEY_WRITE, 60, w2, err, sizeof err), 0);
    struct ff_projects p;
    int64_t now = ff_now_us();
    assert_int_equal(ff_catalog_load(c, &p, err, sizeof err), 0);
    assert_non_null(ff_projects_by_write_key(&p, w2, strlen(w2), now));
    assert_non_null(ff_projects_by_write_key(&p, "abc123", 6, now));          /* in its grace */
    assert_null(ff_projects_by_write_key(&p, "abc123", 6, now + 61000000));   /* past it */
    assert_non_null(ff_projects_by_write_key(&p, w2, strlen(w2), now + 61000000));
    ff_projects_free(&p);

    /* rotating again at once ends every older key now, the graced ones included */
    assert_int_equal(ff_catalog_rotate_key(c, "s", FF_KEY_WRITE, 0, w3, err, sizeof err), 0);
    assert_int_equal(ff_catalog_load(c, &p, err, sizeof err), 0);
    now = ff_now_us();
    assert_null(ff_projects_by_write_key(&p, w2, strlen(w2), now));
    assert_null(ff_projects_by_write_key(&p, "YOUR_WRITE_KEY", 14, now));
    assert_non_null(ff_projects_by_write_key(&p, w3, strlen(w3), now));
    assert_non_null(ff_projects_by_read_key(&p, r, strlen(r), now)); /* read keys untouched */
    ff_projects_free(&p);
    assert_int_equal(ff_catalog_rotate_key(c, "nope", FF_KEY_READ, 0, w3, err, sizeof err), FF_EINVAL);
    ff_catalog_close(c);
    test_rmtree(dir);
}

static void test_settings(void **state)
{
    (void)state;
    char dir[256], err[512], w[FF_KEY_MAX + 1], r[FF_KEY_MAX + 1];
    struct ff_catalog *c = open_new(dir, sizeof dir);
    assert_int_equal(ff_catalog_create(c, "a", "A", NULL, 0, w, r, err, sizeof err), 0);
    assert_int_equal(ff_catalog_create(c, "b", "B", NULL, 0, w, r, err, sizeof err), 0);
    assert_int_equal(ff_catalog_set(c, "a", "timezone", "Pacific/Auckland", err, sizeof err), 0);
    assert_int_equal(ff_catalog_set(c, "a", "timezone", "../../etc/passwd", err, sizeof err), FF_EINVAL);
    assert_int_equal(ff_catalog_set(c, "a", "cors-origins", "https://a.example http://localhost:3000", err,
                                    sizeof err), 0);
    assert_int_equal(ff_catalog_set(c, "a", "cors-origins", "https://a.example/path", err, sizeof err), FF_EINVAL);
    assert_int_equal(ff_catalog_set(c, "a", "key-rate", "-1", err, sizeof err), FF_EINVAL);
    assert_int_equal(ff_catalog_set(c, "a", "key-rate", "250", err, sizeof err), 0);
    assert_int_equal(ff_catalog_set(c, "a", "pii-keep", "properties.email", err, sizeof err), 0);
    assert_int_equal(ff_catalog_set(c, "a", "accept-keyless", "on", err, sizeof err), 0);
    assert_int_equal(ff_catalog_set(c, "b", "accept-keyless", "on", err, sizeof err), 0); /* moves to b */
    assert_int_equal(ff_catalog_set(c, "a", "nonsense", "1", err, sizeof err), FF_EINVAL);
    assert_int_equal(ff_catalog_changed(c), 0); /* its own writes are not "another connection" */

    struct ff_catalog *other;
    assert_int_equal(ff_catalog_open(dir, 0, &other, err, sizeof err), 0);
    struct ff_projects p;
    assert_int_equal(ff_catalog_load(other, &p, err, sizeof err), 0);
    const struct ff_project *a = ff_projects_find(&p, "a");
    assert_string_equal(a->timezone, "Pacific/Auckland");
    assert_int_equal(a->key_rate, 250);
    assert_true(ff_project_origin_allowed(a, "https://a.example", 17));
    assert_true(ff_project_origin_allowed(a, "http://localhost:3000", 21));
    assert_false(ff_project_origin_allowed(a, "https://a.exampl", 16));
    assert_false(ff_project_origin_allowed(a, "https://evil.example", 20));
    assert_true(ff_project_origin_allowed(ff_projects_find(&p, "b"), "https://any.example", 19));
    assert_true(ff_listed(a->pii_keep, "properties.email", 16, '.'));
    assert_string_equal(ff_projects_by_write_key(&p, "", 0, ff_now_us())->id, "b");
    ff_projects_free(&p);
    /* a change made elsewhere is seen */
    assert_int_equal(ff_catalog_changed(other), 0);
    assert_int_equal(ff_catalog_set(c, "a", "dnt", "on", err, sizeof err), 0);
    assert_int_equal(ff_catalog_changed(other), 1);
    assert_int_equal(ff_catalog_changed(other), 0);
    ff_catalog_close(other);
    ff_catalog_close(c);
    test_rmtree(dir);
}

/* `path` (which may not exist) holds the n bytes of `needle` somewhere. */
static int file_holds(const char *path, const void *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *data = len > 0 ? malloc((size_t)len) : NULL;
    int found = data && fread(data, 1, (size_t)len, f) == (size_t)len && memmem(data, (size_t)len, needle, n);
    free(data);
    fclose(f);
    return found;
}

static void test_visitor_salts(void **state)
{
    (void)state;
    char dir[256], err[512];
    struct ff_catalog *c = open_new(dir, sizeof dir), *other;
    assert_int_equal(ff_catalog_open(dir, 0, &other, err, sizeof err), 0);
    uint8_t a[32], b[32], y[32], again[32], zero[32] = {0};
    assert_int_equal(ff_catalog_visitor_salt(c, 20000, a), 0);
    assert_int_equal(ff_catalog_visitor_salt(other, 20000, b), 0);
    assert_memory_equal(a, b, 32); /* one salt a day, whoever asks */
    assert_memory_not_equal(a, zero, 32);
    assert_int_equal(ff_catalog_visitor_salt(c, 20001, y), 0);
    assert_memory_not_equal(a, y, 32);
    assert_int_equal(ff_catalog_visitor_salt(other, 20001, b), 0);
    assert_memory_equal(y, b, 32);
    /* two days on, day 20000's salt is gone: from the files too (the database and its log,
     * while both catalogs are open), and asking for it again makes a new one */
    assert_int_equal(ff_catalog_visitor_salt(c, 20002, b), 0);
    static const char *const files[] = {"projects.db", "projects.db-wal"};
    for (size_t i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        assert_false(file_holds(path, a, sizeof a));
        assert_true(file_holds(path, y, sizeof y) || i == 1); /* yesterday's is still there */
    }
    assert_int_equal(ff_catalog_visitor_salt(c, 20000, again), 0);
    assert_memory_not_equal(a, again, 32);
    ff_catalog_close(other);
    ff_catalog_close(c);
    test_rmtree(dir);
}

static void test_stored_project_rule(void **state)
{
    (void)state;
    assert_true(ff_in_project((struct ff_str){"shop", 4}, "shop"));
    assert_false(ff_in_project((struct ff_str){"shop", 4}, "sho"));
    assert_false(ff_in_project((struct ff_str){"sho", 3}, "shop"));
    assert_true(ff_in_project((struct ff_str){"", 0}, FF_DEFAULT_PROJECT)); /* from before projects */
    assert_false(ff_in_project((struct ff_str){"", 0}, "shop"));
    assert_true(ff_in_project((struct ff_str){"x", 1}, NULL));
}

static void test_rate_buckets(void **state)
{
    (void)state;
    struct ff_ratelimit *rl;
    assert_int_equal(ff_ratelimit_new(&rl), 0);
    int64_t t = 1000000000;
    /* 10 per second: a full bucket lets a batch of 25 through, then the debt makes the next wait */
    assert_int_equal(ff_ratelimit_take(rl, 42, 10, 25, t), 0);
    uint32_t wait = ff_ratelimit_take(rl, 42, 10, 1, t);
    assert_int_equal(wait, 2); /* -15 tokens: 1.6 s until one is back */
    assert_true(ff_ratelimit_take(rl, 42, 10, 1, t + 1500000) > 0);
    assert_int_equal(ff_ratelimit_take(rl, 42, 10, 1, t + 1700000), 0);
    /* other keys have their own buckets; rate 0 means no limit */
    assert_int_equal(ff_ratelimit_take(rl, 43, 10, 5, t), 0);
    assert_int_equal(ff_ratelimit_take(rl, 42, 0, 1000000, t), 0);
    /* many keys: the table makes room, and a key pushed out comes back full */
    for (uint64_t k = 1000; k < 200000; k++) ff_ratelimit_take(rl, k * 0x9e3779b97f4a7c15ull, 1, 1, t + 2000000);
    assert_int_equal(ff_ratelimit_take(rl, 43, 10, 1, t + 3000000), 0);
    ff_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_open_their_project_only), cmocka_unit_test(test_rotation_grace_and_given_keys),
        cmocka_unit_test(test_settings),                     cmocka_unit_test(test_stored_project_rule),
        cmocka_unit_test(test_rate_buckets),                 cmocka_unit_test(test_visitor_salts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
