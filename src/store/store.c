/* store.c - memtable, flushes, the manifest's part set, and start-up (see store.h).
 *
 * Threads: the WAL writer adds records (ff_store_on_durable); the flush thread freezes the
 * memtable and writes it out; readers take a snapshot. One mutex (`mu`) guards the memtables
 * and the current part set; it is held only to append, swap or take references, never while
 * writing files or decoding. Flushes are serialised by `flush_mu`. */
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/binread.h"
#include "core/errors.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "store/part.h"
#include "store/schema.h"
#include "store/store_int.h"
#include "store/wal.h"

#define DEFAULT_FLUSH_BYTES ((size_t)64 << 20)
#define DEFAULT_FLUSH_INTERVAL_US (10LL * 1000000)
#define SLAB_BYTES ((size_t)4 << 20)
/* The memtable being filled may grow to this many flush sizes while the frozen one is written. */
#define MEMTABLE_MAX_FACTOR 2

/* ---- slabs and memtables ---- */

/* Released slabs of the standard size wait here for the next memtable instead of going back
 * to malloc: a fresh 4 MiB slab costs a page fault per 4 KiB as it fills (and munmap a TLB
 * shootdown on every core), which was a sixth of ingest's CPU time. Process-wide, because
 * a reader may release a slab after its store has closed. */
static struct {
    pthread_mutex_t mu;
    struct slab *free[256];
    size_t n, cap;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Lets the pool keep enough slabs for a store whose memtables may hold `bytes` at once. */
static void pool_reserve(size_t bytes)
{
    size_t want = bytes / SLAB_BYTES + 1, max = sizeof pool.free / sizeof pool.free[0];
    pthread_mutex_lock(&pool.mu);
    if (want > pool.cap) pool.cap = want < max ? want : max;
    pthread_mutex_unlock(&pool.mu);
}

static struct slab *slab_new(size_t need)
{
    struct slab *sl = NULL;
    if (need <= SLAB_BYTES) {
        pthread_mutex_lock(&pool.mu);
        if (pool.n) sl = pool.free[--pool.n];
        pthread_mutex_unlock(&pool.mu);
        if (sl) ff_mem_note_idle(-(long long)(sizeof *sl + sl->cap));
    }
    if (!sl) {
        size_t cap = need > SLAB_BYTES ? need : SLAB_BYTES;
        if (!(sl = ff_malloc(sizeof *sl + cap))) return NULL;
        sl->cap = cap;
    }
    atomic_init(&sl->refs, 1);
    sl->len = 0;
    return sl;
}

void ff_slab_release(struct slab *sl)
{
    if (!sl || atomic_fetch_sub(&sl->refs, 1) != 1) return;
    if (sl->cap == SLAB_BYTES) {
        pthread_mutex_lock(&pool.mu);
        int kept = pool.n < pool.cap;
        if (kept) pool.free[pool.n++] = sl;
        pthread_mutex_unlock(&pool.mu);
        if (kept) {
            ff_mem_note_idle((long long)(sizeof *sl + sl->cap));
            return;
        }
    }
    ff_free(sl);
}

static void memtable_clear(struct memtable *m)
{
    for (size_t i = 0; i < m->n; i++) ff_slab_release(m->slabs[i]);
    ff_free(m->slabs);
    memset(m, 0, sizeof *m);
}

/* Appends one entry: seq, session id (NULL: none), then the record's bytes. Under s->mu. */
static int memtable_add(struct memtable *m, uint64_t seq, const char *sid, const char *rec, size_t len, int64_t now)
{
    size_t need = 8 + FF_SESSION_ID_LEN + len;
    struct slab *sl = m->n ? m->slabs[m->n - 1] : NULL;
    if (!sl || sl->cap - sl->len < need) {
        if (m->n == m->cap) {
            size_t cap = m->cap ? m->cap * 2 : 16;
            struct slab **p = ff_realloc(m->slabs, cap * sizeof *p);
            if (!p) return -ENOMEM;
            m->slabs = p;
            m->cap = cap;
        }
        if (!(sl = slab_new(need))) return -ENOMEM;
        m->slabs[m->n++] = sl;
    }
    unsigned char *o = (unsigned char *)sl->data + sl->len;
    for (int i = 0; i < 8; i++) o[i] = (unsigned char)(seq >> (8 * i));
    if (sid) memcpy(o + 8, sid, FF_SESSION_ID_LEN);
    else memset(o + 8, 0, FF_SESSION_ID_LEN);
    memcpy(o + 8 + FF_SESSION_ID_LEN, rec, len);
    sl->len += need;
    m->bytes += need;
    if (!m->records) {
        m->min_seq = seq;
        m->first_added_us = now;
    }
    m->records++;
    m->max_seq = seq;
    /* The format: byte 6 of an event record (kind, len:4, type, format), byte 5 of a
     * quarantine record (kind, len:4, format). */
    if (rec[0] == FF_REC_EVENT && len > 6 && (uint8_t)rec[6] < FF_FMT_COUNT) m->counts.events[(uint8_t)rec[6]]++;
    else if (rec[0] == FF_REC_QUARANTINE && len > 5 && (uint8_t)rec[5] < FF_FMT_COUNT)
        m->counts.quarantined[(uint8_t)rec[5]]++;
    return 0;
}

int ff_memtable_next(const char *data, size_t len, size_t *off, uint64_t *seq, struct ff_record *rec)
{
    if (len - *off < 8 + FF_SESSION_ID_LEN) return 1;
    const unsigned char *p = (const unsigned char *)data + *off;
    uint64_t s = 0;
    for (int i = 7; i >= 0; i--) s = s << 8 | p[i];
    size_t roff = *off + 8 + FF_SESSION_ID_LEN;
    int rc = ff_record_decode(data, len, &roff, rec);
    if (rc) return rc;
    if (rec->kind == FF_REC_EVENT)
        rec->u.ev.session_id = (struct ff_str){(const char *)p + 8, p[8] ? FF_SESSION_ID_LEN : 0};
    *seq = s;
    *off = roff;
    return 0;
}

/* ---- parts and part sets ---- */

void ff_live_release(struct live_part *lp)
{
    if (lp && atomic_fetch_sub(&lp->refs, 1) == 1) {
        /* Replaced by a merge, dropped by retention or rewritten by an erasure: the manifest
         * no longer lists it and no reader holds it. (A crash before this unlink leaves an
         * orphan, which the next open removes.) */
        if (atomic_load(&lp->obsolete)) unlink(lp->p->path);
        ff_live_person_runs_free(lp);
        pthread_mutex_destroy(&lp->runs_mu);
        ff_part_close(lp->p);
        ff_free(lp);
    }
}

void ff_partset_release(struct partset *ps)
{
    if (!ps || atomic_fetch_sub(&ps->refs, 1) != 1) return;
    for (size_t i = 0; i < ps->n; i++) ff_live_release(ps->parts[i]);
    ff_free(ps->parts);
    ff_free(ps);
}

static struct partset *partset_new(size_t n)
{
    struct partset *ps = ff_calloc(1, sizeof *ps);
    if (!ps) return NULL;
    if (n && !(ps->parts = ff_calloc(n, sizeof *ps->parts))) {
        ff_free(ps);
        return NULL;
    }
    atomic_init(&ps->refs, 1);
    return ps;
}

int ff_store_open_part(struct ff_store *s, const struct ff_manifest_part *mp, struct live_part **out, char *err,
                     size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->partsdir, mp->name);
    struct live_part *lp = ff_calloc(1, sizeof *lp);
    if (!lp) return -ENOMEM;
    int rc = ff_part_open(path, &lp->p, err, errlen);
    if (rc) {
        ff_free(lp);
        return rc;
    }
    atomic_init(&lp->refs, 1);
    pthread_mutex_init(&lp->runs_mu, NULL);
    lp->meta = *mp;
    for (uint32_t c = 0; c < lp->p->info.ncols; c++) {
        const struct ff_part_column *col = &lp->p->cols[c];
        lp->colsig = XXH3_64bits_withSeed(col->name, strnlen(col->name, sizeof col->name), lp->colsig ^ col->type);
    }
    *out = lp;
    return 0;
}

