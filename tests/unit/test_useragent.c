/* test_useragent.c - enrich/useragent.h against uap-core's own conformance files (every case
 * of tests/test_ua.yaml, test_os.yaml and test_device.yaml that Debian's uap-core ships),
 * footfall's device type and bot flag on real user agents, the cache, and the YAML reader's
 * errors. */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "testutil.h"

#include "core/errors.h"
#include "enrich/useragent.h"
#include "enrich/yamllist.h"

#define UAP_DIR "/usr/share/uap-core"

static struct ff_ua_parser *parser;

static int setup(void **state)
{
    (void)state;
    char err[512];
    int rc = ff_ua_parser_load(&parser, FF_UA_DEFAULT_REGEXES, err, sizeof err);
    if (rc) fprintf(stderr, "loading %s: %s\n", FF_UA_DEFAULT_REGEXES, err);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    ff_ua_parser_free(parser);
    return 0;
}

/* ---- uap-core's conformance cases ---- */

struct conformance {
    const char *const *fields; /* keys of the test file, NULL-terminated */
    int which;                 /* 0 ua, 1 os, 2 device */
    size_t cases, failed;
};

static const char *field_of(const struct ff_ua *u, int which, int k)
{
    const char *ua[] = {u->family, u->major, u->minor, u->patch};
    const char *os[] = {u->os, u->os_major, u->os_minor, u->os_patch, u->os_patch_minor};
    const char *dev[] = {u->device, u->brand, u->model};
    return which == 0 ? ua[k] : which == 1 ? os[k] : dev[k];
}

static int check_case(void *arg, const struct ff_yaml_item *it)
{
    struct conformance *c = arg;
    const char *s = ff_yaml_get(it, "user_agent_string");
    if (!s) return 0;
    struct ff_ua u;
    if (ff_ua_parse(parser, s, strlen(s), &u)) return -ENOMEM;
    c->cases++;
    for (int k = 0; c->fields[k]; k++) {
        const char *want = ff_yaml_get(it, c->fields[k]);
        const char *got = field_of(&u, c->which, k);
        if (!want) want = "";
        /* footfall keeps FF_UA_FIELD - 1 bytes of a value */
        if (strlen(want) >= FF_UA_FIELD ? strncmp(want, got, strlen(got)) : strcmp(want, got)) {
            if (c->failed++ < 10)
                fprintf(stderr, "line %zu: %s: %s is '%s', uap-core says '%s'\n", it->line, s, c->fields[k], got,
                        want);
            break;
        }
    }
    return 0;
}

