/* testutil.h - small helpers shared by the cmocka unit tests (header-only, all static inline
 * so a test that does not use one does not trip -Wunused-function).
 *
 * Randomised tests draw from a xorshift generator seeded by FF_TEST_SEED when it is set,
 * else by a fixed default, so a run is reproducible; the seed is printed on failure paths
 * through test_seed_note(). */
#ifndef FF_TESTUTIL_H
#define FF_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/json.h"

/* ---- standard error, captured ---- */

/* What the process writes to its standard error meanwhile (a log) goes to a file. */
struct captured {
    int saved;
    FILE *tmp;
};

static inline void capture_begin(struct captured *c)
{
    c->tmp = tmpfile();
    assert_non_null(c->tmp);
    fflush(stderr);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->tmp), STDERR_FILENO) >= 0);
}

/* Restores standard error; what was written to it into out[cap], NUL-terminated. */
static inline void capture_end(struct captured *c, char *out, size_t cap)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    rewind(c->tmp);
    size_t n = fread(out, 1, cap - 1, c->tmp);
    out[n] = '\0';
    fclose(c->tmp);
}

/* ---- temporary directories ---- */

/* Creates $TMPDIR/ff_test_NAME.XXXXXX (or under /tmp) into dir[cap]; 0 or -1. */
static inline int test_mkdtemp(char *dir, size_t cap, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%s/ff_test_%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    return mkdtemp(dir) ? 0 : -1;
}

static inline int test_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Entries of a directory, "." and ".." and hidden ones aside. */
static inline size_t test_count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

