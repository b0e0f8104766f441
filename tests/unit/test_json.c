/* test_json.c - the JSON parser's flat node array and the JSON writers (core/json.h).
 *
 * The randomised round trip builds a model value, writes it as JSON text with this file's
 * own serialiser (random whitespace, random \u escapes), parses it, compares the nodes to
 * the model, writes the nodes back with ff_json_write_node, parses again and compares
 * again. */
#include <float.h>
#include <math.h>

#include "testutil.h"
#include "../fuzz/json_dump.h"

#include "core/buf.h"
#include "core/errors.h"
#include "core/jsonscan.h"

/* ---- a tiny growable string for the test's own serialiser ---- */

struct sb {
    char *p;
    size_t len, cap;
};

static void sb_put(struct sb *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_puts(struct sb *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof tmp);
    sb_put(b, tmp, (size_t)n);
}

/* ---- the model ---- */

struct mval {
    int type; /* enum ff_json_type */
    int64_t i;
    uint64_t u;
    double d;
    struct sb s;          /* string bytes (UTF-8) */
    struct mval *kids;
    struct sb *keys;      /* object member names */
    size_t n;
};

static void utf8_put(struct sb *b, uint32_t cp)
{
    unsigned char o[4];
    size_t n;
    if (cp < 0x80) o[0] = (unsigned char)cp, n = 1;
    else if (cp < 0x800) o[0] = (unsigned char)(0xc0 | cp >> 6), o[1] = (unsigned char)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000)
        o[0] = (unsigned char)(0xe0 | cp >> 12), o[1] = (unsigned char)(0x80 | ((cp >> 6) & 63)),
        o[2] = (unsigned char)(0x80 | (cp & 63)), n = 3;
    else
        o[0] = (unsigned char)(0xf0 | cp >> 18), o[1] = (unsigned char)(0x80 | ((cp >> 12) & 63)),
        o[2] = (unsigned char)(0x80 | ((cp >> 6) & 63)), o[3] = (unsigned char)(0x80 | (cp & 63)), n = 4;
    sb_put(b, o, n);
}

static uint32_t rand_cp(void)
{
    uint64_t r = test_randn(100);
    if (r < 50) return (uint32_t)test_rand_range(0x20, 0x7e);
    if (r < 60) return (uint32_t)test_rand_range(0, 0x1f);
    if (r < 65) return test_randn(2) ? '"' : '\\';
    if (r < 78) return (uint32_t)test_rand_range(0x80, 0x7ff);
    if (r < 90) {
        uint32_t cp;
        do cp = (uint32_t)test_rand_range(0x800, 0xffff);
        while (cp >= 0xd800 && cp <= 0xdfff);
        return cp;
    }
    return (uint32_t)test_rand_range(0x10000, 0x10ffff);
}

/* A random string: its codepoints go to `cps`, its UTF-8 bytes to `bytes`. */
/* Set for documents written as SDKs write them: no whitespace, no escapes. */
static int plain_text;

static void rand_string(struct sb *bytes, uint32_t *cps, size_t *ncp, size_t maxcp)
{
    size_t n = test_randn(maxcp + 1);
    for (size_t k = 0; k < n; k++) {
        cps[k] = rand_cp();
        if (plain_text && (cps[k] < 0x20 || cps[k] == '"' || cps[k] == '\\' || cps[k] == '/')) cps[k] = 'a';
        utf8_put(bytes, cps[k]);
    }
    *ncp = n;
}

/* Writes codepoints as a JSON string, escaping what must be and some that need not be. */
static void ser_string(struct sb *out, const uint32_t *cps, size_t n)
{
    static const char *const short_esc[] = {['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n", ['\r'] = "\\r",
                                            ['\t'] = "\\t"};
    sb_puts(out, "\"");
    for (size_t k = 0; k < n; k++) {
        uint32_t cp = cps[k];
        if (cp == '"') sb_puts(out, "\\\"");
        else if (cp == '\\') sb_puts(out, "\\\\");
        else if (cp == '/' && test_randn(2)) sb_puts(out, "\\/");
        else if (cp < 0x20 && cp < sizeof short_esc / sizeof *short_esc && short_esc[cp] && test_randn(2))
            sb_puts(out, short_esc[cp]);
        else if (cp < 0x20 || (!plain_text && test_randn(5) == 0)) {
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                sb_printf(out, test_randn(2) ? "\\u%04X\\u%04X" : "\\u%04x\\u%04x", 0xd800 + (v >> 10),
                          0xdc00 + (v & 0x3ff));
            } else {
                sb_printf(out, test_randn(2) ? "\\u%04X" : "\\u%04x", cp);
            }
        } else {
            utf8_put(out, cp);
        }
    }
    sb_puts(out, "\"");
}

