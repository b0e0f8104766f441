/* test_part.c - columnar parts (store/part.h, store/schema.h) in a temporary directory:
 * random events written as parts and read back equal, sorted by person and time within a
 * day; the encodings chosen; each chunk's codec the schema's, its bytes really compressed;
 * derived page and campaign columns; extreme integers; a flipped byte caught by its chunk's
 * checksum with the rest still readable; the store's listings skipping blocks by time and
 * event name (a damaged block they need not read goes unnoticed); damaged footers and
 * truncated files refused; and injected write, fsync and rename failures leaving no part
 * behind; zstd chunks from several threads at once. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <lz4.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "testutil.h"

#include "core/alloc.h"
#include "core/errors.h"
#include "core/fileio.h"
#include "core/strmap.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "store/part.h"
#include "store/props.h"
#include "store/schema.h"
#include "store/store.h"
#include "store/merge_stream.h"
#include "core/strsort.h"
#include "store/derive.h"
#include "gen/generator.h"

#include "prune_fixture.h"

#define DAY_US (86400LL * 1000000LL)

struct fx {
    char dir[128];
    char *arena;
    size_t used, cap;
    struct ff_event *evs;
    size_t n;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (test_mkdtemp(f->dir, sizeof f->dir, "part")) return -1;
    f->cap = 64u << 20;
    f->arena = malloc(f->cap);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ff_io_fail_reset();
    test_rmtree(f->dir);
    free(f->arena);
    free(f->evs);
    free(f);
    return 0;
}

static struct ff_str keep(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static struct ff_str keep(struct fx *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(f->arena + f->used, f->cap - f->used, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < f->cap - f->used);
    struct ff_str s = {f->arena + f->used, (uint32_t)n};
    f->used += (size_t)n + 1;
    return s;
}

static struct ff_str uuid(struct fx *f)
{
    uint64_t a = test_rand64() | 1, b = test_rand64();
    return keep(f, "%08llx-%04llx-%04llx-%04llx-%012llx", (unsigned long long)(a >> 32), (unsigned long long)(a >> 16 & 0xffff),
                (unsigned long long)(a & 0xffff), (unsigned long long)(b >> 48), (unsigned long long)(b & 0xffffffffffffULL));
}

static const char *const names[] = {"Product Viewed", "Order Completed", "Signed Up", "Search", "Cart Viewed"};

/* n random events over `days` days from 2026-11-01, among `people` people. */
static void make_events(struct fx *f, size_t n, int days, int people)
{
    f->evs = calloc(n, sizeof *f->evs);
    f->n = n;
    struct ff_str *anon = calloc((size_t)people, sizeof *anon);
    for (int p = 0; p < people; p++) anon[p] = uuid(f);
    int64_t base = 20393LL * DAY_US; /* 2025-11-01 */
    for (size_t i = 0; i < n; i++) {
        struct ff_event *ev = &f->evs[i];
        int p = (int)test_randn((uint64_t)people);
        ev->seq = 1000 + i;
        ev->type = test_randn(4) == 0 ? FF_EV_PAGE : FF_EV_TRACK;
        ev->format = (uint8_t)test_randn(FF_FMT_COUNT);
        ev->timestamp_us = base + test_rand_range(0, days * DAY_US - 1);
        ev->received_at_us = ev->timestamp_us + test_rand_range(0, 5000000);
        ev->original_timestamp_us = test_randn(2) ? ev->timestamp_us - 7 : FF_TIME_NONE;
        ev->sent_at_us = test_randn(2) ? ev->received_at_us - 100 : FF_TIME_NONE;
        ev->message_id = uuid(f);
        ev->anonymous_id = anon[p];
        ev->user_id = p % 3 == 0 ? keep(f, "user-%d", p) : (struct ff_str){"", 0};
        ev->write_key = keep(f, "wk%d", (int)test_randn(2));
        if (ev->type == FF_EV_PAGE) {
            ev->name = keep(f, "Page %d", (int)test_randn(7));
            ev->properties = keep(f, "{\"url\":\"https://shop.example/p/%d?utm_source=news&utm_term=t%d&utm_content=c%d\","
                                  "\"path\":\"/p/%d\",\"title\":\"P\\u00e9 %d\"}", p % 9, p % 4, p % 9, p % 9, p % 9);
            ev->context = keep(f, "{\"ip\":\"10.0.0.%d\",\"campaign\":{\"medium\":\"email\"}}", p % 250);
        } else {
            ev->event = keep(f, "%s", names[test_randn(5)]);
            ev->properties = keep(f, "{\"price\":%d.5,\"sku\":\"s-%llu\"}", (int)test_randn(1000),
                                  (unsigned long long)test_randn(1000000));
            /* contexts of one length that derive differently, one per person: in part order
             * (by person) they change from row to row where they did not in event order */
            static const char *const campaigns[] = {"spring", "winter", "autumn"};
            ev->context = keep(f, "{\"page\":{\"url\":\"https://shop.example/c?utm_content=v%d&utm_campaign=%s\",\"path\":\"/c\","
                               "\"title\":\"Catalog\",\"referrer\":\"https://search.example/\"}}", p % 3, campaigns[p % 3]);
        }
        if (test_randn(10) == 0) ev->traits = keep(f, "{\"plan\":\"pro\"}");
        if (test_randn(3)) { /* enriched at ingest (a server-side event is not) */
            static const char *const browsers[] = {"Chrome", "Firefox", "Mobile Safari", "Googlebot"};
            int k = (int)test_randn(4);
            ev->browser = keep(f, "%s", browsers[k]);
            ev->browser_version = keep(f, "%d.0.%d", 100 + k, (int)test_randn(50));
            ev->os = keep(f, "%s", k == 2 ? "iOS" : "Linux");
            ev->os_version = k == 2 ? keep(f, "17.%d", (int)test_randn(3)) : (struct ff_str){"", 0};
            ev->device_type = keep(f, "%s", k == 3 ? "bot" : k == 2 ? "mobile" : "desktop");
            ev->bot = k == 3;
            if (test_randn(2)) { /* GeoIP: a country file, or a city file with region and city */
                ev->country = keep(f, "%s", k == 2 ? "NZ" : "US");
                if (k == 2) ev->region = keep(f, "NZ-WGN"), ev->city = keep(f, "Wellington");
            }
        }
    }
    free(anon);
}

static int same_str(struct ff_str a, struct ff_str b) { return a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len)); }

