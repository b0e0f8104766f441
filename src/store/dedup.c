/* dedup.c - the 24-hour message id set (see dedup.h).
 *
 * An extendible hash table. Keys are mixed with the process's secret
 * (ff_dedup_mix); the directory, 2^depth leaf pointers, is indexed by the mixed key's top
 * `depth` bits, and a leaf whose keys share their top ld bits (its local depth) is named by
 * the 2^(depth - ld) directory entries with that prefix. Inside a leaf, open addressing with
 * linear probing from the home slot given by the mixed key's low bits, wrapping at the leaf's
 * end; removals shift back (no tombstones).
 *
 * A leaf that would pass three quarters full is first rebuilt without the entries that have
 * expired (when that leaves it at most half full), else split by the next bit of its keys: a
 * new leaf takes the keys with that bit set, the directory doubles when the leaf was as deep
 * as it. A leaf of 4096 slots splits in microseconds, so no insert waits long, and memory grows
 * a leaf at a time: about 31 bytes an id (a leaf splits at 75% into two of about 37%, so
 * leaves average about half full), where a table
 * doubled by moving touched about 91 bytes an id of memory never used before.
 *
 * At the budget (ff_dedup_set_budget: max_cap slots in all) leaves stop splitting: a leaf
 * that fills lets its oldest third go (evict). A lookup reads one leaf, at the budget too
 * (two generations, each looked up, had cost a second random read an event). */
#include "dedup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/select.h"
#include "core/timeutil.h"

#define MIN_CAP 1024      /* the smallest budget: this many slots */
#define LEAF_BITS 12      /* 4096 slots, 64 KiB: a split stays well under a millisecond */
#define MIN_LEAF_BITS 8   /* a small budget has at least four leaves */
#define MAX_DEPTH 26      /* without a budget: 2^26 leaves, far past any memory here */

static size_t leaf_slots(const struct ff_dedup *d) { return (size_t)1 << d->leaf_bits; }

/* Past this many occupied slots a leaf makes room first. */
static int leaf_full(const struct ff_dedup *d, size_t used) { return used * 4 > leaf_slots(d) * 3; }

/* How deep a leaf may go: without a budget MAX_DEPTH; with one, as deep as max_cap slots in
 * leaves of equal depth (so the set reaches its budget evenly filled). */
static unsigned max_depth(const struct ff_dedup *d)
{
    if (!d->max_cap) return MAX_DEPTH;
    unsigned k = 0;
    while (((size_t)1 << (k + 1)) <= d->max_cap >> d->leaf_bits) k++;
    return k;
}

/* A slot that is free, for an insert and as the end of a probe. */
static int vacant(const struct ff_dedup_entry *e) { return !e->hash; }

static size_t find(const struct ff_dedup_entry *slots, size_t mask, uint64_t m, uint64_t hash)
{
    size_t i = m & mask;
    while (!vacant(&slots[i]) && slots[i].hash != hash) i = (i + 1) & mask;
    return i;
}

/* The entry's check agrees with `check`: equal, or either unknown (0). */
static int agrees(const struct ff_dedup_entry *e, unsigned check)
{
    unsigned c = ff_dedup_stamp_check(e->expires_us);
    return !check || !c || c == check;
}

/* The slot find gave for hash holds it, with a check that agrees and not expired at now_us. */
static int holds(const struct ff_dedup_entry *e, uint64_t hash, unsigned check, int64_t now_us)
{
    return e->hash == hash && e->expires_us > now_us && agrees(e, check);
}

/* A leaf's count, number and depth, in the slot after its last. */
static struct ff_dedup_leaf_meta *meta(const struct ff_dedup *d, struct ff_dedup_entry *leaf)
{
    return (struct ff_dedup_leaf_meta *)(void *)&leaf[leaf_slots(d)];
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
    *d = (struct ff_dedup){.leaf_bits = LEAF_BITS, .window_us = window_us, .evict_until = INT64_MIN};
    if (getrandom(&d->seed, sizeof d->seed, 0) != sizeof d->seed)
        d->seed = (uint64_t)(uintptr_t)d ^ (uint64_t)ff_now_us() * 0x9e3779b97f4a7c15u;
    return 0;
}

