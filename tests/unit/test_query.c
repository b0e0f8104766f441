/* test_query.c - the two readers of query rows (query/colscan.h) give the same answers.
 *
 * Generated events of three projects (pages with and without a path field, screens, track
 * calls, identify calls that merge devices into users, bots, campaigns, countries) go into a
 * store whose parts have blocks of 64 rows, so that every part has many blocks and a
 * dictionary cache must hold across them; part of them stay in memory. Every query below is
 * answered with parts read as column vectors and again with every part read as events
 * (FOOTFALL_QUERY_EVENTS=1), and the answers must be byte for byte the same. The event reader
 * is itself checked against brute-force models in tests/integration/test_query.py. A store
 * of its own, with one block damaged, shows the column reader skipping blocks by time and by
 * event name without reading them. */
#include <dirent.h>
#include <pthread.h>
#include <unistd.h>

#include "testutil.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "query/query.h"
#include "query/query_int.h"
#include "store/part.h"
#include "store/props.h"
#include "store/store.h"

#include "prune_fixture.h"

#define DAY_US (86400LL * 1000000LL)
#define T0 (20750LL * DAY_US) /* 2026-10-23 */

struct fx {
    char dir[128];
    struct ff_store *s;
    uint64_t next_seq;
};

static uint64_t rng = 42;
static uint32_t pick(uint32_t n)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static struct ff_str S(const char *s) { return (struct ff_str){s, (uint32_t)strlen(s)}; }