/* The two files hold the same bytes. */
static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int x = getc(fa), y = getc(fb);
        if (x != y) same = 0;
        if (x == EOF || y == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* Two JSON objects with the same members (order aside), compared through their compact
 * text as the writer prints it; "" stands for {}. */
static int same_object(struct ff_str a, struct ff_str b)
{
    if (!a.len || !b.len) return (!a.len || (a.len == 2 && !memcmp(a.p, "{}", 2))) && (!b.len || (b.len == 2 && !memcmp(b.p, "{}", 2)));
    struct ff_json_parser *pa = ff_json_parser_new(), *pb = ff_json_parser_new();
    struct ff_buf ba, bb, ta, tb;
    ff_buf_init(&ba, 1 << 20), ff_buf_init(&bb, 1 << 20), ff_buf_init(&ta, 1 << 20), ff_buf_init(&tb, 1 << 20);
    ff_buf_append(&ba, a.p, a.len), ff_buf_append(&bb, b.p, b.len);
    struct ff_json_doc da, db;
    int same = !ff_json_parse(pa, ba.data, ba.len, &da, NULL) && !ff_json_parse(pb, bb.data, bb.len, &db, NULL) &&
               da.nodes[0].type == FF_JSON_OBJECT && db.nodes[0].type == FF_JSON_OBJECT && da.nodes[0].len == db.nodes[0].len;
    for (uint32_t m = 1; same && m < da.nodes[0].end; m = da.nodes[m].end) {
        int found = 0;
        for (uint32_t q = 1; !found && q < db.nodes[0].end; q = db.nodes[q].end) {
            if (da.nodes[m].key_len != db.nodes[q].key_len || memcmp(da.nodes[m].key, db.nodes[q].key, da.nodes[m].key_len)) continue;
            ff_buf_reset(&ta), ff_buf_reset(&tb);
            ff_json_write_node(&ta, &da, m), ff_json_write_node(&tb, &db, q);
            found = ta.len == tb.len && !memcmp(ta.data, tb.data, ta.len);
        }
        same = found;
    }
    ff_buf_free(&ba), ff_buf_free(&bb), ff_buf_free(&ta), ff_buf_free(&tb);
    ff_json_parser_free(pa), ff_json_parser_free(pb);
    return same;
}

static int same_event(const struct ff_event *a, const struct ff_event *b)
{
    return a->seq == b->seq && a->type == b->type && a->format == b->format && a->timestamp_us == b->timestamp_us &&
           a->received_at_us == b->received_at_us && a->original_timestamp_us == b->original_timestamp_us &&
           a->sent_at_us == b->sent_at_us && same_str(a->event, b->event) && same_str(a->name, b->name) &&
           same_str(a->message_id, b->message_id) && same_str(a->anonymous_id, b->anonymous_id) &&
           same_str(a->user_id, b->user_id) && same_str(a->group_id, b->group_id) &&
           same_str(a->previous_id, b->previous_id) && same_str(a->write_key, b->write_key) &&
           same_object(a->properties, b->properties) && same_str(a->traits, b->traits) && same_str(a->context, b->context) &&
           same_str(a->browser, b->browser) && same_str(a->browser_version, b->browser_version) &&
           same_str(a->os, b->os) && same_str(a->os_version, b->os_version) &&
           same_str(a->device_type, b->device_type) && a->bot == b->bot && same_str(a->country, b->country) &&
           same_str(a->region, b->region) && same_str(a->city, b->city);
}

static struct ff_str pkey(const struct ff_event *ev) { return ev->user_id.len ? ev->user_id : ev->anonymous_id; }

/* Row `ev` may follow row `prev` (whose person key is prev_key) in a part: by person key,
 * then time, then arrival (received, then WAL sequence number). */
static void assert_in_order(struct ff_str prev_key, const struct ff_event *prev, const struct ff_event *ev)
{
    int c = ff_str_cmp(prev_key, pkey(ev));
    assert_true(c <= 0);
    if (c) return;
    assert_true(prev->timestamp_us <= ev->timestamp_us);
    if (prev->timestamp_us < ev->timestamp_us) return;
    assert_true(prev->received_at_us <= ev->received_at_us);
    if (prev->received_at_us == ev->received_at_us) assert_true(prev->seq < ev->seq);
}

static void path_of(const struct fx *f, const struct ff_built_part *bp, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", f->dir, bp->name);
}

/* A row read back is one of f's events, not seen before, and the same as it went in. */
static const uint32_t *expect_once(const struct fx *f, const struct ff_strmap *byid, char *seen, const struct ff_event *ev)
{
    const uint32_t *idx = ff_strmap_get(byid, ev->message_id.p, ev->message_id.len);
    assert_non_null(idx);
    assert_false(seen[*idx]);
    seen[*idx] = 1;
    assert_true(same_event(ev, &f->evs[*idx]));
    return idx;
}

static struct ff_part *open_built(const struct fx *f, const struct ff_built_part *bp)
{
    char path[256], err[512];
    path_of(f, bp, path, sizeof path);
    struct ff_part *p;
    assert_int_equal(ff_part_open(path, &p, err, sizeof err), 0);
    return p;
}

/* Makes n random events and builds their parts; returns how many parts. */
static size_t build(struct fx *f, uint64_t seed, size_t n, int days, int people, uint32_t block_rows, uint64_t first_id,
                    struct ff_built_part **parts)
{
    test_rng_init(seed);
    make_events(f, n, days, people);
    size_t nparts;
    uint64_t next_id = first_id;
    assert_int_equal(ff_parts_build(f->dir, &next_id, f->evs, f->n, block_rows, parts, &nparts), 0);
    assert_int_equal(next_id, first_id + nparts);
    assert_int_equal(test_count_dir(f->dir), nparts);
    return nparts;
}

/* Every event comes back exactly once, each part holds one day sorted by person then time,
 * and the derived columns hold what the context and properties said. */
static void test_round_trip(void **state)
{
    struct fx *f = *state;
    struct ff_built_part *parts;
    size_t nparts = build(f, 11, 6000, 3, 300, 512, 1, &parts);
    assert_int_equal(nparts, 3);
    struct ff_strmap byid;
    ff_strmap_init(&byid);
    for (size_t i = 0; i < f->n; i++) {
        int found;
        ff_strmap_put(&byid, f->evs[i].message_id.p, f->evs[i].message_id.len, (uint32_t)i, &found);
        assert_false(found);
    }
    char *seen = calloc(f->n, 1);
    size_t total = 0;
    char err[512];
    for (size_t k = 0; k < nparts; k++) {
        struct ff_part *p = open_built(f, &parts[k]);
        assert_int_equal(p->info.nrows, parts[k].info.nrows);
        assert_true(p->info.nblocks > 1);
        int c_msg = ff_part_column_index(p, "message_id"), c_ev = ff_part_column_index(p, "event");
        int c_props = ff_part_column_index(p, "properties"), c_type = ff_part_column_index(p, "type");
        assert_int_equal(p->cols[c_msg].enc, FF_ENC_UUID);
        assert_int_equal(p->cols[c_ev].enc, FF_ENC_DICT);
        assert_true(c_props >= 0);
        assert_int_equal(p->cols[c_type].type, FF_COL_U8);
        /* frequent property keys became typed columns; the rest stays in "properties" */
        int c_price = ff_part_column_index(p, "p.price"), c_sku = ff_part_column_index(p, "p.sku");
        int c_url = ff_part_column_index(p, "p.url");
        assert_true(c_price >= 0 && c_sku >= 0 && c_url >= 0);
        assert_int_equal(p->cols[c_price].type, FF_COL_F64);
        assert_int_equal(p->cols[c_sku].type, FF_COL_STR);
        struct ff_part_events pe;
        ff_part_events_init(&pe, p);
        struct ff_event prev = {0};
        int have_prev = 0;
        struct ff_colvec url = {0}, src = {0}, med = {0}, camp = {0}, ref = {0}, term = {0}, source = {0}, channel = {0};
        struct ff_colvec path = {0}, title = {0}, content = {0};
        for (uint32_t b = 0; b < p->info.nblocks; b++) {
            assert_int_equal(ff_part_events_load(&pe, p, b, err, sizeof err), 0);
            assert_int_equal(ff_part_read(p, b, (uint32_t)ff_part_column_index(p, "page_url"), &url, err, sizeof err), 0);
            assert_int_equal(ff_part_read(p, b, (uint32_t)ff_part_column_index(p, "utm_source"), &src, err, sizeof err), 0);
            assert_int_equal(ff_part_read(p, b, (uint32_t)ff_part_column_index(p, "utm_medium"), &med, err, sizeof err), 0);
            assert_int_equal(ff_part_read(p, b, (uint32_t)ff_part_column_index(p, "utm_campaign"), &camp, err, sizeof err), 0);
            assert_int_equal(ff_part_read(p, b, (uint32_t)ff_part_column_index(p, "utm_term"), &term, err, sizeof err), 0);
            assert_int_equal(ff_part_read(p, b, (uint32_t)ff_part_column_index(p, "page_referrer"), &ref, err, sizeof err), 0);
            assert_int_equal(ff_part_read(p, b, (uint32_t)ff_part_column_index(p, "source"), &source, err, sizeof err), 0);
            assert_int_equal(ff_part_read(p, b, (uint32_t)ff_part_column_index(p, "channel"), &channel, err, sizeof err), 0);
            assert_int_equal(ff_part_read(p, b, (uint32_t)ff_part_column_index(p, "page_path"), &path, err, sizeof err), 0);
            assert_int_equal(ff_part_read(p, b, (uint32_t)ff_part_column_index(p, "page_title"), &title, err, sizeof err), 0);
            assert_int_equal(ff_part_read(p, b, (uint32_t)ff_part_column_index(p, "utm_content"), &content, err, sizeof err), 0);
            for (uint32_t i = 0; i < pe.n; i++) {
                struct ff_event ev;
                ff_part_events_get(&pe, i, &ev);
                const uint32_t *idx = expect_once(f, &byid, seen, &ev);
                assert_int_equal(ff_day_of(ev.timestamp_us), p->info.day);
                assert_true(ev.timestamp_us >= p->info.min_time && ev.timestamp_us <= p->info.max_time);
                if (have_prev) assert_in_order(pkey(&prev), &prev, &ev);
                if (i == 0) assert_true(same_str(p->blocks[b].first_key, pkey(&ev)));
                if (i == pe.n - 1) assert_true(same_str(p->blocks[b].last_key, pkey(&ev)));
                prev = f->evs[*idx];
                have_prev = 1;
                /* derived columns */
                if (ev.type == FF_EV_PAGE) {
                    assert_true(url.str[i].len > 20 && !memcmp(url.str[i].p, "https://shop.example/p/", 23));
                    assert_true(same_str(src.str[i], (struct ff_str){"news", 4}));
                    assert_true(same_str(med.str[i], (struct ff_str){"email", 5}));
                    assert_true(term.str[i].len == 2 && term.str[i].p[0] == 't');
                    assert_int_equal(camp.str[i].len, 0);
                    /* utm_source from the URL, medium "email" from context.campaign */
                    assert_true(same_str(source.str[i], (struct ff_str){"news", 4}));
                    assert_true(same_str(channel.str[i], (struct ff_str){"email", 5}));
                    /* path, title (unescaped) and utm_content of the page: product d's */
                    char d = url.str[i].p[23], want[16];
                    assert_true(d >= '0' && d <= '8');
                    snprintf(want, sizeof want, "/p/%c", d);
                    assert_true(same_str(path.str[i], (struct ff_str){want, 4}));
                    snprintf(want, sizeof want, "P\xc3\xa9 %c", d);
                    assert_true(same_str(title.str[i], (struct ff_str){want, 5}));
                    snprintf(want, sizeof want, "c%c", d);
                    assert_true(same_str(content.str[i], (struct ff_str){want, 2}));
                } else {
                    char needle[64];
                    int nl = snprintf(needle, sizeof needle, "utm_campaign=%.*s\"", (int)camp.str[i].len, camp.str[i].p);
                    assert_int_equal(camp.str[i].len, 6);
                    assert_non_null(memmem(f->evs[*idx].context.p, f->evs[*idx].context.len, needle, (size_t)nl));
                    assert_true(same_str(ref.str[i], (struct ff_str){"https://search.example/", 23}));
                    assert_int_equal(src.str[i].len, 0);
                    assert_true(same_str(source.str[i], (struct ff_str){"search.example", 14}));
                    assert_true(same_str(channel.str[i], (struct ff_str){"referral", 8}));
                    /* context.page's path and title; utm_content from its URL, the campaign's index */
                    assert_true(same_str(path.str[i], (struct ff_str){"/c", 2}));
                    assert_true(same_str(title.str[i], (struct ff_str){"Catalog", 7}));
                    static const char *const campaigns[] = {"spring", "winter", "autumn"};
                    assert_int_equal(content.str[i].len, 2);
                    assert_int_equal(content.str[i].p[0], 'v');
                    int k = content.str[i].p[1] - '0';
                    assert_true(k >= 0 && k < 3);
                    assert_true(same_str(camp.str[i], (struct ff_str){campaigns[k], 6}));
                }
                total++;
            }
        }
        ff_colvec_free(&url), ff_colvec_free(&src), ff_colvec_free(&med), ff_colvec_free(&camp);
        ff_colvec_free(&ref), ff_colvec_free(&term), ff_colvec_free(&source), ff_colvec_free(&channel);
        ff_colvec_free(&path), ff_colvec_free(&title), ff_colvec_free(&content);
        ff_part_events_free(&pe);
        assert_int_equal(ff_part_verify(p, NULL, NULL), 0);
        ff_part_close(p);
    }
    assert_int_equal(total, f->n);
    free(seen);
    ff_strmap_free(&byid);
    ff_free(parts);
}

/* The codec schema.c gives column `name` (a typed property column "p.KEY": lz4), or -1 when
 * the schema has no such column. */
static int schema_codec_of(const char *name)
{
    for (uint32_t c = 0; c < FF_NCOLS; c++)
        if (!strcmp(ff_schema[c].name, name)) return ff_schema_codec(c);
    return strncmp(name, FF_PROPS_PREFIX, sizeof FF_PROPS_PREFIX - 1) ? -1 : ff_schema_codec(FF_NCOLS);
}

/* A chunk's stored bytes are what its codec says, checked with the codecs' own libraries
 * (not the part reader): a zstd frame (magic, content size) that decompresses to raw_len
 * bytes, an lz4 block that does, or the raw bytes themselves. */
static void assert_chunk_codec(const struct ff_part *p, const struct ff_chunkref *ch, char *scratch)
{
    const uint8_t *src = p->map + ch->offset;
    assert_true(ch->offset + ch->stored_len <= p->size);
    switch (ch->codec) {
    case FF_CODEC_ZSTD:
        assert_true(ch->stored_len >= 4);
        assert_int_equal(src[0] | src[1] << 8 | src[2] << 16 | (uint32_t)src[3] << 24, 0xFD2FB528u);
        assert_int_equal(ZSTD_getFrameContentSize(src, ch->stored_len), ch->raw_len);
        assert_int_equal(ZSTD_decompress(scratch, ch->raw_len, src, ch->stored_len), ch->raw_len);
        assert_true(ch->stored_len < ch->raw_len); /* else the writer stores it raw */
        break;
    case FF_CODEC_LZ4:
        assert_int_equal(LZ4_decompress_safe((const char *)src, scratch, (int)ch->stored_len, (int)ch->raw_len),
                         (int)ch->raw_len);
        assert_true(ch->stored_len < ch->raw_len);
        break;
    case FF_CODEC_NONE: assert_int_equal(ch->stored_len, ch->raw_len); break;
    default: fail_msg("codec %u", ch->codec);
    }
}

/* Copies a generated event into f's events (its strings into f's arena). */
static void keep_generated(void *arg, const struct ff_event *ev, uint64_t visit)
{
    (void)visit;
    struct fx *f = arg;
    struct ff_event *e = &f->evs[f->n++];
    *e = *ev;
    struct ff_str *strs[] = {&e->event, &e->name, &e->message_id, &e->anonymous_id, &e->user_id, &e->write_key,
                             &e->properties, &e->context};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) *strs[i] = keep(f, "%.*s", (int)strs[i]->len, strs[i]->p);
    e->seq = f->n;
}

