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
 *                                    them as parts, in CPU time (and in user time alone,
 *                                    without the page faults and writes that vary from run
 *                                    to run); prints FLUSH rows= add_us_per_row=
 *                                    flush_user_us_per_row= flush_us_per_row= and the part
 *                                    building's stages (STAGES)
 *   store_bench sessions DIR N K     the open sessions of N devices saved into DIR (a whole
 *                                    DATA/SESSIONS), then five saves after K of them moved
 *                                    on (journal chunks); prints SESSIONS_SAVE lines in ms
 *
 * The events come from footfall's generator (src/gen/generator.h, R14): 30 days from
 * 2025-11-20 of e-commerce and social-app sessions; a fixed seed gives the same events every
 * run. */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/errors.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "gen/generator.h"
#include "ingest/ingest.h"
#include "store/dedup_file.h"
#include "store/merge_stream.h"
#include "store/part.h"
#include "store/schema.h"
#include "store/sessions.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store/wal.h"

/* ---- sinks: the footfall store (records, as the WAL hands them) and ClickHouse TSV ---- */

struct sink {
    struct ff_store *store;
    struct ff_dedup_keybuf keys; /* the events' dedup keys, as a server that took them today keeps them */
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

static void to_sinks(void *arg, const struct ff_event *ev, uint64_t visit_number)
{
    struct sink *k = arg;
    if (!k->in_frame) k->frame_first = k->seq;
    ff_event_encode(&k->frame, ev);
    unsigned check;
    uint64_t key = ff_dedup_hash(ev->write_key, ev->message_id, &check);
    ff_dedup_file_add(&k->keys, key, ff_dedup_stamp(k->keys_received, check));
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
    struct ff_gen *g;
    struct ff_gen_opts go = {.seed = seed, .start_us = 20412LL * 86400 * 1000000, /* 2025-11-20, a Thursday */
                             .days = 30, .people = n / 40 > 1000 ? n / 40 : 1000};
    if (ff_gen_new(&g, &go)) {
        fprintf(stderr, "store_bench: cannot start the generator\n");
        return 1;
    }
    struct sink k;
    memset(&k, 0, sizeof k);
    k.seq = 1;
    ff_buf_init(&k.frame, (size_t)1 << 30);
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
    while (ff_gen_events(g) < n) ff_gen_session(g, to_sinks, &k);
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
           (unsigned long long)ff_gen_events(g), (unsigned long long)ff_gen_sessions(g), m.nparts, (unsigned long long)bytes, t1 - t0,
           merges, t2 - t1);
    ff_manifest_free(&m);
    ff_store_close(k.store);
    /* The keys file a server keeps for the events it took in the last 24 hours (the worst
     * case for start-up: all of them), as a finished WAL segment leaves it. */
    char kpath[4200];
    snprintf(kpath, sizeof kpath, "%s/wal", dir);
    mkdir(kpath, 0755);
    snprintf(kpath, sizeof kpath, "%s/wal/00000000000000000001.dedup", dir);
    if (ff_dedup_file_write(kpath, &k.keys, NULL)) fprintf(stderr, "store_bench: cannot write %s\n", kpath), exit(1);
    ff_dedup_keybuf_free(&k.keys);
    if (k.tsv) fclose(k.tsv);
    ff_gen_free(g);
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

/* This thread's CPU time in user space alone: page faults and the part files' writes, which
 * vary from run to run on a virtual machine, are the kernel's. */
static double user_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
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
        double t1 = cpu_s(), u1 = user_s();
        uint64_t stage0[FF_BUILD_STAGES];
        for (int k = 0; k < FF_BUILD_STAGES; k++) stage0[k] = ff_counter_get(ff_metrics.part_build_cpu_ns[k]);
        if (ff_store_flush(s)) {
            fprintf(stderr, "store_bench: flush failed\n");
            return 1;
        }
        double t2 = cpu_s(), u2 = user_s(); /* CPU time: the part files' fsyncs wait on the disk */
        printf("FLUSH round=%d rows=%llu add_us_per_row=%.3f flush_user_us_per_row=%.3f flush_us_per_row=%.3f\n",
               r + 1, (unsigned long long)w.n, (t1 - t0) * 1e6 / (double)(w.n ? w.n : 1),
               (u2 - u1) * 1e6 / (double)(w.n ? w.n : 1), (t2 - t1) * 1e6 / (double)(w.n ? w.n : 1));
        printf("STAGES round=%d us_per_row:", r + 1); /* the flush's part building, as /metrics has it */
        for (int k = 0; k < FF_BUILD_STAGES; k++)
            printf(" %s=%.3f", ff_build_stage_names[k],
                   (double)(ff_counter_get(ff_metrics.part_build_cpu_ns[k]) - stage0[k]) / 1e3 / (double)(w.n ? w.n : 1));
        printf("\n");
    }
    ff_store_close(s);
    if (!getenv("STORE_BENCH_KEEP")) rm_tree(dir);
    ff_buf_free(&w.records);
    return 0;
}

