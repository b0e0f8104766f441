/* test_store.c - the event store (store/store.h) in a temporary directory: records handed
 * over as the WAL hands them (with dropped duplicates), read back newest first from memory,
 * from parts after a flush, and from both; filters on parts; counts; a reopen; files a
 * crashed flush left behind removed at open; a flush whose Nth write, fsync or rename
 * fails leaving a store that reopens with every event exactly once; and a merge that an
 * erasure overtakes (stopped by a gate in open(2)) not bringing the erased events back; an
 * erasure (through a real WAL) and a retention drop whose Nth write, fsync or rename fails
 * leaving every other event once, none twice, and what a retry then removes gone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#include "core/alloc.h"
#include "core/errors.h"
#include "core/fileio.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "ingest/ingest.h"
#include "store/manifest.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store/identity.h"
#include "store/wal.h"

#include <xxhash.h>
#include <stdatomic.h>
#include <pthread.h>

#define DAY_US (86400LL * 1000000LL)

struct fx {
    char dir[128];
    struct ff_store *s;
    struct ff_wal *wal; /* with_wal: opened with the store, which it hands the frames */
    int with_wal;
    uint64_t next_seq;
    /* the model: messageIds of stored events, in arrival order */
    char (*ids)[40];
    int64_t *times;
    char (*names)[8];
    size_t n, cap;
    size_t nq;
    const char *prop; /* the property key frame() gives its events ("i" when NULL) */
    int32_t day;      /* the first of the two days frame() spreads events over (20000 when 0) */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (test_mkdtemp(f->dir, sizeof f->dir, "store")) return -1;
    f->next_seq = 1;
    *state = f;
    return 0;
}

static int retention_days; /* what open_store gives the store */

static int teardown(void **state)
{
    struct fx *f = *state;
    ff_io_fail_reset();
    retention_days = 0;
    if (f->wal) ff_wal_close(f->wal);
    if (f->s) ff_store_close(f->s);
    test_rmtree(f->dir);
    free(f->ids);
    free(f->times);
    free(f->names);
    free(f);
    return 0;
}

static void open_store(struct fx *f, int read_only)
{
    char err[512] = "";
    struct ff_store_opts o = {.dir = f->dir, .flush_interval_us = 3600LL * 1000000, .block_rows = 64,
                              .wal_keep_us = DAY_US, .read_only = read_only, .manual_flush = 1,
                              .retention_days = retention_days};
    int rc = ff_store_open(&f->s, &o, err, sizeof err);
    if (rc) print_error("open: %s\n", err);
    assert_int_equal(rc, 0);
    if (!f->with_wal || read_only) return;
    /* as the server does: the store first (it replays the WAL), then the WAL */
    struct ff_wal_opts wo = {.dir = f->dir, .segment_bytes = 1 << 20, .dedup_window_us = DAY_US,
                             .on_durable = ff_store_on_durable, .on_durable_arg = f->s,
                             .min_next_seq = ff_store_next_seq(f->s)};
    struct ff_wal_recovery rec;
    rc = ff_wal_open(&f->wal, &wo, &rec);
    if (rc) print_error("WAL open: %s\n", ff_strerror(rc));
    assert_int_equal(rc, 0);
    ff_store_attach_wal(f->s, f->wal);
}

static void close_store(struct fx *f)
{
    if (f->wal) ff_wal_close(f->wal);
    f->wal = NULL;
    ff_store_close(f->s);
    f->s = NULL;
}

static pthread_mutex_t wal_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wal_cv = PTHREAD_COND_INITIALIZER;

static void wal_done(struct ff_wal_req *req)
{
    pthread_mutex_lock(&wal_mu);
    *(int *)req->udata = 1;
    pthread_cond_broadcast(&wal_cv);
    pthread_mutex_unlock(&wal_mu);
}

/* Writes the batch to f->wal and waits until it is durable (and in the store's memory). */
static void wal_write(struct fx *f, const struct ff_batch *batch)
{
    int done = 0;
    struct ff_wal_req req = {.batch = batch, .done = wal_done, .udata = &done};
    ff_wal_submit(f->wal, &req);
    pthread_mutex_lock(&wal_mu);
    while (!done) pthread_cond_wait(&wal_cv, &wal_mu);
    pthread_mutex_unlock(&wal_mu);
    assert_int_equal(req.status, 0);
    assert_int_equal(req.stored, batch->accepted);
    assert_int_equal(req.duplicates, 0);
}

/* Hands over one frame of `n` events (names cycling a/b/c, times spread over two days), the
 * ones at `drop` indexes marked as duplicates, plus one quarantined item when `q`; with a
 * WAL (no drops then), through it as a request's batch. */
static void frame(struct fx *f, int n, const uint32_t *drop, uint32_t ndrop, int q)
{
    struct ff_buf b;
    ff_buf_init(&b, 1 << 24);
    struct ff_batch batch = {.format = FF_FMT_SEGMENT, .accepted = (uint32_t)n, .failed = q ? 1 : 0};
    batch.items = calloc((size_t)n + 1, sizeof *batch.items);
    assert_true(!f->wal || !ndrop);
    uint64_t first = f->next_seq;
    int64_t base = (f->day ? f->day : 20000) * DAY_US;
    uint32_t d = 0;
    for (int i = 0; i < n; i++) {
        char mid[40], user[16], props[64];
        size_t k = f->n + (size_t)i;
        snprintf(mid, sizeof mid, "m-%06zu-%llu", k, (unsigned long long)first);
        snprintf(user, sizeof user, "u%zu", k % 7);
        snprintf(props, sizeof props, "{\"%s\":%zu}", f->prop ? f->prop : "i", k);
        const char *name = (const char *[]){"a", "b", "c"}[k % 3];
        struct ff_event ev = {.type = FF_EV_TRACK, .format = FF_FMT_SEGMENT,
                              .timestamp_us = base + (int64_t)(k * 7919 % 1000) * (DAY_US / 500),
                              .original_timestamp_us = FF_TIME_NONE, .sent_at_us = FF_TIME_NONE, .received_at_us = 5};
        ev.event = (struct ff_str){name, 1};
        ev.message_id = (struct ff_str){mid, (uint32_t)strlen(mid)};
        ev.user_id = (struct ff_str){user, (uint32_t)strlen(user)};
        ev.properties = (struct ff_str){props, (uint32_t)strlen(props)};
        uint32_t at = (uint32_t)b.len;
        assert_int_equal(ff_event_encode(&b, &ev), 0);
        struct ff_batch_item *it = &batch.items[batch.nitems++];
        *it = (struct ff_batch_item){.off = at, .len = (uint32_t)b.len - at};
        it->dedup_hash = ff_dedup_hash((struct ff_str){"", 0}, ev.message_id, &it->dedup_check);
        int dropped = d < ndrop && drop[d] == (uint32_t)i;
        if (dropped) {
            d++;
            continue;
        }
        if (f->n == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 256;
            f->ids = realloc(f->ids, f->cap * sizeof *f->ids);
            f->times = realloc(f->times, f->cap * sizeof *f->times);
            f->names = realloc(f->names, f->cap * sizeof *f->names);
        }
        snprintf(f->ids[f->n], sizeof f->ids[f->n], "%s", mid);
        snprintf(f->names[f->n], sizeof f->names[f->n], "%s", name);
        f->times[f->n++] = ev.timestamp_us;
    }
    if (q) {
        struct ff_quarantined qi = {.format = FF_FMT_IMPORT, .received_at_us = 9, .index = 3};
        qi.reason = (struct ff_str){"bad", 3};
        qi.field = (struct ff_str){"event", 5};
        char raw[32];
        snprintf(raw, sizeof raw, "junk %zu", f->nq++);
        qi.raw = (struct ff_str){raw, (uint32_t)strlen(raw)};
        uint32_t at = (uint32_t)b.len;
        assert_int_equal(ff_quarantine_encode(&b, &qi), 0);
        batch.items[batch.nitems++] = (struct ff_batch_item){.off = at, .len = (uint32_t)b.len - at};
    }
    batch.records = b;
    if (f->wal) wal_write(f, &batch);
    else ff_store_on_durable(f->s, first, b.data, b.len, drop, ndrop);
    f->next_seq += (uint64_t)n + (q ? 1 : 0);
    ff_buf_free(&b);
    free(batch.items);
}

