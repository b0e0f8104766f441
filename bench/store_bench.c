/* store_bench - realistic behaviour events for the store benchmark (bench/store).
 *
 *   store_bench gen N SEED DIR TSV   builds a footfall store of N events in DIR (parts, merged
 *                                    as the server would) and writes the same events as TSV
 *                                    for ClickHouse to TSV; prints GEN lines
 *   store_bench scan DIR COLUMN      decodes every chunk of COLUMN in DIR's parts on one core;
 *                                    prints SCAN bytes= seconds=
 *   store_bench merge ROUNDS OUT PART...   merges the given parts of one day into OUT as the
 *                                    merge thread would, ROUNDS times (the first warms the
 *                                    pool of decoded blocks); prints MERGE rows= us_per_row=
 *   store_bench flush ROUNDS DATA N  takes the first N events of the WAL in DATA (a server's
 *                                    data directory, e.g. after bench/run) into a store under
 *                                    DATA/flushbench, ROUNDS times over, and times adding them
 *                                    (identity, sessions, memtable) and the flush that writes
 *                                    them as parts, in CPU time; prints FLUSH rows=
 *                                    add_us_per_row= flush_us_per_row=
 *
 * The events (R14): sessions of e-commerce visitors (home and product pages, searches,
 * product views, cart, checkout and purchases with drop-off at each step) and of
 * a social app (feed, post views, likes, comments, shares). Session starts follow a daily
 * and weekly rhythm over 30 days; products, posts and people are Zipf-distributed; about
 * 60% of sessions belong to signed-in users; a fixed seed gives the same events every run. */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/errors.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "ingest/ingest.h"
#include "store/dedup_file.h"
#include "store/merge_stream.h"
#include "store/part.h"
#include "store/schema.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store/wal.h"

static uint64_t rng;
static uint64_t next64(void)
{
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}
static double unit(void) { return (double)(next64() >> 11) / 9007199254740992.0; }
static int chance(double p) { return unit() < p; }

struct zipf {
    double *cdf;
    int n;
};
static void zipf_init(struct zipf *z, int n, double s)
{
    z->n = n;
    z->cdf = malloc((size_t)n * sizeof *z->cdf);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += 1.0 / pow(i + 1, s);
    double acc = 0;
    for (int i = 0; i < n; i++) z->cdf[i] = (acc += 1.0 / pow(i + 1, s) / sum);
}
static int zipf_draw(const struct zipf *z)
{
    double u = unit();
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

/* Hour-of-day and day-of-week weights: evenings and weekdays busier. */
static const double hour_w[24] = {2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 9, 9, 8, 8, 8, 9, 10, 11, 11, 9, 6, 4};
static const double dow_w[7] = {10, 10, 10, 10, 9, 7, 7};

struct gen {
    struct zipf products, posts, users;
    int64_t start_us;
    uint64_t sessions, events;
    /* one event's strings */
    char mid[40], anon[40], user[24], props[256], ctx[512], name[40], ev[32], wk[8];
};

static void uuid(char out[37])
{
    uint64_t a = next64(), b = next64();
    snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16 & 0xffff),
             (unsigned)(a & 0xfff), (unsigned)(0x8000 | (b >> 48 & 0x3fff)), (unsigned long long)(b & 0xffffffffffffULL));
}

static int64_t session_start(const struct gen *g)
{
    /* rejection sampling of a day (weekly rhythm) and an hour (daily rhythm) */
    for (;;) {
        int day = (int)(unit() * 30), hour = (int)(unit() * 24);
        int dow = (day + 3) % 7; /* 0 = Monday: start_us is a Thursday */
        if (unit() * 11 > hour_w[hour] || unit() * 10 > dow_w[dow]) continue;
        return g->start_us + ((int64_t)day * 86400 + hour * 3600 + (int64_t)(unit() * 3600)) * 1000000;
    }
}

/* The generator's visit the events being emitted belong to: ClickHouse's `session` column,
 * for the SQL of the paths and sessions queries (footfall sums its own sessions). */
static uint64_t visit_number;

typedef void (*emit_fn)(void *arg, const struct ff_event *ev);

