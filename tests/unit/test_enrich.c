/* test_enrich.c - the enrichment stage (enrich/enrich.h) on events as normalisation leaves
 * them: where the user agent and the IP address come from, GeoIP with the free country
 * database the set-up installs (and the MaxMind layout's fields), and the IP setting applied
 * to the stored context, including a context the scanner gives up on. */
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include "testutil.h"

#include "core/errors.h"
#include "enrich/channel.h"
#include "enrich/enrich.h"
#include "enrich/geoip.h"
#include "enrich/pii.h"

static const char *const CHROME =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 "
    "Safari/537.36";

static struct ff_enricher *open_enricher(int ip_mode)
{
    struct ff_enrich_opts o = {.ip_mode = ip_mode};
    struct ff_enricher *e = NULL;
    char err[512];
    int rc = ff_enricher_open(&e, &o, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    assert_true(ff_enricher_has_ua(e));
    assert_true(ff_enricher_has_geoip(e)); /* scripts/setup installs the npm database */
    return e;
}

static struct ff_str S(const char *s) { return (struct ff_str){s, (uint32_t)strlen(s)}; }

static int eq(struct ff_str a, const char *b) { return a.len == strlen(b) && (!a.len || !memcmp(a.p, b, a.len)); }

/* Enriches an event whose stored context is `context`; the event is left in *ev. */
static void run(struct ff_enricher *e, const char *context, const char *header_ua, const char *peer, int browser_sent,
                struct ff_event *ev, struct ff_enriched *en)
{
    memset(ev, 0, sizeof *ev);
    ev->context = S(context);
    /* browser_sent 2: a back-fill (/api/import), whose request address is nobody's */
    struct ff_enrich_request rq = {.user_agent = S(header_ua), .peer_ip = S(peer), .browser_sent = browser_sent == 1,
                                   .peer_is_person = browser_sent != 2};
    assert_int_equal(ff_enrich_event(e, &rq, ev, en), 0);
}

static void expect_context(const struct ff_event *ev, const char *want)
{
    if (!eq(ev->context, want)) fprintf(stderr, "context: %.*s\nwanted:  %s\n", (int)ev->context.len, ev->context.p, want);
    assert_true(eq(ev->context, want));
}

static void test_user_agent_sources(void **state)
{
    (void)state;
    struct ff_enricher *e = open_enricher(FF_IP_KEEP);
    struct ff_enriched en;
    ff_enriched_init(&en);
    struct ff_event ev;
    char ctx[512];
    snprintf(ctx, sizeof ctx, "{\"userAgent\":\"%s\"}", CHROME);
    run(e, ctx, "curl/8.0", "", 0, &ev, &en);
    assert_true(eq(ev.browser, "Chrome") && eq(ev.browser_version, "120.0.6099") && eq(ev.os, "Windows"));
    assert_true(eq(ev.device_type, "desktop") && !ev.bot);
    /* no context.userAgent: the header only for what a browser sends itself */
    run(e, "{\"library\":{\"name\":\"x\"}}", CHROME, "", 0, &ev, &en);
    assert_int_equal(ev.browser.len, 0);
    run(e, "", CHROME, "", 1, &ev, &en);
    assert_true(eq(ev.browser, "Chrome"));
    /* escapes in the stored text: \/ and \" and \u00e9 are read as their characters */
    run(e,
        "{\"userAgent\":\"Mozilla\\/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit\\/537.36 (KHTML, like Gecko) "
        "Chrome\\/120.0.6099.109 Safari\\/537.36 \\\"q\\\" \\u00e9\\ud83d\\ude00\"}",
        "", "", 0, &ev, &en);
    assert_true(eq(ev.browser, "Chrome") && eq(ev.browser_version, "120.0.6099") && eq(ev.os, "Windows"));
    /* only the top-level member counts, and only a string */
    run(e, "{\"page\":{\"userAgent\":\"curl/8.0\"},\"userAgent\":42}", "", "", 0, &ev, &en);
    assert_int_equal(ev.browser.len, 0);
    assert_false(ev.bot);
    ff_enriched_free(&en);
    ff_enricher_close(e);
}

static void test_geoip_lookups(void **state)
{
    (void)state;
    char path[PATH_MAX], err[512];
    assert_int_equal(ff_enrich_default_geoip(path, sizeof path), 0);
    struct ff_geoip *g;
    assert_int_equal(ff_geoip_open(&g, path, err, sizeof err), 0);
    struct ff_geo geo;
    assert_int_equal(ff_geoip_lookup(g, "8.8.8.8", 7, &geo), 1);
    assert_string_equal(geo.country, "US");
    assert_string_equal(geo.city, "");
    assert_int_equal(ff_geoip_lookup(g, "2001:4860:4860::8888", 20, &geo), 1);
    assert_string_equal(geo.country, "US");
    /* not addresses, or not in the database */
    static const char *const no[] = {"", "127.0.0.1", "10.1.2.3", "999.1.1.1", "8.8.8.8:80", "[::1]", "example.org",
                                     "8.8.8.8\n"};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        assert_int_equal(ff_geoip_lookup(g, no[i], strlen(no[i]), &geo), 0);
        assert_string_equal(geo.country, "");
    }
    assert_int_equal(ff_geoip_lookup(g, "8.8.8.8\0x", 9, &geo), 0); /* a NUL inside */
    /* through the thread's cache: the same answers, with more addresses than its slots (so
     * slots are taken over) and each asked for several times in a shuffled order */
    test_rng_init(7);
    enum { NADDR = 3 * FF_GEO_CACHE };
    static char addr[NADDR][FF_IP_TEXT];
    for (int i = 0; i < NADDR; i++) {
        if (i % 97 == 0) snprintf(addr[i], sizeof addr[i], "2001:4860:%x::%x", i, i % 7);
        else if (i % 89 == 0) snprintf(addr[i], sizeof addr[i], "not-an-ip-%d", i);
        else snprintf(addr[i], sizeof addr[i], "%d.%d.%d.%d", 1 + (int)test_randn(222), (int)test_randn(256),
                      (int)test_randn(256), 1 + (int)test_randn(254));
    }
    int hits = 0;
    for (int round = 0; round < 4 * NADDR; round++) {
        const char *a = addr[round < NADDR ? round : (int)test_randn(NADDR)];
        struct ff_geo want, got;
        int wf = ff_geoip_lookup(g, a, strlen(a), &want), gf = ff_geoip_lookup_cached(g, a, strlen(a), &got);
        assert_int_equal(gf, wf);
        assert_memory_equal(&got, &want, sizeof got);
        hits += wf;
    }
    assert_true(hits > NADDR); /* most are in the database: the cache holds real answers */
    ff_geoip_close(g);
    /* not a database: the error names the file */
    char dir[256], bad[300];
    assert_int_equal(test_mkdtemp(dir, sizeof dir, "geo"), 0);
    snprintf(bad, sizeof bad, "%s/x.mmdb", dir);
    FILE *f = fopen(bad, "w");
    fputs("not a maxmind db", f);
    fclose(f);
    assert_int_equal(ff_geoip_open(&g, bad, err, sizeof err), FF_EINVAL);
    assert_non_null(strstr(err, bad));
    snprintf(bad, sizeof bad, "%s/missing.mmdb", dir);
    assert_int_equal(ff_geoip_open(&g, bad, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "missing.mmdb"));
    test_rmtree(dir);
}

