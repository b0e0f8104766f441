/* pii.c - masking e-mail addresses, phone and card numbers (see pii.h).
 *
 * One pass over the text; nothing is copied until the first match, so text without personal
 * data costs a scan and no writes. */
#include "enrich/pii.h"

#include <errno.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif


struct scrub {
    const char *base;   /* the whole input */
    size_t emitted;     /* base[0..emitted) is in out already (or unchanged, while !changed) */
    struct ff_buf *out;
    int changed;
    int rc;
};

static int is_alnum(char c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static void mask(struct scrub *sc, size_t start, size_t end, const char *token)
{
    if (sc->rc) return;
    sc->rc = ff_buf_append(sc->out, sc->base + sc->emitted, start - sc->emitted);
    if (!sc->rc) sc->rc = ff_buf_append_str(sc->out, token);
    sc->emitted = end;
    sc->changed = 1;
}

static int local_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }

/* The e-mail address around the '@' at `at` (`at_len` 1, or 3 for "%40") within [lo, hi):
 * its bounds, or 0. */
static int email_at(const char *s, size_t lo, size_t hi, size_t at, size_t at_len, size_t *start, size_t *end)
{
    size_t a = at;
    while (a > lo && local_char(s[a - 1])) a--;
    if (a == at) return 0;
    size_t e = at + at_len, labels = 0, last_label = 0, label_start = e;
    for (;;) {
        size_t k = label_start;
        while (k < hi && (is_alnum(s[k]) || s[k] == '-')) k++;
        if (k == label_start) break;
        labels++;
        last_label = label_start;
        e = k;
        if (k + 1 < hi && s[k] == '.' && (is_alnum(s[k + 1]))) label_start = k + 1;
        else break;
    }
    if (labels < 2) return 0;
    /* the top-level domain: letters, at least two */
    size_t tld = e - last_label;
    if (tld < 2) return 0;
    for (size_t k = last_label; k < e; k++)
        if (is_digit(s[k]) || s[k] == '-') return 0;
    *start = a, *end = e;
    return 1;
}

static int luhn(const char *digits, size_t n)
{
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = digits[n - 1 - i] - '0';
        if (i & 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
    }
    return sum % 10 == 0;
}

static int is_sep(char c) { return c == ' ' || c == '-' || c == '(' || c == ')'; }

/* A run of digit groups starting at `i` ('+' or '(' may lead), split by one or two
 * separators: masks it when it is a card or phone number; returns where scanning goes on. */
static size_t number_at(struct scrub *sc, const char *s, size_t i, size_t hi)
{
    char digits[20];
    size_t nd = 0, seps = 0, k = i, end = i;
    int plus = s[k] == '+', parens = s[k] == '(';
    if (plus || parens) k++;
    while (k < hi) {
        if (is_digit(s[k])) {
            if (nd < sizeof digits) digits[nd] = s[k];
            nd++;
            end = ++k;
            continue;
        }
        size_t r = k;
        while (r < hi && r - k < 2 && is_sep(s[r])) r++;
        if (r == k || r >= hi || !is_digit(s[r])) break; /* not a separator between digit groups */
        for (size_t t = k; t < r; t++) parens |= s[t] == '(' || s[t] == ')';
        seps++;
        k = r;
    }
    if (end < hi && is_alnum(s[end])) return end; /* part of a word or an id */
    if (end + 1 < hi && s[end] == '-' && is_alnum(s[end + 1])) return end;
    /* a clock time ("2026-11-29 10:00"), a decimal or a version goes on past the digits */
    if (end < hi && (s[end] == ':' || ((s[end] == '.' || s[end] == ',' || s[end] == '/') && end + 1 < hi &&
                                       is_digit(s[end + 1]))))
        return end;
    if (nd >= 13 && nd <= 19 && !plus && !parens && luhn(digits, nd)) mask(sc, i, end, "[card]");
    else if (nd >= 9 && nd <= 15 && (plus || seps + (size_t)parens >= 2)) mask(sc, i, end, "[phone]");
    return end > i ? end : i + 1;
}

/* What a string may hold, in one tight pass before the careful one: MAY_EMAIL when it has an
 * '@' or a '%' (of "%40"), MAY_NUMBER when it has a run of digit groups (digits and the
 * separators number_at allows) with as many digits as the shortest phone number. Versions
 * and dates ("120.0.6099", "2026-11-29T10:00") break their runs at '.', ':' and letters.
 * Most strings are neither; "@scope/package" names are only the first. */
enum { MAY_EMAIL = 1, MAY_NUMBER = 2 };
static int may_hold(const char *s, size_t lo, size_t hi)
{
    size_t run = 0;
    int m = 0;
    for (size_t i = lo; i < hi; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((unsigned)(c - '0') < 10) {
            if (++run >= 9) m |= MAY_NUMBER;
        } else if (c == '@' || c == '%') {
            m |= MAY_EMAIL;
            run = 0;
        } else if (!is_sep((char)c) && c != '+') {
            run = 0;
        }
    }
    return m;
}