/* A column that must come out compressed: every chunk with its codec, all of them together
 * more than `ratio` times smaller than raw (1: smaller at all). */
struct squeeze {
    const char *name;
    int ratio;
};

/* Checks every chunk of the parts against the schema's codecs (see test_chunk_codecs), and
 * in parts of 1000 rows or more (a few rows do not compress) the columns of `squeezed` (up
 * to a NULL name) against their ratio. Returns the parts' raw and stored bytes. */
static void check_codecs(const struct fx *f, const struct ff_built_part *parts, size_t nparts,
                         const struct squeeze *squeezed, uint64_t *all_raw, uint64_t *all_stored)
{
    *all_raw = *all_stored = 0;
    size_t big = 0;
    for (size_t k = 0; k < nparts; k++) {
        struct ff_part *p = open_built(f, &parts[k]);
        size_t max_raw = 1;
        for (uint32_t b = 0; b < p->info.nblocks; b++)
            for (uint32_t c = 0; c < p->info.ncols; c++)
                if (p->blocks[b].chunks[c].raw_len > max_raw) max_raw = p->blocks[b].chunks[c].raw_len;
        for (uint32_t c = 0; c < p->info.ncols; c++)
            if (p->cols[c].enc == FF_ENC_DICT && p->cols[c].dict.raw_len > max_raw) max_raw = p->cols[c].dict.raw_len;
        char *scratch = malloc(max_raw);
        assert_non_null(scratch);
        for (uint32_t c = 0; c < p->info.ncols; c++) {
            const struct ff_part_column *col = &p->cols[c];
            /* (the footer keeps a codec per chunk, not per column: col->codec is the writer's) */
            int want = schema_codec_of(col->name);
            if (want < 0) fail_msg("column %s is not the schema's", col->name);
            uint64_t raw = 0, stored = 0;
            uint32_t with_codec = 0;
            for (uint32_t b = 0; b < p->info.nblocks; b++) {
                const struct ff_chunkref *ch = &p->blocks[b].chunks[c];
                if (ch->codec != want && ch->codec != FF_CODEC_NONE)
                    fail_msg("%s block %u: codec %u, the schema says %d", col->name, b, ch->codec, want);
                assert_chunk_codec(p, ch, scratch);
                raw += ch->raw_len, stored += ch->stored_len, with_codec += ch->codec == want;
            }
            if (col->enc == FF_ENC_DICT) {
                if (col->dict.codec != want && col->dict.codec != FF_CODEC_NONE)
                    fail_msg("%s dictionary: codec %u, the schema says %d", col->name, col->dict.codec, want);
                assert_chunk_codec(p, &col->dict, scratch);
            }
            for (size_t s = 0; p->info.nrows >= 1000 && squeezed[s].name; s++) {
                if (strcmp(squeezed[s].name, col->name)) continue;
                if (with_codec != p->info.nblocks)
                    fail_msg("%s: %u of %u chunks compressed", col->name, with_codec, p->info.nblocks);
                if (stored * (uint64_t)squeezed[s].ratio >= raw)
                    fail_msg("%s: %llu bytes stored of %llu raw", col->name, (unsigned long long)stored,
                             (unsigned long long)raw);
            }
            *all_raw += raw, *all_stored += stored;
        }
        for (size_t s = 0; p->info.nrows >= 1000 && squeezed[s].name; s++)
            if (ff_part_column_index(p, squeezed[s].name) < 0) fail_msg("no column %s", squeezed[s].name);
        big += p->info.nrows >= 1000;
        free(scratch);
        ff_part_close(p);
    }
    assert_true(big > 0);
}

/* Every chunk (and dictionary) of an event part is stored with the codec schema.c gives its
 * column (lz4 for time, type, event, person, project and typed properties; zstd for the
 * rest), or raw where that codec would not make it smaller; the stored bytes really are in
 * that format; and columns whose values repeat are stored compressed: random events (whose
 * times and message ids are noise), then the generator's realistic ones, where every column
 * but the random message ids compresses. */
static void test_chunk_codecs(void **state)
{
    struct fx *f = *state;
    struct ff_built_part *parts;
    size_t nparts = build(f, 11, 6000, 3, 300, 512, 1, &parts);
    assert_int_equal(nparts, 3);
    uint64_t raw, stored;
    static const struct squeeze random_squeezed[] = {
        {"original_time", 1}, {"type", 1},    {"format", 2},  {"name", 2},       {"anonymous_id", 4}, {"user_id", 4},
        {"person_id", 4},     {"project", 4}, {"page_url", 2}, {"utm_campaign", 2}, {"browser", 2},     {"context", 2},
        {"properties", 4},    {"p.price", 2}, {NULL, 0}};
    check_codecs(f, parts, nparts, random_squeezed, &raw, &stored);
    assert_true(stored < raw);
    ff_free(parts);

    /* the generator's events: a day of sessions */
    free(f->evs);
    f->n = 0;
    f->evs = calloc(40000, sizeof *f->evs);
    struct ff_gen_opts o = {.seed = 3, .start_us = 20393LL * DAY_US, .days = 1, .people = 2000};
    struct ff_gen *g;
    assert_int_equal(ff_gen_new(&g, &o), 0);
    while (f->n < 30000) ff_gen_session(g, keep_generated, f);
    ff_gen_free(g);
    uint64_t next_id = 100;
    assert_int_equal(ff_parts_build(f->dir, &next_id, f->evs, f->n, 4096, &parts, &nparts), 0);
    /* times differ by random seconds (received_at and sent_at by random jitter as well) */
    static const struct squeeze gen_squeezed[] = {
        {"time", 1},         {"received_at", 1},  {"original_time", 1}, {"sent_at", 1},     {"type", 2},
        {"format", 8},       {"event", 1},        {"name", 2},          {"anonymous_id", 8}, {"user_id", 8},
        {"person_id", 8},    {"write_key", 8},    {"page_url", 1},      {"page_path", 1},   {"page_title", 1},
        {"page_referrer", 8}, {"utm_source", 8},  {"browser", 8},       {"project", 8},     {"properties", 4},
        {"context", 8},      {"seq", 2},          {"p.price", 2},       {"p.product_id", 1}, {NULL, 0}};
    check_codecs(f, parts, nparts, gen_squeezed, &raw, &stored);
    assert_true(stored * 5 < raw); /* 8 times smaller as written */
    ff_free(parts);
}

/* ---- blocks skipped unread (store/prune.h; the damaged store: prune_fixture.h) ---- */

/* The store's listings (ff_store_read_json) skip a block without reading it when its chunks'
 * times are outside the range asked for, or its event codes do not take in the name asked
 * for: with every chunk of one block damaged, such reads answer exactly and report nothing,
 * while a read that must look at that block reports the damage (file and checksum) and
 * answers without its rows. */
static void test_store_read_prunes_blocks(void **state)
{
    struct fx *f = *state;
    char path[512];
    prune_store(f->dir, path, sizeof path);
    prune_corrupt(path, 1); /* Beta's block, hour 3 */
    char err[512] = "";
    struct ff_store_opts o = {.dir = f->dir, .flush_interval_us = 3600LL * 1000000, .block_rows = PRUNE_ROWS,
                              .wal_keep_us = DAY_US, .manual_flush = 1, .read_only = 1};
    struct ff_store *s;
    assert_int_equal(ff_store_open(&s, &o, err, sizeof err), 0);
    const int64_t day = 20393LL * DAY_US, none = FF_TIME_NONE;
    static const struct {
        const char *event;
        int from_h, to_h; /* -1: open */
        size_t want;
        int damaged;      /* the read must meet the damaged block */
    } cases[] = {
        {NULL, -1, -1, 3 * PRUNE_ROWS, 1},   /* everything: the block is read and its rows lost */
        {"Beta", -1, -1, 0, 1},              /* its own name: its codes say it may have it */
        {NULL, 3, 4, 0, 1},                  /* its own hour */
        {"Gamma", -1, -1, PRUNE_ROWS, 0},    /* another name: skipped by its codes */
        {"Alpha", -1, -1, PRUNE_ROWS, 0},
        {"Delta", 0, 24, PRUNE_ROWS, 0},
        {NULL, 5, 6, PRUNE_ROWS, 0},         /* another hour: skipped by its times */
        {NULL, 0, 2, PRUNE_ROWS, 0},
        {NULL, 4, 24, 2 * PRUNE_ROWS, 0},
        {"Gamma", 0, 5, 0, 0},               /* Gamma's block is in hour 5: nothing read at all */
    };
    struct ff_buf out;
    ff_buf_init(&out, 1 << 24);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *ev = cases[i].event;
        struct ff_read_filter flt = {FF_REC_EVENT, ev, ev ? strlen(ev) : 0,
                                     cases[i].from_h < 0 ? none : day + cases[i].from_h * HOUR_US,
                                     cases[i].to_h < 0 ? none : day + cases[i].to_h * HOUR_US, 1000, 0, NULL};
        ff_buf_reset(&out);
        size_t count = 0;
        struct captured c;
        char log[4096];
        capture_begin(&c);
        int rc = ff_store_read_json(s, &flt, "\n", &out, &count);
        capture_end(&c, log, sizeof log);
        if (rc || count != cases[i].want || !strstr(log, "checksum") != !cases[i].damaged)
            fail_msg("case %zu (%s, hours %d-%d): rc %d, %zu events (want %zu), log: %s", i, ev ? ev : "any",
                     cases[i].from_h, cases[i].to_h, rc, count, cases[i].want, log);
        if (cases[i].damaged) assert_non_null(strstr(log, path));
        /* the events are the ones asked for */
        ff_buf_putc(&out, '\0');
        size_t lines = 0;
        for (char *line = out.data, *next; count && line; line = next) {
            next = strchr(line, '\n');
            if (next) *next++ = '\0';
            lines++;
            assert_null(strstr(line, "\"event\":\"Beta\""));
            if (ev) {
                char want[32];
                snprintf(want, sizeof want, "\"event\":\"%s\"", ev);
                assert_non_null(strstr(line, want));
            }
        }
        assert_int_equal(lines, count);
    }
    ff_buf_free(&out);
    ff_store_close(s);
}

