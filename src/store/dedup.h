/* dedup.h - the set of message ids seen in the last 24 hours.
 *
 * Keys are 64-bit hashes of (project, messageId) (ff_dedup_hash); each entry expires a
 * window after it was received. An entry also keeps a 12-bit check of the id from an
 * independent hash (ff_dedup_hash's), in the low bits of its expiry (which is then up to 8.2
 * ms early, never late): a new id whose hash equals a remembered one's is a retry only if
 * the checks agree too. Without the check that chance match was n / 2^64 per event with n
 * ids remembered (5e-12 at the budget's 100 M: one event in 180 billion acknowledged and not
 * stored); with it, n / 2^76. Check 0 is "unknown" and agrees with any: a lookup without a
 * check, and entries from keys files written before checks were kept (version 1). An insert
 * without a check (ff_dedup_insert) keeps its exact expiry instead, whose low bits a checked
 * lookup would take for a check: a set is used with checks throughout (the WAL's) or
 * without them (the tests' model of exact expiries).
 *
 * An extendible hash table: a directory, indexed by the top bits of the key mixed with a
 * secret of the process, points at leaves of a few thousand slots (open addressing with
 * linear probing inside each). A leaf that fills splits in two by the next bit: a few
 * microseconds, no stall, and the set takes new memory 31 bytes an id at a time. (It was a
 * single table doubled by moving: each id then cost about 91 bytes of memory never touched
 * before, which this machine's hypervisor makes expensive, 3 ms a MiB: a fifth of the server's
 * CPU while the set grew under batches.) At its memory budget the set stops splitting: a
 * leaf that fills lets its oldest third go (see evict in dedup.c), so a lookup still reads
 * one leaf.
 * Not thread-safe: the WAL writer thread owns it. */
#ifndef FF_DEDUP_H
#define FF_DEDUP_H

#include <stddef.h>
#include <stdint.h>

/* How long footfall remembers a messageId: retries within it are acknowledged, not stored. */
#define FF_DEDUP_WINDOW_US (24LL * 3600 * 1000000)

struct ff_dedup_entry {
    uint64_t hash;       /* 0 = empty */
    int64_t expires_us;  /* low FF_DEDUP_CHECK_BITS: the id's check when it had one */
};

/* The id's check: 1 to FF_DEDUP_CHECK_MASK; 0 = unknown. */
#define FF_DEDUP_CHECK_BITS 12
#define FF_DEDUP_CHECK_MASK ((1 << FF_DEDUP_CHECK_BITS) - 1)
/* A time with the check in its low bits, as keys files (version 2) keep received times. */
static inline int64_t ff_dedup_stamp(int64_t t_us, unsigned check)
{
    return (int64_t)(((uint64_t)t_us & ~(uint64_t)FF_DEDUP_CHECK_MASK) | (check & FF_DEDUP_CHECK_MASK));
}
/* The check a stamped time carries (0: unknown). */
static inline unsigned ff_dedup_stamp_check(int64_t t_us) { return (unsigned)((uint64_t)t_us & FF_DEDUP_CHECK_MASK); }

/* The extendible hash table. A leaf is 2^leaf_bits slots and, after them, one more holding
 * its struct ff_dedup_leaf_meta. */
struct ff_dedup_table {
    struct ff_dedup_entry **dir;    /* 2^depth leaves, by the mixed key's top bits */
    unsigned depth;
    struct ff_dedup_entry **leaf;   /* every leaf once, by number */
    uint32_t nleaves, leaves_cap;
    size_t used;                    /* occupied slots of all leaves */
};

struct ff_dedup_leaf_meta {
    uint32_t used;   /* occupied slots, expired included */
    uint32_t no;     /* its number in the table's leaf array */
    uint8_t depth;   /* how many top bits its keys share */
};

struct ff_dedup {
    struct ff_dedup_table t;
    unsigned leaf_bits;            /* a leaf's slots: 2^leaf_bits */
    uint64_t seed;                 /* mixed into every key: no one can steer ids to one leaf */
    int64_t window_us;
    size_t max_cap;                /* 0, or the most slots the set may have (ff_dedup_set_budget) */
    int64_t evict_until;           /* entries expiring at or before this were let go for room */
    uint64_t evictions;            /* how many times entries were let go for room */
    int64_t warned_us;             /* when the log last said so */
    uint64_t splits;               /* leaves split (tests) */
    struct ff_dedup_entry *scratch; /* one leaf's entries while it is rebuilt (or their expiries) */
};

/* The key as the set places it: the directory takes its top bits, a leaf its low ones. */
static inline uint64_t ff_dedup_mix(const struct ff_dedup *d, uint64_t hash)
{
    uint64_t m = hash ^ d->seed; /* murmur3's finaliser: every bit of the key moves every bit */
    m ^= m >> 33;
    m *= 0xff51afd7ed558ccdu;
    m ^= m >> 33;
    m *= 0xc4ceb9fe1a85ec53u;
    m ^= m >> 33;
    return m;
}