static void emit(struct gen *g, emit_fn fn, void *arg, int type, const char *event, int64_t t, const char *page_path,
                 const char *title, const char *utm, const char *props, int agent)
{
    struct ff_event ev;
    memset(&ev, 0, sizeof ev);
    uuid(g->mid);
    ev.type = (uint8_t)type;
    ev.format = FF_FMT_SEGMENT;
    ev.timestamp_us = t;
    ev.received_at_us = t + 40000 + (int64_t)(unit() * 200000);
    ev.original_timestamp_us = t;
    ev.sent_at_us = ev.received_at_us - 20000;
    ev.message_id = (struct ff_str){g->mid, 36};
    ev.anonymous_id = (struct ff_str){g->anon, 36};
    ev.user_id = (struct ff_str){g->user, (uint32_t)strlen(g->user)};
    ev.write_key = (struct ff_str){"wk_live", 7};
    if (type == FF_EV_PAGE) {
        snprintf(g->name, sizeof g->name, "%s", title);
        ev.name = (struct ff_str){g->name, (uint32_t)strlen(g->name)};
    } else {
        snprintf(g->ev, sizeof g->ev, "%s", event);
        ev.event = (struct ff_str){g->ev, (uint32_t)strlen(g->ev)};
    }
    snprintf(g->props, sizeof g->props, "%s", props);
    ev.properties = (struct ff_str){g->props, (uint32_t)strlen(g->props)};
    int n = snprintf(g->ctx, sizeof g->ctx,
                     "{\"page\":{\"path\":\"%s\",\"url\":\"https://shop.example%s%s\",\"title\":\"%s\",\"referrer\":\"%s\"},"
                     "\"userAgent\":\"%s\",\"ip\":\"203.0.%d.%d\",\"locale\":\"en-US\",\"library\":{\"name\":\"analytics.js\",\"version\":\"5.2.0\"}}",
                     page_path, page_path, utm, title, utm[0] ? "https://www.google.com/" : "", agents[agent],
                     (int)(g->sessions % 200), (int)(g->sessions % 250));
    ev.context = (struct ff_str){g->ctx, (uint32_t)n};
    fn(arg, &ev);
    g->events++;
}

/* One session: e-commerce or social, with drop-off at each step. */
static void session(struct gen *g, emit_fn fn, void *arg)
{
    g->sessions++;
    visit_number = g->sessions;
    int u = zipf_draw(&g->users);
    /* a person keeps an anonymous id; 60% of people are signed in */
    uint64_t save = rng;
    rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(u + 1);
    uuid(g->anon);
    rng = save;
    if (u % 5 < 3) snprintf(g->user, sizeof g->user, "user_%d", u);
    else g->user[0] = 0;
    int64_t t = session_start(g);
    int agent = u % 4;
    char utm[96] = "", props[256], path[96], title[96];
    if (chance(0.3)) {
        int s = (int)(unit() * 4);
        snprintf(utm, sizeof utm, "?utm_source=%s&utm_medium=%s&utm_campaign=spring_sale", sources[s], mediums[s]);
    }
#define STEP() (t += (int64_t)(2 + unit() * 60) * 1000000)
    if (chance(0.7)) { /* shop */
        emit(g, fn, arg, FF_EV_PAGE, "", t, "/", "Home", utm, "{}", agent);
        int views = 1 + (int)(unit() * 6);
        for (int i = 0; i < views; i++) {
            STEP();
            if (chance(0.25)) {
                snprintf(props, sizeof props, "{\"query\":\"%s\"}", queries[(int)(unit() * 6)]);
                emit(g, fn, arg, FF_EV_TRACK, "Products Searched", t, "/search", "Search", "", props, agent);
                STEP();
            }
            int p = zipf_draw(&g->products);
            const char *cat = categories[p % 8];
            snprintf(path, sizeof path, "/p/%d", p);
            snprintf(title, sizeof title, "Product %d", p);
            emit(g, fn, arg, FF_EV_PAGE, "", t, path, title, "", "{}", agent);
            snprintf(props, sizeof props, "{\"product_id\":\"sku-%d\",\"category\":\"%s\",\"price\":%d.99,\"currency\":\"USD\"}",
                     p, cat, 5 + p % 200);
            emit(g, fn, arg, FF_EV_TRACK, "Product Viewed", t + 300000, path, title, "", props, agent);
            if (chance(0.2)) {
                STEP();
                emit(g, fn, arg, FF_EV_TRACK, "Product Added", t, path, title, "", props, agent);
                if (chance(0.5)) {
                    STEP();
                    emit(g, fn, arg, FF_EV_TRACK, "Checkout Started", t, "/checkout", "Checkout", "", props, agent);
                    if (chance(0.6)) {
                        STEP();
                        snprintf(props, sizeof props,
                                 "{\"order_id\":\"o-%llu\",\"revenue\":%d.99,\"currency\":\"USD\",\"products\":1}",
                                 (unsigned long long)g->sessions, 5 + p % 200);
                        emit(g, fn, arg, FF_EV_TRACK, "Order Completed", t, "/checkout/done", "Thank you", "", props, agent);
                        break;
                    }
                }
            }
        }
    } else { /* social */
        emit(g, fn, arg, FF_EV_SCREEN, "", t, "/feed", "Feed", utm, "{}", agent);
        int posts = 2 + (int)(unit() * 10);
        for (int i = 0; i < posts; i++) {
            STEP();
            int p = zipf_draw(&g->posts);
            snprintf(path, sizeof path, "/post/%d", p);
            snprintf(props, sizeof props, "{\"post_id\":\"post-%d\",\"author\":\"user_%d\"}", p, p % 997);
            emit(g, fn, arg, FF_EV_TRACK, "Post Viewed", t, path, "Post", "", props, agent);
            if (chance(0.15)) emit(g, fn, arg, FF_EV_TRACK, "Post Liked", t + 1500000, path, "Post", "", props, agent);
            if (chance(0.04)) emit(g, fn, arg, FF_EV_TRACK, "Comment Added", t + 9000000, path, "Post", "", props, agent);
            if (chance(0.02)) emit(g, fn, arg, FF_EV_TRACK, "Post Shared", t + 3000000, path, "Post", "", props, agent);
        }
    }
#undef STEP
}