static void ws(struct sb *out)
{
    static const char *const w[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    if (!plain_text) sb_puts(out, w[test_randn(sizeof w / sizeof *w)]);
}

static double rand_double(void)
{
    for (;;) {
        uint64_t bits;
        switch (test_randn(4)) {
        case 0: bits = test_rand64(); break;
        case 1: { double d = (double)test_rand_range(-1000000, 1000000) / 1000.0; return d; }
        case 2: { double d = (double)(int64_t)test_rand64(); return d; }
        default: bits = test_rand64() & 0x800fffffffffffffULL; bits |= (uint64_t)test_rand_range(900, 1150) << 52;
        }
        double d;
        memcpy(&d, &bits, sizeof d);
        if (isfinite(d)) return d;
    }
}

static void gen(struct mval *v, struct sb *text, int depth)
{
    memset(v, 0, sizeof *v);
    int pick = (int)test_randn(depth >= 5 ? 6 : 9);
    ws(text);
    switch (pick) {
    case 0: v->type = FF_JSON_NULL; sb_puts(text, "null"); break;
    case 1: v->type = FF_JSON_TRUE; sb_puts(text, "true"); break;
    case 2: v->type = FF_JSON_FALSE; sb_puts(text, "false"); break;
    case 3:
        if (test_randn(8) == 0) {
            v->type = FF_JSON_UINT;
            v->u = (uint64_t)INT64_MAX + 1 + test_randn((uint64_t)INT64_MAX);
            sb_printf(text, "%llu", (unsigned long long)v->u);
        } else {
            v->type = FF_JSON_INT;
            v->i = (int64_t)test_rand64() >> test_randn(64);
            if (test_randn(20) == 0) v->i = test_randn(2) ? INT64_MIN : INT64_MAX;
            sb_printf(text, "%lld", (long long)v->i);
        }
        break;
    case 4:
        v->type = FF_JSON_DOUBLE;
        v->d = rand_double();
        if (plain_text && test_randn(2)) { /* prices as SDKs send them: "12.25", "12.50", "3.0" */
            char num[64];
            snprintf(num, sizeof num, "%.*f", (int)test_randn(3) + 1, (double)(int64_t)test_randn(2000000) / 100 - 10000);
            v->d = strtod(num, NULL);
            sb_puts(text, num);
        } else {
            sb_printf(text, test_randn(2) ? "%.17g" : "%.17e", v->d);
        }
        break;
    case 5: {
        uint32_t cps[40];
        size_t n;
        v->type = FF_JSON_STRING;
        rand_string(&v->s, cps, &n, 40);
        ser_string(text, cps, n);
        break;
    }
    case 6:
    case 7: {
        v->type = FF_JSON_ARRAY;
        v->n = test_randn(6);
        v->kids = calloc(v->n ? v->n : 1, sizeof *v->kids);
        sb_puts(text, "[");
        for (size_t k = 0; k < v->n; k++) {
            if (k) sb_puts(text, ",");
            gen(&v->kids[k], text, depth + 1);
        }
        ws(text);
        sb_puts(text, "]");
        break;
    }
    default: {
        v->type = FF_JSON_OBJECT;
        v->n = test_randn(6);
        v->kids = calloc(v->n ? v->n : 1, sizeof *v->kids);
        v->keys = calloc(v->n ? v->n : 1, sizeof *v->keys);
        sb_puts(text, "{");
        for (size_t k = 0; k < v->n; k++) {
            if (k) sb_puts(text, ",");
            uint32_t cps[12];
            size_t n;
            ws(text);
            rand_string(&v->keys[k], cps, &n, 12);
            ser_string(text, cps, n);
            ws(text);
            sb_puts(text, ":");
            gen(&v->kids[k], text, depth + 1);
        }
        ws(text);
        sb_puts(text, "}");
    }
    }
    ws(text);
}

static void mval_free(struct mval *v)
{
    for (size_t k = 0; k < v->n; k++) {
        mval_free(&v->kids[k]);
        if (v->keys) free(v->keys[k].p);
    }
    free(v->kids);
    free(v->keys);
    free(v->s.p);
}

static int num_eq_model(const struct ff_json_node *n, const struct mval *v)
{
    struct ff_json_node m = {0};
    m.type = (uint32_t)v->type;
    if (v->type == FF_JSON_INT) m.v.i = v->i;
    else if (v->type == FF_JSON_UINT) m.v.u = v->u;
    else m.v.d = v->d;
    return test_json_num_eq(n, &m);
}

/* Does subtree i of doc equal the model? */
static int matches(const struct ff_json_doc *doc, uint32_t i, const struct mval *v)
{
    if (i >= doc->count) return 0;
    const struct ff_json_node *n = &doc->nodes[i];
    if (test_json_is_number((uint32_t)v->type)) return test_json_is_number(n->type) && num_eq_model(n, v);
    if (n->type != (uint32_t)v->type) return 0;
    switch (v->type) {
    case FF_JSON_STRING: return n->len == v->s.len && (v->s.len == 0 || memcmp(n->v.s, v->s.p, v->s.len) == 0);
    case FF_JSON_ARRAY:
    case FF_JSON_OBJECT: {
        if (n->len != v->n) return 0;
        uint32_t c = i + 1;
        for (size_t k = 0; k < v->n; k++) {
            if (c >= n->end) return 0;
            if (v->type == FF_JSON_OBJECT) {
                const struct ff_json_node *cn = &doc->nodes[c];
                if (cn->key_len != v->keys[k].len || (cn->key_len && memcmp(cn->key, v->keys[k].p, cn->key_len)))
                    return 0;
            }
            if (!matches(doc, c, &v->kids[k])) return 0;
            c = doc->nodes[c].end;
        }
        return c == n->end;
    }
    default: return 1;
    }
}

/* The structural invariants of the flat array (json.h): children start at i+1, siblings chain
 * through `end`, a container's children end at its `end`, keys exactly on object members. */
static void check_invariants(const struct ff_json_doc *doc, uint32_t i, int member)
{
    const struct ff_json_node *n = &doc->nodes[i];
    assert_true(n->end > i);
    assert_true(n->end <= doc->count);
    if (member) assert_non_null(n->key);
    else assert_null(n->key);
    if (n->type == FF_JSON_ARRAY || n->type == FF_JSON_OBJECT) {
        uint32_t c = i + 1, k = 0;
        while (c < n->end) {
            check_invariants(doc, c, n->type == FF_JSON_OBJECT);
            c = doc->nodes[c].end;
            k++;
        }
        assert_int_equal(c, n->end);
        assert_int_equal(k, n->len);
    } else {
        assert_int_equal(n->end, i + 1);
    }
}

/* ---- tests ---- */

static void test_layout_documented_example(void **state)
{
    (void)state;
    struct test_parsed tp;
    const char *text = "{\"a\":1,\"b\":[true,\"x\"]}";
    assert_int_equal(test_parse(&tp, text, strlen(text)), 0);
    const struct ff_json_doc *d = &tp.doc;
    assert_int_equal(d->count, 5);
    assert_int_equal(d->nodes[0].type, FF_JSON_OBJECT);
    assert_int_equal(d->nodes[0].len, 2);
    assert_int_equal(d->nodes[0].end, 5);
    assert_null(d->nodes[0].key);
    assert_int_equal(d->nodes[1].type, FF_JSON_INT);
    assert_int_equal(d->nodes[1].v.i, 1);
    assert_int_equal(d->nodes[1].end, 2);
    assert_int_equal(d->nodes[1].key_len, 1);
    assert_memory_equal(d->nodes[1].key, "a", 1);
    assert_int_equal(d->nodes[2].type, FF_JSON_ARRAY);
    assert_int_equal(d->nodes[2].len, 2);
    assert_int_equal(d->nodes[2].end, 5);
    assert_memory_equal(d->nodes[2].key, "b", 1);
    assert_int_equal(d->nodes[3].type, FF_JSON_TRUE);
    assert_int_equal(d->nodes[3].end, 4);
    assert_null(d->nodes[3].key);
    assert_int_equal(d->nodes[4].type, FF_JSON_STRING);
    assert_int_equal(d->nodes[4].end, 5);
    assert_true(test_json_str_is(d, 4, "x"));

    assert_int_equal(ff_json_get(d, 0, "a"), 1);
    assert_int_equal(ff_json_get(d, 0, "b"), 2);
    assert_int_equal(ff_json_get(d, 0, "c"), FF_JSON_NONE);
    assert_int_equal(ff_json_get(d, 0, ""), FF_JSON_NONE);
    assert_int_equal(ff_json_get(d, 0, "ab"), FF_JSON_NONE);
    assert_int_equal(ff_json_get(d, 2, "a"), FF_JSON_NONE);  /* not an object */
    assert_int_equal(ff_json_get(d, 99, "a"), FF_JSON_NONE); /* out of range */
    const char *s;
    uint32_t len;
    assert_false(ff_json_str(d, 1, &s, &len));
    assert_false(ff_json_str(d, 99, &s, &len));
    assert_true(ff_json_str(d, 4, &s, &len));
    assert_int_equal(len, 1);

    struct ff_buf b;
    ff_buf_init(&b, 1 << 20);
    assert_int_equal(ff_json_write_node(&b, d, 2), 0);
    assert_int_equal(b.len, strlen("[true,\"x\"]"));
    assert_memory_equal(b.data, "[true,\"x\"]", b.len);
    ff_buf_reset(&b);
    assert_int_equal(ff_json_write_node(&b, d, 0), 0);
    assert_int_equal(b.len, strlen(text));
    assert_memory_equal(b.data, text, b.len);
    ff_buf_free(&b);
    test_parsed_free(&tp);
}

static void test_navigation_nested(void **state)
{
    (void)state;
    const char *text = " { \"k\" : { \"deep\" : [ 1 , { \"x\" : null } , [ ] , { } ] } , \"k2\" : -7 , "
                       "\"big\" : 18446744073709551615 , \"f\" : 1.5e3 , \"ab\":1, \"a\":2 } ";
    struct test_parsed tp;
    assert_int_equal(test_parse(&tp, text, strlen(text)), 0);
    const struct ff_json_doc *d = &tp.doc;
    check_invariants(d, 0, 0);
    assert_int_equal(d->nodes[0].end, d->count);
    uint32_t k = ff_json_get(d, 0, "k");
    assert_int_not_equal(k, FF_JSON_NONE);
    uint32_t deep = ff_json_get(d, k, "deep");
    assert_int_equal(d->nodes[deep].type, FF_JSON_ARRAY);
    assert_int_equal(d->nodes[deep].len, 4);
    uint32_t c0 = deep + 1, c1 = d->nodes[c0].end, c2 = d->nodes[c1].end, c3 = d->nodes[c2].end;
    assert_int_equal(d->nodes[c0].type, FF_JSON_INT);
    assert_int_equal(d->nodes[c1].type, FF_JSON_OBJECT);
    assert_int_equal(d->nodes[ff_json_get(d, c1, "x")].type, FF_JSON_NULL);
    assert_int_equal(d->nodes[c2].type, FF_JSON_ARRAY);
    assert_int_equal(d->nodes[c2].len, 0);
    assert_int_equal(d->nodes[c3].type, FF_JSON_OBJECT);
    assert_int_equal(d->nodes[c3].len, 0);
    assert_int_equal(d->nodes[c3].end, d->nodes[deep].end);
    uint32_t k2 = ff_json_get(d, 0, "k2");
    assert_int_equal(k2, d->nodes[k].end); /* next sibling */
    assert_int_equal(d->nodes[k2].type, FF_JSON_INT);
    assert_int_equal(d->nodes[k2].v.i, -7);
    uint32_t big = ff_json_get(d, 0, "big");
    assert_int_equal(d->nodes[big].type, FF_JSON_UINT);
    assert_true(d->nodes[big].v.u == UINT64_MAX);
    uint32_t f = ff_json_get(d, 0, "f");
    assert_int_equal(d->nodes[f].type, FF_JSON_DOUBLE);
    assert_true(d->nodes[f].v.d == 1500.0);
    /* "a" must not match the member "ab" that precedes it. */
    uint32_t a = ff_json_get(d, 0, "a");
    assert_int_equal(d->nodes[a].v.i, 2);
    assert_int_equal(d->nodes[ff_json_get(d, 0, "ab")].v.i, 1);
    test_parsed_free(&tp);
}

static void test_escapes_unescaped(void **state)
{
    (void)state;
    const char *text = "{\"k\\u0065y\\n\":\"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t\\u00e9\\u20AC\\ud83d\\ude00\\u0000z\"}";
    const char want[] = "q\"b\\s/b\bf\fn\nr\rt\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\0z";
    struct test_parsed tp;
    assert_int_equal(test_parse(&tp, text, strlen(text)), 0);
    const struct ff_json_doc *d = &tp.doc;
    assert_int_equal(d->count, 2);
    assert_int_equal(d->nodes[1].key_len, 4);
    assert_memory_equal(d->nodes[1].key, "key\n", 4);
    const char *s;
    uint32_t len;
    assert_true(ff_json_str(d, 1, &s, &len));
    assert_int_equal(len, sizeof want - 1); /* the NUL is part of the string */
    assert_memory_equal(s, want, len);
    assert_int_equal(ff_json_get(d, 0, "key\n"), 1);
    test_parsed_free(&tp);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", " ", "{", "}", "[1,]", "[1 2]", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{\"a\":1,}", "tru", "nul",
        "\"abc", "\"\\x\"", "\"\\u12\"", "01", "1.", ".5", "-", "+1", "1e", "NaN", "Infinity", "[1] x",
        "{} {}", "'a'", "\"tab\there\"", "\"\xff\"", "\"\xc3\"", "[\"\xed\xa0\x80\"]", "{\"a\":1}}",
    };
    struct ff_json_parser *p = ff_json_parser_new();
    assert_non_null(p);
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char *copy = test_padded_str(bad[k]);
        struct ff_json_doc doc;
        const char *err = NULL;
        int rc = ff_json_parse(p, copy, strlen(bad[k]), &doc, &err);
        if (rc != FF_EINVAL) print_error("accepted invalid JSON #%zu: %s\n", k, bad[k]);
        assert_int_equal(rc, FF_EINVAL);
        assert_non_null(err);
        assert_true(strlen(err) > 0);
        /* err may be NULL. */
        assert_int_equal(ff_json_parse(p, copy, strlen(bad[k]), &doc, NULL), FF_EINVAL);
        free(copy);
    }
    /* The parser stays usable after errors. */
    char *ok = test_padded_str("[1,2,3]");
    struct ff_json_doc doc;
    assert_int_equal(ff_json_parse(p, ok, 7, &doc, NULL), 0);
    assert_int_equal(doc.count, 4);
    /* Only `len` bytes count: "[1,2,3]" cut to "[1,2" is invalid. */
    assert_int_equal(ff_json_parse(p, ok, 4, &doc, NULL), FF_EINVAL);
    free(ok);
    ff_json_parser_free(p);
}