/* ---- snapshots for readers ---- */

int ff_store_snapshot(struct ff_store *s, struct snapshot *snap)
{
    memset(snap, 0, sizeof *snap);
    pthread_mutex_lock(&s->mu);
    size_t n = s->frozen.n + s->active.n;
    int rc = 0;
    if (n && !(snap->slabs = ff_malloc(n * sizeof *snap->slabs))) rc = -ENOMEM;
    if (n && !rc && !(snap->lens = ff_malloc(n * sizeof *snap->lens))) rc = -ENOMEM;
    if (!rc) {
        const struct memtable *ms[2] = {&s->frozen, &s->active}; /* oldest first */
        for (int k = 0; k < 2; k++)
            for (size_t i = 0; i < ms[k]->n; i++) {
                struct slab *sl = ms[k]->slabs[i];
                atomic_fetch_add(&sl->refs, 1);
                snap->slabs[snap->nslabs] = sl;
                snap->lens[snap->nslabs++] = sl->len; /* what is there now stays as it is */
            }
        snap->ps = s->ps;
        atomic_fetch_add(&s->ps->refs, 1);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) ff_snapshot_release(snap);
    return rc;
}

void ff_snapshot_release(struct snapshot *snap)
{
    for (size_t i = 0; i < snap->nslabs; i++) ff_slab_release(snap->slabs[i]);
    ff_free(snap->slabs);
    ff_free(snap->lens);
    ff_partset_release(snap->ps);
    memset(snap, 0, sizeof *snap);
}

