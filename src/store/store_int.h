/* store_int.h - the store's internals shared by store.c (writing side) and store_read.c. */
#ifndef FF_STORE_INT_H
#define FF_STORE_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

#include "store/manifest.h"
#include "store/merge_stream.h"
#include "store/part.h"
#include "store/person_runs.h"
#include "store/schema.h"
#include "store/store.h"
#include "store/identity.h"
#include "store/sessions.h"
#include "core/fileio.h"

/* An append-only run of memtable entries: seq:u64le, the event's session id (FF_SESSION_ID_LEN
 * bytes; zeros when it has none), then a record as event.h encodes it.
 * Bytes below a length a reader saw never change, so readers share slabs by reference. */
struct slab {
    atomic_int refs;
    size_t cap, len;
    char data[];
};
void ff_slab_release(struct slab *sl);

struct memtable {
    struct slab **slabs;
    size_t n, cap;
    size_t bytes;
    uint64_t records, min_seq, max_seq;
    int64_t first_added_us;
    struct ff_store_counts counts;
};

/* Steps through memtable entries: 0 with *seq and *rec, 1 at the end, or FF_ECORRUPT. */
int ff_memtable_next(const char *data, size_t len, size_t *off, uint64_t *seq, struct ff_record *rec);

/* A block's runs of one person each, resolved at `mark` (person_runs.c). */
struct ff_block_runs {
    struct ff_identity_mark mark;
    int resolved;
    uint32_t n;
    struct ff_person_run *runs;
};

struct live_part {
    atomic_int refs;
    atomic_int obsolete;      /* no longer in the manifest: the last release deletes the file */
    atomic_int damaged;       /* a chunk failed its checksum: merges leave it alone */
    struct ff_part *p;
    struct ff_manifest_part meta;
    uint64_t colsig;          /* hash of its columns' names and types: equal ones merge streaming */
    pthread_mutex_t runs_mu;  /* runs: made on a query's first ask, per block */
    struct ff_block_runs *runs;
};
/* Block b's runs (person_runs.h), checked against the identity map's history and resolved
 * again when one of its persons may have changed, copied into *runs (*cap its room). */
int ff_live_person_runs(struct ff_store *s, struct live_part *lp, uint32_t b, struct ff_person_run **runs,
                        uint32_t *cap, uint32_t *n, char *err, size_t errlen);
void ff_live_person_runs_free(struct live_part *lp);

/* The parts a manifest lists, opened. Readers hold a reference while they read. */
struct partset {
    atomic_int refs;
    size_t n;
    struct live_part **parts;
};
void ff_partset_release(struct partset *ps);
void ff_live_release(struct live_part *lp);

struct snapshot {
    struct partset *ps;
    struct slab **slabs; /* memtable slabs, oldest first */
    size_t *lens;        /* how much of each the snapshot sees */
    size_t nslabs;
};
int ff_store_snapshot(struct ff_store *s, struct snapshot *snap);
void ff_snapshot_release(struct snapshot *snap);

struct ff_store {
    struct ff_store_opts o;
    char dir[3600], partsdir[3700]; /* room for "/" and a file name within PATH_MAX */
    pthread_mutex_t mu, flush_mu; /* flush_mu: one publisher at a time (flush, merge, erasure) */
    pthread_cond_t cv, merge_cv, flushed_cv; /* flushed_cv: a frozen memtable was written out */
    struct memtable active, frozen; /* frozen: being flushed, or left by a failed flush */
    /* The frozen memtable's events, decoded; kept between flushes (under flush_mu) so each
     * flush does not page-fault in a fresh array of a few hundred thousand events. */
    struct ff_event *flush_evs;
    size_t flush_evs_cap;
    struct ff_identity *identity;  /* identity.h: who is who, fed by every durable event */
    struct ff_identity_memo observe_memo; /* the WAL writer's (observe_frame), and replay's before it */
    struct ff_sessions *sessions;  /* sessions.h: the open sessions, fed likewise */
    char *frame_sids;              /* the session ids of the frame being added (WAL writer only) */
    size_t frame_sids_cap;         /* in records */
    struct ff_buf flush_persons;   /* the person ids of the events being flushed */
    struct partset *ps;
    struct ff_manifest man;
    int add_failed;                 /* a record could not be kept in memory: never advance wal_seq */
    int flush_failing;              /* the last flush failed: backpressure is off until one succeeds */
    struct ff_wal *wal;             /* for erasures; NULL offline */
    _Atomic int64_t wal_forgotten_before; /* what the WAL's dedup set no longer remembers (on_forget) */
    struct ff_merge_pool merge_pool; /* the merge thread's decoded blocks, kept between merges */
    pthread_t thread, merge_thread;
    int thread_started, merge_started, stopping, opened;
};