static void test_round_trip_random(void **state)
{
    (void)state;
    test_rng_init(0x15011);
    struct ff_json_parser *p1 = ff_json_parser_new(), *p2 = ff_json_parser_new();
    assert_non_null(p1);
    assert_non_null(p2);
    struct ff_buf out;
    ff_buf_init(&out, 1 << 24);
    for (int iter = 0; iter < 3000; iter++) {
        struct mval v;
        struct sb text = {0};
        gen(&v, &text, 0);
        struct ff_json_doc d1, d2;
        const char *err = NULL;
        char *c1 = test_padded(text.p, text.len);
        int rc = ff_json_parse(p1, c1, text.len, &d1, &err);
        if (rc) print_error("iteration %d: parse failed (%s) on: %s\n", iter, err, text.p);
        assert_int_equal(rc, 0);
        check_invariants(&d1, 0, 0);
        assert_int_equal(d1.nodes[0].end, d1.count);
        if (!matches(&d1, 0, &v)) print_error("iteration %d: parse differs from the model: %s\n", iter, text.p);
        assert_true(matches(&d1, 0, &v));

        ff_buf_reset(&out);
        assert_int_equal(ff_json_write_node(&out, &d1, 0), 0);
        /* Compact: no whitespace outside strings. */
        int in_str = 0;
        for (size_t k = 0; k < out.len; k++) {
            char ch = out.data[k];
            if (in_str) {
                if (ch == '\\') k++;
                else if (ch == '"') in_str = 0;
                assert_true((unsigned char)ch >= 0x20);
            } else {
                if (ch == '"') in_str = 1;
                assert_true(ch != ' ' && ch != '\n' && ch != '\t' && ch != '\r');
            }
        }
        /* ff_buf keeps its padding, so it can be parsed in place. */
        assert_true(out.cap >= out.len + FF_JSON_PADDING);
        rc = ff_json_parse(p2, out.data, out.len, &d2, &err);
        if (rc) print_error("iteration %d: written JSON does not parse (%s): %.*s\n", iter, err, (int)out.len, out.data);
        assert_int_equal(rc, 0);
        check_invariants(&d2, 0, 0);
        if (!test_json_equal(&d1, 0, &d2, 0))
            print_error("iteration %d: %s\nrewritten as %.*s\n", iter, text.p, (int)out.len, out.data);
        assert_true(test_json_equal(&d1, 0, &d2, 0));
        assert_true(matches(&d2, 0, &v));
        free(c1);
        free(text.p);
        mval_free(&v);
    }
    ff_buf_free(&out);
    ff_json_parser_free(p1);
    ff_json_parser_free(p2);
}

