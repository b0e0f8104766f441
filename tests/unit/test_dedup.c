/* test_dedup.c - differential test of struct ff_dedup (store/dedup.h) against a naive model:
 * an array of (hash, expires) pairs searched linearly.
 *
 * Semantics taken from dedup.h: insert remembers `hash` until received + window (an insert
 * of a present hash keeps the later expiry); contains is true while the entry is present and
 * expires > now; remove forgets it. Expired entries may linger in the table but must never
 * be reported. */
#include <errno.h>

#include "testutil.h"

#include "store/dedup.h"

struct model {
    uint64_t *hash;
    int64_t *expires;
    size_t n, cap;
};

static long model_find(const struct model *m, uint64_t h)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->hash[i] == h) return (long)i;
    return -1;
}

/* Appends a key not in the model (no search). */
static void model_append(struct model *m, uint64_t h, int64_t expires)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->hash = realloc(m->hash, m->cap * sizeof *m->hash);
        m->expires = realloc(m->expires, m->cap * sizeof *m->expires);
        assert_non_null(m->hash);
        assert_non_null(m->expires);
    }
    m->hash[m->n] = h;
    m->expires[m->n] = expires;
    m->n++;
}

static void model_insert(struct model *m, uint64_t h, int64_t expires, int64_t now)
{
    long i = model_find(m, h);
    if (i >= 0) {
        /* An expired entry may have been dropped by a rehash: then the new expiry applies.
         * If it lingers, the later of the two applies. Either way, once expired the old
         * value no longer matters, so take the new one then. */
        if (m->expires[i] <= now || expires > m->expires[i]) m->expires[i] = expires;
        return;
    }
    model_append(m, h, expires);
}

/* Drops entry i (the last one takes its place). */
static void model_drop_at(struct model *m, size_t i)
{
    m->hash[i] = m->hash[m->n - 1];
    m->expires[i] = m->expires[m->n - 1];
    m->n--;
}

static void model_remove(struct model *m, uint64_t h)
{
    long i = model_find(m, h);
    if (i >= 0) model_drop_at(m, (size_t)i);
}

static int model_contains(const struct model *m, uint64_t h, int64_t now)
{
    long i = model_find(m, h);
    return i >= 0 && m->expires[i] > now;
}

static void model_free(struct model *m)
{
    free(m->hash);
    free(m->expires);
    memset(m, 0, sizeof *m);
}

/* Drops expired entries from the model (they are equivalent to absent ones). */
static void model_expire(struct model *m, int64_t now)
{
    for (size_t i = 0; i < m->n;) {
        if (m->expires[i] <= now) model_drop_at(m, i);
        else i++;
    }
}

/* Every live key of the model is in the table, and the table's occupancy is sane. */
static void check_all(const struct ff_dedup *d, const struct model *m, int64_t now)
{
    for (size_t i = 0; i < m->n; i++) {
        int want = m->expires[i] > now;
        int got = ff_dedup_contains(d, m->hash[i], now);
        if (got != want)
            print_error("hash %016llx: contains=%d, model says %d (expires %lld, now %lld)\n",
                        (unsigned long long)m->hash[i], got, want, (long long)m->expires[i], (long long)now);
        assert_int_equal(got, want);
    }
    /* counts, directory, every entry in its leaf and reachable from its home slot */
    int line = ff_dedup_check(d);
    if (line) print_error("dedup.c:%d: an invariant does not hold\n", line);
    assert_int_equal(line, 0);
}

/* Multiplicative inverse of an odd number mod 2^64 (Newton's iteration). */
static uint64_t inverse64(uint64_t a)
{
    uint64_t x = a; /* correct to 3 bits */
    for (int i = 0; i < 6; i++) x *= 2 - a * x;
    return x;
}

/* The sets of these tests mix keys with this secret, so that hash_for_slot can aim. */
#define TEST_SEED 0x5eedf00dULL