/* ---- adding records ---- */

static int add_frame(struct ff_store *s, uint64_t first_seq, const char *records, size_t len, const uint32_t *drops,
                     uint32_t ndrop, size_t nsids, int64_t now)
{
    size_t off = 0;
    uint32_t d = 0;
    int rc = 0;
    for (uint64_t i = 0; off < len && !rc; i++) {
        struct ff_reader r = {(const unsigned char *)records, len, off + 1};
        uint32_t body;
        if (ff_rd_u32(&r, &body) || body > len - r.off) return FF_ECORRUPT;
        size_t rlen = 5 + (size_t)body;
        int dropped = d < ndrop && drops[d] == i;
        if (dropped) d++;
        else rc = memtable_add(&s->active, first_seq + i, i < nsids ? s->frame_sids + i * FF_SESSION_ID_LEN : NULL,
                               records + off, rlen, now);
        off += rlen;
    }
    return rc;
}

/* The rules of one project, asked for once per run of its events. */
struct rules_cache {
    struct ff_str project;
    int valid;
    struct ff_session_rules rules;
};

/* The session of an event into sid (zeros when it has none). */
static void assign_session(struct ff_store *s, const struct ff_event *ev, struct rules_cache *rc,
                           char sid[FF_SESSION_ID_LEN])
{
    memset(sid, 0, FF_SESSION_ID_LEN);
    if (!rc->valid || !ff_str_eq(rc->project, ev->project)) {
        memset(&rc->rules, 0, sizeof rc->rules);
        if (s->o.session_rules) s->o.session_rules(s->o.session_rules_arg, ev->project, &rc->rules);
        rc->project = ev->project;
        rc->valid = 1;
    }
    if (ff_sessions_assign(s->sessions, ev, &rc->rules, sid) < 0) {
        memset(sid, 0, FF_SESSION_ID_LEN);
        ff_error("store: out of memory for sessions: an event is stored without its session id");
    }
}

/* The links the frame's events make (identity.h) and the sessions of those the WAL kept
 * (sessions.h; into s->frame_sids), before their events can be read. Returns how many
 * records have their session id there. */
static size_t observe_frame(struct ff_store *s, const char *records, size_t len, const uint32_t *drops, uint32_t ndrop)
{
    size_t off = 0, i = 0;
    uint32_t d = 0;
    struct ff_record rec;
    struct rules_cache rules = {{"", 0}, 0, {0}}; /* a frame is mostly one project's events */
    for (; off < len && !ff_record_decode(records, len, &off, &rec); i++) {
        if (i == s->frame_sids_cap) {
            size_t cap = s->frame_sids_cap ? s->frame_sids_cap * 2 : 4096;
            char *p = ff_realloc(s->frame_sids, cap * FF_SESSION_ID_LEN);
            if (!p) {
                ff_error("store: out of memory for session ids: events are stored without them");
                return i;
            }
            s->frame_sids = p;
            s->frame_sids_cap = cap;
        }
        char *sid = s->frame_sids + i * FF_SESSION_ID_LEN;
        int dropped = d < ndrop && drops[d] == i;
        d += dropped;
        memset(sid, 0, FF_SESSION_ID_LEN);
        if (rec.kind != FF_REC_EVENT) continue;
        if (ff_identity_observe(s->identity, &rec.u.ev, &s->observe_memo))
            ff_error("store: out of memory for the identity map: a link waits for the next start");
        if (!dropped) assign_session(s, &rec.u.ev, &rules, sid);
    }
    return i;
}

void ff_store_on_durable(void *store, uint64_t first_seq, const char *records, size_t len, const uint32_t *drops,
                         uint32_t ndrop)
{
    struct ff_store *s = store;
    int64_t now = ff_now_us();
    size_t nsids = observe_frame(s, records, len, drops, ndrop);
    pthread_mutex_lock(&s->mu);
    /* Backpressure: when flushes fall behind ingest, the WAL writer waits here, so requests
     * wait for their acknowledgement instead of memory growing without bound. */
    /* Not while flushes are failing: then the events are safe in the WAL, and waiting would
     * stall ingest (and a graceful stop) until the disk is fixed. */
    uint64_t waited_from = 0;
    while (s->thread_started && !s->stopping && !s->flush_failing && s->frozen.records &&
           s->active.bytes >= MEMTABLE_MAX_FACTOR * s->o.flush_bytes) {
        if (!waited_from) waited_from = ff_mono_ns();
        pthread_cond_wait(&s->flushed_cv, &s->mu);
    }
    if (waited_from) ff_counter_add(ff_metrics.flush_wait_ns, ff_mono_ns() - waited_from);
    int rc = add_frame(s, first_seq, records, len, drops, ndrop, nsids, now);
    if (s->active.bytes >= s->o.flush_bytes) pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    /* Out of memory here loses nothing: the records are in the WAL and come back at the next
     * start. Until then reads do not see them. */
    if (rc) {
        pthread_mutex_lock(&s->mu);
        s->add_failed = 1;
        pthread_mutex_unlock(&s->mu);
        ff_error("store: %s: records from WAL sequence number %llu are not readable until restart, and no flush "
                 "happens until then (they are safe in the WAL)", ff_strerror(rc), (unsigned long long)first_seq);
    }
}