/* What the store lists for `flt`, as JSON lines into `out` (initialised here, NUL-terminated);
 * returns how many records. */
static size_t read_json(struct fx *f, const struct ff_read_filter *flt, struct ff_buf *out)
{
    ff_buf_init(out, 1 << 26);
    size_t count = 0;
    assert_int_equal(ff_store_read_json(f->s, flt, "\n", out, &count), 0);
    ff_buf_putc(out, 0);
    return count;
}

/* Lists events (name filter `ev`, time range, limit) and checks they are the model's, newest
 * first. */
static void expect_events(struct fx *f, const char *ev, int64_t from, int64_t to, size_t limit)
{
    struct ff_read_filter flt = {FF_REC_EVENT, ev, ev ? strlen(ev) : 0, from, to, limit, 0, NULL};
    struct ff_buf out;
    size_t count = read_json(f, &flt, &out);
    size_t want = 0;
    char *p = out.data;
    for (size_t k = f->n; k-- > 0 && want < limit;) {
        if (ev && strcmp(f->names[k], ev)) continue;
        if (from != FF_TIME_NONE && f->times[k] < from) continue;
        if (to != FF_TIME_NONE && f->times[k] >= to) continue;
        char needle[64];
        snprintf(needle, sizeof needle, "\"messageId\":\"%s\"", f->ids[k]);
        char *at = strstr(p, needle);
        if (!at) print_error("missing or out of order: %s\n", f->ids[k]);
        assert_non_null(at);
        p = at + 1;
        want++;
    }
    assert_int_equal(count, want);
    ff_buf_free(&out);
}

static size_t count_quarantined(struct fx *f)
{
    struct ff_read_filter flt = {FF_REC_QUARANTINE, NULL, 0, FF_TIME_NONE, FF_TIME_NONE, 1000, 0, NULL};
    struct ff_buf out;
    size_t count = read_json(f, &flt, &out);
    if (count) {
        /* every item, newest first */
        const char *p = out.data;
        for (size_t k = f->nq; k-- > 0;) {
            char want[48];
            snprintf(want, sizeof want, "\"raw\":\"junk %zu\"", k);
            const char *at = strstr(p, want);
            if (!at) print_error("quarantined item missing or out of order: junk %zu\n", k);
            assert_non_null(at);
            p = at + 1;
        }
    }
    ff_buf_free(&out);
    return count;
}

static void expect_all(struct fx *f)
{
    expect_events(f, NULL, FF_TIME_NONE, FF_TIME_NONE, 100000);
    expect_events(f, NULL, FF_TIME_NONE, FF_TIME_NONE, 7);
    expect_events(f, "b", FF_TIME_NONE, FF_TIME_NONE, 100000);
    expect_events(f, "c", FF_TIME_NONE, FF_TIME_NONE, 5);
    expect_events(f, "zz", FF_TIME_NONE, FF_TIME_NONE, 10);
    int64_t base = 20000LL * DAY_US;
    expect_events(f, NULL, base + DAY_US / 3, base + DAY_US + DAY_US / 5, 100000);
    expect_events(f, "a", base + DAY_US, FF_TIME_NONE, 30);
    assert_int_equal(count_quarantined(f), f->nq);
}

static void test_memory_parts_and_reopen(void **state)
{
    struct fx *f = *state;
    open_store(f, 0);
    uint32_t drops[] = {1, 4};
    frame(f, 100, drops, 2, 1);
    frame(f, 50, NULL, 0, 0);
    expect_all(f); /* from memory */
    assert_int_equal(ff_store_flush(f->s), 0);
    struct ff_manifest m;
    assert_int_equal(ff_store_manifest(f->s, &m), 0);
    assert_int_equal(m.wal_seq, f->next_seq);
    assert_int_equal(m.nparts, 3); /* two days of events, one quarantine part */
    assert_int_equal(m.events[FF_FMT_SEGMENT], 148);
    assert_int_equal(m.quarantined[FF_FMT_IMPORT], 1);
    ff_manifest_free(&m);
    expect_all(f); /* from parts */
    frame(f, 80, drops, 1, 1);
    expect_all(f); /* both */
    struct ff_store_counts c;
    ff_store_counts(f->s, &c);
    assert_int_equal(c.events[FF_FMT_SEGMENT], f->n);
    assert_int_equal(c.quarantined[FF_FMT_IMPORT], 2);
    assert_int_equal(ff_store_flush(f->s), 0);
    assert_int_equal(ff_store_flush(f->s), 0); /* nothing new: nothing happens */
    frame(f, 10, NULL, 0, 0);
    close_store(f); /* flushes the last frame */
    open_store(f, 1);
    expect_all(f);
    ff_store_counts(f->s, &c);
    assert_int_equal(c.events[FF_FMT_SEGMENT], f->n);
    close_store(f);
}