/* ff_json_parse_shallow: the nodes above raw_depth are the full parse's (same count of
 * members, same keys and scalars), the ones at raw_depth carry exactly the text
 * ff_json_write_node writes for that subtree from a full parse, and writing the whole
 * document gives the same bytes either way. */
/* Raw containers whose text was copied from the input (found there verbatim), and others. */
static size_t raw_copied, raw_written;

static void count_raw(const struct ff_json_doc *d, const char *input, size_t len)
{
    for (uint32_t i = 0; i < d->count; i++)
        if (d->nodes[i].flags & FF_JSON_F_RAW && d->nodes[i].len > 2) {
            if (memmem(input, len, d->nodes[i].v.s, d->nodes[i].len)) raw_copied++;
            else raw_written++;
        }
}

static int shallow_matches(const struct ff_json_doc *full, uint32_t fi, const struct ff_json_doc *sh, uint32_t si,
                           uint32_t depth, uint32_t raw_depth, struct ff_buf *tmp)
{
    const struct ff_json_node *f = &full->nodes[fi], *n = &sh->nodes[si];
    if (f->type != n->type || f->key_len != n->key_len || (f->key_len && memcmp(f->key, n->key, f->key_len)))
        return 0;
    int container = f->type == FF_JSON_OBJECT || f->type == FF_JSON_ARRAY;
    if (container && depth >= raw_depth) {
        /* byte for byte what ff_json_write_node writes, whether the input's own text was
         * copied (compact, no escapes, numbers as it writes them) or it was written again */
        ff_buf_reset(tmp);
        if (ff_json_write_node(tmp, full, fi)) return 0;
        return (n->flags & FF_JSON_F_RAW) && n->end == si + 1 && n->len == tmp->len &&
               memcmp(n->v.s, tmp->data, tmp->len) == 0;
    }
    if (n->flags & FF_JSON_F_RAW) return 0;
    if (!container) {
        if (f->type == FF_JSON_STRING) return f->len == n->len && memcmp(f->v.s, n->v.s, f->len) == 0;
        if (f->type == FF_JSON_DOUBLE) return f->v.d == n->v.d || (f->v.d != f->v.d && n->v.d != n->v.d);
        return f->v.u == n->v.u || f->type <= FF_JSON_TRUE;
    }
    if (f->len != n->len) return 0;
    uint32_t fc = fi + 1, sc = si + 1;
    for (uint32_t k = 0; k < f->len; k++, fc = full->nodes[fc].end, sc = sh->nodes[sc].end)
        if (!shallow_matches(full, fc, sh, sc, depth + 1, raw_depth, tmp)) return 0;
    return fc == f->end && sc == n->end;
}