/* ---- flushing ---- */

/* Where an event's person lies in s->flush_persons (an offset: the buffer moves while it
 * grows); len UINT32_MAX when its person is its own id. */
struct person_at {
    uint32_t off, len;
};

/* Decodes a frozen memtable into events and quarantined items (strings point into its slabs).
 * The events go into the store's reused array. */
struct decoded {
    struct ff_event *evs; /* s->flush_evs */
    size_t nev;
    struct person_at *person_at;
    struct ff_quarantined *qs;
    uint64_t *qseq;
    size_t nq;
};

static void decoded_free(struct decoded *d)
{
    ff_free(d->person_at);
    ff_free(d->qs);
    ff_free(d->qseq);
    memset(d, 0, sizeof *d);
}

/* Sets event i's person_id (identity.h) as it is decoded, while its bytes are in the cache.
 * Most ids lead nowhere else: the event's own id is its person, a view of the memtable; the
 * others are copied to s->flush_persons (pointers set by persons_placed). A run of events
 * with the same ids (one person's batch) is resolved once. */
static int resolve_person(struct ff_store *s, struct decoded *d, size_t i)
{
    struct ff_event *ev = &d->evs[i];
    struct person_at *at = &d->person_at[i];
    struct ff_str who = ev->user_id.len ? ev->user_id : ev->anonymous_id;
    at->len = UINT32_MAX;
    /* person_id holds the id resolved (the event's own until persons_placed) */
    const struct ff_event *prev = i ? &d->evs[i - 1] : NULL;
    if (prev && ff_str_eq(prev->project, ev->project) && ff_str_eq(prev->person_id, who)) {
        *at = at[-1];
        ev->person_id = prev->person_id;
        return 0;
    }
    ev->person_id = who;
    if (!who.len) return 0;
    struct ff_buf *a = &s->flush_persons;
    size_t from = a->len;
    int r = ff_identity_leads(s->identity, ev->project, who, a);
    if (r > 0) *at = (struct person_at){(uint32_t)from, (uint32_t)(a->len - from)};
    if (r >= 0 && a->len >= UINT32_MAX) r = FF_ETOOBIG;
    return r < 0 ? r : 0;
}

static void persons_placed(struct ff_store *s, struct decoded *d)
{
    for (size_t i = 0; i < d->nev; i++)
        if (d->person_at[i].len != UINT32_MAX)
            d->evs[i].person_id = (struct ff_str){s->flush_persons.data + d->person_at[i].off, d->person_at[i].len};
}

static int decode_memtable(struct ff_store *s, const struct memtable *m, struct decoded *d)
{
    memset(d, 0, sizeof *d);
    size_t nq = 0;
    for (int f = 0; f < FF_FMT_COUNT; f++) nq += m->counts.quarantined[f];
    if (m->records > s->flush_evs_cap) {
        /* A quarter more than asked: memtables of the same size hold a few more or fewer
         * records each time, and a fresh array is faulted in again page by page. */
        size_t cap = m->records + m->records / 4;
        ff_free(s->flush_evs);
        s->flush_evs_cap = 0;
        if (!(s->flush_evs = ff_malloc(cap * sizeof *s->flush_evs))) return -ENOMEM;
        s->flush_evs_cap = cap;
    }
    d->evs = s->flush_evs;
    d->person_at = ff_malloc((m->records + 1) * sizeof *d->person_at);
    d->qs = ff_malloc((nq ? nq : 1) * sizeof *d->qs);
    d->qseq = ff_malloc((nq ? nq : 1) * sizeof *d->qseq);
    if (!d->qs || !d->qseq || !d->person_at) return -ENOMEM;
    ff_buf_reset(&s->flush_persons);
    for (size_t i = 0; i < m->n; i++) {
        const struct slab *sl = m->slabs[i];
        size_t off = 0;
        uint64_t seq;
        struct ff_record rec;
        int rc;
        while ((rc = ff_memtable_next(sl->data, sl->len, &off, &seq, &rec)) == 0) {
            if (rec.kind == FF_REC_EVENT && d->nev < m->records) {
                d->evs[d->nev] = rec.u.ev;
                d->evs[d->nev].seq = seq;
                if ((rc = resolve_person(s, d, d->nev++))) return rc;
            } else if (rec.kind == FF_REC_QUARANTINE && d->nq < nq) {
                d->qs[d->nq] = rec.u.q;
                d->qseq[d->nq++] = seq;
            } else {
                return FF_ECORRUPT; /* more records than memtable_add counted */
            }
        }
        if (rc < 0) return rc;
    }
    persons_placed(s, d);
    return 0;
}