static void test_ip_truncation(void **state)
{
    (void)state;
    char out[FF_IP_TEXT];
    static const char *const cases[][2] = {
        {"203.0.113.77", "203.0.113.0"}, {"8.8.8.8", "8.8.8.0"}, {"2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"},
        {"::1", "::"}, {"::ffff:1.2.3.4", "1.2.3.0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(ff_ip_truncate(cases[i][0], strlen(cases[i][0]), out), 0);
        assert_string_equal(out, cases[i][1]);
    }
    assert_int_equal(ff_ip_truncate("nope", 4, out), -1);
    assert_int_equal(ff_ip_mode_parse("drop"), FF_IP_DROP);
    assert_int_equal(ff_ip_mode_parse("truncate"), FF_IP_TRUNCATE);
    assert_int_equal(ff_ip_mode_parse("keep"), FF_IP_KEEP);
    assert_int_equal(ff_ip_mode_parse("Keep"), -1);
}

/* The IP setting on the stored context: drop removes context.ip (other members as they were),
 * truncate stores the truncated address, keep stores what came (the peer's when the context
 * had none); geo uses the full address in every mode. */
static void test_ip_settings(void **state)
{
    (void)state;
    static const struct {
        int mode;
        const char *context, *peer, *want_context, *want_country;
    } cases[] = {
        {FF_IP_DROP, "{\"ip\":\"8.8.8.8\",\"locale\":\"en-US\"}", "127.0.0.1", "{\"locale\":\"en-US\"}", "US"},
        {FF_IP_DROP, "{\"library\":{\"name\":\"a\"},\"ip\":\"8.8.8.8\"}", "", "{\"library\":{\"name\":\"a\"}}", "US"},
        {FF_IP_DROP, "{\"ip\":\"8.8.8.8\"}", "", "", "US"},
        {FF_IP_DROP, "{\"ip\":42}", "8.8.4.4", "", ""},            /* not a string: dropped, and not the peer's */
        {FF_IP_KEEP, "{\"ip\":null}", "8.8.4.4", "{\"ip\":null}", ""},
        {FF_IP_TRUNCATE, "{\"ip\":null}", "8.8.4.4", "", ""},
        /* "ip" twice (JSON allows it): every one goes */
        {FF_IP_DROP, "{\"ip\":\"8.8.8.8\",\"a\":1,\"ip\":\"8.8.4.4\"}", "", "{\"a\":1}", "US"},
        {FF_IP_TRUNCATE, "{\"ip\":\"8.8.8.8\",\"ip\":\"8.8.4.4\"}", "", "{\"ip\":\"8.8.4.0\"}", "US"},
        /* an IPv4 client of a dual-stack socket */
        {FF_IP_TRUNCATE, "", "::ffff:8.8.4.4", "{\"ip\":\"8.8.4.0\"}", "US"},
        {FF_IP_DROP, "", "8.8.4.4", "", "US"},                       /* the peer's address serves geo only */
        {FF_IP_DROP, "{\"locale\":\"de\"}", "", "{\"locale\":\"de\"}", ""},
        {FF_IP_TRUNCATE, "{\"ip\":\"8.8.8.8\",\"locale\":\"en-US\"}", "", "{\"locale\":\"en-US\",\"ip\":\"8.8.8.0\"}", "US"},
        {FF_IP_TRUNCATE, "", "2001:4860:4860::8888", "{\"ip\":\"2001:4860:4860::\"}", "US"},
        {FF_IP_TRUNCATE, "{\"ip\":\"not an address\"}", "", "", ""},
        {FF_IP_KEEP, "{\"ip\":\"8.8.8.8\"}", "1.1.1.1", "{\"ip\":\"8.8.8.8\"}", "US"},
        {FF_IP_KEEP, "{\"locale\":\"en\"}", "8.8.4.4", "{\"locale\":\"en\",\"ip\":\"8.8.4.4\"}", "US"},
        {FF_IP_KEEP, "", "", "", ""},
        /* a key with an escape, which the scanner leaves to the parser */
        {FF_IP_DROP, "{\"k\\\"ey\":-1.5e+300,\"ip\":\"8.8.8.8\",\"s\":\"\xc3\xa9\"}", "",
         "{\"k\\\"ey\":-1.5e+300,\"s\":\"\xc3\xa9\"}", "US"},
    };
    struct ff_enriched en;
    ff_enriched_init(&en);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ff_enricher *e = open_enricher(cases[i].mode);
        struct ff_event ev;
        run(e, cases[i].context, "", cases[i].peer, 0, &ev, &en);
        if (!eq(ev.context, cases[i].want_context)) fprintf(stderr, "case %zu\n", i);
        if (!eq(ev.country, cases[i].want_country)) fprintf(stderr, "case %zu: country %.*s\n", i, (int)ev.country.len, ev.country.p);
        assert_true(eq(ev.country, cases[i].want_country));
        expect_context(&ev, cases[i].want_context);
        ff_enricher_close(e);
    }
    /* a back-fill: the uploader's address is used for nothing and stored nowhere */
    struct ff_enricher *e = open_enricher(FF_IP_KEEP);
    struct ff_event ev;
    run(e, "{\"locale\":\"en\"}", "", "8.8.4.4", 2, &ev, &en);
    expect_context(&ev, "{\"locale\":\"en\"}");
    assert_int_equal(ev.country.len, 0);
    ff_enricher_close(e);
    ff_enriched_free(&en);
}