static void test_shallow_parse(void **state)
{
    (void)state;
    test_rng_init(0x5a11);
    struct ff_json_parser *p1 = ff_json_parser_new(), *p2 = ff_json_parser_new();
    assert_non_null(p1);
    assert_non_null(p2);
    struct ff_buf tmp;
    ff_buf_init(&tmp, 1 << 24);
    for (int iter = 0; iter < 2000; iter++) {
        struct mval v;
        struct sb text = {0};
        plain_text = iter % 2;
        gen(&v, &text, 0);
        char *c = test_padded(text.p, text.len);
        struct ff_json_doc full, sh;
        const char *err = NULL;
        assert_int_equal(ff_json_parse(p1, c, text.len, &full, &err), 0);
        for (uint32_t raw_depth = 0; raw_depth <= 4; raw_depth++) {
            assert_int_equal(ff_json_parse_shallow(p2, c, text.len, raw_depth, &sh, &err), 0);
            if (!shallow_matches(&full, 0, &sh, 0, 0, raw_depth, &tmp))
                print_error("iteration %d, raw_depth %u: shallow parse differs on %s\n", iter, raw_depth, text.p);
            assert_true(shallow_matches(&full, 0, &sh, 0, 0, raw_depth, &tmp));
            count_raw(&sh, c, text.len);
        }
        free(c);
        free(text.p);
        mval_free(&v);
    }
    /* both ways were taken: compact input copied, spaced or escaped input written again */
    assert_true(raw_copied > 100 && raw_written > 100);
    plain_text = 0;
    ff_buf_free(&tmp);
    ff_json_parser_free(p1);
    ff_json_parser_free(p2);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    struct sb t = {0};
    int depth = 500;
    for (int k = 0; k < depth; k++) sb_puts(&t, k % 2 ? "{\"k\":" : "[");
    sb_puts(&t, "0");
    for (int k = depth - 1; k >= 0; k--) sb_puts(&t, k % 2 ? "}" : "]");
    struct test_parsed tp;
    assert_int_equal(test_parse(&tp, t.p, t.len), 0);
    assert_int_equal(tp.doc.count, (uint32_t)depth + 1);
    check_invariants(&tp.doc, 0, 0);
    struct ff_buf b;
    ff_buf_init(&b, 1 << 20);
    assert_int_equal(ff_json_write_node(&b, &tp.doc, 0), 0);
    assert_int_equal(b.len, t.len);
    assert_memory_equal(b.data, t.p, t.len);
    ff_buf_free(&b);
    test_parsed_free(&tp);
    free(t.p);
}

/* An independent decoder for the \-escapes JSON defines; bytes >= 0x80 pass through. */
static int unescape(const char *s, size_t n, struct sb *out)
{
    if (n < 2 || s[0] != '"' || s[n - 1] != '"') return -1;
    for (size_t i = 1; i < n - 1; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20) return -1; /* raw control character */
        if (c == '"') return -1;  /* unescaped quote inside */
        if (c != '\\') {
            sb_put(out, &c, 1);
            continue;
        }
        if (++i >= n - 1) return -1;
        char e = s[i], r;
        switch (e) {
        case '"': r = '"'; break;
        case '\\': r = '\\'; break;
        case '/': r = '/'; break;
        case 'b': r = '\b'; break;
        case 'f': r = '\f'; break;
        case 'n': r = '\n'; break;
        case 'r': r = '\r'; break;
        case 't': r = '\t'; break;
        case 'u': {
            if (i + 4 >= n - 1) return -1;
            char hex[5] = {s[i + 1], s[i + 2], s[i + 3], s[i + 4], 0};
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end) return -1;
            i += 4;
            if (v > 0x7f) {
                /* Only U+FFFD, for a byte that is not UTF-8: put it back as UTF-8. */
                if (v != 0xfffd) return -1;
                sb_put(out, "\xef\xbf\xbd", 3);
                continue;
            }
            r = (char)v;
            break;
        }
        default: return -1;
        }
        sb_put(out, &r, 1);
    }
    return 0;
}

/* The model of what the writer keeps of arbitrary bytes: each valid UTF-8 sequence as is,
 * each other byte as U+FFFD. Validity by decoding the code point and checking its range
 * (RFC 3629 §3-4), not by the byte tables the writer uses. */
static void model_sanitize(const unsigned char *s, size_t n, struct sb *out)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : c >> 5 == 6 ? 2 : c >> 4 == 14 ? 3 : c >> 3 == 30 ? 4 : 0;
        unsigned cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) ok = 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const unsigned min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
        if (ok && (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = 0;
        if (ok) {
            sb_put(out, s + i, len);
            i += len;
        } else {
            sb_put(out, "\xef\xbf\xbd", 3);
            i++;
        }
    }
}

static void check_write_str(const char *s, size_t n, struct ff_json_parser *p, int valid_utf8)
{
    struct sb want = {0};
    sb_put(&want, "", 0);
    model_sanitize((const unsigned char *)s, n, &want);
    if (valid_utf8) assert_true(want.len == n && memcmp(want.p, s, n) == 0);
    s = want.p, n = want.len;
    struct ff_buf b;
    ff_buf_init(&b, 1 << 20);
    assert_int_equal(ff_buf_append(&b, "pre", 3), 0);
    assert_int_equal(ff_json_write_str(&b, s, n), 0);
    assert_memory_equal(b.data, "pre", 3);
    struct sb u = {0};
    sb_put(&u, "", 0);
    int urc = unescape(b.data + 3, b.len - 3, &u);
    if (urc) print_error("bad escaping of %zu bytes: %.*s\n", n, (int)b.len, b.data);
    assert_int_equal(urc, 0);
    assert_int_equal(u.len, n);
    assert_memory_equal(u.p, s, n);
    /* Whatever the input, the output is JSON that reads back as the sanitised text. */
    {
        struct ff_json_doc doc;
        const char *err = NULL;
        int rc = ff_json_parse(p, b.data + 3, b.len - 3, &doc, &err);
        assert_int_equal(rc, 0);
        assert_int_equal(doc.nodes[0].type, FF_JSON_STRING);
        assert_int_equal(doc.nodes[0].len, n);
        assert_memory_equal(doc.nodes[0].v.s, s, n);
    }
    free(u.p);
    free(want.p);
    ff_buf_free(&b);
}