/* Removes a directory tree. */
static inline void test_rmtree(const char *dir) { nftw(dir, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* ---- deterministic PRNG ---- */

static uint64_t test_rng_state = 0x2545f4914f6cdd1dULL;

static inline void test_rng_seed(uint64_t s) { test_rng_state = s ? s : 0x9e3779b97f4a7c15ULL; }

/* Seeds from FF_TEST_SEED (decimal or 0x...) or `def`; prints the seed used. */
static inline uint64_t test_rng_init(uint64_t def)
{
    const char *e = getenv("FF_TEST_SEED");
    uint64_t s = e && *e ? strtoull(e, NULL, 0) : def;
    test_rng_seed(s);
    return s;
}

static inline uint64_t test_rand64(void)
{
    /* xorshift64* */
    uint64_t x = test_rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    test_rng_state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* Uniform in [0, n) (n > 0). */
static inline uint64_t test_randn(uint64_t n) { return test_rand64() % n; }

/* Uniform in [lo, hi] for signed 64-bit bounds. */
static inline int64_t test_rand_range(int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    if (span == 0) return (int64_t)test_rand64();
    return (int64_t)((uint64_t)lo + test_randn(span));
}

/* ---- growable arrays ---- */

/* Room for element n of a growable array v of *cap elements of `elem` bytes: when it is
 * full, doubles *cap (from `first`) and reallocates. Returns the array, perhaps moved. */
static inline void *test_grow(void *v, size_t n, size_t *cap, size_t elem, size_t first)
{
    if (n < *cap) return v;
    *cap = *cap ? *cap * 2 : first;
    v = realloc(v, *cap * elem);
    assert_non_null(v);
    return v;
}

/* ---- time ---- */

/* µs rounded down to a whole millisecond (towards minus infinity), as the ISO writer does. */
static inline int64_t test_floor_ms(int64_t us)
{
    int64_t q = us / 1000;
    if (us % 1000 < 0) q--;
    return q * 1000;
}

/* ---- padded copies for the JSON parser ---- */

/* A heap copy of s[0..n) followed by FF_JSON_PADDING zero bytes. free() it. */
static inline char *test_padded(const char *s, size_t n)
{
    char *p = malloc(n + FF_JSON_PADDING + 1);
    assert_non_null(p);
    if (n) memcpy(p, s, n);
    memset(p + n, 0, FF_JSON_PADDING + 1);
    return p;
}

static inline char *test_padded_str(const char *s) { return test_padded(s, strlen(s)); }

/* ---- JSON document helpers ---- */

/* True when node i is a string equal to `want` (NUL-terminated). */
static inline int test_json_str_is(const struct ff_json_doc *doc, uint32_t i, const char *want)
{
    const char *s;
    uint32_t len;
    if (!ff_json_str(doc, i, &s, &len)) return 0;
    return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* Numbers compare by value across INT/UINT/DOUBLE: JSON has one number type, and a writer
 * may print 1.0 as 1. */
static inline int test_json_is_number(uint32_t t)
{
    return t == FF_JSON_INT || t == FF_JSON_UINT || t == FF_JSON_DOUBLE;
}

static inline int test_json_num_eq(const struct ff_json_node *a, const struct ff_json_node *b)
{
    if (a->type == b->type) {
        switch (a->type) {
        case FF_JSON_INT: return a->v.i == b->v.i;
        case FF_JSON_UINT: return a->v.u == b->v.u;
        default: return a->v.d == b->v.d;
        }
    }
    /* Mixed: compare as long double, exact for every int64/uint64 and double. */
    long double x = a->type == FF_JSON_INT ? (long double)a->v.i
                    : a->type == FF_JSON_UINT ? (long double)a->v.u : (long double)a->v.d;
    long double y = b->type == FF_JSON_INT ? (long double)b->v.i
                    : b->type == FF_JSON_UINT ? (long double)b->v.u : (long double)b->v.d;
    return x == y;
}

/* Recursive structural equality of subtree ai of da and subtree bi of db (member order
 * matters; keys and strings compared by bytes). Also checks the end/len invariants. */
static inline int test_json_equal(const struct ff_json_doc *da, uint32_t ai, const struct ff_json_doc *db,
                                  uint32_t bi)
{
    if (ai >= da->count || bi >= db->count) return 0;
    const struct ff_json_node *a = &da->nodes[ai], *b = &db->nodes[bi];
    if (test_json_is_number(a->type) && test_json_is_number(b->type)) return test_json_num_eq(a, b);
    if (a->type != b->type) return 0;
    switch (a->type) {
    case FF_JSON_NULL:
    case FF_JSON_TRUE:
    case FF_JSON_FALSE: return a->end == ai + 1 && b->end == bi + 1;
    case FF_JSON_STRING: return a->len == b->len && memcmp(a->v.s, b->v.s, a->len) == 0;
    case FF_JSON_ARRAY:
    case FF_JSON_OBJECT: {
        if (a->len != b->len) return 0;
        uint32_t ca = ai + 1, cb = bi + 1, n = 0;
        while (ca < a->end && cb < b->end) {
            if (a->type == FF_JSON_OBJECT) {
                const struct ff_json_node *ka = &da->nodes[ca], *kb = &db->nodes[cb];
                if (!ka->key || !kb->key || ka->key_len != kb->key_len ||
                    memcmp(ka->key, kb->key, ka->key_len) != 0)
                    return 0;
            }
            if (!test_json_equal(da, ca, db, cb)) return 0;
            ca = da->nodes[ca].end;
            cb = db->nodes[cb].end;
            n++;
        }
        return ca == a->end && cb == b->end && n == a->len;
    }
    }
    return 0;
}

/* Parses text into a fresh parser and checks success; the caller frees parser and copy. */
struct test_parsed {
    struct ff_json_parser *p;
    char *copy;
    struct ff_json_doc doc;
};

static inline int test_parse(struct test_parsed *tp, const char *s, size_t n)
{
    tp->p = ff_json_parser_new();
    assert_non_null(tp->p);
    tp->copy = test_padded(s, n);
    const char *err = NULL;
    return ff_json_parse(tp->p, tp->copy, n, &tp->doc, &err);
}

static inline void test_parsed_free(struct test_parsed *tp)
{
    ff_json_parser_free(tp->p);
    free(tp->copy);
    tp->p = NULL;
    tp->copy = NULL;
}

/* Asserts that the JSON text got[0..n) parses and equals `want` structurally (test_json_equal). */
static inline void test_assert_json_text(const char *got, size_t n, const char *want)
{
    struct test_parsed a, b;
    int rc = test_parse(&a, got, n);
    if (rc) print_error("not JSON: %.*s\n", (int)n, got);
    assert_int_equal(rc, 0);
    assert_int_equal(test_parse(&b, want, strlen(want)), 0);
    if (!test_json_equal(&a.doc, 0, &b.doc, 0)) print_error("got %.*s\nwant %s\n", (int)n, got, want);
    assert_true(test_json_equal(&a.doc, 0, &b.doc, 0));
    test_parsed_free(&a);
    test_parsed_free(&b);
}

#endif
