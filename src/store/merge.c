/* merge.c - background merges: small parts of one day become one larger part.
 *
 * Every flush writes a part per day it saw, so a busy day gathers many small parts; each
 * costs a file, a footer and a dictionary, and a query that reads a day opens them all.
 * Quarantine parts (one per flush that had invalid input) are merged the same way, all days
 * together, their rows kept in arrival order.
 * The merge thread picks parts of one day and writes them back as one part sorted by person
 * and time. For a day still being written to (today or yesterday by the clock), parts of
 * about the same size form a tier, and a tier merges once it has FF_MERGE_TIER_PARTS parts:
 * each merge makes a part of the next tier, so a row is rewritten once per tier it climbs
 * (once for 100 M rows a day in flush parts of 140 K, which 64 at a time make parts of 9 M;
 * twice with tiers of 8, and 4 times when every few new parts joined the day's big one; the
 * count is the merge thread's CPU). For other days,
 * with at least MERGE_MIN_PARTS event parts, the smallest ones merge (up to
 * MERGE_MAX_PARTS; a part joins only when it is at most twice the ones picked before it
 * together), until a day has a few large parts. Publishing swaps inputs for the
 * output in one manifest; readers holding the inputs keep them until they finish, and the
 * files go when the last of them lets go. Ingest never waits: flushes and merges only take
 * turns at publishing (flush_mu), and a merge reads and writes outside it.
 *
 * A crash before the publish leaves the output unlisted (removed at the next open); after
 * it, the inputs are unlisted (likewise). Either way each event is in exactly one listed
 * part. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "store/merge_stream.h"
#include "store/store_int.h"

#define MERGE_MIN_PARTS 4
#define MERGE_TIER_RATIO 2 /* a tier: parts at most this many times the size of its smallest */
#define MERGE_MAX_PARTS FF_MERGE_MAX_INPUTS /* a merge holds one column of a block of each */
/* A merge of parts with the same columns streams them block by block (merge_stream.c) and
 * only caps the output's size; one that reads them as rows (a day's parts whose columns
 * differ, or quarantine parts) holds them decoded in memory, about 1 KB a row, so it is
 * capped lower. */
#define MERGE_MAX_ROWS_STREAM ((uint64_t)1 << 24)
#define MERGE_MAX_ROWS ((uint64_t)1 << 19)

struct pick {
    struct live_part *parts[MERGE_MAX_PARTS];
    size_t n;
    int kind; /* FF_PART_EVENTS (parts of one day) or FF_PART_QUARANTINE */
};

static int by_rows(const void *a, const void *b)
{
    uint64_t x = (*(struct live_part *const *)a)->meta.rows, y = (*(struct live_part *const *)b)->meta.rows;
    return x < y ? -1 : x > y;
}

/* The parts that may merge with a: the same kind and day (a quarantine part's day is that of
 * its last item), and for a streaming merge the same columns. */
static int mergeable(const struct live_part *a, const struct live_part *b, int streaming)
{
    return b->meta.kind == a->meta.kind && b->meta.day == a->meta.day && !atomic_load(&b->damaged) &&
           (!streaming || b->colsig == a->colsig);
}

/* A day that flushes still write to: today or yesterday (late events), by the clock. */
static int hot_day(int32_t day) { return day >= ff_day_of(ff_now_us()) - 1; }

/* From a hot day's parts c (sorted by rows): the first tier of FF_MERGE_TIER_PARTS or more,
 * up to MERGE_MAX_PARTS and `cap` rows, or none. */
static void pick_tier(struct live_part *const *c, size_t nc, uint64_t cap, struct pick *pk)
{
    for (size_t i = 0; i < nc && !pk->n;) {
        uint64_t top = MERGE_TIER_RATIO * (c[i]->meta.rows ? c[i]->meta.rows : 1);
        size_t j = i;
        while (j < nc && c[j]->meta.rows <= top) j++;
        uint64_t rows = 0;
        for (size_t k = i; j - i >= FF_MERGE_TIER_PARTS && k < j && pk->n < MERGE_MAX_PARTS; k++) {
            if (rows + c[k]->meta.rows > cap) break;
            rows += c[k]->meta.rows;
            pk->parts[pk->n++] = c[k];
        }
        if (pk->n < FF_MERGE_TIER_PARTS) pk->n = 0;
        i = j;
    }
}