/* Files that a flush wrote but never published are removed at open. */
static void test_orphans_removed(void **state)
{
    struct fx *f = *state;
    open_store(f, 0);
    frame(f, 20, NULL, 0, 0);
    close_store(f);
    char parts[256], path[512];
    snprintf(parts, sizeof parts, "%s/parts", f->dir);
    size_t listed = test_count_dir(parts);
    assert_true(listed >= 1);
    snprintf(path, sizeof path, "%s/00099999-000777.part", parts);
    FILE *fp = fopen(path, "w");
    fputs("half a part", fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/00099999-000778.part.tmp", parts);
    fp = fopen(path, "w");
    fclose(fp);
    open_store(f, 1); /* read-only opens leave them */
    assert_int_equal(test_count_dir(parts), listed + 2);
    close_store(f);
    open_store(f, 0);
    assert_int_equal(test_count_dir(parts), listed);
    expect_all(f);
}

/* The Nth write, fsync or rename of a flush fails: the flush reports it, every event stays
 * readable, and after a reopen (which removes what the failed flush left) and a flush that
 * succeeds, each event is there exactly once. */
static void test_flush_failures(void **state)
{
    struct fx *f = *state;
    const enum ff_io_op ops[] = {FF_IO_WRITE, FF_IO_FSYNC, FF_IO_RENAME};
    open_store(f, 0);
    for (size_t o = 0; o < 3; o++) {
        for (long nth = 1;; nth++) {
            frame(f, 30, NULL, 0, nth % 2);
            ff_io_fail_after(ops[o], nth, -EIO);
            int rc = ff_store_flush(f->s);
            ff_io_fail_after(ops[o], 0, 0);
            expect_events(f, NULL, FF_TIME_NONE, FF_TIME_NONE, 100000);
            if (rc == 0) { /* past the last call of this kind: an earlier one must have failed */
                assert_true(nth > 1);
                break;
            }
            assert_int_equal(rc, -EIO);
            /* A crash now: nothing of this flush is published. A restart replays the WAL;
             * here the memtable is simply kept and the next flush retries it. */
            struct ff_manifest m;
            assert_int_equal(ff_store_manifest(f->s, &m), 0);
            assert_true(m.wal_seq < f->next_seq);
            ff_manifest_free(&m);
        }
    }
    close_store(f);
    open_store(f, 0);
    expect_all(f);
}

/* Small parts of a day are merged into one; the events stay, once each; a reader that held
 * the old parts keeps their files until it lets go. */
static void test_merges(void **state)
{
    struct fx *f = *state;
    open_store(f, 0);
    for (int i = 0; i < 5; i++) {
        uint32_t drops[] = {2};
        frame(f, 40 + i, drops, 1, i == 2);
        assert_int_equal(ff_store_flush(f->s), 0);
    }
    char parts[256];
    snprintf(parts, sizeof parts, "%s/parts", f->dir);
    assert_int_equal(test_count_dir(parts), 11); /* 5 flushes × 2 days + 1 quarantine part */
    struct snapshot held;
    assert_int_equal(ff_store_snapshot(f->s, &held), 0);
    assert_int_equal(ff_store_merge_once(f->s), 1);
    assert_int_equal(ff_store_merge_once(f->s), 1);
    assert_int_equal(ff_store_merge_once(f->s), 0); /* nothing more due */
    struct ff_manifest m;
    assert_int_equal(ff_store_manifest(f->s, &m), 0);
    assert_int_equal(m.nparts, 3);
    uint64_t rows = 0;
    for (size_t i = 0; i < m.nparts; i++)
        if (m.parts[i].kind == FF_PART_EVENTS) rows += m.parts[i].rows;
    assert_int_equal(rows, f->n);
    ff_manifest_free(&m);
    assert_int_equal(test_count_dir(parts), 13); /* the reader still holds the 10 inputs */
    expect_all(f);
    ff_snapshot_release(&held);
    assert_int_equal(test_count_dir(parts), 3);
    frame(f, 10, NULL, 0, 0);
    close_store(f);
    open_store(f, 1);
    expect_all(f);
}

/* The parts of today (and tomorrow) merge in tiers: FF_MERGE_TIER_PARTS of about one size
 * make one of the next, fewer wait, and a big part does not take in small ones every few
 * flushes. */
static void test_tiered_merges(void **state)
{
    struct fx *f = *state;
    f->day = ff_day_of(ff_now_us());
    open_store(f, 0);
    struct ff_manifest m;
    const size_t wait = FF_MERGE_TIER_PARTS - 1;
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < wait; i++) {
            frame(f, 40, NULL, 0, 0);
            assert_int_equal(ff_store_flush(f->s), 0);
        }
        /* per day: one part short of a tier (and the merged one of round 0): no merge */
        assert_int_equal(ff_store_merge_once(f->s), 0);
        assert_int_equal(ff_store_manifest(f->s, &m), 0);
        assert_int_equal(m.nparts, 2 * wait + 2 * (size_t)round);
        ff_manifest_free(&m);
        frame(f, 40, NULL, 0, 0);
        assert_int_equal(ff_store_flush(f->s), 0);
        assert_int_equal(ff_store_merge_once(f->s), 1);
        assert_int_equal(ff_store_merge_once(f->s), 1);
        assert_int_equal(ff_store_merge_once(f->s), 0);
        assert_int_equal(ff_store_manifest(f->s, &m), 0);
        assert_int_equal(m.nparts, 2 + 2 * (size_t)round);
        for (size_t i = 0; i < m.nparts; i++) assert_true(m.parts[i].rows > 10 * FF_MERGE_TIER_PARTS); /* a tier: about 20 rows a flush */
        ff_manifest_free(&m);
        expect_all(f);
    }
    close_store(f);
    open_store(f, 1);
    expect_all(f);
}

/* Quarantine parts (one per flush that had invalid input) are merged too, every item kept
 * once and in arrival order. */
static void test_quarantine_merges(void **state)
{
    struct fx *f = *state;
    open_store(f, 0);
    for (int i = 0; i < 6; i++) {
        frame(f, 3, NULL, 0, 1);
        frame(f, 1, NULL, 0, 1);
        assert_int_equal(ff_store_flush(f->s), 0);
    }
    struct ff_manifest m;
    size_t qparts = 0;
    assert_int_equal(ff_store_manifest(f->s, &m), 0);
    for (size_t i = 0; i < m.nparts; i++) qparts += m.parts[i].kind == FF_PART_QUARANTINE;
    ff_manifest_free(&m);
    assert_int_equal(qparts, 6);
    while (ff_store_merge_once(f->s) == 1) {
    }
    qparts = 0;
    uint64_t qrows = 0;
    assert_int_equal(ff_store_manifest(f->s, &m), 0);
    for (size_t i = 0; i < m.nparts; i++)
        if (m.parts[i].kind == FF_PART_QUARANTINE) qparts++, qrows += m.parts[i].rows;
    ff_manifest_free(&m);
    assert_int_equal(qparts, 1);
    assert_int_equal(qrows, 12);
    expect_all(f);
    close_store(f);
    open_store(f, 1);
    expect_all(f);
}

/* Parts of a day whose typed property columns differ stream-merge within their own kind;
 * one kind that cannot stream does not hold the others back. */