/* Part order with ties: ids that share a long prefix, a person's events that arrived out of
 * time order, and equal times broken by arrival (received, then sequence number). */
static void test_sort_order(void **state)
{
    struct fx *f = *state;
    const size_t n = 400;
    f->evs = calloc(n, sizeof *f->evs);
    f->n = n;
    int64_t base = 20393LL * DAY_US + 3600LL * 1000000;
    test_rng_init(5);
    for (size_t i = 0; i < n; i++) {
        struct ff_event *ev = &f->evs[i];
        ev->seq = 5000 - i; /* later arrivals get smaller numbers: only the tie-break may use them */
        ev->type = FF_EV_TRACK;
        ev->format = FF_FMT_SEGMENT;
        /* a few distinct times per person, some on the next day */
        ev->timestamp_us = base + (int64_t)test_randn(4) * 1000000 + (test_randn(8) == 0 ? DAY_US : 0);
        ev->received_at_us = base + (int64_t)test_randn(3);
        ev->original_timestamp_us = ev->sent_at_us = FF_TIME_NONE;
        ev->message_id = uuid(f);
        ev->anonymous_id = uuid(f);
        ev->user_id = keep(f, "user-10000000000%d", (int)test_randn(5));
        ev->event = keep(f, "e%zu", i);
    }
    struct ff_built_part *parts;
    size_t nparts;
    uint64_t next_id = 1;
    assert_int_equal(ff_parts_build(f->dir, &next_id, f->evs, n, 64, &parts, &nparts), 0);
    assert_int_equal(nparts, 2);
    size_t total = 0;
    char err[512];
    for (size_t k = 0; k < nparts; k++) {
        struct ff_part *p = open_built(f, &parts[k]);
        struct ff_part_events pe;
        ff_part_events_init(&pe, p);
        struct ff_event prev = {0};
        char prev_user[64] = "";
        for (uint32_t b = 0; b < p->info.nblocks; b++) {
            assert_int_equal(ff_part_events_load(&pe, p, b, err, sizeof err), 0);
            for (uint32_t i = 0; i < pe.n; i++, total++) {
                struct ff_event ev;
                ff_part_events_get(&pe, i, &ev);
                if (b || i) assert_in_order((struct ff_str){prev_user, (uint32_t)strlen(prev_user)}, &prev, &ev);
                prev = ev;
                snprintf(prev_user, sizeof prev_user, "%.*s", (int)ev.user_id.len, ev.user_id.p);
            }
        }
        ff_part_events_free(&pe);
        ff_part_close(p);
    }
    assert_int_equal(total, n);
    ff_free(parts);
}

/* Parts with the same columns merge block by block: every event once, in part order, the
 * same as it went in, dictionaries and UUIDs kept; parts whose columns differ are refused so
 * the caller merges them as events. */
static void test_streaming_merge(void **state)
{
    struct fx *f = *state;
    test_rng_init(21);
    make_events(f, 6000, 1, 300);
    /* two of the inputs with their person ids resolved (as a flush does): their blocks are
     * read with the user and anonymous ids as stored, the others' as text */
    for (size_t i = 3000; i < 6000; i++) f->evs[i].person_id = pkey(&f->evs[i]);
    struct ff_part *in[5];
    struct ff_built_part *parts[5];
    uint64_t next_id = 1;
    for (int k = 0; k < 4; k++) {
        size_t nparts;
        assert_int_equal(ff_parts_build(f->dir, &next_id, f->evs + k * 1500, 1500, 512, &parts[k], &nparts), 0);
        assert_int_equal(nparts, 1);
        in[k] = open_built(f, parts[k]);
    }
    char path[256], err[512];
    struct ff_built_part out;
    /* a first merge leaves its decoded blocks in the pool; the next one decodes into them */
    struct ff_merge_pool pool = {0};
    snprintf(path, sizeof path, "%s/warm.part", f->dir);
    assert_int_equal(ff_parts_merge_stream(in + 1, 2, path, 512, &pool, &out, err, sizeof err), 0);
    assert_true(pool.n > 0 && pool.n <= FF_MERGE_POOL_VECS && pool.bytes > 0 && pool.bytes <= FF_MERGE_POOL_BYTES);
    snprintf(path, sizeof path, "%s/merged.part", f->dir);
    assert_int_equal(ff_parts_merge_stream(in, 4, path, 512, &pool, &out, err, sizeof err), 0);
    assert_true(pool.n > 0);
    ff_merge_pool_free(&pool);
    /* the same merge with fresh blocks writes the same bytes */
    char fresh[256];
    snprintf(fresh, sizeof fresh, "%s/fresh.part", f->dir);
    struct ff_built_part out2;
    assert_int_equal(ff_parts_merge_stream(in, 4, fresh, 512, NULL, &out2, err, sizeof err), 0);
    assert_true(same_file(path, fresh));
    assert_int_equal(out.info.nrows, 6000);
    assert_int_equal(out.min_seq, 1000);
    assert_int_equal(out.max_seq, 1000 + 5999);
    struct ff_part *p;
    assert_int_equal(ff_part_open(path, &p, err, sizeof err), 0);
    assert_int_equal(ff_part_verify(p, NULL, NULL), 0);
    assert_int_equal(p->cols[ff_part_column_index(p, "event")].enc, FF_ENC_DICT);
    assert_int_equal(p->cols[ff_part_column_index(p, "message_id")].enc, FF_ENC_UUID);
    assert_true(ff_part_column_index(p, "p.price") >= 0);
    struct ff_strmap byid;
    ff_strmap_init(&byid);
    for (size_t i = 0; i < f->n; i++) {
        int found;
        ff_strmap_put(&byid, f->evs[i].message_id.p, f->evs[i].message_id.len, (uint32_t)i, &found);
    }
    char *seen = calloc(f->n, 1);
    struct ff_part_events pe;
    ff_part_events_init(&pe, p);
    struct ff_event prev = {0};
    size_t total = 0;
    struct ff_colvec pids = {0};
    for (uint32_t b = 0; b < p->info.nblocks; b++) {
        assert_int_equal(ff_part_events_load(&pe, p, b, err, sizeof err), 0);
        assert_int_equal(ff_part_read(p, b, FF_C_PERSON_ID, &pids, err, sizeof err), 0);
        for (uint32_t i = 0; i < pe.n; i++, total++) {
            struct ff_event ev;
            ff_part_events_get(&pe, i, &ev);
            const uint32_t *idx = expect_once(f, &byid, seen, &ev);
            assert_true(same_str(pids.str[i], f->evs[*idx].person_id));
            if (total) assert_in_order(pkey(&prev), &prev, &ev);
            if (i == 0) assert_true(same_str(p->blocks[b].first_key, pkey(&ev)));
            if (i == pe.n - 1) assert_true(same_str(p->blocks[b].last_key, pkey(&ev)));
            prev = f->evs[*idx];
        }
    }
    assert_int_equal(total, 6000);
    ff_colvec_free(&pids);
    ff_part_events_free(&pe);
    ff_part_close(p);

    /* a part whose typed property columns differ: refused */
    struct ff_event *odd = &f->evs[0];
    for (int i = 0; i < 50; i++) f->evs[i].properties = keep(f, "{\"other\":%d}", i);
    size_t nparts;
    assert_int_equal(ff_parts_build(f->dir, &next_id, odd, 50, 512, &parts[4], &nparts), 0);
    in[4] = open_built(f, parts[4]);
    snprintf(path, sizeof path, "%s/merged2.part", f->dir);
    assert_int_equal(ff_parts_merge_stream(in, 5, path, 512, NULL, &out, err, sizeof err), FF_MERGE_FALLBACK);
    assert_int_equal(access(path, F_OK), -1);
    for (int k = 0; k < 5; k++) {
        ff_part_close(in[k]);
        ff_free(parts[k]);
    }
    free(seen);
    ff_strmap_free(&byid);
}

/* A value that starts with the UUID of the row before it is not taken for that UUID. */
static void test_uuid_prefix(void **state)
{
    struct fx *f = *state;
    const size_t n = 3;
    f->evs = calloc(n, sizeof *f->evs);
    f->n = n;
    const char *anon[] = {"123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000-2",
                          "123e4567-e89b-12d3-a456-426614174001"};
    for (size_t i = 0; i < n; i++) {
        struct ff_event *ev = &f->evs[i];
        ev->seq = i + 1;
        ev->type = FF_EV_TRACK;
        ev->timestamp_us = 20393LL * DAY_US + (int64_t)i;
        ev->received_at_us = ev->timestamp_us;
        ev->original_timestamp_us = ev->sent_at_us = FF_TIME_NONE;
        ev->message_id = uuid(f);
        ev->anonymous_id = keep(f, "%s", anon[i]);
        ev->event = keep(f, "e");
    }
    struct ff_built_part *parts;
    size_t nparts;
    uint64_t next_id = 1;
    assert_int_equal(ff_parts_build(f->dir, &next_id, f->evs, n, 64, &parts, &nparts), 0);
    struct ff_part *p = open_built(f, &parts[0]);
    struct ff_colvec v = {0};
    char err[512];
    assert_int_equal(ff_part_read(p, 0, (uint32_t)ff_part_column_index(p, "anonymous_id"), &v, err, sizeof err), 0);
    for (size_t i = 0; i < n; i++) assert_true(same_str(v.str[i], (struct ff_str){anon[i], (uint32_t)strlen(anon[i])}));
    ff_colvec_free(&v);
    ff_part_close(p);
    ff_free(parts);
}

/* A build large enough for the sampled, interned encodings (store/intern.h): UUID message ids
 * parsed build-wide; a pool of anonymous ids, each day's dictionary of UUIDs; event names
 * whose days use different subsets of the build's values; user ids that are a dictionary on
 * one day and mostly distinct on the other (too many for the build: the per-day fallback);
 * an empty column. Every event comes back the same. */