/* The key that ff_dedup_mix turns into m with seed TEST_SEED: murmur3's finaliser undone. */
static uint64_t unmix(uint64_t m)
{
    static uint64_t inv1, inv2;
    if (!inv1) inv1 = inverse64(0xff51afd7ed558ccdULL), inv2 = inverse64(0xc4ceb9fe1a85ec53ULL);
    m ^= m >> 33;
    m *= inv2;
    m ^= m >> 33;
    m *= inv1;
    m ^= m >> 33;
    return m ^ TEST_SEED;
}

/* A hash whose probe starts at `slot` of whichever leaf it lands in (leaves of up to 2^20
 * slots: the mixed key's low bits), its leaf chosen at random. If the implementation's mixing
 * changes these are still valid, just ordinary, hashes. */
static uint64_t hash_for_slot(uint64_t slot)
{
    for (;;) {
        uint64_t h = unmix((test_rand64() & ~(uint64_t)0xfffff) | (slot & 0xfffff));
        if (h) return h;
    }
}

/* ff_dedup_init, with the secret hash_for_slot aims with. */
static void init_aimed(struct ff_dedup *d, int64_t window)
{
    assert_int_equal(ff_dedup_init(d, window), 0);
    d->seed = TEST_SEED;
}

static uint64_t rand_hash(int clustered)
{
    if (!clustered) {
        uint64_t h;
        do h = test_rand64();
        while (!h);
        return h;
    }
    /* Clustered around a few homes, including the table's wrap-around point. */
    static const uint64_t homes[] = {0, 1, 5, 1020, 1022, 1023, 2047, 4095, 512};
    return hash_for_slot(homes[test_randn(sizeof homes / sizeof *homes)] + test_randn(4));
}

static void run_differential(uint64_t seed, int clustered, int steps, int64_t window)
{
    test_rng_init(seed);
    struct ff_dedup d;
    struct model m = {0};
    init_aimed(&d, window);
    int64_t now = 1700000000000000LL;
    /* A pool of keys so that operations hit existing keys often. */
    size_t npool = 4000;
    uint64_t *pool = malloc(npool * sizeof *pool);
    for (size_t i = 0; i < npool; i++) pool[i] = rand_hash(clustered);
    for (int step = 0; step < steps; step++) {
        uint64_t h = test_randn(8) ? pool[test_randn(npool)] : rand_hash(clustered);
        int op = (int)test_randn(10);
        if (op < 5) {
            /* received may lie a little in the past (recovery re-inserts old records). */
            int64_t received = now - (test_randn(4) == 0 ? test_rand_range(0, window) : 0);
            assert_int_equal(ff_dedup_insert(&d, h, received, now), 0);
            model_insert(&m, h, received + window, now);
        } else if (op < 7) {
            ff_dedup_remove(&d, h);
            model_remove(&m, h);
            /* Backward-shift deletion must keep every other key reachable. */
            if (test_randn(4) == 0) check_all(&d, &m, now);
        } else {
            int want = model_contains(&m, h, now), got = ff_dedup_contains(&d, h, now);
            if (got != want) print_error("step %d: contains(%016llx) = %d, model %d\n", step, (unsigned long long)h, got, want);
            assert_int_equal(got, want);
        }
        /* Time moves on: mostly small steps, sometimes a jump past many expiries. */
        now += test_randn(20) == 0 ? test_rand_range(0, window) : test_rand_range(0, window / 1000);
        if (step % 997 == 0) {
            check_all(&d, &m, now);
            model_expire(&m, now);
        }
    }
    check_all(&d, &m, now);
    free(pool);
    model_free(&m);
    ff_dedup_free(&d);
}

static void test_differential_random(void **state)
{
    (void)state;
    run_differential(0xd1ff, 0, 150000, 24LL * 3600 * 1000000);
}

static void test_differential_clustered(void **state)
{
    (void)state;
    run_differential(0xc105, 1, 80000, 24LL * 3600 * 1000000);
}

static void test_differential_short_window(void **state)
{
    (void)state;
    /* Expiry matters at every step. */
    run_differential(0x5e7, 1, 60000, 10000);
    run_differential(0x5e8, 0, 60000, 10000);
}