void ff_dedup_set_budget(struct ff_dedup *d, size_t max_bytes)
{
    d->max_cap = 0;
    if (max_bytes) {
        size_t cap = MIN_CAP;
        while (cap * 2 * sizeof(struct ff_dedup_entry) <= max_bytes) cap *= 2;
        d->max_cap = cap;
    }
    if (d->t.nleaves) return; /* the leaves keep their size */
    unsigned b = LEAF_BITS;
    while (d->max_cap && ((size_t)4 << b) > d->max_cap && b > MIN_LEAF_BITS) b--;
    d->leaf_bits = b;
    ff_free(d->scratch);
    d->scratch = NULL;
}

size_t ff_dedup_cap(const struct ff_dedup *d) { return (size_t)d->t.nleaves << d->leaf_bits; }

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

static void table_free(struct ff_dedup_table *t)
{
    for (uint32_t i = 0; i < t->nleaves; i++) ff_free(t->leaf[i]);
    ff_free(t->leaf);
    ff_free(t->dir);
    *t = (struct ff_dedup_table){0};
}

void ff_dedup_free(struct ff_dedup *d)
{
    table_free(&d->t);
    ff_free(d->scratch);
    d->scratch = NULL;
}

/* A new zeroed leaf (depth 0), or NULL when out of memory. */
static struct ff_dedup_entry *add_leaf(const struct ff_dedup *d, struct ff_dedup_table *g)
{
    if (g->nleaves == g->leaves_cap) {
        uint32_t cap = g->leaves_cap ? g->leaves_cap * 2 : 16;
        struct ff_dedup_entry **leaf = ff_realloc(g->leaf, cap * sizeof *leaf);
        if (!leaf) return NULL;
        g->leaf = leaf;
        g->leaves_cap = cap;
    }
    struct ff_dedup_entry *l = ff_calloc(leaf_slots(d) + 1, sizeof *l);
    if (!l) return NULL;
    meta(d, l)->no = g->nleaves;
    g->leaf[g->nleaves++] = l;
    return l;
}

/* The first leaf (and the scratch leaf splits use). */
static int start(struct ff_dedup *d)
{
    struct ff_dedup_table *t = &d->t;
    if (!d->scratch && !(d->scratch = ff_malloc(leaf_slots(d) * sizeof *d->scratch))) return -ENOMEM;
    if (!(t->dir = ff_malloc(sizeof *t->dir)) || !(t->dir[0] = add_leaf(d, t))) {
        table_free(t);
        return -ENOMEM;
    }
    return 0;
}

/* Entries expiring at or before this are let go: expired at now_us, or older than the
 * newest ones a bounded set keeps. */
static int64_t drop_until(const struct ff_dedup *d, int64_t now_us)
{
    return now_us > d->evict_until ? now_us : d->evict_until;
}

/* Entries expiring at or before `until` were let go for room: raises evict_until and says so. */
static void forget_until(struct ff_dedup *d, int64_t until, int64_t now_us)
{
    if (until <= d->evict_until) return;
    d->evict_until = until;
    /* said the first time, then at most every ten minutes (a busy set lets go all the time) */
    int64_t t = ff_now_us();
    if (d->evictions++ && t - d->warned_us < 600LL * 1000000) return;
    d->warned_us = t;
    ff_warn("dedup: the message id set reached its memory budget (%.2f MiB, --dedup-max-bytes): ids are remembered "
            "for the last %.1f s instead of %.1f hours; retries older than that are stored again, and the WAL's "
            "keys files of older ids are deleted",
            (double)(d->max_cap * sizeof(struct ff_dedup_entry)) / (1 << 20),
            (double)ff_dedup_window_now(d, now_us) / 1e6, (double)d->window_us / 3600e6);
}

/* The entries of leaf s that a rebuild would keep: their count, with their expiries in the
 * scratch leaf (which has room for twice its slots of them), for evict. */