static void run_conformance(const char *file, const char *const *fields, int which, size_t at_least)
{
    struct conformance c = {fields, which, 0, 0};
    char err[512], path[256];
    snprintf(path, sizeof path, "%s/%s", UAP_DIR, file);
    int rc = ff_yaml_read_lists(path, check_case, &c, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    fprintf(stderr, "%s: %zu cases, %zu differ\n", file, c.cases, c.failed);
    assert_true(c.cases >= at_least);
    assert_int_equal(c.failed, 0);
}

static void test_uap_ua_cases(void **state)
{
    (void)state;
    static const char *const f[] = {"family", "major", "minor", "patch", NULL};
    run_conformance("tests/test_ua.yaml", f, 0, 1000);
}

static void test_uap_os_cases(void **state)
{
    (void)state;
    static const char *const f[] = {"family", "major", "minor", "patch", "patch_minor", NULL};
    run_conformance("tests/test_os.yaml", f, 1, 400);
}

static void test_uap_device_cases(void **state)
{
    (void)state;
    static const char *const f[] = {"family", "brand", "model", NULL};
    run_conformance("tests/test_device.yaml", f, 2, 10000);
}

/* ---- device type and bot flag ---- */

static void expect(const char *s, const char *browser, const char *os, const char *type, int bot)
{
    struct ff_ua u;
    assert_int_equal(ff_ua_parse(parser, s, strlen(s), &u), 0);
    if (strcmp(u.family, browser) || strcmp(u.os, os) || strcmp(u.device_type, type) || u.bot != bot)
        fprintf(stderr, "%s\n  -> %s / %s / %s / bot %d\n", s, u.family, u.os, u.device_type, u.bot);
    assert_string_equal(u.family, browser);
    assert_string_equal(u.os, os);
    assert_string_equal(u.device_type, type);
    assert_int_equal(u.bot, bot);
}

static void test_device_types(void **state)
{
    (void)state;
    static const struct {
        const char *ua, *browser, *os, *type;
        int bot;
    } cases[] = {
        {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
         "Safari/537.36", "Chrome", "Windows", "desktop", 0},
        {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
         "Safari/605.1.15", "Safari", "Mac OS X", "desktop", 0},
        {"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox", "Linux", "desktop", 0},
        {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.1 Mobile/15E148 Safari/604.1", "Mobile Safari", "iOS", "mobile", 0},
        {"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile "
         "Safari/537.36", "Chrome Mobile", "Android", "mobile", 0},
        {"Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
         "Mobile/15E148 Safari/604.1", "Mobile Safari", "iOS", "tablet", 0},
        {"Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
         "Safari/537.36", "Chrome", "Android", "tablet", 0},
        {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot", "Other", "bot", 1},
        {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 "
         "Safari/537.36", "HeadlessChrome", "Linux", "bot", 1},
        {"curl/8.4.0", "curl", "Other", "bot", 1},
        {"python-requests/2.31.0", "Python Requests", "Other", "bot", 1},
        /* a server-side SDK sends no user agent: unknown, not a bot */
        {"", "", "", "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect(cases[i].ua, cases[i].browser, cases[i].os, cases[i].type, cases[i].bot);
}

static void test_versions(void **state)
{
    (void)state;
    const char *s = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                    "Chrome/120.0.6099.109 Safari/537.36";
    struct ff_ua u;
    assert_int_equal(ff_ua_parse(parser, s, strlen(s), &u), 0);
    char v[FF_UA_FIELD];
    ff_ua_browser_version(&u, v);
    assert_string_equal(v, "120.0.6099");
    ff_ua_os_version(&u, v);
    assert_string_equal(v, "10");
}

/* Any bytes: invalid UTF-8, NULs, a string far past the matched length. */
static void test_hostile_input(void **state)
{
    (void)state;
    char big[8192];
    static const char bytes[] = "(;/ 0aZ\x80\xff";
    for (size_t i = 0; i < sizeof big; i++) big[i] = bytes[i % (sizeof bytes - 1)];
    struct ff_ua u;
    assert_int_equal(ff_ua_parse(parser, big, sizeof big, &u), 0);
    assert_true(strlen(u.family) < FF_UA_FIELD);
    const char nul[] = "Mozilla/5.0\0 (Windows NT 10.0) Chrome/1.2";
    assert_int_equal(ff_ua_parse(parser, nul, sizeof nul - 1, &u), 0);
}

/* ---- the cache ---- */

static void test_cache_hits_and_bound(void **state)
{
    (void)state;
    struct ff_ua_cache *c = ff_ua_cache_new(parser, 64);
    assert_non_null(c);
    const char *s = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
    struct ff_ua_brief a, b;
    assert_int_equal(ff_ua_cache_get(c, s, strlen(s), &a), 0);
    assert_int_equal(ff_ua_cache_get(c, s, strlen(s), &b), 0);
    assert_memory_equal(&a, &b, sizeof a);
    assert_string_equal(a.browser, "Firefox");
    assert_int_equal(a.browser_len, 7);
    assert_string_equal(a.browser_version, "121.0");
    assert_string_equal(a.os, "Linux");
    assert_string_equal(a.device_type, "desktop");
    uint64_t hits, misses;
    ff_ua_cache_counts(c, &hits, &misses);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 1);
    /* many distinct strings: the cache stays bounded and still answers right */
    for (int i = 0; i < 2000; i++) {
        char ua[128];
        int n = snprintf(ua, sizeof ua, "Mozilla/5.0 (X11; Linux x86_64; rv:%d.0) Gecko/20100101 Firefox/%d.0", i,
                         i);
        assert_int_equal(ff_ua_cache_get(c, ua, (size_t)n, &a), 0);
        char want[16];
        snprintf(want, sizeof want, "%d.0", i);
        assert_string_equal(a.browser, "Firefox");
        assert_string_equal(a.browser_version, want);
    }
    ff_ua_cache_free(c);
}

static void *hammer(void *arg)
{
    struct ff_ua_cache *c = arg;
    static const char *const uas[] = {"curl/8.4.0", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
                                      "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15"};
    for (int i = 0; i < 3000; i++) {
        struct ff_ua_brief u;
        const char *s = uas[i % 3];
        if (ff_ua_cache_get(c, s, strlen(s), &u)) return (void *)1;
        if (strcmp(u.browser, i % 3 == 0 ? "curl" : i % 3 == 1 ? "Firefox" : "Mobile Safari UI/WKWebView"))
            return (void *)2;
    }
    return NULL;
}

static void test_cache_threads(void **state)
{
    (void)state;
    struct ff_ua_cache *c = ff_ua_cache_new(parser, 1024);
    assert_non_null(c);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, hammer, c), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    ff_ua_cache_free(c);
}

/* ---- loading errors ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_errors(void **state)
{
    (void)state;
    char dir[256], path[300], err[512];
    assert_int_equal(test_mkdtemp(dir, sizeof dir, "ua"), 0);
    snprintf(path, sizeof path, "%s/regexes.yaml", dir);
    struct ff_ua_parser *p = NULL;

    assert_int_equal(ff_ua_parser_load(&p, "/nonexistent/regexes.yaml", err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/regexes.yaml"));

    /* each file, and what the error must say */
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"user_agent_parsers:\n  - regex: '(Chrome/(\\d+)'\nos_parsers:\n  - regex: 'x'\n"
         "device_parsers:\n  - regex: 'y'\n", ":2: regex does not compile"},
        {"user_agent_parsers:\n  - family_replacement: 'X'\n", "without a regex"},
        {"user_agent_parsers:\n  - regex: 'a'\n  - [1, 2]\n", ":3:"},
        {"something: else\n", "not a uap-core regexes file"},
        {"user_agent_parsers:\n  - regex: 'a\n", ":"}, /* not YAML: an unterminated quote */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_file(path, bad[i].text);
        err[0] = 0;
        assert_int_equal(ff_ua_parser_load(&p, path, err, sizeof err), FF_EINVAL);
        if (!strstr(err, bad[i].says)) fprintf(stderr, "case %zu: %s\n", i, err);
        assert_non_null(strstr(err, bad[i].says));
        assert_non_null(strstr(err, path));
    }
    assert_null(p);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uap_ua_cases),   cmocka_unit_test(test_uap_os_cases),
        cmocka_unit_test(test_uap_device_cases), cmocka_unit_test(test_device_types),
        cmocka_unit_test(test_versions),       cmocka_unit_test(test_hostile_input),
        cmocka_unit_test(test_cache_hits_and_bound), cmocka_unit_test(test_cache_threads),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