/* Long probe chains around one home slot, including wrap-around at the end of the table,
 * then removal of each key in turn in a random order. */
static void test_chains_and_removal(void **state)
{
    (void)state;
    test_rng_init(0xc4a1);
    for (int round = 0; round < 200; round++) {
        struct ff_dedup d;
        struct model m = {0};
        int64_t now = 1000, window = 1000000;
        init_aimed(&d, window);
        size_t cap = (size_t)1 << d.leaf_bits; /* one leaf holds them all */
        uint64_t base = round % 2 ? cap - 1 - test_randn(3) : test_randn(cap);
        int n = (int)test_rand_range(2, 60);
        uint64_t keys[60];
        for (int k = 0; k < n; k++) {
            keys[k] = hash_for_slot(base + test_randn(3));
            assert_int_equal(ff_dedup_insert(&d, keys[k], now, now), 0);
            model_insert(&m, keys[k], now + window, now);
        }
        assert_int_equal(d.splits, 0); /* no split: the chains stay as built */
        check_all(&d, &m, now);
        /* Remove in random order; after each removal everything else is still found. */
        for (int k = n - 1; k > 0; k--) {
            int j = (int)test_randn((uint64_t)k + 1);
            uint64_t t = keys[k];
            keys[k] = keys[j], keys[j] = t;
        }
        for (int k = 0; k < n; k++) {
            ff_dedup_remove(&d, keys[k]);
            model_remove(&m, keys[k]);
            assert_false(ff_dedup_contains(&d, keys[k], now));
            check_all(&d, &m, now);
            ff_dedup_remove(&d, keys[k]); /* removing an absent key is a no-op */
            check_all(&d, &m, now);
        }
        assert_int_equal(d.t.used, 0);
        model_free(&m);
        ff_dedup_free(&d);
    }
}

static void test_growth_and_rehash(void **state)
{
    (void)state;
    test_rng_init(0x9e0);
    struct ff_dedup d;
    struct model m = {0};
    int64_t window = 1000000, now = 0;
    init_aimed(&d, window);
    size_t cap0 = (size_t)1 << d.leaf_bits;
    /* 50 000 live keys: the table must grow several times and keep them all. */
    uint64_t counter = 0;
    for (int k = 0; k < 50000; k++) {
        /* Distinct keys: an odd multiplier is a bijection; clustered ones carry 44 random
         * bits, so a repeat is vanishingly unlikely (and harmless to the checks). */
        uint64_t h = k % 50 ? ++counter * 0xd6e8feb86659fd93ULL : rand_hash(1);
        assert_int_equal(ff_dedup_insert(&d, h, now, now), 0);
        model_append(&m, h, now + window);
    }
    assert_true(ff_dedup_cap(&d) > cap0);
    /* grown a leaf at a time: leaves some 40% to 75% full */
    assert_true(d.splits >= 10 && d.splits == d.t.nleaves - 1);
    assert_true(d.t.used * 4 <= ff_dedup_cap(&d) * 3 && d.t.used * 10 >= ff_dedup_cap(&d) * 4);
    check_all(&d, &m, now);
    /* Once they have all expired, inserting more must not keep growing the table: the
     * rehash drops the expired entries. */
    now += window;
    model_expire(&m, now);
    assert_int_equal(m.n, 0);
    size_t grown = ff_dedup_cap(&d);
    for (int round = 0; round < 5; round++) {
        for (int k = 0; k < 20000; k++) {
            uint64_t h = k % 50 ? ++counter * 0xd6e8feb86659fd93ULL : rand_hash(1);
            assert_int_equal(ff_dedup_insert(&d, h, now, now), 0);
            model_append(&m, h, now + window);
        }
        check_all(&d, &m, now);
        now += window; /* all of this round expire */
        model_expire(&m, now);
    }
    assert_true(ff_dedup_cap(&d) <= grown);
    ff_dedup_free(&d);
    model_free(&m);
}

