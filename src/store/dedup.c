/* dedup.c - the 24-hour message id set (see dedup.h). */
#include "dedup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/splitmix.h"
#include "core/timeutil.h"

#define MIN_CAP 1024
#define MOVE_PER_INSERT 64 /* old slots moved per insert: the old table is gone long before
                              the new one fills, since it starts at most half full */
#define ZERO_PER_INSERT 16 /* spare slots zeroed per insert: a set rebuilds at 70% full, a fifth
                              of its slots after the spare (up to twice its size) was made */

/* The home slot; ff_dedup_prefetch in dedup.h computes the same. */
static size_t home_of(size_t cap, uint64_t hash) { return (size_t)(hash * 0x9e3779b97f4a7c15u >> 17) & (cap - 1); }

/* A slot that is free, for an insert and as the end of a probe: never used, or holding an
 * entry of an older generation of the table, at or below its floor (rotate). An entry
 * expiring at INT64_MIN is one removed from a table being moved (ff_dedup_remove): not
 * free, so the probe chains through it still hold. */
static int vacant(const struct ff_dedup_entry *e, int64_t floor)
{
    return !e->hash || (e->expires_us <= floor && e->expires_us != INT64_MIN);
}

static size_t find(const struct ff_dedup_entry *slots, size_t cap, uint64_t hash, int64_t floor)
{
    size_t mask = cap - 1, i = home_of(cap, hash);
    while (!vacant(&slots[i], floor) && slots[i].hash != hash) i = (i + 1) & mask;
    return i;
}

/* The entry's check agrees with `check`: equal, or either unknown (0). */
static int agrees(const struct ff_dedup_entry *e, unsigned check)
{
    unsigned c = ff_dedup_stamp_check(e->expires_us);
    return !check || !c || c == check;
}

/* The slot find gave for hash holds it, in a table of that floor, with a check that agrees
 * and not expired at now_us. */
static int holds(const struct ff_dedup_entry *e, int64_t floor, uint64_t hash, unsigned check, int64_t now_us)
{
    return e->hash == hash && !vacant(e, floor) && e->expires_us > now_us && agrees(e, check);
}

/* hash is in the table of that floor with a check that agrees, and not expired at now_us. */
static int present(const struct ff_dedup_entry *slots, size_t cap, int64_t floor, uint64_t hash, unsigned check,
                   int64_t now_us)
{
    return holds(&slots[find(slots, cap, hash, floor)], floor, hash, check, now_us);
}

/* When an id received at `received` expires: exact without a check; with one (has_check),
 * carrying it in the low bits (check 0 there: unknown, a keys file of version 1), never later
 * than exact and less than two rounding steps (8.2 ms) earlier. */
static int64_t expiry(const struct ff_dedup *d, int64_t received, int has_check, unsigned check)
{
    int64_t e = received > INT64_MAX - d->window_us ? INT64_MAX : received + d->window_us;
    if (!has_check) return e;
    int64_t s = ff_dedup_stamp(e, check);
    if (s > e && s >= INT64_MIN + FF_DEDUP_CHECK_MASK + 1) s -= FF_DEDUP_CHECK_MASK + 1;
    return s;
}

int ff_dedup_init(struct ff_dedup *d, int64_t window_us)
{
    *d = (struct ff_dedup){.cap = MIN_CAP, .window_us = window_us, .evict_until = INT64_MIN, .floor = INT64_MIN,
                           .max_expires = INT64_MIN, .old_floor = INT64_MIN};
    if (getrandom(&d->rng, sizeof d->rng, 0) != sizeof d->rng) d->rng = (uint64_t)(uintptr_t)d ^ (uint64_t)window_us;
    d->slots = ff_calloc(d->cap, sizeof *d->slots);
    return d->slots ? 0 : -ENOMEM;
}

void ff_dedup_set_budget(struct ff_dedup *d, size_t max_bytes)
{
    d->max_cap = 0;
    if (!max_bytes) return;
    /* a move holds two tables of the largest size at once */
    size_t cap = MIN_CAP;
    while (cap * 2 * 2 * sizeof *d->slots <= max_bytes) cap *= 2;
    d->max_cap = cap;
}

int64_t ff_dedup_forgotten_before(const struct ff_dedup *d)
{
    /* an entry expires a window after it was received */
    return d->evictions ? d->evict_until - d->window_us : INT64_MIN;
}