static void test_write_str(void **state)
{
    (void)state;
    struct ff_json_parser *p = ff_json_parser_new();
    /* Every single byte. */
    for (int c = 0; c < 256; c++) {
        char s[1] = {(char)c};
        check_write_str(s, 1, p, c < 0x80);
    }
    check_write_str("", 0, p, 1);
    const char mix[] = "a\"b\\c\nd\re\tf\bg\fh\x01i\x1fj\x7fk/l\0m";
    check_write_str(mix, sizeof mix - 1, p, 1);
    /* Printable ASCII other than '"' and '\' needs no escape: written as is. */
    struct ff_buf b;
    ff_buf_init(&b, 1 << 20);
    const char *plain = "Hello, World! 0123 {}[]:,/~'";
    assert_int_equal(ff_json_write_str(&b, plain, strlen(plain)), 0);
    assert_int_equal(b.len, strlen(plain) + 2);
    assert_memory_equal(b.data + 1, plain, strlen(plain));
    /* Control characters are escaped (no raw byte < 0x20 in the output). */
    ff_buf_reset(&b);
    char ctl[32];
    for (int c = 0; c < 32; c++) ctl[c] = (char)c;
    assert_int_equal(ff_json_write_str(&b, ctl, 32), 0);
    for (size_t k = 0; k < b.len; k++) assert_true((unsigned char)b.data[k] >= 0x20);
    /* UTF-8 passes through unchanged. */
    ff_buf_reset(&b);
    const char *utf = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    assert_int_equal(ff_json_write_str(&b, utf, strlen(utf)), 0);
    assert_int_equal(b.len, strlen(utf) + 2);
    ff_buf_free(&b);
    /* Random byte strings (not necessarily UTF-8) and random UTF-8 strings. */
    test_rng_init(0x5757);
    for (int k = 0; k < 2000; k++) {
        char bytes[64];
        size_t n = test_randn(sizeof bytes + 1);
        for (size_t i = 0; i < n; i++) bytes[i] = (char)test_rand64();
        check_write_str(bytes, n, p, 0);
        struct sb s8 = {0};
        uint32_t cps[30];
        size_t ncp;
        sb_put(&s8, "", 0);
        rand_string(&s8, cps, &ncp, 30);
        check_write_str(s8.p, s8.len, p, 1);
        free(s8.p);
    }
    ff_json_parser_free(p);
}

/* The naive model of "shortest text that reads back the same": the first %.{p}g, p = 1..17,
 * that strtod maps back to d. */
static void model_shortest(double d, char *out, size_t cap)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, d);
        if (strtod(out, NULL) == d) break;
    }
    /* json.h: an integral value keeps ".0" so it stays a double when read again. */
    if (!strpbrk(out, ".e") && strlen(out) + 2 < cap) strcat(out, ".0");
}

static void check_double(double d, struct ff_json_parser *p, int check_shortest)
{
    struct ff_buf b;
    ff_buf_init(&b, 1024);
    int wrc = ff_json_write_double(&b, d);
    char text[40] = "";
    size_t tlen = b.len;
    if (!wrc && tlen < sizeof text) memcpy(text, b.data, tlen), text[tlen] = 0;
    ff_buf_free(&b); /* nothing left to leak when an assertion below fails */
    assert_int_equal(wrc, 0);
    assert_true(tlen > 0 && tlen < 32);
    /* A JSON number that the parser reads as the same value. */
    char *json = test_padded(text, tlen);
    struct ff_json_doc doc;
    const char *err = NULL;
    int rc = ff_json_parse(p, json, tlen, &doc, &err);
    free(json);
    if (rc) print_error("write_double(%.17g) = %s is not JSON: %s\n", d, text, err);
    assert_int_equal(rc, 0);
    assert_int_equal(doc.count, 1);
    assert_true(test_json_is_number(doc.nodes[0].type));
    double parsed = doc.nodes[0].type == FF_JSON_DOUBLE ? doc.nodes[0].v.d
                    : doc.nodes[0].type == FF_JSON_INT   ? (double)doc.nodes[0].v.i
                                                         : (double)doc.nodes[0].v.u;
    assert_true(parsed == d);
    /* And strtod reads it back exactly, sign of zero included. */
    char *end;
    double back = strtod(text, &end);
    if (back != d || *end) print_error("write_double(%.17g) = %s\n", d, text);
    assert_true(back == d);
    assert_true(*end == 0);
    assert_int_equal(signbit(back) != 0, signbit(d) != 0);
    if (check_shortest) {
        char want[40];
        model_shortest(d, want, sizeof want);
        if (strlen(text) > strlen(want)) print_error("write_double(%.17g) = %s, shorter: %s\n", d, text, want);
        assert_true(strlen(text) <= strlen(want));
    }
}

static void test_write_double(void **state)
{
    (void)state;
    struct ff_json_parser *p = ff_json_parser_new();
    static const double fixed[] = {0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 1e21, 1e22, 1e-7,
                                   123456789012345678.0, 9007199254740993.0, DBL_MIN, DBL_MAX, -DBL_MAX,
                                   2.2250738585072009e-308, 1.7976931348623157e308, 100, 1e15, 1e16, 1e17, 0.5,
                                   3.14159, 2.718281828459045, 1.5e300, 4.35, 0.07, 1e-6, 9.999999e-7, 999999999.5,
                                   1e9, 0.1 + 0.2, 5e-324, -5e-324, 1e-310, 19.99, -0.000123, 4503599627370497.5};
    for (size_t k = 0; k < sizeof fixed / sizeof *fixed; k++) check_double(fixed[k], p, 0);
    struct ff_buf b;
    ff_buf_init(&b, 1024);
    /* Not finite: JSON has no such number; written as null. */
    static const double nonfinite[] = {NAN, -NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < 4; k++) {
        ff_buf_reset(&b);
        assert_int_equal(ff_json_write_double(&b, nonfinite[k]), 0);
        assert_int_equal(b.len, 4);
        assert_memory_equal(b.data, "null", 4);
    }
    /* Appends: what was in the buffer stays. */
    ff_buf_reset(&b);
    assert_int_equal(ff_buf_append(&b, "[", 1), 0);
    assert_int_equal(ff_json_write_double(&b, 0.25), 0);
    assert_true(b.len > 1 && b.data[0] == '[');
    assert_true(strtod(b.data + 1, NULL) == 0.25);
    ff_buf_free(&b);
    /* Random doubles of every kind: exact round trip through strtod and the JSON parser. */
    test_rng_init(0xdb1e);
    for (int k = 0; k < 100000; k++) check_double(rand_double(), p, 0);
    /* Money-like values, the writer's fast path. */
    for (int k = 0; k < 100000; k++) {
        double d = (double)test_rand_range(-100000000, 100000000) / (double)(test_randn(2) ? 100 : 1000);
        check_double(d, p, 0);
    }
    ff_json_parser_free(p);
}


/* Parses text[0..len) at raw depth d by the fast path and by the DOM path, asserts both give
 * the same nodes (json_dump.h), and returns whether the fast path took it. */