static void test_expiry_boundaries(void **state)
{
    (void)state;
    struct ff_dedup d;
    assert_int_equal(ff_dedup_init(&d, 100), 0);
    assert_false(ff_dedup_contains(&d, 42, 0));
    assert_int_equal(ff_dedup_insert(&d, 42, 1000, 1000), 0);
    assert_true(ff_dedup_contains(&d, 42, 1000));
    assert_true(ff_dedup_contains(&d, 42, 1099));
    assert_false(ff_dedup_contains(&d, 42, 1100)); /* expires = received + window */
    /* A re-insert extends; an older one does not shorten. */
    assert_int_equal(ff_dedup_insert(&d, 42, 1050, 1050), 0);
    assert_true(ff_dedup_contains(&d, 42, 1149));
    assert_int_equal(ff_dedup_insert(&d, 42, 900, 1100), 0);
    assert_true(ff_dedup_contains(&d, 42, 1149));
    assert_false(ff_dedup_contains(&d, 42, 1150));
    /* After expiry a fresh insert counts again. */
    assert_int_equal(ff_dedup_insert(&d, 42, 5000, 5000), 0);
    assert_true(ff_dedup_contains(&d, 42, 5099));
    ff_dedup_remove(&d, 42);
    assert_false(ff_dedup_contains(&d, 42, 5000));
    assert_int_equal(d.t.used, 0);
    ff_dedup_free(&d);
    assert_int_equal(d.t.nleaves, 0);
    assert_null(d.t.dir);
}

/* Message ids are the client's, and the hash of an id is no secret: someone can pick ids
 * whose hashes, mixed as an unkeyed set would, share their top 16 bits, to pile them into
 * one leaf and make the directory deepen without end. The set mixes keys with a secret of its
 * own, so they spread like any others: every insert returns, every key stays findable,
 * nothing is let go, and the directory is no deeper than even leaves need. */
static void test_steered_keys_spread(void **state)
{
    (void)state;
    test_rng_init(0x5eed);
    struct ff_dedup d;
    int64_t now = 1000, window = 1000000000;
    assert_int_equal(ff_dedup_init(&d, window), 0);
    enum { N = 200000 };
    uint64_t *keys = malloc(N * sizeof *keys);
    assert_non_null(keys);
    for (int k = 0; k < N; k++) {
        /* unmix aims for TEST_SEED; the attacker's guess of the secret is as good as any */
        keys[k] = unmix((uint64_t)0xbad1 << 48 | (test_rand64() >> 16));
        assert_int_equal(ff_dedup_insert(&d, keys[k], now, now), 0);
    }
    for (int k = 0; k < N; k++) assert_true(ff_dedup_contains(&d, keys[k], now));
    assert_int_equal(d.evictions, 0);
    unsigned even = 0;
    while (((uint32_t)1 << even) < d.t.nleaves) even++;
    assert_true(d.t.depth <= even + 4);
    assert_int_equal(ff_dedup_check(&d), 0);
    free(keys);
    ff_dedup_free(&d);
}

static uint64_t key_of(uint64_t i)
{
    uint64_t x = (i + 1) * 0x9e3779b97f4a7c15u;
    x ^= x >> 31;
    return x ? x : 1;
}

/* A set with a memory budget never holds more leaves than the budget allows, keeps the
 * newest ids (always at least 40% of its slots' worth) and lets the oldest go, a third of a
 * leaf at a time, and says how far back it now remembers; the same for a bulk load of keys
 * files at start-up. */