/* Chooses the parts of one merge from the current part set (references taken), or none.
 * streaming: event parts with the same columns, up to MERGE_MAX_ROWS_STREAM rows; else
 * event parts of a day whatever their columns, or quarantine parts, up to MERGE_MAX_ROWS. */
static void choose(struct ff_store *s, struct pick *pk, int streaming)
{
    memset(pk, 0, sizeof *pk);
    pthread_mutex_lock(&s->mu);
    struct partset *ps = s->ps;
    struct live_part **c = ff_malloc((ps->n + 1) * sizeof *c);
    size_t nc = 0;
    for (size_t i = 0; c && i < ps->n && !pk->n; i++) {
        const struct live_part *a = ps->parts[i];
        if (atomic_load(&a->damaged) || (streaming && a->meta.kind != FF_PART_EVENTS)) continue;
        nc = 0;
        for (size_t k = 0; k < ps->n; k++)
            if (mergeable(a, ps->parts[k], streaming)) c[nc++] = ps->parts[k];
        pk->kind = a->meta.kind;
        if (nc < MERGE_MIN_PARTS) continue;
        qsort(c, nc, sizeof *c, by_rows);
        uint64_t cap = streaming ? MERGE_MAX_ROWS_STREAM : MERGE_MAX_ROWS;
        if (a->meta.kind == FF_PART_EVENTS && hot_day(a->meta.day)) {
            pick_tier(c, nc, cap, pk);
            continue;
        }
        /* Size tiers: a part joins only when it is at most twice the size of those picked
         * before it together, so a row is rewritten a few times (log of the day's size), not
         * at every merge as a small part joins a big one. A small part that nothing of its
         * size joins waits, and the bigger ones may merge among themselves. */
        for (size_t k0 = 0; k0 + 1 < nc && pk->n < 2; k0++) {
            uint64_t rows = 0;
            pk->n = 0;
            for (size_t k = k0; k < nc && pk->n < MERGE_MAX_PARTS; k++) {
                if (rows + c[k]->meta.rows > cap) break; /* sorted: the rest are bigger */
                if (pk->n >= 1 && c[k]->meta.rows > 2 * rows) break;
                rows += c[k]->meta.rows;
                pk->parts[pk->n++] = c[k];
            }
        }
        if (pk->n < 2) pk->n = 0;
    }
    for (size_t k = 0; k < pk->n; k++) atomic_fetch_add(&pk->parts[k]->refs, 1);
    pthread_mutex_unlock(&s->mu);
    ff_free(c);
}

static void release_pick(struct pick *pk)
{
    for (size_t k = 0; k < pk->n; k++) ff_live_release(pk->parts[k]);
    pk->n = 0;
}

int ff_parts_collect(struct ff_part *const *parts, size_t n, int (*keep)(void *, const struct ff_event *), void *arg,
                     struct ff_collected *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t nrows = 0;
    for (size_t k = 0; k < n; k++) {
        out->nblocks += parts[k]->info.nblocks;
        nrows += parts[k]->info.nrows;
    }
    out->blocks = ff_calloc(out->nblocks + 1, sizeof *out->blocks);
    out->evs = ff_malloc((nrows + 1) * sizeof *out->evs);
    int rc = out->blocks && out->evs ? 0 : -ENOMEM;
    size_t nb = 0;
    for (size_t k = 0; !rc && k < n; k++) {
        const struct ff_part *p = parts[k];
        for (uint32_t b = 0; !rc && b < p->info.nblocks; b++) {
            struct ff_part_events *pe = &out->blocks[nb++];
            ff_part_events_init(pe, p);
            if ((rc = ff_part_events_load(pe, p, b, err, errlen))) break;
            for (uint32_t i = 0; i < pe->n; i++) {
                ff_part_events_get(pe, i, &out->evs[out->n]);
                if (!keep || keep(arg, &out->evs[out->n])) out->n++;
                else out->dropped++;
            }
        }
    }
    out->nblocks = nb;
    if (rc) ff_collected_free(out);
    return rc;
}

void ff_collected_free(struct ff_collected *c)
{
    for (size_t i = 0; c->blocks && i < c->nblocks; i++) ff_part_events_free(&c->blocks[i]);
    ff_free(c->blocks);
    ff_free(c->evs);
    memset(c, 0, sizeof *c);
}