int64_t ff_dedup_window_now(const struct ff_dedup *d, int64_t now_us)
{
    if (!d->evictions) return d->window_us;
    /* kept: ids received after evict_until - window */
    int64_t w = now_us - ff_dedup_forgotten_before(d);
    return w < d->window_us ? (w > 0 ? w : 0) : d->window_us;
}

static void drop_spare(struct ff_dedup *d)
{
    ff_free(d->spare);
    d->spare = NULL;
    d->spare_cap = d->spare_zeroed = 0;
}

void ff_dedup_free(struct ff_dedup *d)
{
    ff_free(d->slots);
    ff_free(d->old);
    ff_free(d->prev);
    drop_spare(d);
    d->slots = d->old = d->prev = NULL;
    d->cap = d->used = d->old_cap = d->old_pos = d->prev_cap = 0;
}

/* Zeroes up to n more slots of the spare. */
static void zero_spare(struct ff_dedup *d, size_t n)
{
    if (!d->spare || d->spare_zeroed == d->spare_cap) return;
    if (n > d->spare_cap - d->spare_zeroed) n = d->spare_cap - d->spare_zeroed;
    memset(d->spare + d->spare_zeroed, 0, n * sizeof *d->spare);
    d->spare_zeroed += n;
}

/* Past half full, with no move running, the next rebuild's table is allocated, to be zeroed
 * (and so faulted in) a few slots per insert: a table first touched when the rebuild starts
 * took one page fault per 2 MiB almost at once, its inserts landing everywhere (here 2.5 s
 * without an acknowledgement for 1 GiB). The two tables fit the budget as a move's do. */
static void prepare_spare(struct ff_dedup *d)
{
    /* with a previous generation, the next one takes its memory */
    if (d->spare || d->old || d->prev || d->used * 2 < d->cap) return;
    size_t cap = d->max_cap && d->cap * 2 > d->max_cap ? d->cap : d->cap * 2;
    d->spare = ff_malloc(cap * sizeof *d->spare);
    if (!d->spare) return; /* the rebuild will ask again */
    ff_advise_huge(d->spare, cap * sizeof *d->spare);
    d->spare_cap = cap;
    d->spare_zeroed = 0;
}

/* A zeroed table of cap slots: the spare when it has that size, else a fresh one. */
static struct ff_dedup_entry *new_table(struct ff_dedup *d, size_t cap)
{
    if (d->spare && d->spare_cap == cap) {
        zero_spare(d, SIZE_MAX); /* mostly done already, a few slots per insert */
        struct ff_dedup_entry *t = d->spare;
        d->spare = NULL;
        d->spare_cap = d->spare_zeroed = 0;
        d->reused++;
        return t;
    }
    drop_spare(d);
    struct ff_dedup_entry *t = ff_calloc(cap, sizeof *t);
    if (t) ff_advise_huge(t, cap * sizeof *t);
    return t;
}

/* present in a table other than the current one: the one being moved over, or the previous
 * generation. */
static int in_older_tables(const struct ff_dedup *d, uint64_t hash, unsigned check, int64_t now_us)
{
    return (d->old && present(d->old, d->old_cap, d->old_floor, hash, check, now_us)) ||
           (d->prev && present(d->prev, d->prev_cap, d->prev_floor, hash, check, now_us));
}

int ff_dedup_contains_checked(const struct ff_dedup *d, uint64_t hash, unsigned check, int64_t now_us)
{
    return present(d->slots, d->cap, d->floor, hash, check, now_us) || in_older_tables(d, hash, check, now_us);
}

/* Entries expiring at or before this are let go: expired at now_us, or older than the
 * newest ones a bounded set keeps. */
static int64_t drop_until(const struct ff_dedup *d, int64_t now_us)
{
    return now_us > d->evict_until ? now_us : d->evict_until;
}

static uint64_t next_random(struct ff_dedup *d) { return ff_splitmix64(&d->rng); }

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void forget_until(struct ff_dedup *d, int64_t until, int64_t now_us);

/* A set that would outgrow its budget: the expiry at or before which entries go so that
 * about `keep` of the `live` ones (of the current table, sampled) stay, the newest. Raises
 * evict_until to it and says so. */