/* ---- sinks: the footfall store (records, as the WAL hands them) and ClickHouse TSV ---- */

struct sink {
    struct ff_store *store;
    struct ff_buf keys; /* the events' dedup keys, as a server that took them today keeps them */
    int64_t keys_received;
    struct ff_buf frame;
    uint64_t seq, frame_first, in_frame, since_flush;
    FILE *tsv;
    struct ff_buf line;
};

static int tsv_str(struct ff_buf *b, struct ff_str s)
{
    int rc = 0;
    for (uint32_t i = 0; i < s.len && !rc; i++) {
        char c = s.p[i];
        if (c == '\t') rc = ff_buf_append(b, "\\t", 2);
        else if (c == '\n') rc = ff_buf_append(b, "\\n", 2);
        else if (c == '\\') rc = ff_buf_append(b, "\\\\", 2);
        else rc = ff_buf_putc(b, c);
    }
    return rc ? rc : ff_buf_putc(b, '\t');
}

static void to_sinks(void *arg, const struct ff_event *ev)
{
    struct sink *k = arg;
    if (!k->in_frame) k->frame_first = k->seq;
    ff_event_encode(&k->frame, ev);
    ff_dedup_file_add(&k->keys, ff_dedup_hash(ev->write_key, ev->message_id), k->keys_received);
    k->seq++;
    if (++k->in_frame == 1000) {
        ff_store_on_durable(k->store, k->frame_first, k->frame.data, k->frame.len, NULL, 0);
        ff_buf_reset(&k->frame);
        k->in_frame = 0;
    }
    if (++k->since_flush == 1000000) {
        if (ff_store_flush(k->store)) fprintf(stderr, "store_bench: flush failed\n"), exit(1);
        k->since_flush = 0;
    }
    if (k->tsv) {
        struct ff_buf *b = &k->line;
        ff_buf_reset(b);
        static const char *const types[] = {"", "track", "page", "screen", "identify", "group", "alias"};
        ff_buf_put_u64dec(b, (uint64_t)ev->timestamp_us), ff_buf_putc(b, '\t');
        ff_buf_put_u64dec(b, (uint64_t)ev->received_at_us), ff_buf_putc(b, '\t');
        ff_buf_append_str(b, types[ev->type]), ff_buf_putc(b, '\t');
        tsv_str(b, ev->event);
        tsv_str(b, ev->name);
        tsv_str(b, ev->message_id);
        tsv_str(b, ev->anonymous_id);
        tsv_str(b, ev->user_id);
        tsv_str(b, ev->write_key);
        tsv_str(b, ev->properties);
        tsv_str(b, ev->context);
        ff_buf_put_u64dec(b, visit_number), ff_buf_putc(b, '\t');
        b->data[b->len - 1] = '\n';
        fwrite(b->data, 1, b->len, k->tsv);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_gen(uint64_t n, uint64_t seed, const char *dir, const char *tsv_path)
{
    rng = seed * 0x9e3779b97f4a7c15ULL + 1;
    struct gen g;
    memset(&g, 0, sizeof g);
    zipf_init(&g.products, 5000, 1.1);
    zipf_init(&g.posts, 20000, 1.2);
    zipf_init(&g.users, (int)(n / 40 > 1000 ? n / 40 : 1000), 0.8);
    g.start_us = 20412LL * 86400 * 1000000; /* 2025-11-20, a Thursday */
    struct sink k;
    memset(&k, 0, sizeof k);
    k.seq = 1;
    ff_buf_init(&k.frame, (size_t)1 << 30);
    ff_buf_init(&k.keys, (size_t)1 << 40);
    k.keys_received = ff_now_us() - 3600LL * 1000000; /* an hour ago: all inside the window */
    ff_buf_init(&k.line, 1 << 20);
    char err[512];
    struct ff_store_opts o = {.dir = dir, .manual_flush = 1, .wal_keep_us = 1};
    if (ff_store_open(&k.store, &o, err, sizeof err)) {
        fprintf(stderr, "store_bench: %s\n", err);
        return 1;
    }
    if (tsv_path && !(k.tsv = fopen(tsv_path, "w"))) {
        fprintf(stderr, "store_bench: %s: %s\n", tsv_path, strerror(errno));
        return 1;
    }
    double t0 = now_s();
    while (g.events < n) session(&g, to_sinks, &k);
    if (k.in_frame) ff_store_on_durable(k.store, k.frame_first, k.frame.data, k.frame.len, NULL, 0);
    if (ff_store_flush(k.store)) return 1;
    double t1 = now_s();
    int merges = 0, rc;
    while ((rc = ff_store_merge_once(k.store)) == 1) merges++;
    double t2 = now_s();
    struct ff_manifest m;
    ff_store_manifest(k.store, &m);
    uint64_t bytes = 0;
    for (size_t i = 0; i < m.nparts; i++) bytes += m.parts[i].bytes;
    printf("GEN events=%llu sessions=%llu parts=%zu bytes=%llu build_s=%.2f merges=%d merge_s=%.2f\n",
           (unsigned long long)g.events, (unsigned long long)g.sessions, m.nparts, (unsigned long long)bytes, t1 - t0,
           merges, t2 - t1);
    ff_manifest_free(&m);
    ff_store_close(k.store);
    /* The keys file a server keeps for the events it took in the last 24 hours (the worst
     * case for start-up: all of them), as a finished WAL segment leaves it. */
    char kpath[4200];
    snprintf(kpath, sizeof kpath, "%s/wal", dir);
    mkdir(kpath, 0755);
    snprintf(kpath, sizeof kpath, "%s/wal/00000000000000000001.dedup", dir);
    if (ff_dedup_file_write(kpath, &k.keys)) fprintf(stderr, "store_bench: cannot write %s\n", kpath), exit(1);
    ff_buf_free(&k.keys);
    if (k.tsv) fclose(k.tsv);
    return rc < 0 ? 1 : 0;
}

static int cmd_scan(const char *dir, const char *column)
{
    struct ff_store *s;
    char err[512];
    struct ff_store_opts o = {.dir = dir, .read_only = 1};
    if (ff_store_open(&s, &o, err, sizeof err)) {
        fprintf(stderr, "store_bench: %s\n", err);
        return 1;
    }
    struct snapshot snap;
    ff_store_snapshot(s, &snap);
    uint64_t bytes = 0, rows = 0;
    struct ff_colvec v = {0};
    double t0 = now_s();
    for (size_t i = 0; i < snap.ps->n; i++) {
        const struct ff_part *p = snap.ps->parts[i]->p;
        int c = ff_part_column_index(p, column);
        if (c < 0 || snap.ps->parts[i]->meta.kind != FF_PART_EVENTS) continue;
        for (uint32_t b = 0; b < p->info.nblocks; b++) {
            if (ff_part_read(p, b, (uint32_t)c, &v, err, sizeof err)) {
                fprintf(stderr, "store_bench: %s\n", err);
                return 1;
            }
            bytes += p->blocks[b].chunks[c].raw_len;
            rows += v.n;
        }
    }
    double t1 = now_s();
    ff_colvec_free(&v);
    printf("SCAN column=%s rows=%llu bytes=%llu seconds=%.3f\n", column, (unsigned long long)rows,
           (unsigned long long)bytes, t1 - t0);
    ff_snapshot_release(&snap);
    ff_store_close(s);
    return 0;
}

static int cmd_merge(int rounds, const char *out, char **paths, int n)
{
    struct ff_part *in[FF_MERGE_MAX_INPUTS];
    char err[512];
    if (n < 1 || n > FF_MERGE_MAX_INPUTS) {
        fprintf(stderr, "store_bench: merge takes 1 to %d parts\n", FF_MERGE_MAX_INPUTS);
        return 2;
    }
    for (int i = 0; i < n; i++)
        if (ff_part_open(paths[i], &in[i], err, sizeof err)) {
            fprintf(stderr, "store_bench: %s\n", err);
            return 1;
        }
    struct ff_merge_pool pool = {0};
    for (int r = 0; r < rounds; r++) {
        struct ff_built_part b;
        double t0 = now_s();
        int rc = ff_parts_merge_stream(in, (size_t)n, out, FF_PART_BLOCK_ROWS, &pool, &b, err, sizeof err);
        double t1 = now_s();
        if (rc) {
            fprintf(stderr, "store_bench: merge: %s (%d)\n", err, rc);
            return 1;
        }
        printf("MERGE round=%d rows=%llu bytes=%llu seconds=%.3f us_per_row=%.3f\n", r + 1,
               (unsigned long long)b.info.nrows, (unsigned long long)b.bytes, t1 - t0,
               (t1 - t0) * 1e6 / (double)(b.info.nrows ? b.info.nrows : 1));
    }
    ff_merge_pool_free(&pool);
    for (int i = 0; i < n; i++) ff_part_close(in[i]);
    return 0;
}

/* The events of a WAL, re-encoded as frames of up to 1000 records (as a server's requests
 * bring them). */
struct wal_events {
    struct ff_buf records;
    uint64_t n, limit;
};

static int take_record(void *arg, uint64_t seq, const struct ff_record *rec)
{
    struct wal_events *w = arg;
    (void)seq;
    if (rec->kind != FF_REC_EVENT) return 0;
    if (w->n == w->limit) return 1;
    w->n++;
    return ff_event_encode(&w->records, &rec->u.ev) ? -ENOMEM : 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes a directory tree (none there is fine). */
static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_flush(int rounds, const char *data, uint64_t limit)
{
    struct wal_events w = {.limit = limit};
    ff_buf_init(&w.records, (size_t)1 << 34);
    int rc = ff_wal_scan(data, take_record, &w);
    if (rc < 0) {
        fprintf(stderr, "store_bench: cannot read the WAL under %s: %s\n", data, ff_strerror(rc));
        return 1;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/flushbench", data);
    rm_tree(dir);
    /* One store for every round, as a server keeps its buffers from flush to flush. */
    struct ff_store *s;
    char err[512];
    struct ff_store_opts o = {.dir = dir, .manual_flush = 1, .flush_bytes = (size_t)1 << 40};
    if (ff_store_open(&s, &o, err, sizeof err)) {
        fprintf(stderr, "store_bench: %s\n", err);
        return 1;
    }
    uint64_t seq = 1;
    for (int r = 0; r < rounds; r++) {
        double t0 = cpu_s();
        /* frames of 1000 records, numbered on from the last round's */
        size_t off = 0, start = 0;
        uint64_t first = seq, in_frame = 0;
        struct ff_record rec;
        while (off < w.records.len && !ff_record_decode(w.records.data, w.records.len, &off, &rec)) {
            seq++;
            if (++in_frame == 1000 || off == w.records.len) {
                ff_store_on_durable(s, first, w.records.data + start, off - start, NULL, 0);
                start = off, first = seq, in_frame = 0;
            }
        }
        double t1 = cpu_s();
        if (ff_store_flush(s)) {
            fprintf(stderr, "store_bench: flush failed\n");
            return 1;
        }
        double t2 = cpu_s(); /* CPU time: the part files' fsyncs wait on the disk */
        printf("FLUSH round=%d rows=%llu add_us_per_row=%.3f flush_us_per_row=%.3f\n", r + 1,
               (unsigned long long)w.n, (t1 - t0) * 1e6 / (double)(w.n ? w.n : 1),
               (t2 - t1) * 1e6 / (double)(w.n ? w.n : 1));
    }
    ff_store_close(s);
    rm_tree(dir);
    ff_buf_free(&w.records);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "gen"))
        return cmd_gen(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10), argv[4], argc > 5 ? argv[5] : NULL);
    if (argc == 4 && !strcmp(argv[1], "scan")) return cmd_scan(argv[2], argv[3]);
    if (argc >= 5 && !strcmp(argv[1], "merge")) return cmd_merge(atoi(argv[2]), argv[3], argv + 4, argc - 4);
    if (argc == 5 && !strcmp(argv[1], "flush")) return cmd_flush(atoi(argv[2]), argv[3], strtoull(argv[4], NULL, 10));
    fprintf(stderr, "usage: store_bench gen N SEED DIR [TSV] | store_bench scan DIR COLUMN | "
                    "store_bench merge ROUNDS OUT PART... | store_bench flush ROUNDS DATA N\n");
    return 2;
}