/* A new part id from the manifest's sequence, taken between publishes: never a flush's. */
static uint64_t take_id(struct ff_store *s)
{
    pthread_mutex_lock(&s->flush_mu);
    pthread_mutex_lock(&s->mu);
    uint64_t id = s->man.next_id++;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->flush_mu);
    return id;
}

/* Streams the picked event parts into one (merge_stream.c): 0 with *built, or
 * FF_MERGE_FALLBACK, or an error. */
static int merge_streaming(struct ff_store *s, const struct pick *pk, struct ff_built_part **built, char *err,
                           size_t errlen)
{
    struct ff_part *inputs[MERGE_MAX_PARTS];
    for (size_t k = 0; k < pk->n; k++) inputs[k] = pk->parts[k]->p;
    char name[64], path[PATH_MAX];
    ff_part_name(name, pk->parts[0]->meta.day, take_id(s));
    snprintf(path, sizeof path, "%s/%s", s->partsdir, name);
    struct ff_built_part *b = ff_calloc(1, sizeof *b);
    if (!b) return -ENOMEM;
    int rc = ff_parts_merge_stream(inputs, pk->n, path, s->o.block_rows, &s->merge_pool, b, err, errlen);
    if (rc) ff_free(b);
    else *built = b;
    return rc;
}

/* Reads the picked parts as rows (events, or quarantined items) and writes them as one. */
static int merge_rows(struct ff_store *s, const struct pick *pk, struct ff_built_part **built, char *err,
                      size_t errlen)
{
    struct ff_part *inputs[MERGE_MAX_PARTS];
    for (size_t k = 0; k < pk->n; k++) inputs[k] = pk->parts[k]->p;
    struct ff_collected col;
    struct ff_qcollected qcol;
    memset(&col, 0, sizeof col);
    memset(&qcol, 0, sizeof qcol);
    int rc = pk->kind == FF_PART_EVENTS ? ff_parts_collect(inputs, pk->n, NULL, NULL, &col, err, errlen)
                                        : ff_qparts_collect(inputs, pk->n, &qcol, err, errlen);
    size_t nbuilt = 0;
    if (!rc) {
        uint64_t id = take_id(s), next = id;
        if (pk->kind == FF_PART_EVENTS) {
            rc = ff_parts_build(s->partsdir, &next, col.evs, col.n, s->o.block_rows, built, &nbuilt);
            if (!rc && nbuilt != 1) { /* one day in, one part out */
                ff_parts_remove(s->partsdir, *built, nbuilt);
                ff_free(*built);
                *built = NULL;
                rc = FF_EINVAL;
            }
        } else if (!(*built = ff_calloc(1, sizeof **built))) {
            rc = -ENOMEM;
        } else if ((rc = ff_qpart_build(s->partsdir, id, qcol.items, qcol.seqs, qcol.n, *built))) {
            ff_free(*built);
            *built = NULL;
        }
    }
    ff_collected_free(&col);
    ff_qcollected_free(&qcol);
    return rc;
}

/* Swaps the inputs for the output in the manifest, or reports why not; releases the pick. */
static int publish_merge(struct ff_store *s, struct pick *pk, struct ff_built_part *built, int rc, const char *err)
{
    if (rc == FF_ECORRUPT) {
        ff_error("store: merge skipped: %s; its parts are left unmerged (footfall check --repair)", err);
        for (size_t k = 0; k < pk->n; k++) atomic_store(&pk->parts[k]->damaged, 1);
    }
    if (!rc) {
        struct ff_manifest_part out;
        ff_built_to_manifest(&built[0], pk->kind, &out);
        const char *removed[MERGE_MAX_PARTS];
        for (size_t k = 0; k < pk->n; k++) removed[k] = pk->parts[k]->meta.name;
        pthread_mutex_lock(&s->flush_mu);
        struct ff_manifest m;
        rc = ff_manifest_copy(&m, &s->man);
        /* Every input must still be listed: an erasure or retention may have replaced one. */
        for (size_t k = 0; !rc && k < pk->n; k++)
            if (ff_manifest_find(&m, removed[k]) < 0) rc = -EAGAIN;
        if (!rc && (rc = ff_store_publish(s, &m, &out, 1, removed, pk->n, 0)) == FF_IO_UNSYNCED) rc = 0;
        ff_manifest_free(&m);
        pthread_mutex_unlock(&s->flush_mu);
        if (rc) {
            ff_parts_remove(s->partsdir, built, 1);
        } else if (pk->kind == FF_PART_EVENTS) {
            ff_info("store: merged %zu parts of day %d into %s (%llu rows)", pk->n, (int)out.day, out.name,
                    (unsigned long long)out.rows);
        } else {
            ff_info("store: merged %zu quarantine parts into %s (%llu items)", pk->n, out.name,
                    (unsigned long long)out.rows);
        }
    }
    ff_free(built);
    release_pick(pk);
    return rc ? rc : 1;
}