static size_t leaf_live(struct ff_dedup *d, const struct ff_dedup_entry *s, int64_t now_us)
{
    const int64_t until = drop_until(d, now_us);
    int64_t *exp = (int64_t *)(void *)d->scratch;
    size_t n = 0;
    for (size_t i = 0; i < leaf_slots(d); i++)
        if (!vacant(&s[i]) && s[i].expires_us > until) exp[n++] = s[i].expires_us;
    return n;
}

/* Rebuilds leaf a without the entries a bounded set or time let go; with a second leaf b,
 * the keys whose mixed bit `bit` (from the top, 0 first) is set go there. */
static void refill(struct ff_dedup *d, struct ff_dedup_entry *a, struct ff_dedup_entry *b, unsigned bit,
                   int64_t now_us)
{
    struct ff_dedup_table *g = &d->t;
    const size_t n = leaf_slots(d), mask = n - 1;
    struct ff_dedup_entry *tmp = d->scratch;
    memcpy(tmp, a, n * sizeof *a);
    memset(a, 0, n * sizeof *a);
    const int64_t until = drop_until(d, now_us);
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ff_dedup_entry *e = &tmp[i];
        if (vacant(e) || e->expires_us <= until) continue;
        uint64_t m = ff_dedup_mix(d, e->hash);
        if (b && (m >> (63 - bit) & 1)) {
            b[find(b, mask, m, e->hash)] = *e;
            nb++;
        } else {
            a[find(a, mask, m, e->hash)] = *e;
            na++;
        }
    }
    g->used = g->used - meta(d, a)->used + na + nb;
    meta(d, a)->used = (uint32_t)na;
    if (b) meta(d, b)->used = (uint32_t)nb;
}

/* Splits leaf a, which holds mixed key m, by the next bit. */
static int split(struct ff_dedup *d, struct ff_dedup_entry *a, uint64_t m, int64_t now_us)
{
    struct ff_dedup_table *g = &d->t;
    const unsigned ld = meta(d, a)->depth;
    if (ld == g->depth) { /* the directory doubles: each entry twice */
        size_t n = (size_t)1 << g->depth;
        struct ff_dedup_entry **dir = ff_realloc(g->dir, 2 * n * sizeof *dir);
        if (!dir) return -ENOMEM;
        for (size_t i = n; i-- > 0;) dir[2 * i] = dir[2 * i + 1] = dir[i];
        g->dir = dir;
        g->depth++;
    }
    struct ff_dedup_entry *b = add_leaf(d, g);
    if (!b) return -ENOMEM;
    refill(d, a, b, ld, now_us);
    meta(d, a)->depth = meta(d, b)->depth = (uint8_t)(ld + 1);
    /* a's directory entries: the upper half now names the new leaf */
    size_t span = (size_t)1 << (g->depth - ld), first = ld ? (size_t)(m >> (64 - ld)) << (g->depth - ld) : 0;
    for (size_t i = first + span / 2; i < first + span; i++) g->dir[i] = b;
    d->splits++;
    return 0;
}

/* Leaf a is full at the budget: its oldest third goes (all it holds that expire at or before
 * the cut, raised into evict_until). Its n live entries' expiries are in the scratch leaf
 * (leaf_live). 0, or 1 when nothing could go: all of them expire at the same moment, the
 * newest there are. */
static int evict(struct ff_dedup *d, struct ff_dedup_entry *a, size_t n, int64_t now_us)
{
    int64_t *exp = (int64_t *)(void *)d->scratch;
    if (!n) return 1;
    int64_t newest = exp[0];
    for (size_t i = 1; i < n; i++)
        if (exp[i] > newest) newest = exp[i];
    int64_t cut = ff_select_i64(exp, n, n / 3);
    if (cut == newest) { /* the newest stay whatever the quantile: the largest expiry below it */
        cut = INT64_MIN;
        for (size_t i = 0; i < n; i++)
            if (exp[i] < newest && exp[i] > cut) cut = exp[i];
        if (cut == INT64_MIN) return 1;
    }
    forget_until(d, cut, now_us);
    refill(d, a, NULL, 0, now_us);
    return 0;
}

/* Leaf a, which holds mixed key m, is full: rebuilt without what expired when that leaves
 * room enough, else split, else (at the budget) its oldest third goes. */