static int paths_agree(struct ff_json_parser *p, const char *text, size_t len, uint32_t d)
{
    struct ff_buf da, db;
    ff_buf_init(&da, 1 << 26);
    ff_buf_init(&db, 1 << 26);
    char *c = test_padded(text, len);
    struct ff_json_doc doc;
    assert_int_equal(ff_json_parse_shallow(p, c, len, d, &doc, NULL), 0);
    const struct ff_json_node *fast_nodes = doc.nodes;
    json_dump(&da, &doc);
    ff_json_fast_path = 0;
    int rc = ff_json_parse_shallow(p, c, len, d, &doc, NULL);
    ff_json_fast_path = 1;
    assert_int_equal(rc, 0);
    json_dump(&db, &doc);
    if (da.len != db.len || memcmp(da.data, db.data, da.len))
        print_error("raw depth %u: the paths differ on %.*s\n", d, (int)len, text);
    assert_int_equal(da.len, db.len);
    assert_memory_equal(da.data, db.data, da.len);
    int taken = fast_nodes != doc.nodes; /* the paths keep their nodes apart */
    free(c);
    ff_buf_free(&da);
    ff_buf_free(&db);
    return taken;
}

/* json.cpp's fast path (stage-1 indexes walked once) against simdjson's DOM: on random
 * documents, compact and not, at every raw depth, both give the same nodes byte for byte
 * (json_dump.h); the fast path takes most compact documents, and some with escapes. */
static void test_fast_path_agrees(void **state)
{
    (void)state;
    test_rng_init(0xfa57);
    struct ff_json_parser *p = ff_json_parser_new();
    assert_non_null(p);
    size_t taken_plain = 0, tried_plain = 0, taken_other = 0;
    static const uint32_t depths[] = {0, 1, 2, 3, 4, UINT32_MAX};
    for (int iter = 0; iter < 3000; iter++) {
        struct mval v;
        struct sb text = {0};
        plain_text = iter % 3 != 0;
        gen(&v, &text, 0);
        for (size_t d = 0; d < sizeof depths / sizeof *depths; d++) {
            int taken = paths_agree(p, text.p, text.len, depths[d]);
            if (plain_text) tried_plain++, taken_plain += taken;
            else taken_other += taken && memchr(text.p, '\\', text.len);
        }
        free(text.p);
        mval_free(&v);
    }
    /* compact documents decline for numbers it does not read exactly (exponents, 19 digits);
     * documents with escapes (and no surrogate escapes) are taken too */
    assert_true(taken_plain * 2 > tried_plain);
    assert_true(taken_other > 100);
    plain_text = 0;
    ff_json_parser_free(p);
}

/* A batch as SDKs send it takes the fast path, and reads as it should. */
static void test_fast_path_batch(void **state)
{
    (void)state;
    const char *text = "{\"batch\":[{\"type\":\"track\",\"event\":\"Order Completed\",\"properties\":{\"revenue\":89.99,"
                       "\"tags\":[\"a\",true,null,-3]},\"context\":{}},{\"type\":\"page\",\"n\":-12,\"x\":0.125,"
                       "\"ok\":false}],\"sentAt\":\"2026-11-29T10:00:01.000Z\"}";
    struct ff_json_parser *p = ff_json_parser_new();
    char *c = test_padded_str(text);
    struct ff_json_doc doc;
    assert_int_equal(ff_json_parse_shallow(p, c, strlen(text), 3, &doc, NULL), 0);
    uint32_t batch = ff_json_get(&doc, 0, "batch");
    assert_int_not_equal(batch, FF_JSON_NONE);
    assert_int_equal(doc.nodes[batch].len, 2);
    uint32_t ev = batch + 1;
    const char *s;
    uint32_t l;
    assert_true(ff_json_str(&doc, ff_json_get(&doc, ev, "event"), &s, &l));
    assert_int_equal(l, 15);
    assert_memory_equal(s, "Order Completed", 15);
    assert_int_equal(s[15], '\0');
    uint32_t props = ff_json_get(&doc, ev, "properties");
    assert_true(doc.nodes[props].flags & FF_JSON_F_RAW);
    const char *want = "{\"revenue\":89.99,\"tags\":[\"a\",true,null,-3]}";
    assert_int_equal(doc.nodes[props].len, strlen(want));
    assert_memory_equal(doc.nodes[props].v.s, want, strlen(want));
    uint32_t ev2 = doc.nodes[ev].end;
    assert_int_equal(doc.nodes[ff_json_get(&doc, ev2, "n")].v.i, -12);
    assert_true(doc.nodes[ff_json_get(&doc, ev2, "x")].v.d == 0.125);
    assert_int_equal(doc.nodes[ff_json_get(&doc, ev2, "ok")].type, FF_JSON_FALSE);
    assert_true(paths_agree(p, text, strlen(text), 3)); /* it was the fast path */
    free(c);
    ff_json_parser_free(p);
}

/* Invalid documents are rejected with the fast path on, at every raw depth (the fast path
 * declines them and simdjson's DOM says why); blanks between tokens above the raw depth do
 * not keep it from the fast path. */