int ff_store_merge_once(struct ff_store *s)
{
    struct pick pk;
    struct ff_built_part *built = NULL;
    char err[1024] = "";
    choose(s, &pk, 1);
    if (pk.n) {
        int rc = merge_streaming(s, &pk, &built, err, sizeof err);
        if (rc != FF_MERGE_FALLBACK) return publish_merge(s, &pk, built, rc, err);
        release_pick(&pk); /* not a layout it streams: the row merge below may take them */
    }
    /* Parts of a day with different columns, or quarantine parts: read as rows. */
    choose(s, &pk, 0);
    if (!pk.n) return 0;
    int rc = merge_rows(s, &pk, &built, err, sizeof err);
    return publish_merge(s, &pk, built, rc, err);
}

long ff_store_apply_retention(struct ff_store *s, int64_t now_us)
{
    if (s->o.retention_days <= 0) return 0;
    int32_t today = ff_day_of(now_us);
    int32_t keep_from = today - s->o.retention_days + 1; /* N days: today and the N - 1 before it */
    int64_t keep_from_us = (int64_t)keep_from * 86400LL * 1000000LL;
    pthread_mutex_lock(&s->flush_mu);
    struct ff_manifest m;
    int rc = ff_manifest_copy(&m, &s->man);
    const char **removed = rc ? NULL : ff_malloc((m.nparts + 1) * sizeof *removed);
    size_t n = 0;
    if (!rc && !removed) rc = -ENOMEM;
    for (size_t i = 0; !rc && i < m.nparts; i++) {
        const struct ff_manifest_part *p = &m.parts[i];
        int old = p->kind == FF_PART_EVENTS ? p->day < keep_from : p->max_time < keep_from_us;
        if (old) removed[n++] = p->name;
    }
    /* publish moves m's parts array: keep the names alive in a copy */
    char (*names)[64] = n ? ff_malloc(n * sizeof *names) : NULL;
    if (n && !names) rc = -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        snprintf(names[i], sizeof names[i], "%s", removed[i]);
        removed[i] = names[i];
    }
    if (!rc && n && (rc = ff_store_publish(s, &m, NULL, 0, removed, n, 0)) == FF_IO_UNSYNCED) rc = 0;
    ff_manifest_free(&m);
    pthread_mutex_unlock(&s->flush_mu);
    if (!rc && n) ff_info("store: retention of %d days dropped %zu parts (days before %d)", s->o.retention_days, n, keep_from);
    ff_free(removed);
    ff_free(names);
    return rc ? rc : (long)n;
}

void *ff_store_merge_main(void *arg)
{
    struct ff_store *s = arg;
    pthread_setname_np(pthread_self(), "ff-merge");
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        pthread_mutex_unlock(&s->mu);
        long dropped = ff_store_apply_retention(s, ff_now_us());
        if (dropped < 0) ff_warn("store: retention failed: %s; retrying later", ff_strerror((int)dropped));
        int rc = ff_store_merge_once(s);
        if (rc < 0 && rc != -EAGAIN) ff_warn("store: merge failed: %s; the parts stay as they are", ff_strerror(rc));
        pthread_mutex_lock(&s->mu);
        if (rc == 1 && !s->stopping) continue; /* more may be due */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += rc < 0 ? 5 : 30;
        int idle = !s->stopping && pthread_cond_timedwait(&s->merge_cv, &s->mu, &ts) == ETIMEDOUT;
        pthread_mutex_unlock(&s->mu);
        /* no flush for a while: ingest is idle, so the decoded blocks go back; and the large
         * arrays queries left (core/alloc.h) once no query has wanted them for 30 s */
        if (idle && s->merge_pool.n) ff_merge_pool_free(&s->merge_pool);
        ff_big_trim(30);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}