static void test_merges_by_columns(void **state)
{
    struct fx *f = *state;
    open_store(f, 0);
    for (int i = 0; i < 8; i++) {
        f->prop = i % 2 ? "j" : "i"; /* p.i in half the parts, p.j in the others */
        frame(f, 30, NULL, 0, 0);
        assert_int_equal(ff_store_flush(f->s), 0);
    }
    f->prop = NULL;
    while (ff_store_merge_once(f->s) == 1) {
    }
    struct ff_manifest m;
    assert_int_equal(ff_store_manifest(f->s, &m), 0);
    /* two days, each with one part of each kind of columns */
    assert_int_equal(m.nparts, 4);
    ff_manifest_free(&m);
    expect_all(f);
    close_store(f);
    open_store(f, 1);
    expect_all(f);
}

/* The Nth write, fsync or rename of a merge fails: the merge reports it and publishes nothing;
 * the store reopens cleanly (the half-written output removed) with every event once. */
static void test_merge_failures(void **state)
{
    struct fx *f = *state;
    const enum ff_io_op ops[] = {FF_IO_WRITE, FF_IO_FSYNC, FF_IO_RENAME};
    char parts[256];
    snprintf(parts, sizeof parts, "%s/parts", f->dir);
    for (size_t o = 0; o < 3; o++) {
        for (long nth = 1;; nth++) {
            open_store(f, 0);
            while (test_count_dir(parts) < 8) {
                frame(f, 20, NULL, 0, 0);
                assert_int_equal(ff_store_flush(f->s), 0);
            }
            ff_io_fail_after(ops[o], nth, -EIO);
            int rc = ff_store_merge_once(f->s);
            ff_io_fail_after(ops[o], 0, 0);
            expect_events(f, NULL, FF_TIME_NONE, FF_TIME_NONE, 100000);
            close_store(f); /* a crash here would be the same: nothing published */
            open_store(f, 0);
            expect_all(f);
            close_store(f);
            if (rc == 1) { /* past the last call of this kind: an earlier one must have failed */
                assert_true(nth > 1);
                break;
            }
            assert_int_equal(rc, -EIO);
        }
    }
}

/* ---- a gate in open(2), to stop a merge between choosing its inputs and publishing ----
 *
 * A merge picks its inputs under the store's lock, then reads them and writes its output with
 * no lock held, then publishes under flush_mu; an erasure takes flush_mu for its whole rewrite.
 * Nothing in the store's API stops a merge in between, so this file's own open() does: on the
 * thread that set gate_here, the first open of a "*.part.tmp" (the merge's output, see
 * ff_part_writer_open) waits until the test releases it. Every other open passes through. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_arrived, gate_released;
static char gate_path[512];
static _Thread_local int gate_here;

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    size_t len = strlen(path);
    if (gate_here && len > 9 && !strcmp(path + len - 9, ".part.tmp")) {
        gate_here = 0;
        pthread_mutex_lock(&gate_mu);
        snprintf(gate_path, sizeof gate_path, "%s", path);
        gate_arrived = 1;
        pthread_cond_broadcast(&gate_cv);
        while (!gate_released) pthread_cond_wait(&gate_cv, &gate_mu);
        pthread_mutex_unlock(&gate_mu);
    }
    return openat(AT_FDCWD, path, flags, mode);
}

struct gated_merge {
    struct ff_store *s;
    int rc;
};

static void *gated_merge_main(void *arg)
{
    struct gated_merge *g = arg;
    gate_here = 1;
    g->rc = ff_store_merge_once(g->s);
    gate_here = 0;
    return NULL;
}

/* The user frame() gave the model's event k: its messageId is "m-<k>-<seq>", its user u<k % 7>. */
static unsigned model_user(const struct fx *f, size_t i) { return (unsigned)(strtoul(f->ids[i] + 2, NULL, 10) % 7); }

/* Picks some of the model's events: those of user u<arg>, or those before time arg. */
typedef int (*model_pick)(const struct fx *f, size_t i, int64_t arg);
static int pick_user(const struct fx *f, size_t i, int64_t user) { return model_user(f, i) == (unsigned)user; }
static int pick_before(const struct fx *f, size_t i, int64_t t) { return f->times[i] < t; }

/* How many of the model's events are picked. */
static size_t model_count(const struct fx *f, model_pick pick, int64_t arg)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++) n += pick(f, i, arg) != 0;
    return n;
}

/* Takes the picked events out of the model; returns how many went. */
static size_t model_remove(struct fx *f, model_pick pick, int64_t arg)
{
    size_t k = 0, n = f->n;
    for (size_t i = 0; i < n; i++) {
        if (pick(f, i, arg)) continue;
        memmove(f->ids[k], f->ids[i], sizeof f->ids[k]);
        memmove(f->names[k], f->names[i], sizeof f->names[k]);
        f->times[k++] = f->times[i];
    }
    f->n = k;
    return n - k;
}

/* No stored event (memory or parts) has this userId. */
static void expect_no_user(struct fx *f, const char *user)
{
    struct ff_read_filter flt = {FF_REC_EVENT, NULL, 0, FF_TIME_NONE, FF_TIME_NONE, 100000, 0, NULL};
    struct ff_buf out;
    size_t count = read_json(f, &flt, &out);
    char needle[64];
    snprintf(needle, sizeof needle, "\"userId\":\"%s\"", user);
    if (strstr(out.data, needle)) print_error("an erased event is back: %s\n", strstr(out.data, needle));
    assert_null(strstr(out.data, needle));
    assert_int_equal(count, f->n);
    ff_buf_free(&out);
}

/* The rows the manifest lists equal the model's, and parts/ holds only listed files. */
static void expect_parts_match(struct fx *f)
{
    struct ff_manifest m;
    assert_int_equal(ff_store_manifest(f->s, &m), 0);
    uint64_t rows = 0;
    for (size_t i = 0; i < m.nparts; i++) {
        assert_int_equal(m.parts[i].kind, FF_PART_EVENTS);
        rows += m.parts[i].rows;
    }
    assert_int_equal(rows, f->n);
    char parts[256];
    snprintf(parts, sizeof parts, "%s/parts", f->dir);
    assert_int_equal(test_count_dir(parts), m.nparts);
    ff_manifest_free(&m);
}

/* The race of erasure.c's step 3: a merge chose its inputs and read them, then an erasure
 * rewrote them without a person's rows and published, then the merge finished writing its
 * output (which still holds those rows) and tried to publish. It must give up (-EAGAIN, its
 * inputs are no longer listed) and remove its output, so the erased rows never come back:
 * not then, not after the merges that follow, not after a reopen. */