static void test_interned_encodings(void **state)
{
    struct fx *f = *state;
    const size_t n = 20000;
    f->evs = calloc(n, sizeof *f->evs);
    f->n = n;
    test_rng_init(23);
    struct ff_str anon[50];
    for (int i = 0; i < 50; i++) anon[i] = uuid(f);
    static const char *const day_names[2][3] = {{"a", "b", "c"}, {"c", "d", "e"}};
    for (size_t i = 0; i < n; i++) {
        struct ff_event *ev = &f->evs[i];
        int day = (int)(i % 2); /* the two days interleaved in arrival order */
        ev->seq = i + 1;
        ev->type = FF_EV_TRACK;
        ev->timestamp_us = (20393LL + day) * DAY_US + (int64_t)i;
        ev->received_at_us = ev->timestamp_us;
        ev->original_timestamp_us = ev->sent_at_us = FF_TIME_NONE;
        ev->message_id = uuid(f);
        ev->anonymous_id = anon[test_randn(50)];
        ev->user_id = day == 0 ? keep(f, "user-%d", (int)test_randn(3)) : keep(f, "user-%zu", i);
        ev->event = keep(f, "%s", day_names[day][test_randn(3)]);
        ev->context = keep(f, "{\"library\":{\"name\":\"t\"}}");
    }
    struct ff_built_part *parts;
    size_t nparts;
    uint64_t next_id = 1;
    assert_int_equal(ff_parts_build(f->dir, &next_id, f->evs, n, 1024, &parts, &nparts), 0);
    assert_int_equal(nparts, 2);
    struct ff_strmap byid;
    ff_strmap_init(&byid);
    for (size_t i = 0; i < n; i++) {
        int found;
        ff_strmap_put(&byid, f->evs[i].message_id.p, f->evs[i].message_id.len, (uint32_t)i, &found);
    }
    char *seen = calloc(n, 1), err[512];
    size_t total = 0;
    for (size_t k = 0; k < nparts; k++) {
        struct ff_part *p = open_built(f, &parts[k]);
        int day = p->info.day - 20393;
        assert_int_equal(p->cols[ff_part_column_index(p, "message_id")].enc, FF_ENC_UUID);
        assert_int_equal(p->cols[ff_part_column_index(p, "anonymous_id")].enc, FF_ENC_UUID);
        int c_user = ff_part_column_index(p, "user_id"), c_ev = ff_part_column_index(p, "event");
        assert_int_equal(p->cols[c_user].enc, day == 0 ? FF_ENC_DICT : FF_ENC_PLAIN);
        assert_int_equal(p->cols[c_ev].enc, FF_ENC_DICT);
        int c_group = ff_part_column_index(p, "group_id");
        assert_int_equal(p->cols[c_group].enc, FF_ENC_DICT);
        /* the day's own values only, sorted */
        const struct ff_str *dict;
        uint32_t count;
        assert_int_equal(ff_part_dict(p, (uint32_t)c_ev, &dict, &count, err, sizeof err), 0);
        assert_int_equal(count, 3);
        for (uint32_t j = 0; j < 3; j++) assert_true(same_str(dict[j], (struct ff_str){day_names[day][j], 1}));
        struct ff_part_events pe;
        ff_part_events_init(&pe, p);
        for (uint32_t b = 0; b < p->info.nblocks; b++) {
            assert_int_equal(ff_part_events_load(&pe, p, b, err, sizeof err), 0);
            for (uint32_t i = 0; i < pe.n; i++) {
                struct ff_event ev;
                ff_part_events_get(&pe, i, &ev);
                expect_once(f, &byid, seen, &ev);
                total++;
            }
        }
        ff_part_events_free(&pe);
        ff_part_close(p);
    }
    assert_int_equal(total, n);
    free(seen);
    ff_strmap_free(&byid);
    ff_free(parts);
}

/* Dictionary codes, one byte each or longer: a code past the dictionary is corrupt, however
 * it is written. */
static void test_dict_codes(void **state)
{
    (void)state;
    struct ff_str dict[200];
    for (int i = 0; i < 200; i++) dict[i] = (struct ff_str){"v", 1};
    dict[129] = (struct ff_str){"x", 1};
    struct ff_colvec v = {0};
    const unsigned char ok[] = {0, 2, 1}, past[] = {0, 5, 1}, high[] = {0x81, 0x01, 0x02}, short_[] = {0x81, 0x01};
    assert_int_equal(ff_chunk_decode(ok, 3, FF_COL_STR, FF_ENC_DICT, 3, dict, 3, &v), 0);
    assert_int_equal(v.codes[0], 0), assert_int_equal(v.codes[1], 2), assert_int_equal(v.codes[2], 1);
    assert_int_equal(ff_chunk_decode(past, 3, FF_COL_STR, FF_ENC_DICT, 3, dict, 3, &v), FF_ECORRUPT);
    assert_int_equal(ff_chunk_decode(past, 3, FF_COL_STR, FF_ENC_DICT, 3, dict, 6, &v), 0);
    /* two values in three bytes: 129 then 2 */
    assert_int_equal(ff_chunk_decode(high, 3, FF_COL_STR, FF_ENC_DICT, 2, dict, 129, &v), FF_ECORRUPT);
    assert_int_equal(ff_chunk_decode(high, 3, FF_COL_STR, FF_ENC_DICT, 2, dict, 200, &v), 0);
    assert_int_equal(v.codes[0], 129), assert_int_equal(v.codes[1], 2);
    assert_true(same_str(v.str[0], (struct ff_str){"x", 1}));
    /* as many bytes as values, but one value of two bytes: one value short */
    assert_int_equal(ff_chunk_decode(short_, 2, FF_COL_STR, FF_ENC_DICT, 2, dict, 200, &v), FF_ECORRUPT);
    ff_colvec_free(&v);
}

/* A block's dictionary codes of one byte are written sixteen at a time: every code comes
 * back, the block's least and greatest are right, and a code past the dictionary is refused
 * wherever it stands and however large (one past it, past a byte, past 2^31). */
static void test_dict_codes_written(void **state)
{
    struct fx *f = *state;
    char path[256];
    snprintf(path, sizeof path, "%s/codes.part", f->dir);
    struct ff_part_column cols[1] = {{"s", FF_COL_STR, FF_ENC_DICT, FF_CODEC_LZ4, {0}}};
    enum { N = 53, K = 100 };
    static char names[K][4];
    struct ff_str dict[K];
    for (int i = 0; i < K; i++) {
        snprintf(names[i], sizeof names[i], "%03d", i);
        dict[i] = (struct ff_str){names[i], 3};
    }
    test_rng_init(53);
    uint32_t codes[N];
    for (int i = 0; i < N; i++) codes[i] = 5 + (uint32_t)test_randn(90);
    codes[17] = 3, codes[50] = 97; /* the least in the vector part, the greatest in the tail */
    static const uint32_t past[] = {K, 200, 70000, 0x80000005u};
    static const int at[] = {0, 15, 16, 47, 48, 52};
    for (size_t a = 0; a < sizeof at / sizeof *at; a++)
        for (size_t b = 0; b < sizeof past / sizeof *past; b++) {
            struct ff_part_writer *w;
            assert_int_equal(ff_part_writer_open(&w, path, cols, 1, 64), 0);
            assert_int_equal(ff_part_writer_dict(w, 0, dict, K), 0);
            uint32_t bad[N];
            memcpy(bad, codes, sizeof bad);
            bad[at[a]] = past[b];
            struct ff_colvec v = {.type = FF_COL_STR, .n = N, .codes = bad};
            assert_int_equal(ff_part_writer_block(w, &v, N, (struct ff_str){"", 0}, (struct ff_str){"", 0}), FF_EINVAL);
            ff_part_writer_abort(w);
        }
    struct ff_part_writer *w;
    assert_int_equal(ff_part_writer_open(&w, path, cols, 1, 64), 0);
    assert_int_equal(ff_part_writer_dict(w, 0, dict, K), 0);
    struct ff_colvec v = {.type = FF_COL_STR, .n = N, .codes = codes};
    assert_int_equal(ff_part_writer_block(w, &v, N, (struct ff_str){"a", 1}, (struct ff_str){"b", 1}), 0);
    struct ff_part_info info = {.nrows = N};
    assert_int_equal(ff_part_writer_finish(w, &info), 0);
    struct ff_part *p;
    char err[512];
    assert_int_equal(ff_part_open(path, &p, err, sizeof err), 0);
    assert_int_equal(p->blocks[0].chunks[0].min, 3);
    assert_int_equal(p->blocks[0].chunks[0].max, 97);
    struct ff_colvec r = {0};
    assert_int_equal(ff_part_read(p, 0, 0, &r, err, sizeof err), 0);
    for (int i = 0; i < N; i++) assert_true(r.codes[i] == codes[i] && same_str(r.str[i], dict[codes[i]]));
    ff_colvec_free(&r);
    ff_part_close(p);
}

/* Appends v as a zigzag varint delta from *prev (the I64 chunk format). */
static size_t put_delta(unsigned char *out, int64_t v, int64_t *prev)
{
    uint64_t d = (uint64_t)v - (uint64_t)*prev, z = (d << 1) ^ (0 - (d >> 63));
    size_t n = 0;
    *prev = v;
    for (; z >= 0x80; z >>= 7) out[n++] = (unsigned char)(z | 0x80);
    out[n++] = (unsigned char)z;
    return n;
}

/* Integer chunks decode 64 bytes of varints at a time: values of every length (1 to 10
 * bytes) among short ones, at the window's edges and the chunk's end, come back as they went;
 * a chunk cut short or with a varint that never ends is corrupt. */
static void test_integer_chunks(void **state)
{
    (void)state;
    enum { N = 5000 };
    static int64_t want[N];
    static unsigned char raw[N * 10];
    test_rng_init(21);
    size_t len = 0;
    int64_t prev = 0;
    for (int i = 0; i < N; i++) {
        uint64_t r = test_rand64();
        int bits = (int)test_randn(65); /* deltas of 0 to 64 bits */
        uint64_t delta = bits ? r >> (64 - bits) : 0;
        want[i] = i % 97 == 0 ? (i % 2 ? INT64_MAX : INT64_MIN) : (int64_t)((uint64_t)prev + (r & 1 ? delta : 0 - delta));
        len += put_delta(raw + len, want[i], &prev);
    }
    struct ff_colvec v = {0};
    assert_int_equal(ff_chunk_decode(raw, len, FF_COL_I64, FF_ENC_PLAIN, N, NULL, 0, &v), 0);
    for (int i = 0; i < N; i++) assert_int_equal(v.i64[i], want[i]);
    assert_int_equal(ff_chunk_decode(raw, len - 1, FF_COL_I64, FF_ENC_PLAIN, N, NULL, 0, &v), FF_ECORRUPT);
    assert_int_equal(ff_chunk_decode(raw, len, FF_COL_I64, FF_ENC_PLAIN, N - 1, NULL, 0, &v), FF_ECORRUPT);
    memset(raw + 100, 0x80, 80); /* a varint 80 bytes long */
    assert_int_equal(ff_chunk_decode(raw, len, FF_COL_I64, FF_ENC_PLAIN, N, NULL, 0, &v), FF_ECORRUPT);
    ff_colvec_free(&v);
}