int ff_store_person_of(struct ff_store *s, struct ff_event *ev, struct ff_buf *tmp)
{
    int rc = ff_identity_person(s->identity, ev->project, ev->user_id, ev->anonymous_id, tmp);
    ev->person_id = rc ? (struct ff_str){"", 0} : (struct ff_str){tmp->data, (uint32_t)tmp->len};
    return rc;
}

int ff_store_is_persons(struct ff_store *s, const struct ff_event *ev, struct ff_str id, struct ff_buf *tmp,
                        struct ff_buf *tmp2)
{
    if (!id.len) return 0;
    if (ff_str_eq(ev->user_id, id) || ff_str_eq(ev->anonymous_id, id)) return 1;
    /* the event's person is where `id` leads in the event's project (`id` itself when it is
     * the person's own) */
    if (ff_identity_person(s->identity, ev->project, ev->user_id, ev->anonymous_id, tmp) ||
        ff_identity_person(s->identity, ev->project, id, (struct ff_str){"", 0}, tmp2))
        return 0;
    return tmp->len == tmp2->len && memcmp(tmp->data, tmp2->data, tmp->len) == 0;
}

struct ff_identity *ff_store_identity(struct ff_store *s) { return s->identity; }

void ff_built_to_manifest(const struct ff_built_part *b, int kind, struct ff_manifest_part *mp)
{
    memset(mp, 0, sizeof *mp);
    snprintf(mp->name, sizeof mp->name, "%s", b->name);
    mp->kind = (uint8_t)kind;
    mp->day = b->info.day;
    mp->rows = b->info.nrows;
    mp->bytes = b->bytes;
    mp->min_time = b->info.min_time;
    mp->max_time = b->info.max_time;
    mp->min_seq = b->min_seq;
    mp->max_seq = b->max_seq;
}

int ff_store_publish(struct ff_store *s, struct ff_manifest *m, const struct ff_manifest_part *added, size_t nadded,
                     const char *const *removed, size_t nremoved, int drop_frozen)
{
    /* Parts to be published are opened first: a part that does not open is never listed. */
    struct live_part **opened = ff_calloc(nadded + 1, sizeof *opened);
    if (!opened) return -ENOMEM;
    int rc = ff_io_fsync_dir(s->partsdir);
    size_t nopened = 0;
    for (size_t i = 0; !rc && i < nadded; i++) {
        char err[1024];
        if ((rc = ff_store_open_part(s, &added[i], &opened[i], err, sizeof err)))
            ff_error("store: a part just written does not open: %s", err);
        else nopened++;
    }
    /* The new manifest: the old one's parts, less the removed, plus the added. */
    size_t keep = 0;
    for (size_t i = 0; i < m->nparts; i++) {
        int gone = 0;
        for (size_t k = 0; k < nremoved && !gone; k++) gone = strcmp(m->parts[i].name, removed[k]) == 0;
        if (!gone) m->parts[keep++] = m->parts[i];
    }
    m->nparts = keep;
    for (size_t i = 0; !rc && i < nadded; i++) rc = ff_manifest_add(m, &added[i]);
    struct partset *ps = NULL;
    if (!rc && !(ps = partset_new(s->ps->n + nadded))) rc = -ENOMEM;
    int unsynced = 0;
    if (!rc && (rc = ff_manifest_publish(s->dir, m)) == FF_IO_UNSYNCED) {
        ff_warn("store: the manifest is in place but its directory could not be fsync'd; replaced parts are kept "
                "on disk until the next start");
        unsynced = 1;
        rc = 0;
    }
    if (rc) {
        for (size_t i = 0; i < nopened; i++) ff_live_release(opened[i]);
        ff_partset_release(ps);
        ff_free(opened);
        return rc;
    }
    for (size_t i = 0; i < s->ps->n; i++) {
        struct live_part *lp = s->ps->parts[i];
        int gone = 0;
        for (size_t k = 0; k < nremoved && !gone; k++) gone = strcmp(lp->meta.name, removed[k]) == 0;
        if (gone) {
            /* Deleted when the last reader lets go, unless the old manifest may still be
             * the durable one: then the next open decides (orphans are removed). */
            if (!unsynced) atomic_store(&lp->obsolete, 1);
            continue;
        }
        atomic_fetch_add(&lp->refs, 1);
        ps->parts[ps->n++] = lp;
    }
    for (size_t i = 0; i < nadded; i++) ps->parts[ps->n++] = opened[i];
    ff_free(opened);
    pthread_mutex_lock(&s->mu);
    struct partset *old = s->ps;
    s->ps = ps;
    struct ff_manifest prev = s->man;
    s->man = *m;
    memset(m, 0, sizeof *m); /* the store owns it now */
    struct memtable done = {0};
    if (drop_frozen) {
        done = s->frozen;
        memset(&s->frozen, 0, sizeof s->frozen);
        pthread_cond_broadcast(&s->flushed_cv);
    }
    pthread_mutex_unlock(&s->mu);
    ff_manifest_free(&prev);
    ff_partset_release(old);
    memtable_clear(&done);
    return unsynced ? FF_IO_UNSYNCED : 0;
}