static void test_erasure_during_merge(void **state)
{
    struct fx *f = *state;
    open_store(f, 0);
    for (int i = 0; i < 5; i++) { /* days 20000 and 20001, not hot: 5 parts each, merges due */
        frame(f, 40, NULL, 0, 0);
        assert_int_equal(ff_store_flush(f->s), 0);
    }
    expect_parts_match(f);
    pthread_mutex_lock(&gate_mu);
    gate_arrived = gate_released = 0;
    gate_path[0] = 0;
    pthread_mutex_unlock(&gate_mu);
    struct gated_merge g = {f->s, 12345};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, gated_merge_main, &g), 0);
    /* the merge has its inputs and is about to write its output */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&gate_mu);
    int wrc = 0;
    while (!gate_arrived && wrc != ETIMEDOUT) wrc = pthread_cond_timedwait(&gate_cv, &gate_mu, &until);
    int arrived = gate_arrived;
    char out_tmp[512];
    snprintf(out_tmp, sizeof out_tmp, "%s", gate_path);
    pthread_mutex_unlock(&gate_mu);
    if (!arrived) print_error("the merge never opened its output\n");
    assert_true(arrived);
    /* meanwhile, an erasure of u3 rewrites every part that holds u3's events */
    uint64_t removed = 0;
    assert_int_equal(ff_store_erase(f->s, NULL, "u3", 2, &removed), 0);
    size_t erased = model_remove(f, pick_user, 3);
    assert_true(erased >= 10);
    assert_int_equal(removed, erased);
    expect_all(f);
    expect_no_user(f, "u3");
    /* the merge goes on from the inputs it holds (u3's rows among them), then publishes */
    pthread_mutex_lock(&gate_mu);
    gate_released = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(g.rc, -EAGAIN); /* its inputs were replaced: nothing published */
    assert_int_equal(access(out_tmp, F_OK), -1); /* neither its output nor its .tmp is left */
    out_tmp[strlen(out_tmp) - 4] = 0;
    assert_int_equal(access(out_tmp, F_OK), -1);
    expect_all(f);
    expect_no_user(f, "u3");
    expect_parts_match(f); /* the replaced inputs went with the merge's references */
    /* the merges that follow take the rewritten parts: u3 stays gone */
    int merges = 0, rc;
    while ((rc = ff_store_merge_once(f->s)) == 1) merges++;
    assert_int_equal(rc, 0);
    assert_true(merges >= 2); /* both days */
    struct ff_manifest m;
    assert_int_equal(ff_store_manifest(f->s, &m), 0);
    assert_int_equal(m.nparts, 2);
    ff_manifest_free(&m);
    expect_all(f);
    expect_no_user(f, "u3");
    expect_parts_match(f);
    close_store(f);
    open_store(f, 1);
    expect_all(f);
    expect_no_user(f, "u3");
    close_store(f);
    open_store(f, 0);
    expect_no_user(f, "u3");
    expect_parts_match(f);
}

/* Retention drops whole days, and only those older than N days. */
static struct ff_str S_(const char *s) { return (struct ff_str){s, (uint32_t)strlen(s)}; }

static void expect_person(struct ff_identity *id, const char *project, const char *user, const char *anon,
                          const char *want)
{
    struct ff_buf out;
    ff_buf_init(&out, 1 << 20);
    assert_int_equal(ff_identity_person(id, S_(project), S_(user), S_(anon), &out), 0);
    if (out.len != strlen(want) || memcmp(out.data, want, out.len))
        print_error("person of (%s, %s) in %s: got %.*s, want %s\n", user, anon, project, (int)out.len, out.data, want);
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.len ? out.data : "", want, out.len);
    ff_buf_free(&out);
}

/* As the store observes events: with a memo of the last link found known (reset when the map
 * is opened again). */
static struct ff_identity_memo link_memo;

static void link_ev(struct ff_identity *id, int type, const char *project, const char *user, const char *anon,
                    const char *prev)
{
    struct ff_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = (uint8_t)type;
    ev.project = S_(project), ev.user_id = S_(user), ev.anonymous_id = S_(anon), ev.previous_id = S_(prev);
    assert_int_equal(ff_identity_observe(id, &ev, &link_memo), 0);
}

static int count_ids(void *arg, struct ff_str who)
{
    (void)who;
    ++*(int *)arg;
    return 0;
}

static void test_identity_map(void **state)
{
    struct fx *f = *state;
    struct ff_identity *id;
    char err[512];
    assert_int_equal(ff_identity_open(f->dir, &id, err, sizeof err), 0);
    memset(&link_memo, 0, sizeof link_memo);
    expect_person(id, "p", "", "a1", "a1");
    link_ev(id, FF_EV_IDENTIFY, "p", "u1", "a1", "");
    link_ev(id, FF_EV_TRACK, "p", "u1", "a2", "");   /* any event with both ids links */
    link_ev(id, FF_EV_IDENTIFY, "p", "u2", "a1", ""); /* the first link wins */
    link_ev(id, FF_EV_ALIAS, "p", "u9", "", "u1");    /* u1 is now u9 */
    link_ev(id, FF_EV_ALIAS, "p", "u1", "", "u9");    /* a cycle is refused */
    link_ev(id, FF_EV_TRACK, "q", "other", "a1", ""); /* another project */
    expect_person(id, "p", "", "a1", "u9");
    expect_person(id, "p", "", "a2", "u9");
    expect_person(id, "p", "u1", "a5", "u9");
    expect_person(id, "p", "u2", "", "u2");
    expect_person(id, "q", "", "a1", "other");
    expect_person(id, "", "", "", "");
    assert_int_equal(ff_identity_count(id), 4);
    int n = 0;
    assert_int_equal(ff_identity_ids_of(id, "p", S_("u9"), count_ids, &n), 0);
    assert_int_equal(n, 4); /* u9 itself, u1, a1, a2 */
    /* saved and loaded again: the same answers */
    assert_int_equal(ff_identity_save(id, f->dir), 0);
    ff_identity_free(id);
    assert_int_equal(ff_identity_open(f->dir, &id, err, sizeof err), 0);
    memset(&link_memo, 0, sizeof link_memo);
    expect_person(id, "p", "", "a2", "u9");
    link_ev(id, FF_EV_TRACK, "p", "u3", "a1", ""); /* known: the memo keeps (p, a1) */
    expect_person(id, "p", "", "a1", "u9");
    /* erasure forgets the person's links; other projects keep theirs */
    assert_int_equal(ff_identity_forget(id, "p", S_("u9")), 0);
    expect_person(id, "p", "", "a1", "a1");
    expect_person(id, "q", "", "a1", "other");
    /* a forgotten link is made again, memo or not */
    link_ev(id, FF_EV_TRACK, "p", "u7", "a1", "");
    expect_person(id, "p", "", "a1", "u7");
    assert_int_equal(ff_identity_forget(id, "p", S_("u7")), 0);
    expect_person(id, "p", "", "a1", "a1");
    assert_int_equal(ff_identity_save(id, f->dir), 0);
    ff_identity_free(id);
    assert_int_equal(ff_identity_open(f->dir, &id, err, sizeof err), 0);
    assert_int_equal(ff_identity_count(id), 1);
    ff_identity_free(id);
    /* a damaged file is an error that says so */
    char path[300];
    snprintf(path, sizeof path, "%s/IDENTITY", f->dir);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 10, SEEK_SET);
    fputc(0x55, fp);
    fclose(fp);
    assert_int_equal(ff_identity_open(f->dir, &id, err, sizeof err), FF_ECORRUPT);
    assert_non_null(strstr(err, "IDENTITY"));
}