static void test_budget_keeps_the_newest(void **state)
{
    (void)state;
    const int64_t window = (int64_t)1 << 40; /* nothing expires in this test */
    const size_t budget = 256 << 10, n = 100000;
    struct ff_dedup d;
    init_aimed(&d, window);
    ff_dedup_set_budget(&d, budget);
    assert_true(d.max_cap >= 1024 && d.max_cap * sizeof(struct ff_dedup_entry) <= budget);
    assert_true(((size_t)4 << d.leaf_bits) <= d.max_cap); /* leaves sized to the budget */
    assert_int_equal(ff_dedup_window_now(&d, 0), window);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ff_dedup_insert(&d, key_of(i), (int64_t)i, (int64_t)i), 0);
        assert_true(ff_dedup_cap(&d) <= d.max_cap);
        /* every few hundred: the newest 40% of its slots' worth are there */
        if (i % 997 == 996) {
            size_t keep = d.max_cap * 4 / 10;
            for (size_t k = i > keep ? i - keep : 0; k <= i; k++)
                assert_true(ff_dedup_contains(&d, key_of(k), (int64_t)i));
        }
    }
    assert_int_equal(ff_dedup_check(&d), 0);
    const int64_t now = (int64_t)n;
    for (size_t i = n - 500; i < n; i++) assert_true(ff_dedup_contains(&d, key_of(i), now));
    size_t old_kept = 0;
    for (size_t i = 0; i < 1000; i++) old_kept += (size_t)ff_dedup_contains(&d, key_of(i), now);
    assert_int_equal(old_kept, 0);
    assert_true(d.evictions > 10);
    int64_t w = ff_dedup_window_now(&d, now);
    /* between 40% and 75% of its slots' worth of ids (leaves are let go to half full at 75%) */
    assert_true(w >= (int64_t)(d.max_cap * 4 / 10) && w <= (int64_t)(d.max_cap * 3 / 4));
    ff_dedup_free(&d);

    /* keys files at start-up, oldest first */
    struct ff_dedup_received *keys = malloc(n * sizeof *keys);
    assert_non_null(keys);
    for (size_t i = 0; i < n; i++) keys[i] = (struct ff_dedup_received){key_of(i), (int64_t)i};
    init_aimed(&d, window);
    ff_dedup_set_budget(&d, budget);
    assert_int_equal(ff_dedup_insert_many(&d, keys, n, now, 0), 0);
    assert_true(ff_dedup_cap(&d) <= d.max_cap);
    assert_int_equal(ff_dedup_check(&d), 0);
    for (size_t i = n - 500; i < n; i++) assert_true(ff_dedup_contains(&d, key_of(i), now));
    assert_false(ff_dedup_contains(&d, key_of(0), now));
    free(keys);
    ff_dedup_free(&d);
}

/* ids all received in the same microsecond (a bulk load of one group) at a tiny budget: the
 * set goes past its budget rather than letting the newest go, and keeps them all. */
static void test_budget_same_moment(void **state)
{
    (void)state;
    struct ff_dedup d;
    init_aimed(&d, 1000000);
    ff_dedup_set_budget(&d, 1024 * sizeof(struct ff_dedup_entry));
    for (uint64_t i = 0; i < 4000; i++) assert_int_equal(ff_dedup_insert(&d, key_of(i), 5, 5), 0);
    for (uint64_t i = 0; i < 4000; i++) assert_true(ff_dedup_contains(&d, key_of(i), 5));
    assert_true(ff_dedup_cap(&d) > d.max_cap);
    assert_int_equal(d.evictions, 0);
    assert_int_equal(ff_dedup_check(&d), 0);
    ff_dedup_free(&d);
}

/* Eviction at the budget, with probe chains (keys around a few home slots, wrapping at a
 * leaf's end): removing a key keeps every other one reachable, the newest stay, and once all
 * have expired the set takes new ones in the same leaves. */
