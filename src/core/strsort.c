/* strsort.c - sorting many strings by radix on 8-byte keys (see strsort.h). */
#include "core/strsort.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* Below this many, or for strings that tie on their keys, qsort does the work. */
#define SMALL 32

struct keyed {
    uint64_t key; /* 8 bytes of the string from the shared prefix on, big-endian, 0 past its end */
    uint32_t i;
};

static int cmp_index(const void *a, const void *b, void *arg)
{
    const struct ff_str *s = arg;
    return ff_str_cmp(s[*(const uint32_t *)a], s[*(const uint32_t *)b]);
}

/* The longest prefix of s[idx[0]] that every s[idx[j]] starts with. */
static size_t shared_prefix(const struct ff_str *s, const uint32_t *idx, size_t n)
{
    struct ff_str first = s[idx[0]];
    size_t lcp = first.len;
    for (size_t j = 1; j < n && lcp; j++) {
        struct ff_str t = s[idx[j]];
        size_t m = t.len < lcp ? t.len : lcp, c = 0;
        uint64_t x, y;
        while (c + 8 <= m && (memcpy(&x, t.p + c, 8), memcpy(&y, first.p + c, 8), x == y)) c += 8;
        while (c < m && t.p[c] == first.p[c]) c++;
        lcp = c;
    }
    return lcp;
}

int ff_str_sort_index(const struct ff_str *s, uint32_t *idx, size_t n)
{
    if (n < SMALL) {
        qsort_r(idx, n, sizeof *idx, cmp_index, (void *)s);
        return 0;
    }
    size_t lcp = shared_prefix(s, idx, n);
    struct keyed *a = ff_malloc(n * sizeof *a), *b = ff_malloc(n * sizeof *b);
    size_t (*count)[256] = ff_calloc(8, sizeof *count);
    if (!a || !b || !count) {
        ff_free(a), ff_free(b), ff_free(count);
        return -ENOMEM;
    }
    for (size_t j = 0; j < n; j++) {
        struct ff_str t = s[idx[j]];
        uint64_t key = 0;
        for (size_t k = lcp; k < lcp + 8; k++) key = key << 8 | (k < t.len ? (unsigned char)t.p[k] : 0);
        a[j] = (struct keyed){key, idx[j]};
        for (int d = 0; d < 8; d++) count[d][key >> (8 * d) & 255]++;
    }
    /* Least significant byte first; a byte that every key has alike moves nothing. */
    for (int d = 0; d < 8; d++) {
        size_t at = 0, *c = count[d];
        if (c[a[0].key >> (8 * d) & 255] == n) continue;
        for (int v = 0; v < 256; v++) {
            size_t k = c[v];
            c[v] = at;
            at += k;
        }
        for (size_t j = 0; j < n; j++) b[c[a[j].key >> (8 * d) & 255]++] = a[j];
        struct keyed *t = a;
        a = b, b = t;
    }
    for (size_t j = 0; j < n; j++) idx[j] = a[j].i;
    /* Strings whose keys tie: longer ones share 8 more bytes and sort the same way again;
     * a run with a string that ends within the key (whose 0s are padding) goes to qsort. */
    int rc = 0;
    for (size_t j = 0, z; j < n && !rc; j = z) {
        int long_enough = 1;
        for (z = j; z < n && a[z].key == a[j].key; z++) long_enough &= s[a[z].i].len > lcp + 8;
        if (z - j < 2) continue;
        if (z - j >= SMALL && long_enough) rc = ff_str_sort_index(s, idx + j, z - j);
        else qsort_r(idx + j, z - j, sizeof *idx, cmp_index, (void *)s);
    }
    ff_free(a), ff_free(b), ff_free(count);
    return rc;
}