/* Integers at the edges survive delta coding; every string encoding round-trips. */
static void test_extremes(void **state)
{
    struct fx *f = *state;
    char path[256];
    snprintf(path, sizeof path, "%s/x.part", f->dir);
    struct ff_part_column cols[4] = {{"i", FF_COL_I64, FF_ENC_PLAIN, FF_CODEC_LZ4, {0}},
                                     {"s", FF_COL_STR, FF_ENC_DICT, FF_CODEC_ZSTD, {0}},
                                     {"u", FF_COL_STR, FF_ENC_UUID, FF_CODEC_NONE, {0}},
                                     {"p", FF_COL_STR, FF_ENC_PLAIN, FF_CODEC_ZSTD, {0}}};
    struct ff_part_writer *w;
    assert_int_equal(ff_part_writer_open(&w, path, cols, 4, 8), 0);
    struct ff_str unsorted[2] = {{"b", 1}, {"a", 1}};
    assert_int_equal(ff_part_writer_dict(w, 1, unsorted, 2), FF_EINVAL);
    struct ff_str dict[3] = {{"", 0}, {"a", 1}, {"ab", 2}};
    assert_int_equal(ff_part_writer_dict(w, 1, dict, 3), 0);
    int64_t iv[6] = {INT64_MIN, INT64_MAX, 0, -1, INT64_MIN, 1};
    uint32_t codes[6] = {2, 0, 1, 2, 2, 0};
    struct ff_str uv[6] = {{"", 0}, {"0123abcd-0000-4000-8000-00000000ffff", 36}, {"", 0},
                           {"ffffffff-ffff-ffff-ffff-ffffffffffff", 36}, {"00000000-0000-0000-0000-000000000001", 36}, {"", 0}};
    struct ff_str pv[6] = {{"", 0}, {"x\0y", 3}, {"long long long", 14}, {"", 0}, {"é", 2}, {"z", 1}};
    struct ff_colvec v[4] = {{.type = FF_COL_I64, .n = 6, .i64 = iv}, {.type = FF_COL_STR, .n = 6, .codes = codes},
                             {.type = FF_COL_STR, .n = 6, .str = uv}, {.type = FF_COL_STR, .n = 6, .str = pv}};
    /* a code outside the dictionary and a value that is not a UUID are refused */
    uint32_t badcodes[6] = {0, 0, 3, 0, 0, 0};
    struct ff_colvec bad[4] = {v[0], {.type = FF_COL_STR, .n = 6, .codes = badcodes}, v[2], v[3]};
    assert_int_equal(ff_part_writer_block(w, bad, 6, (struct ff_str){"", 0}, (struct ff_str){"", 0}), FF_EINVAL);
    ff_part_writer_abort(w);
    assert_int_equal(test_count_dir(f->dir), 0);

    assert_int_equal(ff_part_writer_open(&w, path, cols, 4, 8), 0);
    assert_int_equal(ff_part_writer_dict(w, 1, dict, 3), 0);
    assert_int_equal(ff_part_writer_block(w, v, 6, (struct ff_str){"k0", 2}, (struct ff_str){"k5", 2}), 0);
    for (int c = 0; c < 4; c++) v[c].n = 3; /* the first 3 rows again */
    assert_int_equal(ff_part_writer_block(w, v, 3, (struct ff_str){"k6", 2}, (struct ff_str){"k8", 2}), 0);
    struct ff_part_info info = {.nrows = 9, .day = -3, .min_time = 1, .max_time = 2};
    assert_int_equal(ff_part_writer_finish(w, &info), 0);
    struct ff_part *p;
    char err[512];
    assert_int_equal(ff_part_open(path, &p, err, sizeof err), 0);
    assert_int_equal(p->info.nrows, 9);
    assert_int_equal(p->info.day, -3);
    assert_int_equal(p->info.nblocks, 2);
    assert_int_equal(p->blocks[1].row0, 6);
    assert_true(same_str(p->blocks[1].last_key, (struct ff_str){"k8", 2}));
    assert_int_equal(p->blocks[0].chunks[0].min, INT64_MIN);
    assert_int_equal(p->blocks[0].chunks[0].max, INT64_MAX);
    assert_int_equal(p->blocks[0].chunks[1].min, 0);
    assert_int_equal(p->blocks[0].chunks[1].max, 2);
    struct ff_colvec r = {0};
    for (uint32_t b = 0; b < 2; b++) {
        uint32_t n = b ? 3 : 6;
        assert_int_equal(ff_part_read(p, b, 0, &r, err, sizeof err), 0);
        for (uint32_t i = 0; i < n; i++) assert_true(r.i64[i] == iv[i]);
        assert_int_equal(ff_part_read(p, b, 1, &r, err, sizeof err), 0);
        for (uint32_t i = 0; i < n; i++) assert_true(r.codes[i] == codes[i] && same_str(r.str[i], dict[codes[i]]));
        assert_int_equal(ff_part_read(p, b, 2, &r, err, sizeof err), 0);
        for (uint32_t i = 0; i < n; i++) assert_true(same_str(r.str[i], uv[i]));
        assert_int_equal(ff_part_read(p, b, 3, &r, err, sizeof err), 0);
        for (uint32_t i = 0; i < n; i++) assert_true(same_str(r.str[i], pv[i]));
    }
    ff_colvec_free(&r);
    ff_part_close(p);
}

/* A part written column by column (as a merge writes) holds the same blocks, chunks and
 * keys as one written block by block, whatever order its chunks came in; a chunk before its
 * block's keys, a block written the other way, or a chunk left out is refused. */
static void test_writer_by_column(void **state)
{
    struct fx *f = *state;
    char by_block[256], by_col[256], err[512];
    snprintf(by_block, sizeof by_block, "%s/b.part", f->dir);
    snprintf(by_col, sizeof by_col, "%s/c.part", f->dir);
    struct ff_part_column cols[4] = {{"i", FF_COL_I64, FF_ENC_PLAIN, FF_CODEC_LZ4, {0}},
                                     {"s", FF_COL_STR, FF_ENC_DICT, FF_CODEC_ZSTD, {0}},
                                     {"u", FF_COL_STR, FF_ENC_UUID, FF_CODEC_NONE, {0}},
                                     {"p", FF_COL_STR, FF_ENC_PLAIN, FF_CODEC_ZSTD, {0}}};
    struct ff_str dict[3] = {{"", 0}, {"a", 1}, {"ab", 2}};
    int64_t iv[5] = {7, -1, INT64_MIN, 3, 3};
    uint32_t codes[5] = {2, 0, 1, 1, 2};
    struct ff_str uv[5] = {{"", 0}, {"0123abcd-0000-4000-8000-00000000ffff", 36}, {"", 0},
                           {"00000000-0000-0000-0000-000000000001", 36}, {"", 0}};
    struct ff_str pv[5] = {{"x", 1}, {"", 0}, {"long long long", 14}, {"y", 1}, {"z", 1}};
    const uint32_t rows[2] = {3, 2}, row0[2] = {0, 3};
    const struct ff_str keys[2][2] = {{{"k0", 2}, {"k2", 2}}, {{"k3", 2}, {"k4", 2}}};
    struct ff_colvec v[2][4];
    for (int b = 0; b < 2; b++) {
        uint32_t o = row0[b], n = rows[b];
        struct ff_colvec blk[4] = {{.type = FF_COL_I64, .n = n, .i64 = iv + o}, {.type = FF_COL_STR, .n = n, .codes = codes + o},
                                   {.type = FF_COL_STR, .n = n, .str = uv + o}, {.type = FF_COL_STR, .n = n, .str = pv + o}};
        memcpy(v[b], blk, sizeof blk);
    }
    struct ff_part_info info = {.nrows = 5, .day = 4, .min_time = 1, .max_time = 2};
    struct ff_part_writer *w;
    assert_int_equal(ff_part_writer_open(&w, by_block, cols, 4, 3), 0);
    assert_int_equal(ff_part_writer_dict(w, 1, dict, 3), 0);
    for (int b = 0; b < 2; b++) assert_int_equal(ff_part_writer_block(w, v[b], rows[b], keys[b][0], keys[b][1]), 0);
    assert_int_equal(ff_part_writer_finish(w, &info), 0);

    /* refused: a chunk before its block's keys, a whole block, a chunk left out */
    assert_int_equal(ff_part_writer_open(&w, by_col, cols, 4, 3), 0);
    assert_int_equal(ff_part_writer_dict(w, 1, dict, 3), 0);
    assert_int_equal(ff_part_writer_columns(w, 2), 0);
    assert_int_equal(ff_part_writer_chunk(w, 0, 0, &v[0][0]), FF_EINVAL);
    assert_int_equal(ff_part_writer_block_keys(w, 2, 1, keys[0][0], keys[0][1]), FF_EINVAL);
    for (int b = 0; b < 2; b++) assert_int_equal(ff_part_writer_block_keys(w, (uint32_t)b, rows[b], keys[b][0], keys[b][1]), 0);
    assert_int_equal(ff_part_writer_block(w, v[0], rows[0], keys[0][0], keys[0][1]), FF_EINVAL);
    assert_int_equal(ff_part_writer_chunk(w, 1, 0, &v[0][0]), FF_EINVAL); /* 3 rows for a block of 2 */
    for (int c = 3; c >= 0; c--)
        for (int b = 1; b >= 0; b--)
            if (c || b) assert_int_equal(ff_part_writer_chunk(w, (uint32_t)b, (uint32_t)c, &v[b][c]), 0);
    assert_int_equal(ff_part_writer_finish(w, &info), FF_EINVAL);
    assert_int_equal(access(by_col, F_OK), -1);

    /* every chunk, columns last to first and blocks last to first */
    assert_int_equal(ff_part_writer_open(&w, by_col, cols, 4, 3), 0);
    assert_int_equal(ff_part_writer_dict(w, 1, dict, 3), 0);
    assert_int_equal(ff_part_writer_columns(w, 2), 0);
    for (int b = 0; b < 2; b++) assert_int_equal(ff_part_writer_block_keys(w, (uint32_t)b, rows[b], keys[b][0], keys[b][1]), 0);
    for (int c = 3; c >= 0; c--)
        for (int b = 1; b >= 0; b--) assert_int_equal(ff_part_writer_chunk(w, (uint32_t)b, (uint32_t)c, &v[b][c]), 0);
    assert_int_equal(ff_part_writer_finish(w, &info), 0);

    struct ff_part *pb, *pc;
    assert_int_equal(ff_part_open(by_block, &pb, err, sizeof err), 0);
    assert_int_equal(ff_part_open(by_col, &pc, err, sizeof err), 0);
    assert_int_equal(ff_part_verify(pc, NULL, NULL), 0);
    assert_int_equal(pc->info.nrows, 5);
    assert_int_equal(pc->info.nblocks, 2);
    assert_true(pc->blocks[1].chunks[0].offset < pc->blocks[0].chunks[0].offset); /* as written */
    struct ff_colvec x = {0}, y = {0};
    for (uint32_t b = 0; b < 2; b++) {
        assert_int_equal(pc->blocks[b].row0, pb->blocks[b].row0);
        assert_int_equal(pc->blocks[b].nrows, rows[b]);
        assert_true(same_str(pc->blocks[b].first_key, keys[b][0]) && same_str(pc->blocks[b].last_key, keys[b][1]));
        for (uint32_t c = 0; c < 4; c++) {
            const struct ff_chunkref *rb = &pb->blocks[b].chunks[c], *rc = &pc->blocks[b].chunks[c];
            assert_true(rb->hash == rc->hash && rb->raw_len == rc->raw_len && rb->min == rc->min && rb->max == rc->max);
            assert_int_equal(ff_part_read(pb, b, c, &x, err, sizeof err), 0);
            assert_int_equal(ff_part_read(pc, b, c, &y, err, sizeof err), 0);
            for (uint32_t i = 0; i < rows[b]; i++)
                assert_true(c == 0 ? x.i64[i] == y.i64[i] && y.i64[i] == iv[row0[b] + i] : same_str(x.str[i], y.str[i]));
        }
    }
    ff_colvec_free(&x);
    ff_colvec_free(&y);
    ff_part_close(pb);
    ff_part_close(pc);
}