/* Device i's next event at time t, to its session. */
static void session_event(struct ff_sessions *ss, int i, int64_t t)
{
    char anon[64], id[FF_SESSION_ID_LEN];
    snprintf(anon, sizeof anon, "anon-%08d-5d6a1c1e-8f3b-4c2e", i);
    struct ff_event e;
    memset(&e, 0, sizeof e);
    e.type = FF_EV_TRACK;
    e.project = (struct ff_str){"shop", 4};
    e.anonymous_id = (struct ff_str){anon, (uint32_t)strlen(anon)};
    e.timestamp_us = e.received_at_us = t;
    ff_sessions_assign(ss, &e, NULL, id);
}

static int cmd_sessions(const char *dir, int n, int k)
{
    char err[512];
    struct ff_sessions *ss;
    rm_tree(dir);
    if (mkdir(dir, 0755) || ff_sessions_open(dir, &ss, err, sizeof err)) {
        fprintf(stderr, "store_bench: %s: %s\n", dir, err);
        return 1;
    }
    int64_t t0 = ff_now_us() - 3600LL * 1000000;
    for (int i = 0; i < n; i++) session_event(ss, i, t0 + i);
    double a = now_s();
    int rc = ff_sessions_save(ss, dir, t0 + n);
    printf("SESSIONS_SAVE devices=%d changed=%d ms=%.1f (whole file)\n", n, n, (now_s() - a) * 1e3);
    for (int r = 0; r < 5 && !rc; r++) {
        for (int i = 0; i < k; i++) session_event(ss, (r * k + i) % n, t0 + n + r * 1000 + i);
        a = now_s();
        rc = ff_sessions_save(ss, dir, t0 + n + r * 1000 + k);
        printf("SESSIONS_SAVE devices=%d changed=%d ms=%.1f\n", n, k, (now_s() - a) * 1e3);
    }
    ff_sessions_free(ss);
    if (!getenv("STORE_BENCH_KEEP")) rm_tree(dir);
    if (rc) fprintf(stderr, "store_bench: saving sessions: %s\n", ff_strerror(rc));
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    /* the server's allocator settings, so flushes and merges reuse memory as they do there */
    ff_alloc_prefer_huge_pages(argv);
    ff_alloc_keep_freed_memory();
    if (argc >= 5 && !strcmp(argv[1], "gen"))
        return cmd_gen(strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10), argv[4], argc > 5 ? argv[5] : NULL);
    if (argc == 4 && !strcmp(argv[1], "scan")) return cmd_scan(argv[2], argv[3]);
    if (argc >= 5 && !strcmp(argv[1], "merge")) return cmd_merge(atoi(argv[2]), argv[3], argv + 4, argc - 4);
    if (argc == 5 && !strcmp(argv[1], "flush")) return cmd_flush(atoi(argv[2]), argv[3], strtoull(argv[4], NULL, 10));
    if (argc == 5 && !strcmp(argv[1], "sessions")) return cmd_sessions(argv[2], atoi(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: store_bench gen N SEED DIR [TSV] | store_bench scan DIR COLUMN | "
                    "store_bench merge ROUNDS OUT PART... | store_bench flush ROUNDS DATA N | "
                    "store_bench sessions DIR N K\n");
    return 2;
}