/* WAL files last written at or before this are past the dedup window: the window's start,
 * or later when the WAL's message id set let older ids go for room (no use keeping their
 * keys for a restart, and at full rate they were 10 MB/s for a day). A second's margin for
 * the file system's coarse clock. Caller holds flush_mu. */
static int64_t wal_expired_by(struct ff_store *s)
{
    int64_t by = ff_now_us() - s->o.wal_keep_us;
    int64_t forgotten = atomic_load(&s->wal_forgotten_before);
    if (forgotten != INT64_MIN && forgotten - 1000000 > by) by = forgotten - 1000000;
    return by;
}

void ff_store_on_forget(void *store, int64_t forgotten_before_us)
{
    struct ff_store *s = store;
    atomic_store(&s->wal_forgotten_before, forgotten_before_us);
}

int ff_store_flush(struct ff_store *s)
{
    if (s->o.read_only) return 0;
    pthread_mutex_lock(&s->flush_mu);
    pthread_mutex_lock(&s->mu);
    if (!s->frozen.records) { /* else a failed flush left it: retry it first */
        memtable_clear(&s->frozen);
        s->frozen = s->active;
        memset(&s->active, 0, sizeof s->active);
    }
    int rc = s->add_failed ? -ENOMEM : 0;
    pthread_mutex_unlock(&s->mu);
    if (rc || !s->frozen.records) goto out;
    struct decoded d;
    struct ff_built_part *built = NULL, qbuilt;
    size_t nbuilt = 0, nq = 0;
    struct ff_manifest m;
    memset(&m, 0, sizeof m);
    rc = decode_memtable(s, &s->frozen, &d);
    /* the links behind those person ids are durable before the parts that use them */
    if (!rc) rc = ff_identity_save(s->identity, s->dir);
    /* the open sessions as of these events, so a restart gives the next ones the same ids */
    if (!rc) rc = ff_sessions_save(s->sessions, s->dir, ff_now_us());
    if (!rc) rc = ff_manifest_copy(&m, &s->man);
#ifndef FF_BENCH_DISCARD_PARTS
    uint32_t flush_rows = s->o.block_rows < FF_FLUSH_BLOCK_ROWS ? s->o.block_rows : FF_FLUSH_BLOCK_ROWS;
    if (!rc) rc = ff_parts_build(s->partsdir, &m.next_id, d.evs, d.nev, flush_rows, &built, &nbuilt);
#else
    /* build/footfall-noparts only (make bench): the flush publishes its counts and lets the WAL
     * go without writing parts, so bench/run can measure what the collector costs without them.
     * That binary loses every event it flushes; it never ships. */
    d.nq = 0;
#endif
    if (!rc && d.nq) {
        rc = ff_qpart_build(s->partsdir, m.next_id++, d.qs, d.qseq, d.nq, &qbuilt);
        if (!rc) nq = 1;
    }
    struct ff_manifest_part *mps = NULL;
    if (!rc && !(mps = ff_calloc(nbuilt + nq + 1, sizeof *mps))) rc = -ENOMEM;
    for (size_t i = 0; !rc && i < nbuilt + nq; i++)
        ff_built_to_manifest(i < nbuilt ? &built[i] : &qbuilt, i < nbuilt ? FF_PART_EVENTS : FF_PART_QUARANTINE, &mps[i]);
    if (!rc) {
        m.wal_seq = s->frozen.max_seq + 1;
        for (int f = 0; f < FF_FMT_COUNT; f++) {
            m.events[f] += s->frozen.counts.events[f];
            m.quarantined[f] += s->frozen.counts.quarantined[f];
        }
        rc = ff_store_publish(s, &m, mps, nbuilt + nq, NULL, 0, 1);
    }
    int unsynced = rc == FF_IO_UNSYNCED;
    if (unsynced) rc = 0;
    ff_free(mps);
    if (rc) {
        ff_parts_remove(s->partsdir, built, nbuilt);
        if (nq) ff_parts_remove(s->partsdir, &qbuilt, 1);
    } else if (!unsynced) { /* the WAL stays whole until wal_seq is known durable */
        long trimmed = ff_wal_trim(s->dir, s->man.wal_seq, wal_expired_by(s));
        if (trimmed < 0) ff_warn("store: removing flushed WAL segments: %s", ff_strerror((int)trimmed));
        pthread_cond_broadcast(&s->merge_cv);
    }
    ff_manifest_free(&m);
    decoded_free(&d);
    ff_free(built);
out:
    pthread_mutex_unlock(&s->flush_mu);
    return rc;
}

