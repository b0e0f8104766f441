/* binread.h - a bounds-checked reader for footfall's binary formats (records, parts,
 * manifests): every read checks what remains, so corrupt input is an error, never a read past
 * the end. Integers are little-endian; varints are LEB128; a str is a varint length and bytes. */
#ifndef FF_BINREAD_H
#define FF_BINREAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct ff_reader {
    const unsigned char *p;
    size_t len, off;
};

static inline int ff_rd_u8(struct ff_reader *r, uint8_t *v)
{
    if (r->off >= r->len) return -1;
    *v = r->p[r->off++];
    return 0;
}

static inline int ff_rd_u32(struct ff_reader *r, uint32_t *v)
{
    if (r->len - r->off < 4) return -1;
    const unsigned char *p = r->p + r->off;
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    r->off += 4;
    return 0;
}

/* The 8 bytes at p as a little-endian integer (p has 8 readable bytes). */
static inline uint64_t ff_load_le64(const unsigned char *p)
{
    uint64_t w;
    __builtin_memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* One load, not eight (gcc did not merge the byte loop: an eighth of a record's decode). */
static inline int ff_rd_u64(struct ff_reader *r, uint64_t *v)
{
    if (r->len - r->off < 8) return -1;
    *v = ff_load_le64(r->p + r->off);
    r->off += 8;
    return 0;
}

static inline int ff_rd_i64(struct ff_reader *r, int64_t *v)
{
    uint64_t u;
    if (ff_rd_u64(r, &u)) return -1;
    *v = (int64_t)u;
    return 0;
}

static inline int ff_rd_varint(struct ff_reader *r, uint64_t *v)
{
    if (r->off < r->len && r->p[r->off] < 0x80) { /* one byte: string lengths, codes, small deltas */
        *v = r->p[r->off++];
        return 0;
    }
    uint64_t n = 0;
    for (int shift = 0;; shift += 7) {
        uint8_t c;
        if (shift > 63 || ff_rd_u8(r, &c)) return -1;
        n |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) break;
    }
    *v = n;
    return 0;
}

/* The value of the varint of n bytes (1 to 8) at the start of w, little-endian. */
static inline uint64_t ff_varint_value(uint64_t w, int n)
{
    uint64_t x = w & (~0ULL >> (64 - 8 * n)) & 0x7f7f7f7f7f7f7f7fULL;
    /* the 7-bit groups together: pairs of bytes, then of 16-bit lanes, then of 32-bit ones */
    x = ((x & 0x7f007f007f007f00ULL) >> 1) | (x & 0x007f007f007f007fULL);
    x = ((x & 0x3fff00003fff0000ULL) >> 2) | (x & 0x00003fff00003fffULL);
    x = ((x & 0x0fffffff00000000ULL) >> 4) | (x & 0x000000000fffffffULL);
    return x;
}

/* A varint of at most 8 bytes at p, which has 8 readable bytes, without a branch per byte:
 * its length (1 to 8) with *v set, or 0 when it is longer (read it with ff_rd_varint).
 * Column chunks of times and counts decode millions of 2- to 4-byte varints. */
static inline int ff_varint8(const unsigned char *p, uint64_t *v)
{
    uint64_t w = ff_load_le64(p);
    uint64_t stops = ~w & 0x8080808080808080ULL; /* bytes without a continuation bit */
    if (!stops) return 0;
    int n = (__builtin_ctzll(stops) >> 3) + 1;
    *v = ff_varint_value(w, n);
    return n;
}

static inline int ff_rd_str(struct ff_reader *r, struct ff_str *s)
{
    uint64_t n;
    if (ff_rd_varint(r, &n) || n > r->len - r->off || n > UINT32_MAX) return -1;
    s->p = (const char *)r->p + r->off;
    s->len = (uint32_t)n;
    r->off += n;
    return 0;
}

#endif