/* A batch's events one after another through one ff_enriched: a context and request like the
 * last event's take its answer; any difference (the context, the request's address, the
 * enricher) is worked out again; a cookieless visitor id is always the event's own. */
static void test_repeated_contexts(void **state)
{
    (void)state;
    struct ff_enricher *e = open_enricher(FF_IP_DROP);
    struct ff_enriched en;
    ff_enriched_init(&en);
    const char *ctx = "{\"ip\":\"8.8.8.8\",\"userAgent\":\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
                      "(KHTML, like Gecko) Chrome/120.0 Safari/537.36\",\"locale\":\"en\"}";
    struct ff_event a, b;
    run(e, ctx, "", "127.0.0.1", 0, &a, &en);
    char copy[512];
    snprintf(copy, sizeof copy, "%s", ctx); /* the same bytes elsewhere, as the next event's are */
    run(e, copy, "", "127.0.0.1", 0, &b, &en);
    assert_true(eq(a.country, "US") && eq(b.country, "US"));
    assert_true(eq(b.browser, "Chrome") && eq(b.os, "Linux"));
    expect_context(&b, "{\"userAgent\":\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/120.0 Safari/537.36\",\"locale\":\"en\"}");
    /* a context the setting leaves as it is: the next event's own bytes are stored, not the
     * last event's (whose buffer is gone by then) */
    char first[64], second[64];
    snprintf(first, sizeof first, "{\"locale\":\"fr\"}");
    run(e, first, "", "127.0.0.1", 0, &a, &en);
    assert_ptr_equal(a.context.p, first);
    snprintf(second, sizeof second, "%s", first);
    memset(first, 'x', sizeof first - 1);
    run(e, second, "", "127.0.0.1", 0, &b, &en);
    assert_ptr_equal(b.context.p, second);
    expect_context(&b, "{\"locale\":\"fr\"}");
    /* another context: no address of its own, so the request's (a loopback one: no country) */
    run(e, "{\"locale\":\"en\"}", "", "127.0.0.1", 0, &b, &en);
    assert_int_equal(b.country.len, 0);
    assert_int_equal(b.browser.len, 0);
    expect_context(&b, "{\"locale\":\"en\"}");
    /* the same context from another address */
    run(e, "{\"locale\":\"en\"}", "", "8.8.4.4", 0, &b, &en);
    assert_true(eq(b.country, "US"));
    ff_enricher_close(e);
    /* another enricher (keeping addresses) with the same ff_enriched */
    e = open_enricher(FF_IP_KEEP);
    run(e, "{\"locale\":\"en\"}", "", "8.8.4.4", 0, &b, &en);
    expect_context(&b, "{\"locale\":\"en\",\"ip\":\"8.8.4.4\"}");
    /* cookieless visitors: each event without an anonymous id gets the id of its own address
     * (with a user id too, so that identify links the visitor) */
    uint8_t salt[32] = {1};
    struct ff_enrich_request rq = {.peer_ip = S("8.8.4.4"), .user_agent = S("curl/8"), .browser_sent = 1,
                                   .peer_is_person = 1, .visitor_salt = salt, .project = S("p")};
    memset(&a, 0, sizeof a);
    a.context = S("{\"locale\":\"en\"}");
    assert_int_equal(ff_enrich_event(e, &rq, &a, &en), 0);
    memset(&b, 0, sizeof b);
    b.context = S("{\"locale\":\"en\"}");
    b.user_id = S("u1"); /* a user id: the visitor id all the same */
    assert_int_equal(ff_enrich_event(e, &rq, &b, &en), 0);
    assert_true(a.anonymous_id.len == 19 && b.anonymous_id.len == 19);
    assert_memory_equal(a.anonymous_id.p, b.anonymous_id.p, 19);
    memset(&b, 0, sizeof b);
    b.context = S("{\"locale\":\"en\"}");
    b.anonymous_id = S("cookie-1"); /* an anonymous id of its own: kept */
    assert_int_equal(ff_enrich_event(e, &rq, &b, &en), 0);
    assert_true(b.anonymous_id.len == 8 && !memcmp(b.anonymous_id.p, "cookie-1", 8));
    struct ff_event c;
    memset(&c, 0, sizeof c);
    c.context = S("{\"locale\":\"en\"}");
    assert_int_equal(ff_enrich_event(e, &rq, &c, &en), 0);
    assert_int_equal(c.anonymous_id.len, 19);
    ff_enricher_close(e);
    ff_enriched_free(&en);
}