static void flip(const char *path, long off)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, off, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, off, SEEK_SET);
    fputc(c ^ 0x10, fp);
    fclose(fp);
}

static void collect(void *arg, const char *what)
{
    char *out = arg;
    snprintf(out, 512, "%s", what);
}

/* A flipped bit inside one chunk is caught by that chunk's checksum, named with file and
 * offset; every other chunk still reads. A damaged footer or a cut file is refused. */
static void test_corruption(void **state)
{
    struct fx *f = *state;
    struct ff_built_part *parts;
    assert_int_equal(build(f, 12, 3000, 1, 100, 1024, 7, &parts), 1);
    char path[256], err[512];
    path_of(f, &parts[0], path, sizeof path);
    struct ff_part *p;
    assert_int_equal(ff_part_open(path, &p, err, sizeof err), 0);
    int col = ff_part_column_index(p, "properties");
    struct ff_chunkref victim = p->blocks[1].chunks[col];
    ff_part_close(p);
    flip(path, (long)(victim.offset + victim.stored_len / 2));
    assert_int_equal(ff_part_open(path, &p, err, sizeof err), 0);
    struct ff_colvec v = {0};
    assert_int_equal(ff_part_read(p, 1, (uint32_t)col, &v, err, sizeof err), FF_ECORRUPT);
    char want[64];
    snprintf(want, sizeof want, "offset %llu", (unsigned long long)victim.offset);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "checksum"));
    assert_non_null(strstr(err, "properties"));
    assert_int_equal(ff_part_read(p, 0, (uint32_t)col, &v, err, sizeof err), 0);
    assert_int_equal(ff_part_read(p, 2, (uint32_t)col, &v, err, sizeof err), 0);
    assert_int_equal(ff_part_read(p, 1, (uint32_t)ff_part_column_index(p, "time"), &v, err, sizeof err), 0);
    char last[512] = "";
    assert_int_equal(ff_part_verify(p, collect, last), 1);
    assert_non_null(strstr(last, want));
    ff_colvec_free(&v);
    ff_part_close(p);

    /* the footer: its checksum */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    flip(path, (long)st.st_size - 28 - 5);
    assert_int_equal(ff_part_open(path, &p, err, sizeof err), FF_ECORRUPT);
    assert_non_null(strstr(err, "footer"));
    flip(path, (long)st.st_size - 28 - 5);
    assert_int_equal(ff_part_open(path, &p, err, sizeof err), 0);
    ff_part_close(p);
    /* a cut file */
    assert_int_equal(truncate(path, st.st_size - 3), 0);
    assert_int_equal(ff_part_open(path, &p, err, sizeof err), FF_ECORRUPT);
    assert_non_null(strstr(err, path));
    ff_free(parts);
}

/* The Nth write, fsync or rename failing: the build fails with that error and leaves no
 * part and no temporary file. */
static void test_injected_failures(void **state)
{
    struct fx *f = *state;
    test_rng_init(13);
    make_events(f, 2000, 2, 50);
    const enum ff_io_op ops[] = {FF_IO_WRITE, FF_IO_FSYNC, FF_IO_RENAME};
    for (size_t o = 0; o < 3; o++) {
        for (long nth = 1;; nth++) {
            ff_io_fail_after(ops[o], nth, -EIO);
            struct ff_built_part *parts;
            size_t nparts;
            uint64_t next_id = 1;
            int rc = ff_parts_build(f->dir, &next_id, f->evs, f->n, 256, &parts, &nparts);
            ff_io_fail_after(ops[o], 0, 0);
            if (rc == 0) {
                /* nth is past the last call: the build completed */
                assert_int_equal(nparts, 2);
                assert_int_equal(test_count_dir(f->dir), 2);
                char path[256];
                for (size_t k = 0; k < nparts; k++) {
                    path_of(f, &parts[k], path, sizeof path);
                    unlink(path);
                }
                ff_free(parts);
                assert_true(nth > 1);
                break;
            }
            assert_int_equal(rc, -EIO);
            assert_null(parts);
            assert_int_equal(test_count_dir(f->dir), 0);
        }
    }
}

/* Typed property columns keep every value as it was: present and absent keys, empty strings,
 * a key whose kind changes from row to row (that row's value stays in the rest), the
 * sentinel values themselves, nested values, null, big unsigned numbers, non-objects. */
static void test_typed_properties(void **state)
{
    struct fx *f = *state;
    static const char *const props[] = {
        "{\"k\":1,\"n\":1,\"s\":\"a\",\"b\":true,\"d\":1.5,\"nest\":{\"x\":[1,2]}}",
        "{\"k\":-7,\"n\":2,\"s\":\"\",\"b\":false,\"d\":2.25}",
        "{\"s\":\"only s\",\"d\":0.5,\"z\":null}",
        "{\"k\":10,\"n\":\"not a number\",\"s\":\"x\",\"b\":true,\"d\":3.0}",
        "{\"k\":11,\"n\":-9223372036854775808,\"s\":\"\\u00e9\\\"q\",\"d\":1e300,\"u\":18446744073709551615}",
        "{\"k\":5,\"k\":6,\"s\":\"dup\"}",
        "{}",
        "",
        "{\"k\":3,\"n\":3,\"s\":\"t\",\"b\":false,\"d\":-0.125}",
        "{\"k\":4,\"n\":4,\"s\":\"u\",\"b\":true,\"d\":7.75,\"extra\":\"rare\"}",
    };

    size_t n = 200;
    f->evs = calloc(n, sizeof *f->evs);
    f->n = n;
    for (size_t i = 0; i < n; i++) {
        struct ff_event *ev = &f->evs[i];
        ev->type = FF_EV_TRACK;
        ev->format = FF_FMT_SEGMENT;
        ev->timestamp_us = 20000LL * DAY_US + (int64_t)i;
        ev->received_at_us = ev->timestamp_us;
        ev->original_timestamp_us = ev->sent_at_us = FF_TIME_NONE;
        ev->seq = i + 1;
        ev->event = (struct ff_str){"e", 1};
        ev->message_id = keep(f, "m%zu", i);
        ev->user_id = keep(f, "u%zu", i % 7);
        ev->properties = keep(f, "%s", props[i % 10]);
    }
    struct ff_built_part *parts;
    size_t nparts;
    uint64_t next_id = 1;
    assert_int_equal(ff_parts_build(f->dir, &next_id, f->evs, n, 64, &parts, &nparts), 0);
    assert_int_equal(nparts, 1);
    char path[256], err[512];
    path_of(f, &parts[0], path, sizeof path);
    struct ff_part *p;
    assert_int_equal(ff_part_open(path, &p, err, sizeof err), 0);
    assert_int_equal(p->cols[ff_part_column_index(p, "p.k")].type, FF_COL_I64);
    assert_int_equal(ff_part_column_index(p, "p.n"), -1); /* a string in one row: not typed */
    assert_int_equal(p->cols[ff_part_column_index(p, "p.s")].type, FF_COL_STR);
    assert_int_equal(p->cols[ff_part_column_index(p, "p.b")].type, FF_COL_U8);
    assert_int_equal(p->cols[ff_part_column_index(p, "p.d")].type, FF_COL_F64);
    assert_int_equal(ff_part_column_index(p, "p.extra"), -1); /* in a tenth of the rows: the rest */
    assert_int_equal(ff_part_column_index(p, "p.nest"), -1);
    struct ff_part_events pe;
    ff_part_events_init(&pe, p);
    size_t seen = 0;
    for (uint32_t b = 0; b < p->info.nblocks; b++) {
        assert_int_equal(ff_part_events_load(&pe, p, b, err, sizeof err), 0);
        for (uint32_t i = 0; i < pe.n; i++) {
            struct ff_event ev;
            ff_part_events_get(&pe, i, &ev);
            const struct ff_event *want = &f->evs[ev.seq - 1];
            if (!same_object(ev.properties, want->properties))
                print_error("row %llu: %.*s != %.*s\n", (unsigned long long)ev.seq, (int)ev.properties.len, ev.properties.p,
                            (int)want->properties.len, want->properties.p);
            assert_true(same_object(ev.properties, want->properties));
            seen++;
        }
    }
    assert_int_equal(seen, n);
    ff_part_events_free(&pe);
    ff_part_close(p);
    ff_free(parts);
}