static int make_room(struct ff_dedup *d, struct ff_dedup_entry *a, uint64_t m, int64_t now_us)
{
    size_t live = leaf_live(d, a, now_us), n = leaf_slots(d);
    int can_split = meta(d, a)->depth < max_depth(d);
    /* room to spare after a rebuild: half of it when a split is the alternative; at the
     * budget, any that keeps the leaf from filling again at once */
    if (live * 2 <= n || (!can_split && live * 8 <= n * 5)) {
        refill(d, a, NULL, 0, now_us);
        return 0;
    }
    if (can_split) return split(d, a, m, now_us);
    if (!evict(d, a, live, now_us)) return 0;
    /* ids all received at once (a bulk load): past the budget rather than losing the newest */
    if (meta(d, a)->depth < MAX_DEPTH) return split(d, a, m, now_us);
    forget_until(d, INT64_MAX - 1, now_us);
    refill(d, a, NULL, 0, now_us);
    return 0;
}

/* Puts an entry in slot e of leaf a, found for hash by find: keeps the later expiry of a
 * present one. */
static void place(struct ff_dedup *d, struct ff_dedup_entry *a, struct ff_dedup_entry *e, uint64_t hash,
                  int64_t expires_us)
{
    struct ff_dedup_table *g = &d->t;
    if (vacant(e)) {
        e->hash = hash;
        e->expires_us = expires_us;
        meta(d, a)->used++;
        g->used++;
    } else if (expires_us > e->expires_us) {
        e->expires_us = expires_us;
    }
}

/* Puts an entry (mixed key m) into the set, keeping the later expiry of a present one. e,
 * when not NULL, is the slot find gave for it in leaf a (ff_dedup_check_insert's probe). */
static int put(struct ff_dedup *d, uint64_t m, uint64_t hash, int64_t expires_us, int64_t now_us,
               struct ff_dedup_entry *a, struct ff_dedup_entry *e)
{
    if (!d->t.nleaves) {
        int rc = start(d);
        if (rc) return rc;
    }
    for (;;) {
        if (!e) {
            a = ff_dedup_leaf_of(&d->t, m);
            e = &a[find(a, leaf_slots(d) - 1, m, hash)];
        }
        if (!vacant(e) || !leaf_full(d, meta(d, a)->used + 1)) {
            place(d, a, e, hash, expires_us);
            return 0;
        }
        int rc = make_room(d, a, m, now_us);
        if (rc) return rc;
        e = NULL; /* the leaf changed: probe again */
    }
}

int ff_dedup_contains_checked(const struct ff_dedup *d, uint64_t hash, unsigned check, int64_t now_us)
{
    if (!d->t.nleaves) return 0;
    uint64_t m = ff_dedup_mix(d, hash);
    const struct ff_dedup_entry *a = ff_dedup_leaf_of(&d->t, m);
    return holds(&a[find(a, leaf_slots(d) - 1, m, hash)], hash, check, now_us);
}

int ff_dedup_insert_checked(struct ff_dedup *d, uint64_t hash, unsigned check, int64_t received_us, int64_t now_us)
{
    return put(d, ff_dedup_mix(d, hash), hash, expiry(d, received_us, check != 0, check), now_us, NULL, NULL);
}

int ff_dedup_check_insert(struct ff_dedup *d, uint64_t hash, unsigned check, int64_t received_us, int64_t now_us)
{
    const uint64_t m = ff_dedup_mix(d, hash);
    struct ff_dedup_entry *a = NULL, *e = NULL;
    if (d->t.nleaves) {
        a = ff_dedup_leaf_of(&d->t, m);
        e = &a[find(a, leaf_slots(d) - 1, m, hash)];
        if (holds(e, hash, check, now_us)) return 1;
    }
    return put(d, m, hash, expiry(d, received_us, check != 0, check), now_us, a, e);
}