static long identity_file(const struct fx *f, const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    struct stat st;
    return stat(path, &st) ? -1 : (long)st.st_size;
}

/* A save appends the links made since the last one to IDENTITY.journal rather than writing
 * the whole map again; a reopen reads both; the file is rewritten once the journal would
 * outgrow it, or after a link was forgotten (a journal only adds). */
static void test_identity_journal(void **state)
{
    struct fx *f = *state;
    struct ff_identity *id;
    char err[512];
    char anon[32], user[32];
    assert_int_equal(ff_identity_open(f->dir, &id, err, sizeof err), 0);
    memset(&link_memo, 0, sizeof link_memo);
    for (int i = 0; i < 1000; i++) {
        snprintf(anon, sizeof anon, "anon-%d", i), snprintf(user, sizeof user, "user-%d", i);
        link_ev(id, FF_EV_IDENTIFY, "p", user, anon, "");
    }
    assert_int_equal(ff_identity_save(id, f->dir), 0);
    const long whole = identity_file(f, "IDENTITY");
    assert_true(whole > 1000 * 15);
    assert_int_equal(identity_file(f, "IDENTITY.journal"), -1);
    for (int i = 1000; i < 1010; i++) {
        snprintf(anon, sizeof anon, "anon-%d", i), snprintf(user, sizeof user, "user-%d", i);
        link_ev(id, FF_EV_IDENTIFY, "p", user, anon, "");
    }
    assert_int_equal(ff_identity_save(id, f->dir), 0);
    link_ev(id, FF_EV_ALIAS, "p", "user-x", "", "user-1005"); /* user-1005 is now user-x */
    assert_int_equal(ff_identity_save(id, f->dir), 0);
    assert_int_equal(identity_file(f, "IDENTITY"), whole);
    const long j = identity_file(f, "IDENTITY.journal");
    assert_true(j > 0 && j < whole / 10);
    ff_identity_free(id);
    assert_int_equal(ff_identity_open(f->dir, &id, err, sizeof err), 0);
    assert_int_equal(ff_identity_count(id), 1011);
    expect_person(id, "p", "", "anon-3", "user-3");       /* from the file */
    expect_person(id, "p", "", "anon-1004", "user-1004"); /* from the journal's first chunk */
    expect_person(id, "p", "", "anon-1005", "user-x");    /* through its second */
    /* erasure: the next save rewrites the file, without the journal */
    assert_int_equal(ff_identity_forget(id, "p", S_("user-3")), 0);
    assert_int_equal(ff_identity_save(id, f->dir), 0);
    assert_int_equal(identity_file(f, "IDENTITY.journal"), -1);
    ff_identity_free(id);
    assert_int_equal(ff_identity_open(f->dir, &id, err, sizeof err), 0);
    assert_int_equal(ff_identity_count(id), 1010);
    expect_person(id, "p", "", "anon-3", "anon-3");
    expect_person(id, "p", "", "anon-1005", "user-x");
    /* many links at once: more than the file again, so it is rewritten */
    memset(&link_memo, 0, sizeof link_memo);
    for (int i = 2000; i < 4000; i++) {
        snprintf(anon, sizeof anon, "anon-%d", i), snprintf(user, sizeof user, "user-%d", i);
        link_ev(id, FF_EV_IDENTIFY, "p", user, anon, "");
    }
    assert_int_equal(ff_identity_save(id, f->dir), 0);
    assert_int_equal(identity_file(f, "IDENTITY.journal"), -1);
    assert_true(identity_file(f, "IDENTITY") > whole);
    ff_identity_free(id);
    assert_int_equal(ff_identity_open(f->dir, &id, err, sizeof err), 0);
    assert_int_equal(ff_identity_count(id), 3010);
    expect_person(id, "p", "", "anon-3999", "user-3999");
    ff_identity_free(id);
}

/* Readers on several threads resolve persons while identify calls link new ids (and the
 * map grows, moving its slots): every answer is the id itself before its link and its
 * user after, never anything else, and never back. */
struct id_reader {
    struct ff_identity *id;
    atomic_int *stop;
    int bad, lookups;
};

static void *resolve_loop(void *arg)
{
    struct id_reader *r = arg;
    struct ff_buf out;
    ff_buf_init(&out, 1 << 20);
    char seen[2000] = {0};
    while (!atomic_load(r->stop)) {
        for (int i = 0; i < 2000; i++, r->lookups++) {
            char anon[32], user[32];
            snprintf(anon, sizeof anon, "anon-%d", i);
            snprintf(user, sizeof user, "user-%d", i);
            if (ff_identity_person(r->id, S_("p"), S_(""), S_(anon), &out)) r->bad++;
            int linked = out.len == strlen(user) && !memcmp(out.data, user, out.len);
            int self = out.len == strlen(anon) && !memcmp(out.data, anon, out.len);
            if ((!linked && !self) || (seen[i] && !linked)) r->bad++;
            seen[i] |= linked;
        }
    }
    ff_buf_free(&out);
    return NULL;
}

static void test_identity_concurrent(void **state)
{
    struct fx *f = *state;
    struct ff_identity *id;
    char err[512];
    assert_int_equal(ff_identity_open(f->dir, &id, err, sizeof err), 0);
    atomic_int stop = 0;
    struct id_reader r[4];
    pthread_t t[4];
    for (int k = 0; k < 4; k++) {
        r[k] = (struct id_reader){id, &stop, 0, 0};
        assert_int_equal(pthread_create(&t[k], NULL, resolve_loop, &r[k]), 0);
    }
    for (int i = 0; i < 2000; i++) {
        char anon[32], user[32];
        snprintf(anon, sizeof anon, "anon-%d", i);
        snprintf(user, sizeof user, "user-%d", i);
        link_ev(id, FF_EV_IDENTIFY, "p", user, anon, "");
        if (i % 500 == 0) assert_int_equal(ff_identity_save(id, f->dir), 0);
    }
    atomic_store(&stop, 1);
    int lookups = 0;
    for (int k = 0; k < 4; k++) {
        assert_int_equal(pthread_join(t[k], NULL), 0);
        assert_int_equal(r[k].bad, 0);
        lookups += r[k].lookups;
    }
    assert_true(lookups >= 4 * 2000);
    expect_person(id, "p", "", "anon-1999", "user-1999");
    assert_int_equal(ff_identity_count(id), 2000);
    ff_identity_free(id);
}