/* The leaf that holds mixed key m (the table has leaves). */
static inline struct ff_dedup_entry *ff_dedup_leaf_of(const struct ff_dedup_table *t, uint64_t m)
{
    return t->dir[t->depth ? m >> (64 - t->depth) : 0];
}

int ff_dedup_init(struct ff_dedup *d, int64_t window_us);
/* Bounds the set's memory: its leaves stay within max_bytes (0: no bound). Call it before the
 * first insert: it also sizes the leaves (a small budget gets small ones). A set that would
 * need more lets its oldest entries go first, a third of a leaf at a time, always keeping
 * at least the newest half of its slots' worth:
 * ids are then remembered for less than the window, which ff_dedup_window_now says, rather
 * than memory growing with the ingest rate for a whole window (at 600,000 events/s, 24
 * hours of ids are 1.6 TB). */
void ff_dedup_set_budget(struct ff_dedup *d, size_t max_bytes);
/* The budget of the commands that write to the WAL without a server (import-log, tail-log,
 * erase): what a server has by default, half of its 4 GiB. */
#define FF_DEDUP_CLI_MAX_BYTES ((size_t)2 << 30)
/* How far back ids are remembered at now_us: the window, or less once entries were let go
 * for room. */
int64_t ff_dedup_window_now(const struct ff_dedup *d, int64_t now_us);
/* Ids received at or before this time were let go for room; INT64_MIN when none were. */
int64_t ff_dedup_forgotten_before(const struct ff_dedup *d);
void ff_dedup_free(struct ff_dedup *d);
/* True when `hash` is present with a check that agrees with `check` (0 agrees with any) and
 * not expired at `now_us`. */
int ff_dedup_contains_checked(const struct ff_dedup *d, uint64_t hash, unsigned check, int64_t now_us);
static inline int ff_dedup_contains(const struct ff_dedup *d, uint64_t hash, int64_t now_us)
{
    return ff_dedup_contains_checked(d, hash, 0, now_us);
}
/* Hints the cache that `hash` will be looked up soon (the set is large; probes miss). Two
 * lines: a probe that finds nothing runs a few slots, into the next line often (slots are 16
 * bytes); a prefetch past a leaf's end is harmless. Always inlined: gcc 12 judged a call to
 * it free of side effects and removed it. */
static inline __attribute__((always_inline)) void ff_dedup_prefetch(const struct ff_dedup *d, uint64_t hash)
{
    if (!d->t.nleaves) return;
    uint64_t m = ff_dedup_mix(d, hash);
    const char *a = (const char *)&ff_dedup_leaf_of(&d->t, m)[m & (((size_t)1 << d->leaf_bits) - 1)];
    __builtin_prefetch(a);
    __builtin_prefetch(a + 64);
}
/* Remembers `hash` with its `check` as received at `received_us`. With a check the expiry
 * carries it, up to 8.2 ms early; without one (0) it is exact. 0 or -ENOMEM. */
int ff_dedup_insert_checked(struct ff_dedup *d, uint64_t hash, unsigned check, int64_t received_us, int64_t now_us);
static inline int ff_dedup_insert(struct ff_dedup *d, uint64_t hash, int64_t received_us, int64_t now_us)
{
    return ff_dedup_insert_checked(d, hash, 0, received_us, now_us);
}
/* ff_dedup_contains_checked, then ff_dedup_insert_checked when absent (the same state after
 * it), with one probe of the current table for both: the WAL writer's lookup per event.
 * 1 when present (nothing changed), 0 when inserted, -ENOMEM. */
int ff_dedup_check_insert(struct ff_dedup *d, uint64_t hash, unsigned check, int64_t received_us, int64_t now_us);
/* Makes room for n more entries at once (splits leaves until they would be at most half
 * full, within the budget), so a bulk load does not split the same leaves again and again.
 * 0 or -ENOMEM. */
int ff_dedup_reserve(struct ff_dedup *d, size_t n, int64_t now_us);
/* A key with the time it was received, as keys files store it (dedup_file.h). */
struct ff_dedup_received {
    uint64_t hash;
    int64_t received_us; /* stamped with the check (ff_dedup_stamp) when `checked` below */
};
/* Inserts the n keys received less than a window before now_us: a keys file at start-up.
 * `checked`: their received times carry their checks (keys files of version 2); else their
 * checks are unknown. */
int ff_dedup_insert_many(struct ff_dedup *d, const struct ff_dedup_received *e, size_t n, int64_t now_us,
                         int checked);
/* Forgets `hash` (used to undo inserts of a write that failed). */
void ff_dedup_remove(struct ff_dedup *d, uint64_t hash);
/* Slots of the set (its leaves' slots). */
size_t ff_dedup_cap(const struct ff_dedup *d);
/* For tests: 0 when every invariant holds (counts, directory, each entry in its leaf and
 * reachable from its home slot, a free slot in every leaf), else a line number of dedup.c. */
int ff_dedup_check(const struct ff_dedup *d);

#endif