/* An e-mail address around base[i] ('@', or the '%' of "%40"): masked, and where scanning
 * goes on in *next; 0 when there is none. */
static int email_here(struct scrub *sc, size_t lo, size_t hi, size_t i, size_t *next)
{
    const char *s = sc->base;
    size_t a, e, from = sc->emitted > lo ? sc->emitted : lo;
    int found = s[i] == '@' ? email_at(s, from, hi, i, 1, &a, &e)
                            : s[i] == '%' && i + 2 < hi && s[i + 1] == '4' && s[i + 2] == '0' &&
                                  email_at(s, from, hi, i, 3, &a, &e);
    if (found) {
        mask(sc, a, e, "[email]");
        *next = e;
    }
    return found;
}

/* Scans base[lo, hi) for matches (a string's contents, or a whole plain text). */
static void scan(struct scrub *sc, size_t lo, size_t hi)
{
    const char *s = sc->base;
    int may = may_hold(s, lo, hi);
    if (may == MAY_EMAIL) { /* addresses only: look at each '@' and '%', not at every byte */
        for (size_t i = lo; i < hi && !sc->rc;) {
            while (i < hi && s[i] != '@' && s[i] != '%') i++;
            if (i < hi && !email_here(sc, lo, hi, i, &i)) i++;
        }
        return;
    }
    if (!may) return;
    for (size_t i = lo; i < hi && !sc->rc;) {
        char c = s[i];
        if ((c == '@' || c == '%') && email_here(sc, lo, hi, i, &i)) continue;
        /* a number starts at a word boundary (a JSON escape such as \n is one too) */
        int boundary = i == lo || !is_alnum(s[i - 1]) || (i >= lo + 2 && s[i - 2] == '\\');
        /* ... but not the digits after a decimal point, a thousands comma or a colon, nor those
         * of a hyphenated code ("A-123-456-789") */
        if (boundary && i >= lo + 2 && (s[i - 1] == '.' || s[i - 1] == ',' || s[i - 1] == ':') && is_digit(s[i - 2]))
            boundary = 0;
        if (boundary && i >= lo + 2 && s[i - 1] == '-' && is_alnum(s[i - 2])) boundary = 0;
        if (boundary && (is_digit(c) || ((c == '+' || c == '(') && i + 1 < hi && is_digit(s[i + 1])))) {
            i = number_at(sc, s, i, hi);
            continue;
        }
        i++;
    }
}

static int finish(struct scrub *sc, size_t len, int *changed)
{
    if (!sc->rc && sc->changed) sc->rc = ff_buf_append(sc->out, sc->base + sc->emitted, len - sc->emitted);
    *changed = sc->changed;
    return sc->rc;
}

int ff_pii_scrub_text(const char *s, size_t len, struct ff_buf *out, int *changed)
{
    struct scrub sc = {s, 0, out, 0, 0};
    size_t start = out->len;
    scan(&sc, 0, len);
    int rc = finish(&sc, len, changed);
    if (rc) out->len = start;
    return rc;
}

/* ---- a quick look before the careful one ---- */

/* An e-mail address around s[i] ('@', or the '%' of "%40"), looked for in the whole text:
 * found wherever the scan of the string holding it would find it, since an address never
 * takes in a quote. */
static int may_at_email(const char *s, size_t len, size_t i)
{
    size_t a, e;
    if (s[i] == '@') return email_at(s, 0, len, i, 1, &a, &e);
    return i + 2 < len && s[i + 1] == '4' && s[i + 2] == '0' && email_at(s, 0, len, i, 3, &a, &e);
}

/* A run of digit groups as the quick look counts it: its digits, and whether the group being
 * read is glued to a word before it ("o0000012345", an order id): the careful scan starts a
 * number only at a word boundary, so a glued group never counts, though the groups after a
 * separator may ("o123 456 789 012"). The byte before the word's last letter being a
 * backslash makes that letter an escape ("\n5551234567"), not a word. */
struct run {
    size_t digits;
    int glued;
};

/* The state after byte i, an end of runs (neither digit nor separator). */
static void run_ends_at(const char *s, size_t i, struct run *r)
{
    r->digits = 0;
    r->glued = is_alnum(s[i]) && !(i > 0 && s[i - 1] == '\\');
}

/* Reads s[lo, hi) into the run; 1 when it reaches a phone number's digits. */
static int run_reaches(const char *s, size_t lo, size_t hi, struct run *r)
{
    for (size_t i = lo; i < hi; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((unsigned)(c - '0') < 10) {
            if (!r->glued && ++r->digits >= 9) return 1;
        } else if (is_sep((char)c) || c == '+') {
            r->glued = 0;
        } else {
            run_ends_at(s, i, r);
        }
    }
    return 0;
}

#ifdef __SSE2__
/* Bits set in a 16-bit mask (no popcnt instruction in the x86-64 baseline: the builtin would
 * be a library call). */
static inline unsigned bits16(unsigned x)
{
    x = x - ((x >> 1) & 0x5555);
    x = (x & 0x3333) + ((x >> 2) & 0x3333);
    x = (x + (x >> 4)) & 0x0f0f;
    return (x + (x >> 8)) & 0x1f;
}
#endif