/* A version 1 manifest (4 wire formats) still loads; the next publish writes version 2. */
static void test_manifest_v1_upgrade(void **state)
{
    struct fx *f = *state;
    struct ff_buf b;
    ff_buf_init(&b, 1 << 16);
    assert_int_equal(ff_buf_append(&b, "FFMANIF1", 8), 0);
    uint64_t head[3 + 8] = {7, 100, 5, 1, 2, 3, 4, 10, 20, 30, 40}; /* generation, wal_seq, next_id, 4+4 counts */
    for (size_t i = 0; i < sizeof head / sizeof *head; i++) assert_int_equal(ff_buf_put_u64(&b, head[i]), 0);
    assert_int_equal(ff_buf_put_u32(&b, 0), 0);
    assert_int_equal(ff_buf_put_u64(&b, XXH3_64bits(b.data, b.len)), 0);
    char path[300];
    snprintf(path, sizeof path, "%s/MANIFEST", f->dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b.data, 1, b.len, fp), b.len);
    fclose(fp);
    struct ff_manifest m;
    char err[512];
    assert_int_equal(ff_manifest_load(f->dir, &m, err, sizeof err), 0);
    assert_int_equal(m.wal_seq, 100);
    assert_int_equal(m.events[FF_FMT_IMPORT], 4);
    assert_int_equal(m.events[FF_FMT_LOG], 0);
    assert_int_equal(m.quarantined[FF_FMT_SEED], 10);
    m.events[FF_FMT_LOG] = 9;
    assert_int_equal(ff_manifest_publish(f->dir, &m), 0);
    ff_manifest_free(&m);
    assert_int_equal(ff_manifest_load(f->dir, &m, err, sizeof err), 0);
    assert_int_equal(m.events[FF_FMT_LOG], 9);
    assert_int_equal(m.quarantined[FF_FMT_IMPORT], 40);
    ff_manifest_free(&m);
    ff_buf_free(&b);
}

static void test_retention(void **state)
{
    struct fx *f = *state;
    open_store(f, 0);
    frame(f, 60, NULL, 0, 1); /* days 20000 and 20001 */
    assert_int_equal(ff_store_flush(f->s), 0);
    int64_t now = 20003LL * DAY_US + 5;
    assert_int_equal(ff_store_apply_retention(f->s, now), 0); /* no retention configured */
    close_store(f);
    retention_days = 3; /* keeps days 20001..20003 */
    open_store(f, 0);
    /* day 20000 goes, and the quarantine part (its items were received in 1970) */
    assert_int_equal(ff_store_apply_retention(f->s, now), 2);
    f->nq = 0;
    assert_int_equal(count_quarantined(f), 0);
    /* the model: only day 20001 is left */
    assert_true(model_remove(f, pick_before, 20001LL * DAY_US) > 0 && f->n > 0);
    expect_events(f, NULL, FF_TIME_NONE, FF_TIME_NONE, 1000);
    assert_int_equal(ff_store_apply_retention(f->s, now), 0);
    assert_int_equal(ff_store_apply_retention(f->s, now + 365 * DAY_US), 1);
    f->n = 0;
    expect_events(f, NULL, FF_TIME_NONE, FF_TIME_NONE, 1000);
    retention_days = 0;
}

/* ---- failures of erasure and retention ----
 *
 * Each N of a failure loop starts again from the same store (fresh_store), so the Nth call
 * of a kind is the same point of the operation every time. */

/* Counts how often each of the model's events is in `seen`; an event the model does not
 * have fails the test. */
static void tally(const struct fx *f, unsigned *seen, const char *id, size_t len)
{
    for (size_t k = 0; k < f->n; k++)
        if (strlen(f->ids[k]) == len && !memcmp(f->ids[k], id, len)) {
            seen[k]++;
            return;
        }
    print_error("an event the model does not have: %.*s\n", (int)len, id);
    fail();
}

struct wal_tally {
    const struct fx *f;
    unsigned *seen;
};

static int wal_tally(void *arg, uint64_t seq, const struct ff_record *rec)
{
    (void)seq;
    struct wal_tally *t = arg;
    if (rec->kind == FF_REC_EVENT) tally(t->f, t->seen, rec->u.ev.message_id.p, rec->u.ev.message_id.len);
    return 0;
}

/* Every event of the model is in the store exactly once, except those `maybe` picks (when
 * not NULL): at most once, as an operation that failed half-way may have removed some of
 * them. in_wal: in the WAL's segments instead, where every event is at most once (the WAL
 * lets a segment go once its events are in parts). Nothing else is there. Returns how many
 * of the picked ones are there. */
static size_t expect_once(struct fx *f, int in_wal, model_pick maybe, int64_t arg)
{
    unsigned *seen = calloc(f->n + 1, sizeof *seen);
    if (in_wal) {
        assert_int_equal(ff_wal_scan(f->dir, wal_tally, &(struct wal_tally){f, seen}), 0);
    } else {
        struct ff_read_filter flt = {FF_REC_EVENT, NULL, 0, FF_TIME_NONE, FF_TIME_NONE, 1000000, 0, NULL};
        struct ff_buf out;
        read_json(f, &flt, &out);
        static const char key[] = "\"messageId\":\"";
        for (const char *p = out.data; (p = strstr(p, key)); p++) {
            p += sizeof key - 1;
            tally(f, seen, p, strcspn(p, "\""));
        }
        ff_buf_free(&out);
    }
    size_t there = 0;
    for (size_t k = 0; k < f->n; k++) {
        int picked = maybe && maybe(f, k, arg), ok = seen[k] == 1 || (!seen[k] && (picked || in_wal));
        if (!ok) print_error("%s: %s is there %u times\n", in_wal ? "WAL" : "store", f->ids[k], seen[k]);
        assert_true(ok);
        there += picked && seen[k];
    }
    free(seen);
    return there;
}

/* The same for a store opened read-only beside this one: what a restart after a crash now
 * would find. */
static size_t expect_once_after_crash(struct fx *f, model_pick maybe, int64_t arg)
{
    struct ff_store *live = f->s;
    struct ff_wal *wal = f->wal;
    f->s = NULL, f->wal = NULL;
    open_store(f, 1);
    size_t there = expect_once(f, 0, maybe, arg);
    close_store(f);
    f->s = live, f->wal = wal;
    return there;
}

/* A new store in an emptied directory, the model emptied too: `flushed` frames of 30
 * events in parts (two days each), then `held` more in memory only; with the WAL, every
 * frame is in it too. The first frame has a quarantined item when `q`. */
static void fresh_store(struct fx *f, int flushed, int held, int q)
{
    if (f->s) close_store(f);
    test_rmtree(f->dir);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    f->n = f->nq = 0;
    f->next_seq = 1;
    open_store(f, 0);
    for (int i = 0; i < flushed + held; i++) {
        frame(f, 30, NULL, 0, q && !i);
        if (i < flushed) assert_int_equal(ff_store_flush(f->s), 0);
    }
}

/* Whether the failure that ff_io_fail_after(op, nth, -EIO) armed was reached by the calls
 * made since, and turns it off. When those were fewer than nth, calls that do nothing else
 * (a write of no bytes, an fsync of no file, a rename of no file) use up the count, and one
 * of them gets the failure. */