/* The string map against a naive model. */
/* ff_grow: room for what is asked, capacity doubled, nothing lost or changed on failure. */
static void test_ff_grow(void **state)
{
    (void)state;
    size_t cap = 0;
    uint32_t *a = ff_grow(NULL, &cap, 1, sizeof *a, 4);
    assert_non_null(a);
    assert_int_equal(cap, 4);
    for (uint32_t i = 0; i < 4; i++) a[i] = i;
    assert_ptr_equal(ff_grow(a, &cap, 4, sizeof *a, 4), a); /* room already */
    uint32_t *b = ff_grow(a, &cap, 9, sizeof *a, 4);
    assert_non_null(b);
    assert_int_equal(cap, 16);
    for (uint32_t i = 0; i < 4; i++) assert_int_equal(b[i], i);
    ff_alloc_fail_after(1); /* the next allocation fails */
    assert_null(ff_grow(b, &cap, 17, sizeof *b, 4));
    ff_alloc_fail_after(0);
    assert_int_equal(cap, 16);
    assert_int_equal(b[3], 3);
    assert_null(ff_grow(b, &cap, SIZE_MAX / 2, sizeof *b, 4)); /* would overflow */
    assert_int_equal(cap, 16);
    ff_free(b);
}

static void test_strmap(void **state)
{
    (void)state;
    test_rng_init(14);
    struct ff_strmap m;
    ff_strmap_init(&m);
    static char keys[5000][12];
    for (int i = 0; i < 5000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%u", (unsigned)test_randn(2000));
        int found;
        uint32_t *v = ff_strmap_put(&m, keys[i], strlen(keys[i]), (uint32_t)i, &found);
        int model_found = 0;
        uint32_t first = 0;
        for (int j = 0; j < i && !model_found; j++)
            if (!strcmp(keys[j], keys[i])) model_found = 1, first = (uint32_t)j;
        assert_int_equal(found, model_found);
        assert_int_equal(*v, model_found ? first : (uint32_t)i);
    }
    assert_null(ff_strmap_get(&m, "nope", 4));
    int found;
    ff_strmap_put(&m, NULL, 0, 77, &found);
    assert_int_equal(*ff_strmap_get(&m, "", 0), 77);
    ff_strmap_free(&m);
}

/* Sorting strings by radix on 8-byte keys gives qsort's order: shared prefixes of any
 * length, strings that end inside a key, NUL bytes, duplicates, sizes on both sides of the
 * small-set cut-off. */
static void test_str_sort(void **state)
{
    (void)state;
    test_rng_init(15);
    static const char *const prefixes[] = {"", "user-1-0000", "https://shop.example/products/category/item-", "a"};
    const size_t sizes[] = {0, 1, 5, 31, 32, 33, 500, 20000};
    char *arena = malloc(20000 * 80);
    struct ff_str *s = malloc(20000 * sizeof *s);
    uint32_t *idx = malloc(20000 * sizeof *idx);
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++)
        for (int pfx = 0; pfx < 4; pfx++) {
            size_t n = sizes[z], used = 0;
            for (size_t i = 0; i < n; i++) {
                char *p = arena + used;
                size_t len = (size_t)snprintf(p, 80, "%s", prefixes[pfx]);
                size_t tail = test_randn(3) == 0 ? test_randn(4) : test_randn(14);
                for (size_t k = 0; k < tail; k++) p[len++] = "01\0ab\xff"[test_randn(5)];
                if (i && test_randn(10) == 0) memcpy(p, s[i - 1].p, len = s[i - 1].len); /* a duplicate */
                s[i] = (struct ff_str){p, (uint32_t)len};
                idx[i] = (uint32_t)i;
                used += len + 1;
            }
            assert_int_equal(ff_str_sort_index(s, idx, n), 0);
            char *seen = calloc(n + 1, 1);
            for (size_t i = 0; i < n; i++) {
                assert_true(idx[i] < n && !seen[idx[i]]);
                seen[idx[i]] = 1;
                if (i) assert_true(ff_str_cmp(s[idx[i - 1]], s[idx[i]]) <= 0);
            }
            free(seen);
        }
    free(arena), free(s), free(idx);
}

/* A deriver that remembers the last event's inputs gives every event what a fresh one gives:
 * repeats, a page call whose properties differ, and an arena reset between calls (as
 * queries and sessions do) included. */
static void test_derive_repeats(void **state)
{
    (void)state;
    static const char *const ctx[] = {
        "{\"page\":{\"url\":\"https://shop.example/p?utm_source=news&utm_medium=email\",\"referrer\":\"https://www.google.com/\"}}",
        "{\"campaign\":{\"source\":\"x\",\"medium\":\"cpc\",\"name\":\"spring\"}}",
        "{\"library\":{\"name\":\"n\"}}",
        "",
        /* the first one's length, other bytes */
        "{\"page\":{\"url\":\"https://shop.example/p?utm_source=mews&utm_medium=email\",\"referrer\":\"https://www.google.com/\"}}",
    };
    /* the same length, so only their bytes tell them apart */
    static const char *const props[] = {"{\"url\":\"https://a.example/one?gclid=G1\"}", "{\"url\":\"https://a.example/two?gclid=G2\"}"};
    /* reset: that many bytes of the caller's own in the arena before the call */
    static const struct { int type, c, p, reset; } seq[] = {
        {FF_EV_TRACK, 0, 0, 0}, {FF_EV_TRACK, 0, 1, 0}, {FF_EV_PAGE, 0, 0, 0}, {FF_EV_PAGE, 0, 1, 0},
        {FF_EV_PAGE, 0, 1, 0},  {FF_EV_TRACK, 1, 0, 10}, {FF_EV_TRACK, 1, 0, 100}, {FF_EV_TRACK, 0, 0, 0},
        {FF_EV_TRACK, 2, 0, 0}, {FF_EV_TRACK, 2, 1, 0}, {FF_EV_TRACK, 3, 0, 0}, {FF_EV_PAGE, 3, 0, 0},
        {FF_EV_TRACK, 0, 0, 0}, {FF_EV_TRACK, 4, 0, 0}, {FF_EV_TRACK, 4, 1, 0}, {FF_EV_TRACK, 0, 0, 0},
        {FF_EV_PAGE, 4, 0, 0},  {FF_EV_PAGE, 0, 0, 0},
    };
    /* ff_derive, then ff_derive_known with each context's index as its id, as a flush does */
    for (int known = 0; known <= 1; known++) {
        struct ff_deriver d;
        assert_int_equal(ff_deriver_init(&d), 0);
        for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) {
            struct ff_event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = seq[i].type;
            ev.context = (struct ff_str){ctx[seq[i].c], (uint32_t)strlen(ctx[seq[i].c])};
            ev.properties = (struct ff_str){props[seq[i].p], (uint32_t)strlen(props[seq[i].p])};
            if (seq[i].reset) { /* as a caller that resets the arena and writes its own bytes there */
                ff_buf_reset(&d.arena);
                for (int k = 0; k < seq[i].reset; k++) assert_int_equal(ff_buf_putc(&d.arena, '#'), 0);
            }
            struct ff_span got[FF_NDERIVED], want[FF_NDERIVED];
            if (known) ff_derive_known(&d, &ev, (uint32_t)seq[i].c, got);
            else ff_derive(&d, &ev, got);
            struct ff_deriver fresh;
            assert_int_equal(ff_deriver_init(&fresh), 0);
            ff_derive(&fresh, &ev, want);
            for (int k = 0; k < FF_NDERIVED; k++) {
                struct ff_str g = ff_span_str(&d, &got[k]), w = ff_span_str(&fresh, &want[k]);
                if (!same_str(g, w))
                    fail_msg("event %zu (ids %d), derived column %d: '%.*s', want '%.*s'", i, known, k, (int)g.len, g.p,
                             (int)w.len, w.p);
            }
            ff_deriver_free(&fresh);
        }
        ff_deriver_free(&d);
    }
}

/* zstd chunks go through a context kept per thread (core/zstd_ctx.h): several threads at
 * once each compress and decompress their own chunks of every size, equal both ways, and a
 * damaged or mis-sized chunk is refused, after which the thread's context still works. */
struct zstd_job {
    unsigned seed;
    int failures;
};

static void *zstd_worker(void *arg)
{
    struct zstd_job *job = arg;
    unsigned x = job->seed;
    for (int round = 0; round < 60; round++) {
        size_t n = (size_t)(round * 997) % 70000;
        char *raw = malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            raw[i] = (char)("abcdefgh"[(x >> 16) % (round % 8 + 1)] + (round & 1)); /* repetitive, so it compresses */
        }
        struct ff_buf out;
        ff_buf_init(&out, (size_t)1 << 30);
        char *back = malloc(n + 1);
        if (ff_compress(FF_CODEC_ZSTD, raw, n, &out) || ff_decompress(FF_CODEC_ZSTD, out.data, out.len, back, n) ||
            memcmp(raw, back, n))
            job->failures++;
        if (n > 100) {
            if (ff_decompress(FF_CODEC_ZSTD, out.data, out.len, back, n - 1) != FF_ECORRUPT) job->failures++;
            out.data[out.len / 2] ^= 0x5a;
            out.data[out.len - 1] ^= 0x5a;
            /* a damaged frame may still decode to n bytes; never to those of raw */
            if (!ff_decompress(FF_CODEC_ZSTD, out.data, out.len, back, n) && !memcmp(raw, back, n)) job->failures++;
            if (ff_decompress(FF_CODEC_ZSTD, "not zstd", 8, back, n) != FF_ECORRUPT) job->failures++;
        }
        ff_buf_free(&out);
        free(raw);
        free(back);
    }
    return NULL;
}

static void test_zstd_thread_contexts(void **state)
{
    (void)state;
    enum { THREADS = 4 };
    pthread_t t[THREADS];
    struct zstd_job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (struct zstd_job){.seed = 17u * (unsigned)i + 1u};
        assert_int_equal(pthread_create(&t[i], NULL, zstd_worker, &jobs[i]), 0);
    }
    struct zstd_job mine = {.seed = 99};
    zstd_worker(&mine); /* the main thread meanwhile, with a context of its own */
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(jobs[i].failures, 0);
    }
    assert_int_equal(mine.failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_codecs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sort_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streaming_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uuid_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interned_encodings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extremes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_by_column, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dict_codes_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corruption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_read_prunes_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_injected_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_properties, setup, teardown),
        cmocka_unit_test(test_ff_grow),
        cmocka_unit_test(test_strmap),
        cmocka_unit_test(test_str_sort),
        cmocka_unit_test(test_derive_repeats),
        cmocka_unit_test(test_dict_codes),
        cmocka_unit_test(test_integer_chunks),
        cmocka_unit_test(test_zstd_thread_contexts),
    };
    return cmocka_run_group_tests_name("part", tests, NULL, NULL);
}