static void *flush_main(void *arg)
{
    struct ff_store *s = arg;
    int failures = 0;
    pthread_setname_np(pthread_self(), "ff-flush");
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        int64_t now = ff_now_us();
        int due = s->active.bytes >= s->o.flush_bytes || s->frozen.records ||
                  (s->active.records && now - s->active.first_added_us >= s->o.flush_interval_us);
        if (!due) {
            int64_t wait_us = s->active.records ? s->active.first_added_us + s->o.flush_interval_us - now
                                                : s->o.flush_interval_us;
            if (failures) wait_us = 1000000; /* after a failure: retry each second, not in a spin */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (wait_us % 1000000) * 1000;
            ts.tv_sec += (time_t)(wait_us / 1000000 + ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        int rc = ff_store_flush(s);
        pthread_mutex_lock(&s->mu);
        s->flush_failing = rc != 0;
        if (rc) pthread_cond_broadcast(&s->flushed_cv); /* writers waiting in backpressure go on */
        pthread_mutex_unlock(&s->mu);
        if (rc) {
            if (!failures++) ff_error("store: flush failed: %s; the events stay in memory and in the WAL, retrying",
                                      ff_strerror(rc));
            pthread_mutex_lock(&s->mu);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            if (!s->stopping) pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            continue;
        }
        if (failures) ff_info("store: flush succeeded again after %d failures", failures);
        failures = 0;
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- open and close ---- */

/* Removes files in parts/ that the manifest does not list: what a crashed flush or merge
 * left before publishing. */
static void remove_orphans(struct ff_store *s)
{
    DIR *d = opendir(s->partsdir);
    if (!d) return;
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || ff_manifest_find(&s->man, e->d_name) >= 0) continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", s->partsdir, e->d_name);
        if (unlink(path) == 0) {
            ff_warn("store: removed %s: not in the manifest (left by an interrupted flush or merge)", path);
            removed++;
        }
    }
    closedir(d);
    if (removed) ff_io_fsync_dir(s->partsdir);
}

struct replay {
    struct ff_store *s;
    struct ff_buf tmp;
    int64_t now;
    int err;
};

static int replay_visit(void *arg, uint64_t seq, const struct ff_record *rec)
{
    struct replay *r = arg;
    if (rec->kind == FF_REC_EVENT && ff_identity_observe(r->s->identity, &rec->u.ev, &r->s->observe_memo))
        return (r->err = -ENOMEM);
    if (seq < r->s->man.wal_seq) return 0;
    ff_buf_reset(&r->tmp);
    int rc = rec->kind == FF_REC_EVENT ? ff_event_encode(&r->tmp, &rec->u.ev) : ff_quarantine_encode(&r->tmp, &rec->u.q);
    /* DATA/SESSIONS may have these events already: each lies inside its session's span
     * there, so it gets the same id again (sessions.h) */
    char sid[FF_SESSION_ID_LEN] = {0};
    struct rules_cache rules = {{"", 0}, 0, {0}};
    if (rec->kind == FF_REC_EVENT) assign_session(r->s, &rec->u.ev, &rules, sid);
    if (!rc) rc = memtable_add(&r->s->active, seq, sid, r->tmp.data, r->tmp.len, r->now);
    return rc ? (r->err = rc) : 0;
}

int ff_store_open(struct ff_store **out, const struct ff_store_opts *o, char *err, size_t errlen)
{
    struct ff_store *s = ff_calloc(1, sizeof *s);
    if (!s) return -ENOMEM;
    atomic_init(&s->wal_forgotten_before, INT64_MIN);
    s->o = *o;
    if (!s->o.flush_bytes) s->o.flush_bytes = DEFAULT_FLUSH_BYTES;
    pool_reserve((MEMTABLE_MAX_FACTOR + 1) * s->o.flush_bytes);
    if (!s->o.flush_interval_us) s->o.flush_interval_us = DEFAULT_FLUSH_INTERVAL_US;
    if (!s->o.block_rows) s->o.block_rows = FF_PART_BLOCK_ROWS;
    snprintf(s->dir, sizeof s->dir, "%s", o->dir);
    snprintf(s->partsdir, sizeof s->partsdir, "%s/parts", o->dir);
    s->o.dir = s->dir;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->flush_mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->merge_cv, NULL);
    pthread_cond_init(&s->flushed_cv, NULL);
    int rc = 0;
    if (!o->read_only && ((mkdir(s->dir, 0755) && errno != EEXIST) || (mkdir(s->partsdir, 0755) && errno != EEXIST))) {
        rc = -errno;
        snprintf(err, errlen, "cannot create %s: %s", s->partsdir, ff_strerror(rc));
        goto fail;
    }
    if ((rc = ff_manifest_load(s->dir, &s->man, err, errlen))) goto fail;
    if ((rc = ff_identity_open(s->dir, &s->identity, err, errlen))) goto fail;
    if ((rc = ff_sessions_open(s->dir, &s->sessions, err, errlen))) goto fail;
    ff_buf_init(&s->flush_persons, (size_t)1 << 36);
    if (!o->read_only) remove_orphans(s);
    if (!(s->ps = partset_new(s->man.nparts))) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < s->man.nparts; i++) {
        if ((rc = ff_store_open_part(s, &s->man.parts[i], &s->ps->parts[s->ps->n], err, errlen))) goto fail;
        s->ps->n++;
    }
    struct replay r = {s, {0}, ff_now_us(), 0};
    ff_buf_init(&r.tmp, (size_t)1 << 32);
    /* From the start of the log, not the manifest's point: the identity links of events
     * already in parts are in DATA/IDENTITY only as of its last save. */
    rc = ff_wal_scan_from(s->dir, 0, replay_visit, &r);
    ff_buf_free(&r.tmp);
    if (rc < 0 || r.err) {
        rc = r.err ? r.err : rc;
        snprintf(err, errlen, "replaying the WAL from sequence number %llu: %s", (unsigned long long)s->man.wal_seq,
                 ff_strerror(rc));
        goto fail;
    }
    rc = 0;
    if (!o->read_only && !o->manual_flush) {
        if ((rc = -pthread_create(&s->thread, NULL, flush_main, s))) {
            snprintf(err, errlen, "cannot start the flush thread: %s", ff_strerror(rc));
            goto fail;
        }
        s->thread_started = 1;
        if ((rc = -pthread_create(&s->merge_thread, NULL, ff_store_merge_main, s))) {
            snprintf(err, errlen, "cannot start the merge thread: %s", ff_strerror(rc));
            goto fail;
        }
        s->merge_started = 1;
    }
    s->opened = 1;
    *out = s;
    return 0;