/* Hands n generated events to the store as the WAL would. */
static void add_events(struct fx *f, int n)
{
    static const char *const names[] = {"Product Viewed", "Product Added", "Order Completed", "Signed Up"};
    static const char *const countries[] = {"DE", "US", "FR", ""};
    static const char *const browsers[] = {"Chrome", "Firefox", "Safari"};
    static const char *const projects[] = {"", "alpha", "beta"};
    struct ff_buf b;
    ff_buf_init(&b, 1 << 24);
    for (int i = 0; i < n; i++) {
        char mid[48], anon[40], user[16], props[256], ctx[256], traits[96];
        uint32_t dev = pick(40);
        snprintf(mid, sizeof mid, "m-%llu", (unsigned long long)(f->next_seq + (uint64_t)i));
        snprintf(anon, sizeof anon, "%08x-0000-4000-8000-%012x", dev, dev * 7);
        snprintf(user, sizeof user, "user%u", dev % 6);
        struct ff_event ev = {.format = FF_FMT_SEGMENT, .original_timestamp_us = FF_TIME_NONE,
                              .sent_at_us = FF_TIME_NONE, .received_at_us = T0};
        ev.timestamp_us = T0 + (int64_t)pick(4 * 24 * 60) * 60000000LL + (int64_t)pick(3) * 1000000;
        ev.message_id = S(mid);
        ev.anonymous_id = S(anon);
        ev.project = S(projects[dev % 3]);
        ev.country = S(countries[pick(4)]);
        ev.browser = S(browsers[dev % 3]);
        ev.bot = dev == 7;
        props[0] = ctx[0] = '\0';
        uint32_t kind = pick(10);
        if (kind < 4) {
            ev.type = FF_EV_PAGE;
            uint32_t p = pick(6);
            if (p < 4) /* a path field, else only the URL (whose path the query derives) */
                snprintf(props, sizeof props, "{\"url\":\"https://shop.test/p/%u?x=%u\",\"path\":\"/p/%u\"}", p, pick(9), p);
            else
                snprintf(props, sizeof props, "{\"url\":\"https://shop.test/q/%u?utm_source=news\"}", p);
            if (pick(5) == 0)
                snprintf(ctx, sizeof ctx, "{\"campaign\":{\"source\":\"mail\",\"medium\":\"email\",\"name\":\"fall\"}}");
        } else if (kind < 5) {
            ev.type = FF_EV_SCREEN;
            ev.name = S(pick(2) ? "Home" : "Cart");
        } else if (kind < 6 && dev % 4 == 0) {
            ev.type = FF_EV_IDENTIFY; /* this device becomes a user: its persons merge */
            ev.user_id = S(user);
            static const char *const tplans[] = {"pro", "team", "free"};
            if (pick(4)) snprintf(traits, sizeof traits, "{\"plan\":\"%s\",\"age\":%u}", tplans[pick(3)], pick(60));
            else snprintf(traits, sizeof traits, "{\"age\":%u}", pick(60));
            ev.traits = S(traits);
        } else {
            ev.type = FF_EV_TRACK;
            ev.event = S(names[pick(4)]);
            /* typed columns (amount, plan, price, vip) with values of another kind now and
             * then (kept in the rest), an empty string, an escaped one, a key given twice;
             * keys no column takes: nested, mixed kinds, rare */
            static const char *const plans[] = {"pro", "team", "free", "", "pro \\\"x\\\""};
            uint32_t a = pick(100), pr = pick(40);
            size_t o = (size_t)snprintf(props, sizeof props, "{\"amount\":");
            o += (size_t)(pick(15) ? snprintf(props + o, sizeof props - o, "%u", a) : snprintf(props + o, sizeof props - o, "\"n/a\""));
            if (pick(30) == 0) o += (size_t)snprintf(props + o, sizeof props - o, ",\"plan\":7");
            else if (pick(4)) o += (size_t)snprintf(props + o, sizeof props - o, ",\"plan\":\"%s\"", plans[pick(5)]);
            o += (size_t)snprintf(props + o, sizeof props - o, ",\"price\":%u.%s", pr, pr % 3 ? "5" : "0");
            if (pick(3)) o += (size_t)snprintf(props + o, sizeof props - o, ",\"vip\":%s", pick(2) ? "true" : "false");
            if (pick(3) == 0) o += (size_t)snprintf(props + o, sizeof props - o, ",\"item\":{\"sku\":\"A%u\"}", pick(3));
            if (pick(2)) o += (size_t)snprintf(props + o, sizeof props - o, pick(2) ? ",\"mixed\":%u" : ",\"mixed\":\"a%u\"", pick(4));
            if (pick(20) == 0) o += (size_t)snprintf(props + o, sizeof props - o, ",\"coupon\":\"C%u\"", pick(2));
            if (pick(50) == 0) o += (size_t)snprintf(props + o, sizeof props - o, ",\"plan\":\"twice\"");
            snprintf(props + o, sizeof props - o, "}");
            if (dev % 5 == 0) ev.user_id = S(user);
        }
        ev.properties = S(props);
        ev.context = S(ctx);
        assert_int_equal(ff_event_encode(&b, &ev), 0);
    }
    ff_store_on_durable(f->s, f->next_seq, b.data, b.len, NULL, 0);
    f->next_seq += (uint64_t)n;
    ff_buf_free(&b);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (test_mkdtemp(f->dir, sizeof f->dir, "query")) return -1;
    f->next_seq = 1;
    char err[512] = "";
    struct ff_store_opts o = {.dir = f->dir, .flush_interval_us = 3600LL * 1000000, .block_rows = 64,
                              .wal_keep_us = DAY_US, .manual_flush = 1};
    if (ff_store_open(&f->s, &o, err, sizeof err)) {
        print_error("open: %s\n", err);
        return -1;
    }
    /* two parts a day, then some in memory */
    add_events(f, 3000);
    if (ff_store_flush(f->s)) return -1;
    /* this part's typed columns are planned from a few rows: values of another kind in the
     * rows it did not look at stay in the rest, beside the typed column */
    ff_props_sample = 16;
    add_events(f, 2000);
    int rc = ff_store_flush(f->s);
    ff_props_sample = 4096;
    if (rc) return -1;
    add_events(f, 500);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ff_store_close(f->s);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static void answer(struct fx *f, const char *q, const char *project, int events, struct ff_buf *out)
{
    if (events) setenv("FOOTFALL_QUERY_EVENTS", "1", 1);
    else unsetenv("FOOTFALL_QUERY_EVENTS");
    const char *field;
    ff_buf_reset(out);
    int status = ff_query_answer(f->s, q, strlen(q), T0 + 5 * DAY_US, project, "UTC", NULL, out, &field);
    unsetenv("FOOTFALL_QUERY_EVENTS");
    if (status != 200) print_error("%s: %d %.*s\n", q, status, (int)out->len, out->data);
    assert_int_equal(status, 200);
}

static const char *const queries[] = {
    "{\"kind\":\"trends\",\"event\":\"Product Viewed\",\"interval\":\"hour\"}",
    "{\"kind\":\"trends\",\"measure\":\"unique_persons\",\"breakdown\":\"event\",\"timezone\":\"Europe/Berlin\"}",
    "{\"kind\":\"trends\",\"measure\":\"unique_sessions\",\"breakdown\":\"path\",\"breakdown_limit\":3}",
    "{\"kind\":\"trends\",\"events\":[\"$pageview\",\"$screen\",\"Signed Up\"],\"breakdown\":\"country\"}",
    "{\"kind\":\"trends\",\"breakdown\":\"type\",\"bots\":true,\"interval\":\"week\"}",
    "{\"kind\":\"trends\",\"breakdown\":\"bot\",\"bots\":true}",
    /* blocks inside one interval, counted per event name without reading times */
    "{\"kind\":\"trends\",\"events\":[\"$pageview\",\"Signed Up\",\"\"],\"interval\":\"week\"}",
    "{\"kind\":\"trends\",\"event\":\"$screen\",\"bots\":true,\"timezone\":\"Asia/Kolkata\"}",
    "{\"kind\":\"trends\",\"breakdown\":\"project\"}",
    "{\"kind\":\"trends\",\"breakdown\":\"utm_source\",\"measure\":\"unique_persons\"}",
    "{\"kind\":\"trends\",\"breakdown\":\"name\",\"filters\":[{\"field\":\"type\",\"op\":\"eq\",\"value\":\"screen\"}]}",
    "{\"kind\":\"trends\",\"filters\":[{\"field\":\"path\",\"op\":\"regex\",\"value\":\"^/q/\"}],\"breakdown\":\"url\"}",
    "{\"kind\":\"trends\",\"filters\":[{\"field\":\"country\",\"op\":\"in\",\"value\":[\"DE\",\"FR\"]},"
    "{\"field\":\"browser\",\"op\":\"neq\",\"value\":\"Safari\"}],\"breakdown\":\"browser\"}",
    "{\"kind\":\"trends\",\"filters\":[{\"field\":\"event\",\"op\":\"contains\",\"value\":\"product\"},"
    "{\"field\":\"country\",\"op\":\"exists\"}]}",
    "{\"kind\":\"trends\",\"filters\":[{\"field\":\"utm_medium\",\"op\":\"eq\",\"value\":\"email\"}],\"breakdown\":\"channel\"}",
    "{\"kind\":\"trends\",\"filters\":[{\"field\":\"anonymousId\",\"op\":\"contains\",\"value\":\"0000000a\"}]}",
    "{\"kind\":\"funnel\",\"steps\":[{\"event\":\"$pageview\"},{\"event\":\"Product Viewed\"},{\"event\":\"Order Completed\"}],"
    "\"window\":\"1d\",\"breakdown\":\"country\"}",
    "{\"kind\":\"funnel\",\"order\":\"strict\",\"steps\":[{\"event\":\"Product Viewed\"},{\"event\":\"Product Added\"}],"
    "\"window\":\"2h\",\"persons_at_step\":2,\"limit\":50}",
    "{\"kind\":\"funnel\",\"steps\":[{\"event\":\"$pageview\",\"filters\":[{\"field\":\"path\",\"op\":\"eq\",\"value\":\"/p/1\"}]},"
    "{\"event\":\"$pageview\",\"filters\":[{\"field\":\"path\",\"op\":\"neq\",\"value\":\"/p/1\"}]}],\"window\":\"30m\"}",
    "{\"kind\":\"retention\",\"start_event\":\"Signed Up\",\"return_event\":\"any\",\"period\":\"day\",\"periods\":3}",
    "{\"kind\":\"retention\",\"period\":\"day\",\"periods\":2,\"timezone\":\"America/New_York\"}",
    "{\"kind\":\"paths\",\"depth\":4}",
    "{\"kind\":\"paths\",\"start\":\"Product Viewed\",\"direction\":\"previous\",\"depth\":3}",
    "{\"kind\":\"paths\",\"start\":\"/p/2\",\"depth\":5,\"filters\":[{\"field\":\"bot\",\"op\":\"eq\",\"value\":\"false\"}]}",
    "{\"kind\":\"stickiness\",\"interval\":\"day\"}",
    "{\"kind\":\"stickiness\",\"event\":\"Product Added\",\"interval\":\"hour\"}",
    "{\"kind\":\"lifecycle\",\"interval\":\"day\"}",
    "{\"kind\":\"top\",\"dimension\":\"path\"}",
    "{\"kind\":\"top\",\"dimension\":\"page\",\"filters\":[{\"field\":\"page\",\"op\":\"neq\",\"value\":\"Home\"}]}",
    "{\"kind\":\"top\",\"dimension\":\"entry_page\"}",
    "{\"kind\":\"top\",\"dimension\":\"exit_page\",\"filters\":[{\"field\":\"country\",\"op\":\"eq\",\"value\":\"DE\"}]}",
    "{\"kind\":\"sessions\"}",
    "{\"kind\":\"sessions\",\"filters\":[{\"field\":\"event\",\"op\":\"eq\",\"value\":\"Order Completed\"}],\"limit\":3}",
    "{\"kind\":\"top\",\"dimension\":\"event\",\"bots\":true}",
    "{\"kind\":\"top\",\"dimension\":\"country\",\"filters\":[{\"field\":\"type\",\"op\":\"neq\",\"value\":\"identify\"}]}",
    /* segments: the persons who did something, or a list of ids */
    "{\"kind\":\"trends\",\"measure\":\"unique_persons\",\"segment\":{\"event\":\"Order Completed\",\"min_count\":3}}",
    "{\"kind\":\"funnel\",\"steps\":[{\"event\":\"$pageview\"},{\"event\":\"Product Added\"}],"
    "\"segment\":{\"persons\":[\"user1\",\"00000009-0000-4000-8000-00000000003f\"]}}",
    "{\"kind\":\"sessions\",\"segment\":{\"event\":\"$pageview\",\"filters\":[{\"field\":\"country\",\"op\":\"eq\",\"value\":\"DE\"}]}}",
    "{\"kind\":\"top\",\"dimension\":\"browser\",\"segment\":{\"event\":\"Signed Up\",\"from\":\"2026-10-24\",\"to\":\"2026-10-24\"}}",
    /* properties: typed columns, the rest, nested keys */
    "{\"kind\":\"trends\",\"breakdown\":\"properties.amount\",\"filters\":[{\"field\":\"properties.amount\",\"op\":\"gt\",\"value\":50}]}",
    "{\"kind\":\"trends\",\"breakdown\":\"properties.plan\",\"breakdown_limit\":10}",
    "{\"kind\":\"trends\",\"measure\":\"unique_persons\",\"breakdown\":\"properties.price\",\"breakdown_limit\":50}",
    "{\"kind\":\"trends\",\"breakdown\":\"properties.vip\",\"filters\":[{\"field\":\"properties.price\",\"op\":\"lt\",\"value\":20}]}",
    "{\"kind\":\"trends\",\"breakdown\":\"properties.item.sku\",\"filters\":[{\"field\":\"properties.plan\",\"op\":\"in\",\"value\":[\"pro\",\"team\"]}]}",
    "{\"kind\":\"trends\",\"breakdown\":\"properties.mixed\",\"filters\":[{\"field\":\"properties.vip\",\"op\":\"eq\",\"value\":\"true\"}]}",
    "{\"kind\":\"trends\",\"breakdown\":\"properties.coupon\",\"filters\":[{\"field\":\"properties.plan\",\"op\":\"neq\",\"value\":\"pro\"},"
    "{\"field\":\"properties.amount\",\"op\":\"exists\"}]}",
    "{\"kind\":\"trends\",\"filters\":[{\"field\":\"properties.plan\",\"op\":\"regex\",\"value\":\"^pro \\\"\"},"
    "{\"field\":\"properties.price\",\"op\":\"eq\",\"value\":12}],\"breakdown\":\"properties.amount\"}",
    "{\"kind\":\"trends\",\"filters\":[{\"field\":\"properties.mixed\",\"op\":\"contains\",\"value\":\"A\"},"
    "{\"field\":\"properties.item\",\"op\":\"exists\"}],\"breakdown\":\"properties.item\"}",
    "{\"kind\":\"top\",\"dimension\":\"properties.plan\"}",
    "{\"kind\":\"top\",\"dimension\":\"properties.amount\",\"filters\":[{\"field\":\"properties.coupon\",\"op\":\"neq\",\"value\":\"C1\"}]}",
    "{\"kind\":\"funnel\",\"steps\":[{\"event\":\"Product Viewed\",\"filters\":[{\"field\":\"properties.price\",\"op\":\"gt\",\"value\":10}]},"
    "{\"event\":\"Order Completed\",\"filters\":[{\"field\":\"properties.plan\",\"op\":\"eq\",\"value\":\"pro\"}]}],"
    "\"window\":\"1d\",\"breakdown\":\"properties.vip\"}",
    "{\"kind\":\"retention\",\"period\":\"day\",\"periods\":2,\"filters\":[{\"field\":\"properties.item.sku\",\"op\":\"neq\",\"value\":\"A1\"}]}",
    "{\"kind\":\"stickiness\",\"interval\":\"day\",\"filters\":[{\"field\":\"properties.amount\",\"op\":\"lt\",\"value\":30}]}",
    "{\"kind\":\"paths\",\"depth\":3,\"filters\":[{\"field\":\"properties.vip\",\"op\":\"neq\",\"value\":\"false\"}]}",
    /* measures of a numeric property (its values that are not numbers left out), formulas */
    "{\"kind\":\"trends\",\"measure\":\"sum\",\"property\":\"properties.amount\",\"breakdown\":\"properties.plan\",\"breakdown_limit\":2}",
    "{\"kind\":\"trends\",\"measure\":\"p90\",\"property\":\"properties.price\",\"interval\":\"hour\"}",
    "{\"kind\":\"trends\",\"measure\":\"avg\",\"property\":\"properties.mixed\",\"breakdown\":\"country\"}",
    "{\"kind\":\"trends\",\"measure\":\"max\",\"property\":\"properties.item.sku\"}",
    "{\"kind\":\"trends\",\"events\":[\"Order Completed\",\"Product Viewed\"],\"measure\":\"per_person_avg\",\"formula\":\"A/B\"}",
    /* person traits: the latest identify's, per person */
    "{\"kind\":\"trends\",\"breakdown\":\"person.plan\",\"measure\":\"unique_persons\"}",
    "{\"kind\":\"trends\",\"filters\":[{\"field\":\"person.age\",\"op\":\"gt\",\"value\":30}],\"breakdown\":\"properties.plan\"}",
    "{\"kind\":\"top\",\"dimension\":\"person.plan\",\"filters\":[{\"field\":\"person.plan\",\"op\":\"neq\",\"value\":\"free\"}]}",
    "{\"kind\":\"funnel\",\"steps\":[{\"event\":\"$pageview\"},{\"event\":\"Order Completed\",\"filters\":[{\"field\":\"person.plan\",\"op\":\"exists\"}]}],"
    "\"window\":\"1d\"}",
    "{\"kind\":\"trends\",\"measure\":\"avg\",\"property\":\"person.age\",\"breakdown\":\"country\"}",
};

static void test_readers_agree(void **state)
{
    struct fx *f = *state;
    static const char *const projects[] = {NULL, "", "alpha", "beta", "default"};
    struct ff_buf a, b;
    ff_buf_init(&a, 1 << 26);
    ff_buf_init(&b, 1 << 26);
    char q[2048];
    for (size_t p = 0; p < sizeof projects / sizeof *projects; p++)
        for (size_t i = 0; i < sizeof queries / sizeof *queries; i++) {
            /* the whole generated range */
            snprintf(q, sizeof q, "%.*s,\"from\":\"2026-10-22\",\"to\":\"2026-10-28\"}", (int)strlen(queries[i]) - 1,
                     queries[i]);
            answer(f, q, projects[p], 0, &a);
            answer(f, q, projects[p], 1, &b);
            if (a.len != b.len || memcmp(a.data, b.data, a.len)) {
                print_error("project %s, %s\ncolumns: %.*s\nevents:  %.*s\n", projects[p] ? projects[p] : "(none)", q,
                            (int)a.len, a.data, (int)b.len, b.data);
                fail();
            }
            /* an answer that counts nothing would agree trivially */
            assert_non_null(strstr(a.data, "\"kind\""));
        }
    ff_buf_free(&a);
    ff_buf_free(&b);
}

/* A trend over everything counts the events of every part and of memory, bots left out: the
 * readers' agreement above is not the agreement of two empty answers. */
/* Rows sorted in place by key, time and arrival give qsort's order, whatever their size,
 * with keys that share their top bits, repeat, or sit at the ends of the range. */
struct row40 {
    struct ff_qrow r;
    uint32_t a, b, c, d;
};

static void test_rows_sort(void **state)
{
    (void)state;
    test_rng_init(9);
    const size_t sizes[] = {10, 4095, 4096, 100000};
    for (size_t z = 0; z < 4; z++) {
        size_t n = sizes[z];
        struct row40 *v = ff_malloc(n * sizeof *v), *w = malloc(n * sizeof *w);
        uint64_t keys[50];
        for (int k = 0; k < 50; k++) keys[k] = k < 2 ? (k ? UINT64_MAX : 0) : test_rand64() >> (k % 3 ? 0 : 40);
        for (size_t i = 0; i < n; i++) {
            uint64_t key = test_randn(2) ? keys[test_randn(50)] : test_rand64();
            v[i] = (struct row40){{key, (int64_t)test_randn(1000), (uint64_t)i}, (uint32_t)i, 0, 0, 0};
        }
        memcpy(w, v, n * sizeof *v);
        struct row40 *scratch = malloc(n * sizeof *scratch);
        assert_int_equal(ff_qrows_sort(v, n, sizeof *v, scratch), 0); /* in place */
        free(scratch);
        qsort(w, n, sizeof *w, ff_qrow_cmp);
        for (size_t i = 0; i < n; i++) assert_int_equal(v[i].a, w[i].a);
        ff_free(v), free(w);
    }
}

/* Large row arrays are kept for the next query: taken back when big enough, counted idle
 * while kept, freed by a trim; small blocks are simply freed. */
static void test_big_blocks(void **state)
{
    (void)state;
    ff_big_trim(0);
    size_t base = ff_mem_in_use();
    char *p = ff_malloc(FF_BIG_MIN + 4096);
    assert_non_null(p);
    p[0] = 'x';
    assert_true(ff_mem_in_use() >= base + FF_BIG_MIN);
    ff_big_free(p);
    assert_true(ff_mem_in_use() <= base + 4096); /* kept, but idle */
    assert_null(ff_big_take(1024));              /* too small to ask for */
    assert_null(ff_big_take(FF_BIG_MIN + (64 << 20))); /* bigger than what is kept */
    char *q = ff_big_take(FF_BIG_MIN);
    assert_ptr_equal(q, p);
    assert_int_equal(q[0], 'x');
    assert_true(ff_mem_in_use() >= base + FF_BIG_MIN);
    ff_big_free(q);
    ff_big_trim(3600); /* kept for less than an hour: stays */
    q = ff_big_take(FF_BIG_MIN);
    assert_ptr_equal(q, p);
    ff_big_free(q);
    ff_big_trim(0);
    assert_null(ff_big_take(FF_BIG_MIN));
    assert_true(ff_mem_in_use() <= base + 4096);
    char *small = ff_malloc(1000);
    ff_big_free(small); /* freed, never kept */
    assert_null(ff_big_take(FF_BIG_MIN));
    assert_true(ff_mem_in_use() <= base + 4096);
    char *fresh = ff_big_alloc(FF_BIG_MIN); /* nothing kept: a fresh block */
    assert_non_null(fresh);
    ff_big_free(fresh);
    char *again = ff_big_alloc(FF_BIG_MIN); /* then the kept one */
    assert_ptr_equal(again, fresh);
    ff_free(again);
    assert_true(ff_mem_in_use() <= base + 4096);
    /* a buffer that grows past FF_BIG_MIN takes a kept block, its bytes copied and the new
     * room zeroed; freed, it is kept for the next */
    char *kept = ff_malloc(2 * FF_BIG_MIN);
    memset(kept, 'k', 2 * FF_BIG_MIN);
    ff_big_free(kept);
    struct ff_buf b;
    ff_buf_init(&b, (size_t)1 << 32);
    assert_int_equal(ff_buf_append(&b, "abc", 3), 0);
    assert_int_equal(ff_buf_reserve(&b, FF_BIG_MIN), 0);
    assert_ptr_equal(b.data, kept);
    assert_memory_equal(b.data, "abc", 3);
    for (size_t i = 3; i < b.cap; i += 4093) assert_int_equal(b.data[i], 0);
    assert_int_equal(b.data[b.cap - 1], 0);
    ff_buf_free(&b);
    assert_ptr_equal(ff_big_take(FF_BIG_MIN), kept);
    ff_free(kept);
    assert_true(ff_mem_in_use() <= base + 4096);
}

/* Chunks go back to a pool and come out again with their contents (no fresh pages), are
 * idle while kept, and a trim frees them: small ones and large ones. */
static void test_chunks(void **state)
{
    (void)state;
    struct {
        void *(*take)(void);
        void (*give)(void *);
        size_t bytes;
    } pools[] = {{ff_chunk_take, ff_chunk_give, FF_CHUNK_BYTES}, {ff_large_chunk_take, ff_large_chunk_give, FF_LARGE_CHUNK_BYTES}};
    for (size_t k = 0; k < 2; k++) {
        ff_big_trim(0);
        size_t base = ff_mem_in_use();
        char *a = pools[k].take(), *b = pools[k].take();
        assert_non_null(a);
        assert_non_null(b);
        a[pools[k].bytes - 1] = 'a';
        assert_true(ff_mem_in_use() >= base + 2 * pools[k].bytes);
        pools[k].give(a);
        pools[k].give(b);
        assert_true(ff_mem_in_use() <= base + 1024); /* kept, but idle */
        ff_big_trim(3600); /* taken less than an hour ago: stays */
        assert_ptr_equal(pools[k].take(), b); /* the last given first */
        char *again = pools[k].take();
        assert_ptr_equal(again, a);
        assert_int_equal(again[pools[k].bytes - 1], 'a');
        pools[k].give(again);
        pools[k].give(b);
        ff_big_trim(0);
        assert_true(ff_mem_in_use() <= base + 1024);
    }
}

/* Rows pushed to two threads' vectors as scans make them (runs of a key in order, a key's
 * runs split between the threads and out of order with each other, runs cut by a chunk's
 * end, rows from memory in arrival order) come back key by key, each key's rows all there
 * and in (time, arrival) order, as sorting all of them would give. */
struct walked {
    struct row40 *rows;
    size_t n, keys;
    uint64_t last_key;
};
static int walk_key(void *arg, const void *rows, size_t n)
{
    struct walked *w = arg;
    const struct row40 *r = rows;
    assert_true(n > 0);
    assert_true(w->keys == 0 || r[0].r.key > w->last_key); /* key by key, ascending */
    for (size_t i = 0; i < n; i++) {
        assert_true(r[i].r.key == r[0].r.key);
        assert_memory_equal(&r[i], &w->rows[w->n + i], sizeof r[i]);
    }
    w->n += n, w->keys++, w->last_key = r[0].r.key;
    return 0;
}

static int row40_cmp(const void *a, const void *b) { return ff_qrow_cmp(a, b); }

static void test_rowvec_runs(void **state)
{
    (void)state;
    test_rng_init(13);
    enum { ROWS = 120000, KEYS = 3000 };
    struct row40 *all = malloc(ROWS * sizeof *all);
    assert_non_null(all);
    struct ff_qrowvec v[2];
    memset(v, 0, sizeof v);
    size_t n = 0;
    while (n < ROWS) {
        /* a run: one key's rows in time order, on either thread, its times anywhere */
        uint64_t key = (test_randn(KEYS) + 1) * 0x9e3779b97f4a7c15ULL; /* top bits set and clear */
        int64_t t = (int64_t)test_randn(1000000);
        size_t len = 1 + test_randn(12);
        struct ff_qrowvec *to = &v[test_randn(2)];
        for (size_t i = 0; i < len && n < ROWS; i++, n++) {
            t += (int64_t)test_randn(3); /* ties too, apart by arrival */
            all[n] = (struct row40){{key, t, n}, (uint32_t)n * 7, 0, 0, 0};
            assert_int_equal(ff_qrowvec_push(to, &all[n], sizeof all[n]), 0);
        }
    }
    assert_true(v[0].rows.nchunks > 1 && v[1].rows.nchunks > 1); /* runs met chunks' ends */
    assert_true(ff_qrowvec_runs(v, 2) < ROWS / 3);                 /* rows went as runs */
    qsort(all, ROWS, sizeof *all, row40_cmp);
    size_t keys = 0;
    for (size_t i = 0; i < ROWS; i++) keys += !i || all[i].r.key != all[i - 1].r.key;
    struct walked w = {all, 0, 0, 0};
    void *arg = &w;
    assert_int_equal(ff_qrowvec_each_key(v, 2, sizeof(struct row40), walk_key, &arg, 1), 0);
    assert_int_equal(w.n, ROWS);
    assert_int_equal(w.keys, keys);
    /* two walkers: keys with the top bit clear on one, the others on the other */
    size_t split = 0;
    while (split < ROWS && !(all[split].r.key >> 63)) split++;
    assert_true(split > ROWS / 4 && split < ROWS * 3 / 4);
    struct walked two[2] = {{all, 0, 0, 0}, {all + split, 0, 0, 0}};
    void *args[2] = {&two[0], &two[1]};
    assert_int_equal(ff_qrowvec_each_key(v, 2, sizeof(struct row40), walk_key, args, 2), 0);
    assert_int_equal(two[0].n, split);
    assert_int_equal(two[1].n, ROWS - split);
    assert_int_equal(two[0].keys + two[1].keys, keys);
    ff_qrowvec_release(&v[0]);
    ff_qrowvec_release(&v[1]);
    free(all);
    ff_big_trim(0);
}

/* Distinct (cell, id) pairs over many chunks per partition, two threads' sets joined,
 * against a count made by hand: enough pairs that the count runs on two threads, and few
 * enough that it runs on one; cells small (counted in an array) and large (in the table). */
static void test_distinct_pairs(void **state)
{
    (void)state;
    test_rng_init(11);
    enum { CELLS = 7, IDS = 40000 };
    static const uint64_t cell_of[CELLS] = {0, 1, 2, 1023, 1024, 5000, 1ull << 40};
    static uint8_t seen[CELLS][IDS];
    const size_t adds[] = {600000, 20000};
    for (size_t round = 0; round < sizeof adds / sizeof adds[0]; round++) {
        memset(seen, 0, sizeof seen);
        struct ff_qdistinct d[2];
        memset(d, 0, sizeof d);
        for (size_t i = 0; i < adds[round]; i++) {
            uint64_t c = test_randn(CELLS), id = test_randn(IDS);
            seen[c][id] = 1;
            assert_true(ff_qdistinct_add(&d[i & 1], cell_of[c], id + 1) >= 0);
        }
        assert_int_equal(ff_qdistinct_merge(&d[0], &d[1]), 0);
        struct ff_qtable cells = {0};
        assert_int_equal(ff_qdistinct_count(&d[0], &cells), 0);
        size_t total = 0;
        for (int c = 0; c < CELLS; c++) {
            uint64_t want = 0;
            for (int k = 0; k < IDS; k++) want += seen[c][k];
            assert_int_equal(ff_qtable_get(&cells, cell_of[c], 0), want);
            total += want;
        }
        assert_int_equal(cells.n, CELLS); /* nothing else counted */
        assert_int_equal(d[0].n, total); /* only the distinct pairs are left */
        size_t held = 0;
        for (int p = 0; p < FF_QDISTINCT_PARTS; p++)
            for (const struct ff_qchunk *ch = d[0].part[p].head; ch; ch = ch->next) held += ch->n;
        assert_int_equal(held, total);
        ff_qtable_free(&cells);
        ff_qdistinct_free(&d[0]);
        ff_qdistinct_free(&d[1]);
    }
}

/* Sets of cells per id, united: each cell counts the ids whose union has it, however the
 * sets of one id are split between two threads' unions, on one thread or two, and for the id
 * a free slot is marked with. */
static void test_united_sets(void **state)
{
    (void)state;
    test_rng_init(12);
    enum { IDS = 50000 };
    static uint64_t has[IDS];
    const size_t adds[] = {700000, 30000};
    for (size_t round = 0; round < sizeof adds / sizeof adds[0]; round++) {
        memset(has, 0, sizeof has);
        struct ff_qunion u[2];
        memset(u, 0, sizeof u);
        for (size_t i = 0; i < adds[round]; i++) {
            uint64_t id = test_randn(IDS), set = (uint64_t)1 << test_randn(64) | (uint64_t)1 << test_randn(64);
            has[id] |= set;
            /* id 0 is no id's: ids from 1, the last one UINT64_MAX */
            assert_int_equal(ff_qunion_add(&u[i & 1], id == IDS - 1 ? UINT64_MAX : id + 1, set), 0);
        }
        assert_int_equal(ff_qunion_merge(&u[0], &u[1]), 0);
        assert_int_equal(u[0].n, adds[round]);
        assert_int_equal(u[1].n, 0);
        uint64_t got[FF_QUNION_CELLS] = {0}, want[FF_QUNION_CELLS] = {0};
        assert_int_equal(ff_qunion_count(&u[0], got), 0);
        for (int id = 0; id < IDS; id++)
            for (int c = 0; c < FF_QUNION_CELLS; c++) want[c] += has[id] >> c & 1;
        for (int c = 0; c < FF_QUNION_CELLS; c++) assert_int_equal(got[c], want[c]);
        ff_qunion_free(&u[0]);
        ff_qunion_free(&u[1]);
    }
}

/* Memory is counted per thread: what one thread allocates and another frees still adds up,
 * also with many threads, and a thread's last few allocations, too small to have reached the
 * shared count yet, are counted when it exits. */
#define MEM_THREADS 80
static void *alloc_1mib(void *arg)
{
    (void)arg;
    char *p = ff_malloc((size_t)1 << 20);
    if (p) p[0] = 1;
    return p;
}

static void *alloc_64k(void *arg)
{
    char **p = arg;
    for (int i = 0; i < 64; i++) p[i] = ff_malloc(1000);
    return NULL;
}

/* A thread's block that another key's destructor frees at its exit, after alloc.c's own
 * destructor may already have run. */
static pthread_key_t late_key;
static void free_late(void *p)
{
    char **blocks = p;
    for (int i = 0; i < 64; i++) ff_free(blocks[i]);
    ff_free(blocks);
}
static void *alloc_freed_at_exit(void *arg)
{
    (void)arg;
    char **blocks = ff_malloc(64 * sizeof *blocks);
    for (int i = 0; i < 64; i++) blocks[i] = ff_malloc(1000);
    pthread_setspecific(late_key, blocks);
    return NULL;
}

static void test_memory_counted_across_threads(void **state)
{
    (void)state;
    ff_big_trim(0);
    size_t base = ff_mem_in_use();
    pthread_t t[MEM_THREADS];
    void *got[MEM_THREADS];
    for (int i = 0; i < MEM_THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, alloc_1mib, NULL), 0);
    for (int i = 0; i < MEM_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], &got[i]), 0);
        assert_non_null(got[i]);
    }
    assert_true(ff_mem_in_use() >= base + (size_t)MEM_THREADS * (1 << 20));
    for (int i = 0; i < MEM_THREADS; i++) ff_free(got[i]); /* freed here, counted there */
    assert_true(ff_mem_in_use() <= base + 4096);
    assert_true(ff_mem_in_use() + 4096 >= base);
    char *small[64];
    assert_int_equal(pthread_create(&t[0], NULL, alloc_64k, small), 0);
    assert_int_equal(pthread_join(t[0], NULL), 0);
    for (int i = 0; i < 64; i++) assert_non_null(small[i]);
    assert_true(ff_mem_in_use() >= base + 64 * 1000);
    assert_true(ff_mem_in_use() <= base + 64 * 1000 + 64 * 64 + 4096);
    for (int i = 0; i < 64; i++) ff_free(small[i]);
    assert_true(ff_mem_in_use() <= base + 4096);
    /* freed by a later destructor of the exiting thread: counted too */
    assert_int_equal(pthread_key_create(&late_key, free_late), 0);
    assert_int_equal(pthread_create(&t[0], NULL, alloc_freed_at_exit, NULL), 0);
    assert_int_equal(pthread_join(t[0], NULL), 0);
    assert_true(ff_mem_in_use() <= base + 4096);
    assert_true(ff_mem_in_use() + 4096 >= base);
    pthread_key_delete(late_key);
}

