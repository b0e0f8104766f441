/* buf.h - growable byte buffers with a mandatory cap.
 *
 * Every buffer that may hold untrusted input has a limit (`max`): growing past it fails with
 * FF_ETOOBIG instead of eating memory. The buffer always keeps FF_BUF_PAD spare bytes after
 * `len`, zeroed on growth (all new room is zeroed, and some callers read the byte after
 * what they appended as a terminator), so JSON parsers that read ahead (simdjson) can use it
 * in place. */
#ifndef FF_BUF_H
#define FF_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FF_BUF_PAD 64

/* A string view: bytes owned elsewhere, not NUL-terminated. */
struct ff_str {
    const char *p;
    uint32_t len;
};

/* 1 when the n bytes at a and b are the same. Up to 16 bytes (most ids, names and codes)
 * by loads that never read past either end, instead of a call to memcmp: the flush compares
 * millions of such fields with the row before. */
static inline int ff_bytes_same(const char *a, const char *b, size_t n)
{
    if (a == b) return 1;
    if (n >= 8 && n <= 16) {
        uint64_t a0, b0, a1, b1;
        __builtin_memcpy(&a0, a, 8), __builtin_memcpy(&b0, b, 8);
        __builtin_memcpy(&a1, a + n - 8, 8), __builtin_memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t a0, b0, a1, b1;
        __builtin_memcpy(&a0, a, 4), __builtin_memcpy(&b0, b, 4);
        __builtin_memcpy(&a1, a + n - 4, 4), __builtin_memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n < 4) /* the first, middle and last bytes are all of them */
        return !n || (a[0] == b[0] && a[n >> 1] == b[n >> 1] && a[n - 1] == b[n - 1]);
    return __builtin_memcmp(a, b, n) == 0;
}

/* Same bytes. */
static inline int ff_str_eq(struct ff_str a, struct ff_str b) { return a.len == b.len && ff_bytes_same(a.p, b.p, a.len); }

/* 1 when `needle` (ASCII) occurs in s, ignoring ASCII case. */
int ff_str_contains_ci(struct ff_str s, const char *needle);
/* 1 when s[0..len) is a word of the space-separated `list` (NULL: empty); with `sub` (e.g.
 * '.'), also when a word is a prefix of s followed by `sub` ("context.page" lists
 * "context.page.url"). */
int ff_listed(const char *list, const char *s, size_t len, char sub);

/* Bytewise order, a prefix first: <0, 0, >0 like memcmp. */
static inline int ff_str_cmp(struct ff_str a, struct ff_str b)
{
    uint32_t n = a.len < b.len ? a.len : b.len;
    int c = n ? __builtin_memcmp(a.p, b.p, n) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

/* ff_str_cmp for qsort and bsearch over arrays of struct ff_str. */
static inline int ff_str_cmp_qsort(const void *a, const void *b)
{
    return ff_str_cmp(*(const struct ff_str *)a, *(const struct ff_str *)b);
}

struct ff_buf {
    char *data;
    size_t len;
    size_t cap; /* allocated bytes, always >= len + FF_BUF_PAD once allocated */
    size_t max; /* largest len allowed */
};

void ff_buf_init(struct ff_buf *b, size_t max);
/* Make room for `extra` more bytes. 0, -ENOMEM or FF_ETOOBIG; the buffer is unchanged on error. */
int ff_buf_reserve(struct ff_buf *b, size_t extra);
int ff_buf_append_slow(struct ff_buf *b, const void *p, size_t n);
int ff_buf_append_str(struct ff_buf *b, const char *s);

/* Appends n bytes. Inline: the JSON writers call this for every token, and the common case
 * (room already there) is a bounds check and a memcpy. */
static inline int ff_buf_append(struct ff_buf *b, const void *p, size_t n)
{
    if (n <= b->max - b->len && b->len + n + FF_BUF_PAD <= b->cap) {
        if (n) __builtin_memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
    }
    return ff_buf_append_slow(b, p, n);
}

static inline int ff_buf_putc(struct ff_buf *b, char c) { return ff_buf_append(b, &c, 1); }

/* Appends the decimal text of v. */
int ff_buf_put_i64(struct ff_buf *b, int64_t v);
int ff_buf_put_u64dec(struct ff_buf *b, uint64_t v);
int ff_buf_printf(struct ff_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ff_buf_reset(struct ff_buf *b); /* len = 0, memory kept */
void ff_buf_free(struct ff_buf *b);  /* memory released, ready for reuse */

/* Little-endian fixed-width and LEB128 varint writers for binary formats. */
/* Inline: the WAL writer puts two u64 per event into a segment's keys, parts a few per block. */
static inline int ff_buf_put_u8(struct ff_buf *b, uint8_t v) { return ff_buf_append(b, &v, 1); }
static inline int ff_buf_put_u32(struct ff_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return ff_buf_append(b, x, 4);
}
static inline int ff_buf_put_u64(struct ff_buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
    return ff_buf_append(b, x, 8);
}
int ff_buf_put_varint(struct ff_buf *b, uint64_t v);
/* Writes v as a LEB128 varint at o, which has room for 10 bytes; returns the bytes written.
 * For loops that reserved their room once (part columns), where a call per value showed. */
static inline size_t ff_varint_put_raw(unsigned char *o, uint64_t v)
{
    size_t k = 0;
    while (v >= 0x80) {
        o[k++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    o[k++] = (unsigned char)v;
    return k;
}

#ifdef __cplusplus
}
#endif
#endif