static void test_fast_path_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"a\":[1}}", "{\"a\":{\"b\" 1}}", "{\"a\":[1 2]}", "{\"a\":{\"b\":1,}}", "{\"a\":[,1]}", "{\"a\":{\"b\":01}}",
        "{\"a\":{\"b\":1.}}", "{\"a\":{\"b\":tru}}", "{\"a\":{\"b\":\"x\"y}}", "{\"a\":{1:2}}", "{\"a\" \"b\"}",
        "{\"a\":1 \"b\":2}", "[\"a\" \"b\"]", "{\"a\":1}x", "{\"a\":{\"b\":1}}}", "{\"a\":[1]]}", "{\"a\":{\"b\":-}}",
        "{\"a\":[truex]}", "{\"a\":[nulll]}", "{\"a\":{\"b\":1e}}", "{\"a\":{\"b\"::1}}", "{\"a\":[1,,2]}",
        "{\"a\":{\"b\":1}", "{\"a\",1}", "[1:2]", "{\"a\":[{\"b\":1]}}", "{\"a\":{}", "{\"a\":[}",
    };
    struct ff_json_parser *p = ff_json_parser_new();
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char *c = test_padded_str(bad[k]);
        for (uint32_t d = 0; d <= 3; d++) {
            struct ff_json_doc doc;
            int rc = ff_json_parse_shallow(p, c, strlen(bad[k]), d, &doc, NULL);
            if (rc != FF_EINVAL) print_error("accepted %s at raw depth %u\n", bad[k], d);
            assert_int_equal(rc, FF_EINVAL);
        }
        free(c);
    }
    const char *spaced = " { \"a\" : \"b\" ,\n\t\"c\" : [ 1 , -2.5 , true ] , \"d\" : {\"e\":[]} } ";
    char *c = test_padded_str(spaced);
    struct ff_json_doc doc;
    assert_int_equal(ff_json_parse_shallow(p, c, strlen(spaced), 2, &doc, NULL), 0);
    assert_int_equal(doc.count, 8); /* root, a, c and its three, d and its raw e */
    assert_true(doc.nodes[ff_json_get(&doc, 0, "c") + 2].v.d == -2.5);
    const char *s;
    uint32_t l;
    assert_true(ff_json_str(&doc, ff_json_get(&doc, 0, "a"), &s, &l) && l == 1 && s[0] == 'b');
    assert_true(paths_agree(p, spaced, strlen(spaced), 2));
    free(c);
    /* escapes, above and inside raw containers: taken, and written as simdjson's DOM path
     * writes them (unescaped above; inside, written again by ff_json_write_str) */
    static const char *const escaped[] = {
        "{\"t\\\"x\":\"a\\\\b\\/c\\n\\u00e9\\u20ac\\u0001\",\"p\":{\"k\\u00e9\":\"q\\\"\\/\\t\",\"a\":[\"\\u0000\",1,true]}}",
        "{\"p\":[\"\\b\\f\\r\",{\"x\":\"\\u00A0\\u00ff\"}],\"s\":\"plain\"}",
    };
    for (size_t k = 0; k < sizeof escaped / sizeof *escaped; k++)
        for (uint32_t d = 1; d <= 2; d++) assert_true(paths_agree(p, escaped[k], strlen(escaped[k]), d));
    /* a surrogate pair is left to simdjson: same result, by the DOM path */
    const char *pair = "{\"p\":{\"e\":\"\\ud83d\\ude00\"}}";
    assert_false(paths_agree(p, pair, strlen(pair), 1));
    /* blanks inside a raw container: its text is written compact again */
    static const char *const loose[] = {"{\"a\":{\"b\": 1}}", "{\"a\":{\"b\" :1}}", "{\"a\":{\"b\":1 }}",
                                        "{\"a\":{ \"b\":1}}", "{\"a\":{\"b\":1, \"c\":2}}", "{\"a\":[1 ,2]}"};
    for (size_t k = 0; k < sizeof loose / sizeof *loose; k++) {
        c = test_padded_str(loose[k]);
        assert_int_equal(ff_json_parse_shallow(p, c, strlen(loose[k]), 1, &doc, NULL), 0);
        const struct ff_json_node *raw = &doc.nodes[ff_json_get(&doc, 0, "a")];
        assert_true(raw->flags & FF_JSON_F_RAW);
        assert_null(memchr(raw->v.s, ' ', raw->len));
        free(c);
    }
    ff_json_parser_free(p);
}

/* json.h promises the shortest text that reads back the same (integral values with ".0");
 * the model is the first %.{p}g, p = 1..17, that strtod maps back to d. */
static int parser_setup(void **state)
{
    *state = ff_json_parser_new();
    return *state ? 0 : -1;
}

static int parser_teardown(void **state)
{
    ff_json_parser_free(*state);
    return 0;
}

static void test_write_double_shortest(void **state)
{
    struct ff_json_parser *p = *state;
    static const double normal[] = {0.1, 0.5, 4.35, 19.99, 1.0 / 3, 1e21, 1e-7, 1.0, 100.0, -2.0, 1e-6, 250.5};
    for (size_t k = 0; k < sizeof normal / sizeof *normal; k++) check_double(normal[k], p, 1);
    static const double sub[] = {5e-324, -5e-324, 1e-320, 2.5e-310, 1e-310};
    for (size_t k = 0; k < sizeof sub / sizeof *sub; k++) check_double(sub[k], p, 1);
    test_rng_init(0x50b);
    for (int k = 0; k < 2000; k++) check_double(rand_double(), p, 1);
    for (int k = 0; k < 2000; k++) {
        uint64_t bits = test_rand64() & 0x800fffffffffffffULL; /* exponent 0: subnormal */
        double d;
        memcpy(&d, &bits, sizeof d);
        check_double(d, p, 1);
    }
}

/* The scanner's decimals are strtod's to the last bit, on its fast path (up to 15 digits,
 * no exponent) and off it. */
static void test_jscan_decimals(void **state)
{
    (void)state;
    test_rng_init(77);
    static const char *const fixed[] = {"0.1", "-0.0", "0.0", "89.99", "-12.5", "999999999999999.9",
                                        "123456789012345.6", "0.000000000000001", "1.7976931348623157", "4.35"};
    char text[80];
    for (int i = 0; i < 200000 + 10; i++) {
        char num[40];
        if (i < 10) {
            snprintf(num, sizeof num, "%s", fixed[i]);
        } else {
            int ni = 1 + (int)test_randn(9), nf = 1 + (int)test_randn(9), k = 0;
            if (test_randn(4) == 0) num[k++] = '-';
            for (int d = 0; d < ni; d++) num[k++] = (char)('0' + (d == 0 && ni > 1 ? 1 + test_randn(9) : test_randn(10)));
            num[k++] = '.';
            for (int d = 0; d < nf; d++) num[k++] = (char)('0' + test_randn(10));
            num[k] = 0;
        }
        int len = snprintf(text, sizeof text, "{\"v\":%s}", num);
        struct ff_jscan sc;
        struct ff_jscan_member m;
        assert_int_equal(ff_jscan_begin(&sc, text, (size_t)len), 0);
        assert_int_equal(ff_jscan_next(&sc, &m), 1);
        assert_int_equal(m.kind, FF_JS_DOUBLE);
        double want = strtod(num, NULL);
        if (memcmp(&want, &m.d, sizeof want)) fail_msg("%s: scanned %.17g, strtod %.17g", num, m.d, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_documented_example),
        cmocka_unit_test(test_navigation_nested),
        cmocka_unit_test(test_escapes_unescaped),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_shallow_parse),
        cmocka_unit_test(test_fast_path_agrees),
        cmocka_unit_test(test_fast_path_batch),
        cmocka_unit_test(test_fast_path_rejects),
        cmocka_unit_test(test_write_str),
        cmocka_unit_test(test_write_double),
        cmocka_unit_test(test_jscan_decimals),
        cmocka_unit_test_setup_teardown(test_write_double_shortest, parser_setup, parser_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