static void test_eviction_with_chains(void **state)
{
    (void)state;
    test_rng_init(0x6e4);
    const int64_t window = 1000000;
    struct ff_dedup d;
    init_aimed(&d, window);
    ff_dedup_set_budget(&d, 1024 * sizeof(struct ff_dedup_entry));
    assert_int_equal(d.max_cap, 1024);
    assert_int_equal(d.leaf_bits, 8); /* four leaves of 256 */
    enum { N = 20000 };
    uint64_t *keys = malloc(N * sizeof *keys);
    uint8_t *gone = calloc(N, 1);
    assert_non_null(keys);
    assert_non_null(gone);
    static const uint64_t homes[] = {0, 3, 200, 252, 255};
    int64_t now = 1000;
    for (size_t i = 0; i < N; i++, now++) {
        keys[i] = i % 3 ? test_rand64() | 1 : hash_for_slot(homes[test_randn(5)] + test_randn(3));
        assert_int_equal(ff_dedup_insert(&d, keys[i], now, now), 0);
        /* now and then undo an insert of a few steps back */
        if (i > 10 && test_randn(7) == 0) {
            size_t k = i - test_randn(10);
            ff_dedup_remove(&d, keys[k]);
            gone[k] = 1;
            assert_false(ff_dedup_contains(&d, keys[k], now));
        }
        if (i % 101 == 100) {
            assert_int_equal(ff_dedup_check(&d), 0);
            size_t keep = d.max_cap * 4 / 10;
            for (size_t k = i > keep ? i - keep : 0; k <= i; k++)
                assert_int_equal(ff_dedup_contains(&d, keys[k], now), !gone[k]);
        }
    }
    assert_true(d.evictions > 10);
    assert_true(ff_dedup_forgotten_before(&d) > 1000);
    assert_true(ff_dedup_cap(&d) <= d.max_cap);
    /* all expired: nothing is found, and new ids fill the same leaves */
    now += 2 * window;
    for (size_t k = N - 500; k < N; k++) assert_false(ff_dedup_contains(&d, keys[k], now));
    size_t cap = ff_dedup_cap(&d);
    for (uint64_t i = 0; i < 600; i++) assert_int_equal(ff_dedup_insert(&d, key_of(i), now, now), 0);
    for (uint64_t i = 0; i < 600; i++) assert_true(ff_dedup_contains(&d, key_of(i), now));
    assert_int_equal(ff_dedup_cap(&d), cap);
    assert_int_equal(ff_dedup_check(&d), 0);
    free(keys);
    free(gone);
    ff_dedup_free(&d);
}

/* Two sets hold the same: directories, leaves byte for byte, counts. */
static void assert_same_sets(const struct ff_dedup *a, const struct ff_dedup *b)
{
    const struct ff_dedup_table *x = &a->t, *y = &b->t;
    assert_int_equal(x->nleaves, y->nleaves);
    assert_int_equal(x->depth, y->depth);
    assert_int_equal(x->used, y->used);
    if (!x->nleaves) return;
    /* the same leaves in the same places of the directory; each leaf with its count and depth */
    for (size_t i = 0; i < ((size_t)1 << x->depth); i++) {
        const struct ff_dedup_entry *p = x->dir[i], *q = y->dir[i];
        assert_int_equal(((const struct ff_dedup_leaf_meta *)(const void *)&p[(size_t)1 << a->leaf_bits])->no,
                         ((const struct ff_dedup_leaf_meta *)(const void *)&q[(size_t)1 << a->leaf_bits])->no);
    }
    for (uint32_t i = 0; i < x->nleaves; i++)
        assert_memory_equal(x->leaf[i], y->leaf[i], (((size_t)1 << a->leaf_bits) + 1) * sizeof(struct ff_dedup_entry));
}

/* The WAL writer's one-probe lookup-and-insert (ff_dedup_check_insert) against the two calls
 * it stands for, in lockstep: the same answers at every step, and the same leaves (byte for
 * byte) after splits, removals, expiries, colliding hashes with other checks and evictions
 * at a budget. */