static void evict_for_room(struct ff_dedup *d, size_t live, size_t keep, int64_t now_us)
{
    if (keep >= live) return;
    enum { SAMPLES = 4096 };
    int64_t exp[SAMPLES];
    size_t n = 0;
    for (size_t k = 0; k < 4 * SAMPLES && n < SAMPLES; k++) {
        const struct ff_dedup_entry *e = &d->slots[next_random(d) & (d->cap - 1)];
        if (e->hash && e->expires_us > drop_until(d, now_us)) exp[n++] = e->expires_us;
    }
    if (!n) return;
    qsort(exp, n, sizeof *exp, cmp_i64);
    size_t go = (size_t)((double)n * (1.0 - (double)keep / (double)live));
    if (go >= n) go = n - 1;
    /* the newest entries stay whatever the quantile: a cut at the newest expiry (one group
     * commit's ids all share it) would let the ids just received go */
    while (go > 0 && exp[go] == exp[n - 1]) go--;
    int64_t cut = exp[go];
    if (cut == exp[n - 1] || cut <= d->evict_until) return;
    forget_until(d, cut, now_us);
}

/* Entries expiring at or before `until` were let go for room: raises evict_until and says so. */
static void forget_until(struct ff_dedup *d, int64_t until, int64_t now_us)
{
    if (until <= d->evict_until) return;
    d->evict_until = until;
    /* said the first time, then at most every ten minutes (a busy set lets go at every rebuild) */
    int64_t t = ff_now_us();
    if (d->evictions++ && t - d->warned_us < 600LL * 1000000) return;
    d->warned_us = t;
    ff_warn("dedup: the message id set reached its memory budget (%.2f MiB, --dedup-max-bytes): ids are remembered "
            "for the last %.1f s instead of %.1f hours; retries older than that are stored again, and the WAL's "
            "keys files of older ids are deleted",
            (double)(d->max_cap * 2 * sizeof *d->slots) / (1 << 20), (double)ff_dedup_window_now(d, now_us) / 1e6,
            (double)d->window_us / 3600e6);
}

/* Rehashes the current table at once into a new one of `cap` slots, keeping the entries
 * still live at now_us (INT64_MIN keeps all but those let go for room). */
static int rehash(struct ff_dedup *d, size_t cap, int64_t now_us)
{
    struct ff_dedup_entry *fresh = new_table(d, cap);
    if (!fresh) return -ENOMEM;
    size_t used = 0;
    int64_t max = INT64_MIN;
    const int64_t until = drop_until(d, now_us);
    for (size_t i = 0; i < d->cap; i++)
        if (!vacant(&d->slots[i], d->floor) && d->slots[i].expires_us > until) {
            fresh[find(fresh, cap, d->slots[i].hash, INT64_MIN)] = d->slots[i];
            if (d->slots[i].expires_us > max) max = d->slots[i].expires_us;
            used++;
        }
    ff_free(d->slots);
    d->slots = fresh;
    d->cap = cap;
    d->used = used;
    d->floor = INT64_MIN;
    d->max_expires = max;
    return 0;
}

/* Lets the previous generation go; its entries still live are forgotten. */
static void drop_prev(struct ff_dedup *d, int64_t now_us)
{
    if (!d->prev) return;
    if (d->prev_max_expires > now_us) forget_until(d, d->prev_max_expires, now_us);
    ff_free(d->prev);
    d->prev = NULL;
    d->prev_cap = 0;
}

/* At its budget the set no longer rebuilds by moving its newest half table's worth of
 * entries into a new table: the current table, 70% full, becomes the previous generation,
 * still looked up, and the previous one's memory becomes the current table. Its entries are
 * let go all at once, by raising that table's floor past their expiries: nothing is zeroed
 * or moved. The set then remembers the newest 70% to 140% of a table's worth of ids, in the
 * same two tables, where a rebuild kept 50% to 70%. (What an insert costs stayed the same
 * within this machine's noise: a lookup in a second table instead of moves.) */
static int rotate(struct ff_dedup *d, int64_t now_us)
{
    struct ff_dedup_entry *t;
    int64_t floor = INT64_MIN;
    if (d->prev && d->prev_cap == d->cap) {
        t = d->prev;
        /* every entry of it, and those it had left from older generations, at or below */
        floor = d->prev_max_expires > d->prev_floor ? d->prev_max_expires : d->prev_floor;
        if (d->prev_max_expires > now_us) forget_until(d, d->prev_max_expires, now_us);
        d->reused++;
    } else {
        if (!(t = new_table(d, d->cap))) return -ENOMEM;
        drop_prev(d, now_us);
    }
    d->prev = d->slots;
    d->prev_cap = d->cap;
    d->prev_floor = d->floor;
    d->prev_max_expires = d->max_expires;
    d->slots = t;
    d->floor = floor;
    d->max_expires = INT64_MIN;
    d->used = 0;
    return 0;
}