static void test_answers_count_something(void **state)
{
    struct fx *f = *state;
    struct ff_buf a;
    ff_buf_init(&a, 1 << 26);
    answer(f, "{\"kind\":\"trends\",\"interval\":\"day\",\"from\":\"2026-10-22\",\"to\":\"2026-10-28\"}", NULL, 0, &a);
    ff_buf_putc(&a, 0);
    /* bots are left out: device 7 of 40 */
    const char *total = strstr(a.data, "\"total\":");
    assert_non_null(total);
    long n = strtol(total + 8, NULL, 10);
    assert_true(n > 4000 && n < 5500);
    ff_buf_free(&a);
}

/* ---- blocks skipped unread (store/prune.h; the damaged store: prune_fixture.h) ---- */

/* Sums the "total" members of an answer. */
static long answer_total(const struct ff_buf *a)
{
    long sum = 0;
    for (const char *t = a->data; (t = memmem(t, a->len - (size_t)(t - a->data), "\"total\":", 8)); t += 8)
        sum += strtol(t + 8, NULL, 10);
    return sum;
}

/* Queries read by columns skip a block without reading it when its chunks' times are outside
 * the query's range or when no row of it can have a name that one of the query's events
 * (series, steps) gives: by its dictionary codes of event names (as the store's listings do,
 * store/prune.h) and by its range of types ("$pageview" and the like). With every chunk of
 * one block damaged, such queries count exactly and report nothing; a query that must read the
 * block (any event, its name, its hour) reports the damage and counts without its rows. The
 * event reader gives the same answers. */