static void run_check_insert_lockstep(uint64_t seed, int clustered, size_t budget, int64_t window)
{
    test_rng_init(seed);
    struct ff_dedup a, b;
    init_aimed(&a, window);
    init_aimed(&b, window);
    ff_dedup_set_budget(&a, budget);
    ff_dedup_set_budget(&b, budget);
    enum { POOL = 3000, STEPS = 60000 };
    uint64_t *pool = malloc(POOL * sizeof *pool);
    assert_non_null(pool);
    for (size_t i = 0; i < POOL; i++) pool[i] = rand_hash(clustered);
    int64_t now = 1700000000000000LL;
    size_t dups = 0, inserted = 0;
    for (int step = 0; step < STEPS; step++) {
        uint64_t h = test_randn(3) ? pool[test_randn(POOL)] : rand_hash(clustered);
        /* mostly the key's own check (or 0, unknown); now and then another, which disagrees */
        unsigned check = test_randn(8) ? (unsigned)(h % 7) : (unsigned)test_randn(4);
        if (test_randn(16) == 0) {
            ff_dedup_remove(&a, h);
            ff_dedup_remove(&b, h);
        } else {
            int64_t received = now - (test_randn(8) == 0 ? test_rand_range(0, window) : 0);
            int want = ff_dedup_contains_checked(&a, h, check, now);
            if (!want) assert_int_equal(ff_dedup_insert_checked(&a, h, check, received, now), 0);
            int got = ff_dedup_check_insert(&b, h, check, received, now);
            if (got != want) print_error("step %d: check_insert(%016llx) = %d, contains said %d\n", step, (unsigned long long)h, got, want);
            assert_int_equal(got, want);
            dups += got, inserted += !got;
        }
        now += test_randn(2000) == 0 ? test_rand_range(0, window / 3) : test_rand_range(0, window / 200000);
    }
    assert_true(dups > 1000 && inserted > 1000);
    assert_int_equal(a.evictions, b.evictions);
    assert_int_equal(a.splits, b.splits);
    assert_same_sets(&a, &b);
    assert_int_equal(ff_dedup_check(&a), 0);
    free(pool);
    ff_dedup_free(&a);
    ff_dedup_free(&b);
}

static void test_check_insert_is_contains_then_insert(void **state)
{
    (void)state;
    run_check_insert_lockstep(0xc1, 0, 0, 24LL * 3600 * 1000000);
    run_check_insert_lockstep(0xc2, 1, 0, 24LL * 3600 * 1000000);
    run_check_insert_lockstep(0xc3, 0, 0, 1000000); /* expiry matters */
    /* at a budget of 2048 slots: evictions */
    run_check_insert_lockstep(0xc4, 0, 2048 * sizeof(struct ff_dedup_entry), 24LL * 3600 * 1000000);
    run_check_insert_lockstep(0xc5, 1, 2048 * sizeof(struct ff_dedup_entry), 1000000);
}

/* Two ids whose 64-bit hashes meet are told apart by their checks: the second is new, not a
 * retry (it was acknowledged and dropped before). An id without a check (0) agrees with any,
 * and an entry's check stays with it through splits and evictions. */