/* The safety net for an estimate that came out too small (see start_rebuild): a full table
 * would never end a probe. */
static int grow_now(struct ff_dedup *d, int64_t now_us)
{
    if (d->max_cap && d->cap * 2 > d->max_cap) {
        /* no bigger table fits the budget: a new generation, or while a move runs (its old
         * table is still looked up) the oldest go, at this size */
        if (!d->old) return rotate(d, now_us);
        evict_for_room(d, d->used, d->cap / 2, now_us);
        int rc = rehash(d, d->cap, INT64_MIN);
        if (rc || d->used * 10 <= d->cap * 7) return rc;
        /* nothing could go (ids all received at once): past the budget rather than full */
    }
    return rehash(d, d->cap * 2, INT64_MIN);
}

/* Puts an entry into slot e of the current table, found for hash by find: keeps the later
 * expiry of a present one. */
static void place(struct ff_dedup *d, struct ff_dedup_entry *e, uint64_t hash, int64_t expires_us)
{
    if (vacant(e, d->floor)) {
        e->hash = hash;
        e->expires_us = expires_us;
        d->used++;
    } else if (expires_us > e->expires_us) {
        e->expires_us = expires_us;
    }
    if (expires_us > d->max_expires) d->max_expires = expires_us;
}

/* Puts an entry into the current table, keeping the later expiry of a present one. */
static int put(struct ff_dedup *d, uint64_t hash, int64_t expires_us, int64_t now_us)
{
    if ((d->used + 1) * 10 > d->cap * 9) {
        int rc = grow_now(d, now_us);
        if (rc) return rc;
    }
    /* no older than what this table's floor let go: forgotten with them (it would read as free) */
    if (expires_us <= d->floor) return 0;
    place(d, &d->slots[find(d->slots, d->cap, hash, d->floor)], hash, expires_us);
    return 0;
}

/* Moves up to `n` slots of the old table into the current one; frees it when done. */
static int move_old(struct ff_dedup *d, size_t n, int64_t now_us)
{
    while (d->old && n--) {
        struct ff_dedup_entry e = d->old[d->old_pos];
        if (!vacant(&e, d->old_floor) && e.expires_us > drop_until(d, now_us)) {
            int rc = put(d, e.hash, e.expires_us, now_us);
            if (rc) return rc; /* the slot stays in the old table, still found there */
        }
        if (++d->old_pos == d->old_cap) {
            /* a set moved into a table at its budget wants this size again, for its first
             * generation (rotate) */
            if (d->old_cap == d->cap && d->max_cap && d->cap == d->max_cap) {
                drop_spare(d);
                d->spare = d->old, d->spare_cap = d->old_cap, d->spare_zeroed = 0;
            } else {
                ff_free(d->old);
            }
            d->old = NULL;
            d->old_cap = d->old_pos = 0;
        }
    }
    return 0;
}

/* Starts moving to a new table sized for the live entries, estimated from slots sampled at
 * random (so no choice of message ids can steer the estimate): it doubles under growth and
 * shrinks back once most entries have expired. An estimate too small is caught by put. */
static int start_rebuild(struct ff_dedup *d, int64_t now_us)
{
    int rc = move_old(d, SIZE_MAX, now_us); /* an earlier move still running: finish it first */
    if (rc) return rc;
    /* with a previous generation, the next one (its entries are older than the current ones) */
    if (d->prev) return rotate(d, now_us);
    size_t sample = d->cap < 4096 ? d->cap : 4096, live = 0;
    for (size_t k = 0; k < sample; k++) {
        uint64_t x = next_random(d);
        const struct ff_dedup_entry *e = &d->slots[sample == d->cap ? k : (size_t)(x & (d->cap - 1))];
        live += !vacant(e, d->floor) && e->expires_us > drop_until(d, now_us);
    }
    size_t est = live * d->cap / sample + 1, cap = MIN_CAP;
    while (cap < est * 2) cap *= 2; /* at most half full once moved */
    if (d->max_cap && cap > d->max_cap) return rotate(d, now_us); /* past the budget: generations */
    struct ff_dedup_entry *fresh = new_table(d, cap);
    if (!fresh) return -ENOMEM;
    d->old = d->slots;
    d->old_cap = d->cap;
    d->old_floor = d->floor;
    d->old_pos = 0;
    d->slots = fresh;
    d->cap = cap;
    d->floor = INT64_MIN;
    d->max_expires = INT64_MIN;
    d->used = 0;
    return 0;
}