static int io_fail_reached(enum ff_io_op op, long nth)
{
    int reached = 1;
    for (long k = 0; k < nth && reached; k++) {
        int rc = op == FF_IO_WRITE ? ff_io_write_all(-1, "", 0) : op == FF_IO_FSYNC ? ff_io_fsync(-1) : ff_io_rename("", "");
        reached = rc != -EIO;
    }
    ff_io_fail_after(op, 0, 0);
    return reached;
}

/* One run of test_erase_failures: a fresh store, an erasure of u3 whose nth call of `op`
 * fails, the checks, and a retry (at once, in the same process, or after a reopen); returns
 * whether the failure was reached. */
/* No keys file (.dedup, written when a segment is finished) bears the name of the newest WAL
 * segment, the one still being written: a rotation that failed must not leave the log
 * thinking it is in the segment it could not create. */
static void expect_keys_of_finished_segments(const struct fx *f)
{
    char waldir[300], newest[64] = "";
    snprintf(waldir, sizeof waldir, "%s/wal", f->dir);
    DIR *d = opendir(waldir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n == 24 && !strcmp(e->d_name + 20, ".wal") && strcmp(e->d_name, newest) > 0)
            snprintf(newest, sizeof newest, "%s", e->d_name);
    }
    closedir(d);
    if (!newest[0]) return;
    char keys[400];
    snprintf(keys, sizeof keys, "%s/%.20s.dedup", waldir, newest);
    if (!access(keys, F_OK)) print_error("%s: a keys file for the segment being written\n", keys);
    assert_int_not_equal(access(keys, F_OK), 0);
}

static int erase_failing(struct fx *f, enum ff_io_op op, long nth, int retry_at_once)
{
    fresh_store(f, 2, 1, 0);
    size_t had = model_count(f, pick_user, 3);
    assert_true(had >= 10);
    uint64_t removed = 0;
    ff_io_fail_after(op, nth, -EIO);
    int rc = ff_store_erase(f->s, NULL, "u3", 2, &removed);
    int reached = io_fail_reached(op, nth);
    if (rc || !reached) assert_int_equal(rc, reached ? -EIO : 0);
    size_t left = expect_once(f, 0, pick_user, 3);
    size_t left_after_crash = expect_once_after_crash(f, pick_user, 3);
    size_t left_in_wal = expect_once(f, 1, pick_user, 3);
    if (!rc) {
        assert_int_equal(removed, had);
        assert_int_equal(left, 0);
        assert_int_equal(left_after_crash, 0);
        assert_int_equal(left_in_wal, 0);
    }
    if (!retry_at_once) {
        close_store(f);
        open_store(f, 0);
        left = expect_once(f, 0, pick_user, 3);
    }
    /* a retry with nothing failing takes what is left */
    assert_int_equal(ff_store_erase(f->s, NULL, "u3", 2, &removed), 0);
    assert_int_equal(removed, left);
    assert_int_equal(model_remove(f, pick_user, 3), had);
    for (int reopened = 0; reopened < 2; reopened++) {
        expect_all(f);
        expect_once(f, 0, NULL, 0);
        expect_once(f, 1, NULL, 0);
        close_store(f);
        expect_keys_of_finished_segments(f);
        open_store(f, 0);
    }
    expect_parts_match(f);
    return reached;
}

/* The Nth write, fsync or rename of an erasure fails (of u3, whose events are in the WAL, in
 * memory and in parts of two days): the erasure reports it, or succeeds when that call's
 * failure is one it may let pass (a directory's fsync after a rename; a finished WAL
 * segment's keys file, dedup_file.h). Then, in the running store, after a crash (a store
 * opened beside it) and after a reopen, every other person's event is there exactly once and
 * u3's at most once; the WAL holds none twice; after a success, none of u3's is anywhere.
 * A retry with nothing failing, at once or after the reopen, removes the rest of u3's
 * events, from the parts and from the WAL, and they stay gone across two reopens. */
static void test_erase_failures(void **state)
{
    struct fx *f = *state;
    const enum ff_io_op ops[] = {FF_IO_WRITE, FF_IO_FSYNC, FF_IO_RENAME};
    f->with_wal = 1;
    for (size_t o = 0; o < 3; o++)
        for (long nth = 1;; nth++) {
            if (!erase_failing(f, ops[o], nth, 0)) {
                assert_true(nth > 1); /* some call of this kind was made, and failed */
                break;
            }
            assert_true(erase_failing(f, ops[o], nth, 1));
        }
}

/* The Nth write, fsync or rename of a retention drop fails (day 20000 of three flushes'
 * parts, and a quarantine part, are old): the drop reports it, or succeeds when the call was
 * the directory's fsync after the manifest's rename. One manifest drops them, so in the
 * running store, after a crash and after a reopen, the old days are all there or all gone,
 * and day 20001 is there, each event once. A retry with nothing failing drops what is left,
 * and a reopen finds only the parts of day 20001. */
static void test_retention_failures(void **state)
{
    struct fx *f = *state;
    const enum ff_io_op ops[] = {FF_IO_WRITE, FF_IO_FSYNC, FF_IO_RENAME};
    const int64_t now = 20003LL * DAY_US + 5, keep_from = 20001LL * DAY_US; /* 3 days: 20001..20003 */
    retention_days = 3;
    for (size_t o = 0; o < 3; o++) {
        long nth = 1;
        for (int reached = 1; reached; nth++) {
            fresh_store(f, 3, 0, 1);
            size_t old = model_count(f, pick_before, keep_from);
            assert_true(old > 0 && old < f->n);
            ff_io_fail_after(ops[o], nth, -EIO);
            long rc = ff_store_apply_retention(f->s, now);
            reached = io_fail_reached(ops[o], nth);
            if (rc < 0 || !reached) assert_int_equal(rc, reached ? -EIO : 4); /* 3 parts of day 20000, 1 of quarantine */
            size_t kept = rc < 0 ? old : 0, nq = rc < 0 ? f->nq : 0;
            assert_int_equal(expect_once(f, 0, pick_before, keep_from), kept);
            assert_int_equal(count_quarantined(f), nq);
            assert_int_equal(expect_once_after_crash(f, pick_before, keep_from), kept);
            close_store(f);
            open_store(f, 0);
            assert_int_equal(expect_once(f, 0, pick_before, keep_from), kept);
            assert_int_equal(count_quarantined(f), nq);
            assert_int_equal(ff_store_apply_retention(f->s, now), rc < 0 ? 4 : 0);
            assert_int_equal(model_remove(f, pick_before, keep_from), old);
            f->nq = 0;
            expect_all(f);
            close_store(f);
            open_store(f, 0);
            expect_all(f);
            expect_parts_match(f);
        }
        assert_true(nth > 2); /* some call of this kind was made, and failed */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_memory_parts_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphans_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tiered_merges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine_merges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merges_by_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_v1_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_map, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_erasure_during_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_erase_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_failures, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