/* Opens the part a manifest entry names. */
int ff_store_open_part(struct ff_store *s, const struct ff_manifest_part *mp, struct live_part **out, char *err,
                       size_t errlen);
void ff_built_to_manifest(const struct ff_built_part *b, int kind, struct ff_manifest_part *mp);
/* Publishes `m` (a copy of the current manifest, with whatever else changed) less the parts
 * named in `removed`, plus `added` (written and fsync'd, opened here first); swaps the part
 * set readers see, and drops the frozen memtable when `drop_frozen`. Caller holds flush_mu.
 * On success the store owns m's contents (m is zeroed). FF_IO_UNSYNCED (> 0) is success too:
 * published, but replaced parts stay on disk (see ff_manifest_publish). */
int ff_store_publish(struct ff_store *s, struct ff_manifest *m, const struct ff_manifest_part *added, size_t nadded,
                     const char *const *removed, size_t nremoved, int drop_frozen);
/* Every event of some parts, decoded, those `keep` refuses left out (counted in `dropped`);
 * strings point into `blocks`. For merges and erasures. */
struct ff_collected {
    struct ff_event *evs;
    size_t n, dropped;
    struct ff_part_events *blocks;
    size_t nblocks;
};
int ff_parts_collect(struct ff_part *const *parts, size_t n, int (*keep)(void *, const struct ff_event *), void *arg,
                     struct ff_collected *out, char *err, size_t errlen);
void ff_collected_free(struct ff_collected *c);

/* Parts of a tier that merge, in a day still being written to (merge.c): as many as a
 * streaming merge takes at once (FF_MERGE_MAX_INPUTS), so that a row climbs the most per
 * rewrite. With tiers of 64, flush parts of 140 K rows (a 64 MiB flush of the batch
 * benchmark's events) make parts of 9 M in one merge, near the largest a merge writes
 * (MERGE_MAX_ROWS_STREAM), so a row is rewritten once; tiers of 8 rewrote it twice (1.1 M,
 * then 9 M), of 6 twice too (840 K, then 5 M). A merge reads one column of a block of each
 * input at a time (merge_stream.c), and flush parts have small blocks
 * (FF_FLUSH_BLOCK_ROWS), so 64 inputs cost tens of MB. */
#define FF_MERGE_TIER_PARTS FF_MERGE_MAX_INPUTS
/* Rows per block of the parts a flush writes: small, so that a merge of FF_MERGE_TIER_PARTS
 * of them holds little of each (a block of the benchmark's contexts as plain text would be
 * 16 MB at 64 K rows, 2 MB at 8 K); merges write FF_PART_BLOCK_ROWS. */
#define FF_FLUSH_BLOCK_ROWS 8192

/* The merge thread (merge.c). */
void *ff_store_merge_main(void *arg);
/* One merge, if one is due: 1 when it merged, 0 when nothing was due, or an error. */
int ff_store_merge_once(struct ff_store *s);

/* Quarantine parts: one per flush that had quarantined items (and merges of them), rows in
 * arrival order. */
int ff_qpart_build(const char *dir, uint64_t id, const struct ff_quarantined *items, const uint64_t *seqs, size_t n,
                   struct ff_built_part *out);
#define FF_QPART_NCOLS 8
/* The part's column index of each quarantine column (qparts.c order: received_at, format,
 * index, reason, field, raw, seq); -1 when one is missing. */
int ff_qpart_columns(const struct ff_part *p, int cols[FF_QPART_NCOLS]);
/* Every item of quarantine parts, in arrival order; strings point into `vecs`. */
struct ff_qcollected {
    struct ff_quarantined *items;
    uint64_t *seqs;
    size_t n;
    struct ff_colvec *vecs;
    size_t nvecs;
};
int ff_qparts_collect(struct ff_part *const *parts, size_t n, struct ff_qcollected *out, char *err, size_t errlen);
void ff_qcollected_free(struct ff_qcollected *c);

#endif