int ff_dedup_reserve(struct ff_dedup *d, size_t n, int64_t now_us)
{
    int rc = move_old(d, SIZE_MAX, now_us); /* one table from here on */
    if (rc) return rc;
    size_t cap = d->cap;
    while ((d->used + n) * 10 > cap * 5 && (!d->max_cap || cap * 2 <= d->max_cap)) cap *= 2; /* at most half full once they are in */
    return cap == d->cap ? 0 : rehash(d, cap, now_us);
}

int ff_dedup_insert_many(struct ff_dedup *d, const struct ff_dedup_received *e, size_t n, int64_t now_us,
                         int checked)
{
    int rc = ff_dedup_reserve(d, n, now_us);
    /* Reserved: plain puts, looking slots up a few entries ahead (the table is large and
     * every probe misses the cache). */
    for (size_t i = 0; !rc && i < n; i++) {
        if (i + 16 < n) ff_dedup_prefetch(d, e[i + 16].hash);
        int64_t r = e[i].received_us;
        int64_t expires = expiry(d, r, 1, checked ? ff_dedup_stamp_check(r) : 0);
        if (e[i].hash && expires > now_us) rc = put(d, e[i].hash, expires, now_us);
    }
    return rc;
}

/* What each insert does besides its own entry: a few slots of the spare zeroed and of the
 * old table moved, the next rebuild or generation started when the table is 70% full. */
static int upkeep(struct ff_dedup *d, int64_t now_us)
{
    if (d->prev && d->prev_max_expires <= now_us) drop_prev(d, now_us); /* all expired: its memory goes back */
    prepare_spare(d);
    zero_spare(d, ZERO_PER_INSERT);
    int rc = move_old(d, MOVE_PER_INSERT, now_us);
    if (!rc && (d->used + 1) * 10 > d->cap * 7 && !(rc = start_rebuild(d, now_us)))
        rc = move_old(d, MOVE_PER_INSERT, now_us);
    return rc;
}

int ff_dedup_insert_checked(struct ff_dedup *d, uint64_t hash, unsigned check, int64_t received_us, int64_t now_us)
{
    int rc = upkeep(d, now_us);
    if (rc) return rc;
    return put(d, hash, expiry(d, received_us, check != 0, check), now_us);
}

int ff_dedup_check_insert(struct ff_dedup *d, uint64_t hash, unsigned check, int64_t received_us, int64_t now_us)
{
    struct ff_dedup_entry *slots = d->slots, *e = &slots[find(slots, d->cap, hash, d->floor)];
    if (holds(e, d->floor, hash, check, now_us) || in_older_tables(d, hash, check, now_us)) return 1;
    size_t used = d->used;
    int rc = upkeep(d, now_us);
    if (rc) return rc;
    int64_t expires = expiry(d, received_us, check != 0, check);
    /* The probe above found the slot, unless the upkeep moved entries in or changed tables
     * (or the table must grow first): then it is looked for again. */
    if (d->slots != slots || d->used != used || (d->used + 1) * 10 > d->cap * 9) return put(d, hash, expires, now_us);
    if (expires > d->floor) place(d, e, hash, expires);
    return 0;
}

/* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
static int remove_from(struct ff_dedup_entry *slots, size_t cap, int64_t floor, uint64_t hash)
{
    size_t mask = cap - 1, i = find(slots, cap, hash, floor), j = i;
    if (slots[i].hash != hash || vacant(&slots[i], floor)) return 0;
    for (;;) {
        slots[i].hash = 0;
        slots[i].expires_us = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (vacant(&slots[j], floor)) return 1;
            size_t home = home_of(cap, slots[j].hash);
            /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) break;
        }
        slots[i] = slots[j];
        i = j;
    }
}

void ff_dedup_remove(struct ff_dedup *d, uint64_t hash)
{
    if (remove_from(d->slots, d->cap, d->floor, hash)) d->used--;
    /* an insert of the same group may have gone in before a rotation */
    if (d->prev) remove_from(d->prev, d->prev_cap, d->prev_floor, hash);
    if (!d->old) return;
    /* In the old table a backward shift could pull an entry not yet moved into the part
     * already moved, and lose it: mark the entry expired instead (INT64_MIN: see vacant),
     * which both lookups and the move treat as absent. */
    struct ff_dedup_entry *e = &d->old[find(d->old, d->old_cap, hash, d->old_floor)];
    if (e->hash == hash && !vacant(e, d->old_floor)) e->expires_us = INT64_MIN;
}