int ff_pii_may_match(const char *s, size_t len)
{
    struct run r = {0, 0};
    size_t i = 0;
#ifdef __SSE2__
    /* 16 bytes at a time: most text has no '@' or '%' and few digits, and is passed over
     * without a look at each byte. */
    const __m128i at = _mm_set1_epi8('@'), pct = _mm_set1_epi8('%'), lo = _mm_set1_epi8('0' - 1),
                  hi = _mm_set1_epi8('9' + 1), sp = _mm_set1_epi8(' '), dash = _mm_set1_epi8('-'),
                  open = _mm_set1_epi8('('), close = _mm_set1_epi8(')'), plus = _mm_set1_epi8('+');
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        unsigned mail = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, at), _mm_cmpeq_epi8(v, pct)));
        unsigned digit = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpgt_epi8(v, lo), _mm_cmplt_epi8(v, hi)));
        unsigned sep = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, dash)),
                         _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, open), _mm_cmpeq_epi8(v, close)),
                                      _mm_cmpeq_epi8(v, plus))));
        unsigned ends = ~(digit | sep) & 0xffff;
        for (unsigned m = mail; m; m &= m - 1)
            if (may_at_email(s, len, i + (unsigned)__builtin_ctz(m))) return 1;
        if (r.digits + bits16(digit) >= 9) { /* a run may reach 9 digits here: byte by byte */
            if (run_reaches(s, i, i + 16, &r)) return 1;
            continue;
        }
        /* None can: only the run's state at the chunk's end is needed. From the last end of
         * runs (if any), digits count unless glued, and a separator unglues. */
        unsigned from = 0;
        if (ends) {
            unsigned h = 31u - (unsigned)__builtin_clz(ends);
            run_ends_at(s, i + h, &r);
            from = h + 1;
        }
        unsigned rest = (0xffffu << from) & 0xffff, seps = sep & rest;
        if (r.glued && seps) {
            r.glued = 0;
            rest = (0xffffu << ((unsigned)__builtin_ctz(seps) + 1)) & 0xffff;
        }
        if (!r.glued) r.digits += bits16(digit & rest);
    }
#endif
    for (; i < len; i++)
        if ((s[i] == '@' || s[i] == '%') && may_at_email(s, len, i)) return 1;
        else if (run_reaches(s, i, i + 1, &r)) return 1;
    return 0;
}

/* ---- JSON: string values only, with the path of each for pii-keep ---- */

#define MAX_DEPTH 64

/* The end of the string whose opening quote is at i, or len when unterminated. */
static size_t string_end(const char *s, size_t i, size_t len)
{
    for (size_t k = i + 1; k < len; k++) {
        if (s[k] == '\\') k++;
        else if (s[k] == '"') return k;
    }
    return len;
}

int ff_pii_scrub_json(const char *json, size_t len, const char *root, const char *keep, struct ff_buf *out,
                      int *changed)
{
    if (!ff_pii_may_match(json, len)) { /* most objects: no walk through their structure */
        *changed = 0;
        return 0;
    }
    return ff_pii_scrub_json_walk(json, len, root, keep, out, changed);
}

int ff_pii_scrub_json_walk(const char *json, size_t len, const char *root, const char *keep, struct ff_buf *out,
                           int *changed)
{
    struct scrub sc = {json, 0, out, 0, 0};
    size_t start = out->len;
    /* path: root, then ".key" per open object; lens[d] is its length at depth d */
    char path[1024];
    size_t plen = strlen(root) < sizeof path ? strlen(root) : 0, lens[MAX_DEPTH + 1];
    memcpy(path, root, plen);
    char kinds[MAX_DEPTH + 1]; /* '{' or '[' */
    int depth = 0, want_key = 0;
    int keeping = keep && *keep;
    for (size_t i = 0; i < len && !sc.rc; i++) {
        char c = json[i];
        if (c == '{' || c == '[') {
            if (depth == MAX_DEPTH) break; /* deeper than any event needs: the rest stays as it is */
            lens[depth] = plen;
            kinds[depth++] = c;
            want_key = c == '{';
        } else if (c == '}' || c == ']') {
            if (depth == 0) break;
            plen = lens[--depth];
            want_key = 0;
        } else if (c == ',') {
            want_key = depth > 0 && kinds[depth - 1] == '{';
        } else if (c == '"') {
            size_t e = string_end(json, i, len);
            if (want_key) {
                /* the member's path: the object's, then this key */
                plen = lens[depth - 1];
                size_t klen = e - i - 1;
                if (plen + 1 + klen < sizeof path) {
                    path[plen] = '.';
                    memcpy(path + plen + 1, json + i + 1, klen);
                    plen += 1 + klen;
                }
                want_key = 0;
            } else if (!(keeping && ff_listed(keep, path, plen, '.'))) {
                scan(&sc, i + 1, e);
            }
            i = e;
        }
    }
    int rc = finish(&sc, len, changed);
    if (rc) out->len = start;
    return rc;
}