/* Source and channel of a visit, as the store derives them; and the URL helpers. */
static void test_channels(void **state)
{
    (void)state;
    static const struct {
        const char *page, *referrer, *utm_source, *utm_medium, *want_channel, *want_source;
    } cases[] = {
        {"https://shop.example/", "", "", "", "direct", ""},
        {"https://shop.example/b", "https://shop.example/a", "", "", "internal", ""},
        {"https://shop.example/", "https://www.google.co.uk/", "", "", "search", "google.co.uk"},
        {"https://shop.example/", "https://duckduckgo.com/", "", "", "search", "duckduckgo.com"},
        {"https://shop.example/", "https://l.facebook.com/l.php?u=x", "", "", "social", "l.facebook.com"},
        {"https://shop.example/", "https://t.co/abc", "", "", "social", "t.co"},
        {"https://shop.example/", "https://mail.google.com/mail/u/0/", "", "", "email", "mail.google.com"},
        {"https://shop.example/", "https://blog.example.org/post", "", "", "referral", "blog.example.org"},
        {"https://shop.example/?utm_source=nl", "", "Spring Newsletter", "", "email", "Spring Newsletter"},
        {"https://shop.example/", "https://www.google.com/", "google", "cpc", "paid", "google"},
        {"https://shop.example/", "https://www.bing.com/", "", "", "search", "bing.com"},
        {"https://shop.example/", "", "partner", "", "other", "partner"},
        {"https://shop.example/", "", "fb", "social", "social", "fb"},
        {"", "", "", "", "", ""}, /* a server's event: no visit to speak of */
        {"https://shop.example/", "android-app://com.google.android.gm/", "", "", "email", "com.google.android.gm"},
        {"https://shop.example/", "android-app://com.google.android.googlequicksearchbox/", "", "", "search",
         "com.google.android.googlequicksearchbox"},
        {"https://shop.example/", "android-app://com.example.reader/", "", "", "referral", "com.example.reader"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char source[256];
        size_t n;
        const char *ch = ff_channel(S(cases[i].page), S(cases[i].referrer), S(cases[i].utm_source),
                                    S(cases[i].utm_medium), S(""), source, sizeof source, &n);
        if (strcmp(ch, cases[i].want_channel) || strcmp(source, cases[i].want_source))
            fprintf(stderr, "case %zu: %s / %s\n", i, ch, source);
        assert_string_equal(ch, cases[i].want_channel);
        assert_string_equal(source, cases[i].want_source);
        assert_int_equal(n, strlen(source));
    }
    /* a click id from an ad makes the visit paid; fbclid is on every outbound Facebook link;
     * Microsoft Advertising's msclkid is paid even when Bing's search page is the referrer; an
     * ad's click id is taken before fbclid, which Facebook adds to every outbound link */
    struct ff_buf click;
    ff_buf_init(&click, 4096);
    char source[256];
    size_t n;
    static const struct {
        const char *url, *want, *referrer, *utm_source, *channel;
    } clicks[] = {
        {"https://shop.example/p?x=1&gclid=Cj0K%3D&y#frag", "gclid=Cj0K=", "", "", "paid"},
        {"https://shop.example/p?fbclid=IwAR", "fbclid=IwAR", "https://m.facebook.com/", "", "social"},
        {"https://shop.example/p?utm_source=bing&msclkid=6f1c%2Bd0e&q=1", "msclkid=6f1c+d0e", "https://www.bing.com/",
         "bing", "paid"},
        {"https://shop.example/p?fbclid=IwAR&msclkid=abc", "msclkid=abc", "", "", "paid"},
    };
    for (size_t i = 0; i < sizeof clicks / sizeof clicks[0]; i++) {
        assert_int_equal(ff_click_id((struct ff_str){clicks[i].url, (uint32_t)strlen(clicks[i].url)}, &click), 1);
        assert_int_equal(click.len, strlen(clicks[i].want));
        assert_memory_equal(click.data, clicks[i].want, click.len);
        assert_string_equal(ff_channel(S("https://shop.example/p"),
                                       (struct ff_str){clicks[i].referrer, (uint32_t)strlen(clicks[i].referrer)},
                                       (struct ff_str){clicks[i].utm_source, (uint32_t)strlen(clicks[i].utm_source)},
                                       S(""), (struct ff_str){click.data, (uint32_t)click.len}, source, sizeof source,
                                       &n),
                            clicks[i].channel);
    }
    assert_int_equal(ff_click_id(S("https://shop.example/p?xmsclkid=abc&msclkid="), &click), 0); /* not its name; empty */
    assert_int_equal(ff_click_id(S("https://shop.example/p?gclid="), &click), 0); /* empty */
    assert_int_equal(ff_click_id(S("https://shop.example/p#gclid=x"), &click), 0); /* not the query */
    ff_buf_free(&click);
    char host[64];
    assert_int_equal(ff_url_host(S("HTTPS://user:pw@WWW.Example.COM.:8443/x?y"), host, sizeof host), 11);
    assert_string_equal(host, "example.com");
    assert_int_equal(ff_url_host(S("http://[2001:db8::1]:80/"), host, sizeof host), 13);
    assert_string_equal(host, "[2001:db8::1]");
    assert_int_equal(ff_url_host(S("/relative/path"), host, sizeof host), 0);
    assert_int_equal(ff_url_host(S("mailto:someone@example.com"), host, sizeof host), 0);
}

/* Files named in the options must load; the defaults may be missing when optional. */
static void test_open_errors(void **state)
{
    (void)state;
    char err[512];
    struct ff_enricher *e = NULL;
    struct ff_enrich_opts o = {.geoip = "/nonexistent/city.mmdb", .optional = 1};
    assert_int_equal(ff_enricher_open(&e, &o, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/city.mmdb"));
    assert_null(e);
    o = (struct ff_enrich_opts){.ua_regexes = "/nonexistent/regexes.yaml", .optional = 1};
    assert_int_equal(ff_enricher_open(&e, &o, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/regexes.yaml"));
}

/* The visitor id an event from (ip, ua) of `project` gets with `salt`; "" when none. */
static void visitor_of(struct ff_enricher *e, const uint8_t *salt, const char *project, const char *context,
                       const char *ua, const char *peer, const char *anonymous_id, char out[32])
{
    struct ff_enriched en;
    ff_enriched_init(&en);
    struct ff_event ev;
    memset(&ev, 0, sizeof ev);
    ev.context = S(context);
    ev.anonymous_id = S(anonymous_id);
    struct ff_enrich_request rq = {.user_agent = S(ua), .peer_ip = S(peer), .peer_is_person = 1, .visitor_salt = salt,
                                   .project = S(project), .header_is_persons = 1};
    assert_int_equal(ff_enrich_event(e, &rq, &ev, &en), 0);
    snprintf(out, 32, "%.*s", (int)ev.anonymous_id.len, ev.anonymous_id.p);
    ff_enriched_free(&en);
}

static void test_cookieless_visitor_ids(void **state)
{
    (void)state;
    struct ff_enricher *e = open_enricher(FF_IP_DROP);
    uint8_t salt[32], other_salt[32];
    memset(salt, 7, sizeof salt);
    memset(other_salt, 8, sizeof other_salt);
    char a[32], b[32];
    visitor_of(e, salt, "shop", "", CHROME, "203.0.113.9", "", a);
    assert_int_equal(strlen(a), 19);
    assert_int_equal(strncmp(a, "cl-", 3), 0);
    visitor_of(e, salt, "shop", "", CHROME, "203.0.113.9", "", b);
    assert_string_equal(a, b);
    /* context.ip and context.userAgent speak for the person, as for geo and the browser */
    visitor_of(e, salt, "shop", "{\"ip\":\"203.0.113.9\",\"userAgent\":\"x\"}", CHROME, "10.0.0.1", "", b);
    char c[32];
    visitor_of(e, salt, "shop", "", "x", "203.0.113.9", "", c);
    assert_string_equal(b, c);
    /* any input changed: another visitor */
    const char *inputs[][3] = {{"app", CHROME, "203.0.113.9"}, {"shop", "curl/8.0", "203.0.113.9"},
                               {"shop", CHROME, "203.0.113.10"}};
    for (size_t i = 0; i < 3; i++) {
        visitor_of(e, salt, inputs[i][0], "", inputs[i][1], inputs[i][2], "", b);
        assert_string_not_equal(a, b);
    }
    visitor_of(e, other_salt, "shop", "", CHROME, "203.0.113.9", "", b); /* tomorrow */
    assert_string_not_equal(a, b);
    /* an id of its own is kept; no address or no salt: none is made */
    visitor_of(e, salt, "shop", "", CHROME, "203.0.113.9", "mine", b);
    assert_string_equal(b, "mine");
    visitor_of(e, salt, "shop", "", CHROME, "", "", b);
    assert_string_equal(b, "");
    visitor_of(e, NULL, "shop", "", CHROME, "203.0.113.9", "", b);
    assert_string_equal(b, "");
    ff_enricher_close(e);
}

/* Plain text in, masked text out ("" when nothing matched). */
static void expect_masked(const char *in, const char *want)
{
    struct ff_buf out;
    ff_buf_init(&out, 1 << 20);
    int changed = -1;
    assert_int_equal(ff_pii_scrub_text(in, strlen(in), &out, &changed), 0);
    if (!*want) {
        if (changed) fprintf(stderr, "masked unexpectedly: %s -> %.*s\n", in, (int)out.len, out.data);
        assert_int_equal(changed, 0);
        assert_int_equal(out.len, 0);
    } else {
        assert_int_equal(changed, 1);
        if (out.len != strlen(want) || memcmp(out.data, want, out.len))
            fprintf(stderr, "%s\n  got  %.*s\n  want %s\n", in, (int)out.len, out.data, want);
        assert_int_equal(out.len, strlen(want));
        assert_memory_equal(out.data, want, out.len);
    }
    ff_buf_free(&out);
}

static void test_pii_masking(void **state)
{
    (void)state;
    expect_masked("write to john.doe+news@mail.example.co.uk today", "write to [email] today");
    expect_masked("https://shop.example/?email=jane%40example.com&step=2", "https://shop.example/?email=[email]&step=2");
    expect_masked("+44 20 7946 0958", "[phone]");
    expect_masked("+14155552671", "[phone]");
    expect_masked("call (555) 123-4567 or 555-123-4567", "call [phone] or [phone]");
    expect_masked("4111 1111 1111 1111 / 5500-0000-0000-0004 / 378282246310005",
                  "[card] / [card] / [card]");
    /* left alone: ids, timestamps, IPs, versions, dates, decimals, numbers failing Luhn, no TLD */
    expect_masked("order 1234567890123 at 1732900000000", "");
    expect_masked("4111111111111112", "");
    expect_masked("from 192.168.100.200 with Chrome 120.0.6099.109", "");
    expect_masked("2026-11-29 10:00:00 and 2026-11-29T10:00:00Z", "");
    expect_masked("total 1 234 567 890.50", "");
    expect_masked("user@localhost and @handle and a@b", "");
    expect_masked("sku A-123-456-789-X", "");

    /* JSON: string values only, paths for pii-keep, escapes, nesting */
    const char *json = "{\"email\":\"a@b.io\",\"keep\":{\"me\":\"k@b.io\"},\"n\":42,"
                       "\"list\":[\"+1 415 555 2671\",{\"x\":\"c@d.io\"}],\"esc\":\"q\\\"e@f.io\\n4111111111111111\","
                       "\"a@b.io\":1}";
    struct ff_buf out;
    ff_buf_init(&out, 1 << 20);
    int changed;
    assert_int_equal(ff_pii_scrub_json(json, strlen(json), "properties", "properties.keep", &out, &changed), 0);
    assert_int_equal(changed, 1);
    const char *want = "{\"email\":\"[email]\",\"keep\":{\"me\":\"k@b.io\"},\"n\":42,"
                       "\"list\":[\"[phone]\",{\"x\":\"[email]\"}],\"esc\":\"q\\\"[email]\\n[card]\","
                       "\"a@b.io\":1}";
    if (out.len != strlen(want) || memcmp(out.data, want, out.len)) fprintf(stderr, "got %.*s\n", (int)out.len, out.data);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    /* keys are never masked; a listed prefix keeps everything under it */
    ff_buf_reset(&out);
    assert_int_equal(ff_pii_scrub_json(json, strlen(json), "properties", "properties.list properties.email properties.esc properties.keep", &out,
                                       &changed), 0);
    assert_int_equal(changed, 0);
    assert_int_equal(out.len, 0);
    ff_buf_free(&out);
}

/* The quick look (ff_pii_may_match) lets through every text the careful walk masks, at every
 * alignment (runs of digit groups and addresses across its 16-byte steps), and stops most
 * texts without a match: random JSON-ish texts from a small alphabet, compared with the walk. */
static void test_pii_quick_look(void **state)
{
    (void)state;
    static const char alphabet[] = "0123456789012345678901234567890123456789 -()+@.%4ab\\\":,{}x.comnoqz";
    test_rng_init(31);
    struct ff_buf out;
    ff_buf_init(&out, 1 << 20);
    size_t matched = 0, stopped = 0;
    char text[200];
    for (int round = 0; round < 200000; round++) {
        size_t n = (size_t)test_randn(sizeof text);
        for (size_t i = 0; i < n; i++) text[i] = alphabet[test_randn(sizeof alphabet - 1)];
        int changed = 0;
        ff_buf_reset(&out);
        assert_int_equal(ff_pii_scrub_json_walk(text, n, "properties", NULL, &out, &changed), 0);
        int may = ff_pii_may_match(text, n);
        if (changed) assert_int_equal(may, 1), matched++;
        int tchanged = 0;
        ff_buf_reset(&out);
        assert_int_equal(ff_pii_scrub_text(text, n, &out, &tchanged), 0);
        if (tchanged) assert_int_equal(may, 1);
        stopped += !may;
    }
    assert_true(matched > 1000 && stopped > 1000); /* both sides of the look were exercised */
    /* what every SDK sends: a library name with an '@' that is no address, a user agent */
    const char *ctx = "{\"library\":{\"name\":\"@segment/analytics-node\",\"version\":\"2.1.2\"},"
                      "\"userAgent\":\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36\"}";
    assert_int_equal(ff_pii_may_match(ctx, strlen(ctx)), 0);
    const char *at16 = "{\"a\":\"xxxxxxxxxxxx 12345\",\"b\":\"6789 x\",\"c\":\"0000 0000 0\"}";
    assert_int_equal(ff_pii_may_match(at16, strlen(at16)), 1); /* 9 digits from the 16th byte on */
    /* an order id glued to its letter is no number; the groups after a separator may be */
    const char *order = "{\"orderId\":\"o0000012345-17\",\"revenue\":89.99,\"currency\":\"USD\"}";
    assert_int_equal(ff_pii_may_match(order, strlen(order)), 0);
    const char *glued_then_phone = "{\"n\":\"o123 456 789 012\"}";
    assert_int_equal(ff_pii_may_match(glued_then_phone, strlen(glued_then_phone)), 1);
    int changed = 0;
    ff_buf_reset(&out);
    assert_int_equal(ff_pii_scrub_json(glued_then_phone, strlen(glued_then_phone), "properties", NULL, &out, &changed), 0);
    assert_int_equal(changed, 1);
    ff_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_agent_sources), cmocka_unit_test(test_geoip_lookups),
        cmocka_unit_test(test_ip_truncation),      cmocka_unit_test(test_ip_settings),
        cmocka_unit_test(test_channels),           cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_pii_masking),        cmocka_unit_test(test_pii_quick_look),
        cmocka_unit_test(test_repeated_contexts),        cmocka_unit_test(test_cookieless_visitor_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