int ff_dedup_reserve(struct ff_dedup *d, size_t n, int64_t now_us)
{
    struct ff_dedup_table *g = &d->t;
    if (!g->nleaves) {
        int rc = start(d);
        if (rc) return rc;
    }
    /* every leaf at least this deep: at most half full once they are in, if they spread evenly */
    unsigned target = 0, most = max_depth(d);
    while (target < most && ((size_t)1 << target) * leaf_slots(d) / 2 < g->used + n) target++;
    for (size_t i = 0; i < ((size_t)1 << g->depth);) {
        struct ff_dedup_entry *a = g->dir[i];
        if (meta(d, a)->depth < target) {
            uint64_t m = g->depth ? (uint64_t)i << (64 - g->depth) : 0;
            int rc = split(d, a, m, now_us);
            if (rc) return rc;
            i = (size_t)(m >> (64 - g->depth)); /* the same leaf, in a directory perhaps doubled */
            continue;
        }
        i += (size_t)1 << (g->depth - meta(d, a)->depth);
    }
    return 0;
}

int ff_dedup_insert_many(struct ff_dedup *d, const struct ff_dedup_received *e, size_t n, int64_t now_us,
                         int checked)
{
    int rc = ff_dedup_reserve(d, n, now_us);
    /* Reserved: plain puts, looking slots up a few entries ahead (the set is large and every
     * probe misses the cache). */
    for (size_t i = 0; !rc && i < n; i++) {
        if (i + 16 < n) ff_dedup_prefetch(d, e[i + 16].hash);
        int64_t r = e[i].received_us;
        int64_t expires = expiry(d, r, 1, checked ? ff_dedup_stamp_check(r) : 0);
        if (e[i].hash && expires > now_us) rc = put(d, ff_dedup_mix(d, e[i].hash), e[i].hash, expires, now_us, NULL, NULL);
    }
    return rc;
}

/* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
void ff_dedup_remove(struct ff_dedup *d, uint64_t hash)
{
    struct ff_dedup_table *g = &d->t;
    if (!g->nleaves) return;
    const uint64_t m = ff_dedup_mix(d, hash);
    const size_t mask = leaf_slots(d) - 1;
    struct ff_dedup_entry *s = ff_dedup_leaf_of(g, m);
    size_t i = find(s, mask, m, hash), j = i;
    if (s[i].hash != hash) return;
    meta(d, s)->used--;
    g->used--;
    for (;;) {
        s[i] = (struct ff_dedup_entry){0};
        for (;;) {
            j = (j + 1) & mask;
            if (vacant(&s[j])) return;
            size_t home = ff_dedup_mix(d, s[j].hash) & mask;
            /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) break;
        }
        s[i] = s[j];
        i = j;
    }
}

int ff_dedup_check(const struct ff_dedup *d)
{
    const struct ff_dedup_table *g = &d->t;
    if (!g->nleaves) return g->used || g->dir ? __LINE__ : 0;
    const size_t n = leaf_slots(d), mask = n - 1, ndir = (size_t)1 << g->depth;
    size_t used = 0;
    for (size_t i = 0; i < ndir;) {
        struct ff_dedup_entry *s = g->dir[i];
        const struct ff_dedup_leaf_meta *lm = meta(d, s);
        if (lm->no >= g->nleaves || g->leaf[lm->no] != s || lm->depth > g->depth) return __LINE__;
        size_t span = (size_t)1 << (g->depth - lm->depth);
        if (i % span) return __LINE__; /* a leaf's entries are aligned */
        for (size_t k = i; k < i + span; k++)
            if (g->dir[k] != s) return __LINE__;
        size_t occupied = 0;
        for (size_t k = 0; k < n; k++) {
            if (vacant(&s[k])) continue;
            occupied++;
            uint64_t m = ff_dedup_mix(d, s[k].hash);
            if ((g->depth ? (size_t)(m >> (64 - g->depth)) : 0) / span != i / span) return __LINE__; /* wrong leaf */
            for (size_t h = m & mask; h != k; h = (h + 1) & mask) /* reachable from its home */
                if (vacant(&s[h])) return __LINE__;
        }
        if (occupied != lm->used || occupied >= n) return __LINE__;
        used += occupied;
        i += span;
    }
    size_t named = 0; /* every leaf is named by the directory */
    for (uint32_t li = 0; li < g->nleaves; li++) named += (size_t)1 << (g->depth - meta(d, g->leaf[li])->depth);
    return used != g->used || named != ndir ? __LINE__ : 0;
}