fail:
    ff_store_close(s);
    return rc;
}

void ff_store_close(struct ff_store *s)
{
    if (!s) return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_signal(&s->cv);
        pthread_cond_broadcast(&s->merge_cv);
        pthread_cond_broadcast(&s->flushed_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        if (s->merge_started) pthread_join(s->merge_thread, NULL);
    }
    if (s->opened && !s->o.read_only) {
        /* What is in memory goes to parts now, so the next start has nothing to replay. A
         * failure loses nothing: the WAL still has it. */
        int rc = ff_store_flush(s);
        if (rc) ff_warn("store: final flush failed (%s); the WAL keeps the events for the next start", ff_strerror(rc));
    }
    memtable_clear(&s->active);
    memtable_clear(&s->frozen);
    ff_free(s->flush_evs);
    ff_merge_pool_free(&s->merge_pool);
    ff_buf_free(&s->flush_persons);
    ff_identity_free(s->identity);
    ff_sessions_free(s->sessions);
    ff_free(s->frame_sids);
    if (s->o.session_rules_free) s->o.session_rules_free(s->o.session_rules_arg);
    ff_partset_release(s->ps);
    ff_manifest_free(&s->man);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->flush_mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->merge_cv);
    pthread_cond_destroy(&s->flushed_cv);
    ff_free(s);
}

void ff_store_attach_wal(struct ff_store *s, struct ff_wal *w) { s->wal = w; }

void ff_store_counts(struct ff_store *s, struct ff_store_counts *c)
{
    pthread_mutex_lock(&s->mu);
    c->held = c->quarantine_held = 0;
    for (int f = 0; f < FF_FMT_COUNT; f++) {
        c->events[f] = s->man.events[f] + s->frozen.counts.events[f] + s->active.counts.events[f];
        c->quarantined[f] = s->man.quarantined[f] + s->frozen.counts.quarantined[f] + s->active.counts.quarantined[f];
        c->held += s->frozen.counts.events[f] + s->active.counts.events[f];
        c->quarantine_held += s->frozen.counts.quarantined[f] + s->active.counts.quarantined[f];
    }
    for (size_t i = 0; i < s->man.nparts; i++)
        *(s->man.parts[i].kind == FF_PART_EVENTS ? &c->held : &c->quarantine_held) += s->man.parts[i].rows;
    pthread_mutex_unlock(&s->mu);
}

uint64_t ff_store_next_seq(struct ff_store *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t next = s->man.wal_seq;
    const struct memtable *ms[2] = {&s->frozen, &s->active};
    for (int k = 0; k < 2; k++)
        if (ms[k]->records && ms[k]->max_seq + 1 > next) next = ms[k]->max_seq + 1;
    pthread_mutex_unlock(&s->mu);
    return next;
}

int ff_store_manifest(struct ff_store *s, struct ff_manifest *m)
{
    pthread_mutex_lock(&s->mu);
    int rc = ff_manifest_copy(m, &s->man);
    pthread_mutex_unlock(&s->mu);
    return rc;
}