static void test_checks_tell_colliding_ids_apart(void **state)
{
    (void)state;
    test_rng_init(0xc0c);
    const int64_t window = 3600LL * 1000000;
    struct ff_dedup d;
    init_aimed(&d, window);
    ff_dedup_set_budget(&d, 8192 * sizeof(struct ff_dedup_entry)); /* evictions soon */
    int64_t now = 1700000000000000LL;
    assert_int_equal(ff_dedup_insert_checked(&d, 42, 5, now, now), 0);
    assert_true(ff_dedup_contains_checked(&d, 42, 5, now));
    assert_false(ff_dedup_contains_checked(&d, 42, 6, now));
    assert_true(ff_dedup_contains_checked(&d, 42, 0, now));
    assert_true(ff_dedup_contains(&d, 42, now));
    /* the check rides in the expiry: never later than exact, less than two steps earlier
     * (checks above and below the exact expiry's low bits, and a window of zero) */
    assert_true(ff_dedup_contains_checked(&d, 42, 5, now + window - 2 * (FF_DEDUP_CHECK_MASK + 1)));
    assert_false(ff_dedup_contains_checked(&d, 42, 5, now + window));
    for (unsigned c = 1; c <= FF_DEDUP_CHECK_MASK; c += 97) {
        struct ff_dedup z;
        assert_int_equal(ff_dedup_init(&z, 0), 0);
        assert_int_equal(ff_dedup_insert_checked(&z, 7, c, now + 1000, now + 1000), 0);
        assert_false(ff_dedup_contains_checked(&z, 7, c, now + 1000));
        ff_dedup_free(&z);
        assert_int_equal(ff_dedup_init(&z, window), 0);
        assert_int_equal(ff_dedup_insert_checked(&z, 7, c, now + 1000 + c, now), 0);
        assert_true(ff_dedup_contains_checked(&z, 7, c, now + 1000 + c + window - 2 * (FF_DEDUP_CHECK_MASK + 1)));
        assert_false(ff_dedup_contains_checked(&z, 7, c, now + 1000 + c + window));
        ff_dedup_free(&z);
    }
    /* thousands of other ids: splits and rotations; key 42's check stays */
    enum { N = 12000 };
    for (int i = 0; i < N; i++) {
        uint64_t h = test_rand64() | 1;
        if (h == 42) continue;
        unsigned c = 1 + (unsigned)test_randn(FF_DEDUP_CHECK_MASK);
        assert_int_equal(ff_dedup_insert_checked(&d, h, c, now + i, now + i), 0);
        if (i % 997 == 0 && i < 2000) {
            assert_true(ff_dedup_contains_checked(&d, 42, 5, now + i));
            assert_false(ff_dedup_contains_checked(&d, 42, 6, now + i));
        }
    }
    assert_true(d.evictions > 0); /* the oldest did go */
    /* an id inserted with a check is found with it after its leaf let its oldest go */
    assert_int_equal(ff_dedup_insert_checked(&d, 77, 9, now + N, now + N), 0);
    const uint64_t evictions = d.evictions;
    int i = 0;
    for (; d.evictions < evictions + 2 || i < 100; i++) {
        uint64_t h = test_rand64() | 1;
        if (h != 77) assert_int_equal(ff_dedup_insert_checked(&d, h, 1, now + N + i, now + N + i), 0);
    }
    assert_true(i < 6000);
    assert_true(ff_dedup_contains_checked(&d, 77, 9, now + N + i));
    assert_false(ff_dedup_contains_checked(&d, 77, 10, now + N + i));
    ff_dedup_free(&d);
}

/* Keys files: version 2's received times carry the checks; version 1's do not, and their
 * keys agree with any check (retries of events taken before an upgrade are still caught). */
static void test_insert_many_checked_and_unknown(void **state)
{
    (void)state;
    const int64_t window = 1000000000;
    int64_t now = 1700000000000000LL;
    struct ff_dedup d;
    assert_int_equal(ff_dedup_init(&d, window), 0);
    struct ff_dedup_received v2[] = {{11, ff_dedup_stamp(now - 5, 7)}, {12, ff_dedup_stamp(now - 5, 8)}};
    struct ff_dedup_received v1[] = {{21, now - 5 + 7}, {22, now - 5 + 4095}}; /* low bits: not checks */
    assert_int_equal(ff_dedup_insert_many(&d, v2, 2, now, 1), 0);
    assert_int_equal(ff_dedup_insert_many(&d, v1, 2, now, 0), 0);
    assert_true(ff_dedup_contains_checked(&d, 11, 7, now));
    assert_false(ff_dedup_contains_checked(&d, 11, 8, now));
    assert_true(ff_dedup_contains_checked(&d, 12, 8, now));
    assert_false(ff_dedup_contains_checked(&d, 12, 7, now));
    for (unsigned c = 1; c <= FF_DEDUP_CHECK_MASK; c += 511) {
        assert_true(ff_dedup_contains_checked(&d, 21, c, now));
        assert_true(ff_dedup_contains_checked(&d, 22, c, now));
    }
    ff_dedup_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expiry_boundaries),
        cmocka_unit_test(test_differential_random),
        cmocka_unit_test(test_differential_clustered),
        cmocka_unit_test(test_differential_short_window),
        cmocka_unit_test(test_chains_and_removal),
        cmocka_unit_test(test_growth_and_rehash),
        cmocka_unit_test(test_steered_keys_spread),
        cmocka_unit_test(test_budget_keeps_the_newest),
        cmocka_unit_test(test_budget_same_moment),
        cmocka_unit_test(test_eviction_with_chains),
        cmocka_unit_test(test_checks_tell_colliding_ids_apart),
        cmocka_unit_test(test_insert_many_checked_and_unknown),
        cmocka_unit_test(test_check_insert_is_contains_then_insert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
