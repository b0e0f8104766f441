/* dedup.h - the set of message ids seen in the last 24 hours.
 *
 * Keys are 64-bit hashes of (project, messageId) (ff_dedup_hash); each entry expires a
 * window after it was received. An entry also keeps a 12-bit check of the id from an
 * independent hash (ff_dedup_hash's), in the low bits of its expiry (which is then up to 8.2
 * ms early, never late): a new id whose hash equals a remembered one's is a retry only if
 * the checks agree too. Without the check that chance match was n / 2^64 per event with n
 * ids remembered (5e-12 at the budget's 94 M: one event in 200 billion acknowledged and not
 * stored); with it, n / 2^76. Check 0 is "unknown" and agrees with any: a lookup without a
 * check, and entries from keys files written before checks were kept (version 1). An insert
 * without a check (ff_dedup_insert) keeps its exact expiry instead, whose low bits a checked
 * lookup would take for a check: a set is used with checks throughout (the WAL's) or
 * without them (the tests' model of exact expiries).
 *
 * Open addressing with linear probing. The table grows (or is rebuilt smaller, when most
 * entries have expired) incrementally: a new table is allocated and each insert moves a few
 * slots of the old one over, dropping expired entries, so no single insert pays for copying
 * millions of entries (that stall showed as half-second p99 acknowledgements). At its
 * memory budget it stops moving entries: it keeps two generations (see rotate in dedup.c).
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

struct ff_dedup {
    struct ff_dedup_entry *slots; /* the current table */
    size_t cap;                   /* power of two */
    size_t used;                  /* occupied slots of the current table, expired included */
    struct ff_dedup_entry *old;   /* the table being moved over, or NULL */
    size_t old_cap, old_pos;      /* old_pos: the next old slot to move */
    int64_t window_us;
    uint64_t rng;                 /* picks the slots sampled to size a new table */
    size_t max_cap;               /* 0, or the most slots a table may have (ff_dedup_set_budget) */
    int64_t evict_until;          /* entries expiring at or before this were let go for room */
    uint64_t evictions;           /* how many times entries were let go for room */
    int64_t warned_us;            /* when the log last said so */
    /* The table the next rebuild (or the first generation) will want, zeroed a few slots per
     * insert before it is needed: made past half full. A table of a GiB first touched at once costs seconds of page
     * faults on a virtual machine; spread, they cost no acknowledgement its latency. */
    struct ff_dedup_entry *spare;
    size_t spare_cap, spare_zeroed;
    uint64_t reused;              /* tables taken from the spare or the previous generation (tests) */
    /* Generations, once the set is at its budget (dedup.c, rotate): the current table's
     * slots whose entries expire at or before `floor` are free, left from an older
     * generation; max_expires is the latest expiry put into it. The previous generation is
     * looked up too, and its memory becomes the next current table. */
    int64_t floor, max_expires, old_floor;
    struct ff_dedup_entry *prev;  /* the previous generation, or NULL */
    size_t prev_cap;
    int64_t prev_floor, prev_max_expires;
};

int ff_dedup_init(struct ff_dedup *d, int64_t window_us);
/* Bounds the set's memory: both tables of a move, or both generations, together stay
 * within max_bytes (0: no bound). A set that would need more lets its oldest entries go
 * first, a generation at a time, always keeping at least the newest 70% of a table's worth:
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
/* Hints the cache that `hash` will be looked up soon (the table is large; probes miss).
 * Two lines of each table: a probe that finds nothing runs about six slots at 70% full,
 * into the next line more often than not (its slots are 16 bytes); a prefetch past the
 * table's end is harmless. Always inlined: gcc 12 judged a call to it free of side effects
 * and removed it. */
static inline __attribute__((always_inline)) void ff_dedup_prefetch(const struct ff_dedup *d, uint64_t hash)
{
    size_t h = (size_t)(hash * 0x9e3779b97f4a7c15u >> 17);
    const char *a = (const char *)&d->slots[h & (d->cap - 1)];
    __builtin_prefetch(a);
    __builtin_prefetch(a + 64);
    if (d->prev) {
        const char *b = (const char *)&d->prev[h & (d->prev_cap - 1)];
        __builtin_prefetch(b);
        __builtin_prefetch(b + 64);
    }
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
/* Makes room for n more entries at once (at most half full after them), so a bulk load
 * does not rebuild the table step by step. 0 or -ENOMEM. */
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

#endif