static void test_colscan_prunes_blocks(void **state)
{
    (void)state;
    char dir[128], path[512], err[512] = "";
    assert_int_equal(test_mkdtemp(dir, sizeof dir, "prune"), 0);
    prune_store(dir, path, sizeof path);
    prune_corrupt(path, 1); /* Beta's block, hour 3 */
    struct ff_store_opts o = {.dir = dir, .flush_interval_us = 3600LL * 1000000, .block_rows = PRUNE_ROWS,
                              .wal_keep_us = DAY_US, .manual_flush = 1, .read_only = 1};
    struct fx f = {.next_seq = 1};
    assert_int_equal(ff_store_open(&f.s, &o, err, sizeof err), 0);
#define DAY_RANGE "\"from\":\"2025-11-01T00:00:00Z\",\"to\":\"2025-11-02T00:00:00Z\""
    /* (a count of a block inside the range and one interval reads none of its columns: the
     * queries that must meet the damage read event names) */
    static const struct {
        const char *q;
        long want;   /* the answer's totals, summed; -1: not checked */
        int damaged; /* the query must read the damaged block */
    } cases[] = {
        {"{\"kind\":\"trends\",\"interval\":\"hour\",\"breakdown\":\"event\"," DAY_RANGE "}", 3 * PRUNE_ROWS, 1},
        {"{\"kind\":\"trends\",\"event\":\"Beta\"," DAY_RANGE "}", 0, 1},
        {"{\"kind\":\"trends\",\"events\":[\"Gamma\",\"\"]," DAY_RANGE "}", 4 * PRUNE_ROWS, 1}, /* "": any event */
        {"{\"kind\":\"trends\",\"breakdown\":\"event\",\"from\":\"2025-11-01T03:00:00Z\",\"to\":\"2025-11-01T04:00:00Z\"}", 0, 1},
        /* skipped by name: the event codes of the block say it has none of these */
        {"{\"kind\":\"trends\",\"event\":\"Gamma\",\"interval\":\"hour\"," DAY_RANGE "}", PRUNE_ROWS, 0},
        {"{\"kind\":\"trends\",\"events\":[\"Alpha\",\"Delta\"]," DAY_RANGE "}", 2 * PRUNE_ROWS, 0},
        {"{\"kind\":\"trends\",\"event\":\"Gamma\",\"measure\":\"unique_persons\"," DAY_RANGE "}", 1, 0},
        {"{\"kind\":\"trends\",\"event\":\"Nowhere\"," DAY_RANGE "}", 0, 0},
        /* by type: no block holds anything but track calls */
        {"{\"kind\":\"trends\",\"events\":[\"$pageview\",\"$screen\"]," DAY_RANGE "}", 0, 0},
        {"{\"kind\":\"funnel\",\"steps\":[{\"event\":\"Alpha\"},{\"event\":\"Gamma\"}],\"window\":\"1d\"," DAY_RANGE "}", -1, 0},
        /* skipped by time */
        {"{\"kind\":\"trends\",\"from\":\"2025-11-01T05:00:00Z\",\"to\":\"2025-11-01T06:00:00Z\"}", PRUNE_ROWS, 0},
        {"{\"kind\":\"trends\",\"interval\":\"hour\",\"from\":\"2025-11-01T04:00:00Z\",\"to\":\"2025-11-02T00:00:00Z\"}",
         2 * PRUNE_ROWS, 0},
    };
    struct ff_buf a, b;
    ff_buf_init(&a, 1 << 24);
    ff_buf_init(&b, 1 << 24);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct captured c;
        char log[4096];
        capture_begin(&c);
        answer(&f, cases[i].q, NULL, 0, &a);
        capture_end(&c, log, sizeof log);
        long total = answer_total(&a);
        if ((cases[i].want >= 0 && total != cases[i].want) || !strstr(log, "checksum") != !cases[i].damaged)
            fail_msg("%s: total %ld (want %ld), log: %s\nanswer: %.*s", cases[i].q, total, cases[i].want, log,
                     (int)a.len, a.data);
        if (cases[i].damaged) assert_non_null(strstr(log, path));
        capture_begin(&c); /* the event reader: the same answer (it skips blocks by time only) */
        answer(&f, cases[i].q, NULL, 1, &b);
        capture_end(&c, log, sizeof log);
        if (a.len != b.len || memcmp(a.data, b.data, a.len))
            fail_msg("%s\ncolumns: %.*s\nevents:  %.*s", cases[i].q, (int)a.len, a.data, (int)b.len, b.data);
    }
#undef DAY_RANGE
    ff_buf_free(&a);
    ff_buf_free(&b);
    ff_store_close(f.s);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_agree),
        cmocka_unit_test(test_answers_count_something),
        cmocka_unit_test(test_colscan_prunes_blocks),
        cmocka_unit_test(test_rows_sort),
        cmocka_unit_test(test_big_blocks),
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_distinct_pairs),
        cmocka_unit_test(test_united_sets),
        cmocka_unit_test(test_rowvec_runs),
        cmocka_unit_test(test_memory_counted_across_threads),
    };
    return cmocka_run_group_tests_name("query", tests, setup, teardown);
}
