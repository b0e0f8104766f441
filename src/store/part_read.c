/* part_read.c - opens, checks and decodes part files (format in part.h). */
#include "store/part.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/binread.h"
#include "core/errors.h"
#include "core/textcodec.h"
#include "core/zstd_ctx.h"

#define TRAILER_LEN 28

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int ff_decompress(int codec, const void *src, size_t n, void *dst, size_t raw_len)
{
    if (codec == FF_CODEC_NONE) {
        if (n != raw_len) return FF_ECORRUPT;
        if (n) memcpy(dst, src, n);
        return 0;
    }
    if (codec == FF_CODEC_ZSTD) {
        size_t r = ff_zstd_decompress(dst, raw_len, src, n);
        return ZSTD_isError(r) || r != raw_len ? FF_ECORRUPT : 0;
    }
    if (codec == FF_CODEC_LZ4) {
        if (n > (size_t)INT32_MAX || raw_len > (size_t)INT32_MAX) return FF_ECORRUPT;
        int r = LZ4_decompress_safe(src, dst, (int)n, (int)raw_len);
        return r < 0 || (size_t)r != raw_len ? FF_ECORRUPT : 0;
    }
    return FF_ECORRUPT;
}

void ff_colvec_free(struct ff_colvec *v)
{
    ff_buf_free(&v->mem);
    memset(v, 0, sizeof *v);
}

static int rd_chunkref(struct ff_reader *r, struct ff_chunkref *c)
{
    return ff_rd_u64(r, &c->offset) || ff_rd_u32(r, &c->stored_len) || ff_rd_u32(r, &c->raw_len) ||
           ff_rd_u8(r, &c->codec) || ff_rd_u64(r, &c->hash) || ff_rd_i64(r, &c->min) || ff_rd_i64(r, &c->max);
}

/* Checks a chunk's bounds and checksum and decompresses it into `dst` (raw_len bytes). */
static int load_chunk(const struct ff_part *p, const struct ff_chunkref *c, void *dst, const char *what, char *err,
                      size_t errlen)
{
    if (c->offset < 8 || c->offset > p->size || c->stored_len > p->size - c->offset)
        return fail(err, errlen, FF_ECORRUPT, "%s: %s at offset %llu: chunk lies outside the file", p->path, what,
                    (unsigned long long)c->offset);
    const uint8_t *src = p->map + c->offset;
    if (XXH3_64bits(src, c->stored_len) != c->hash)
        return fail(err, errlen, FF_ECORRUPT, "%s: %s at offset %llu (%u bytes): checksum mismatch", p->path, what,
                    (unsigned long long)c->offset, c->stored_len);
    if (ff_decompress(c->codec, src, c->stored_len, dst, c->raw_len))
        return fail(err, errlen, FF_ECORRUPT, "%s: %s at offset %llu: does not decompress", p->path, what,
                    (unsigned long long)c->offset);
    return 0;
}

static int load_dict(struct ff_part *p, uint32_t col, char *err, size_t errlen)
{
    const struct ff_chunkref *c = &p->cols[col].dict;
    char what[128];
    snprintf(what, sizeof what, "dictionary of column '%s'", p->cols[col].name);
    char *raw = ff_malloc(c->raw_len ? c->raw_len : 1);
    if (!raw) return -ENOMEM;
    int rc = load_chunk(p, c, raw, what, err, errlen);
    uint64_t count = 0;
    struct ff_reader r = {(const unsigned char *)raw, c->raw_len, 0};
    if (!rc && (ff_rd_varint(&r, &count) || count > c->raw_len))
        rc = fail(err, errlen, FF_ECORRUPT, "%s: %s at offset %llu: bad entry count", p->path, what,
                  (unsigned long long)c->offset);
    struct ff_str *vals = NULL;
    if (!rc && !(vals = ff_malloc((count ? count : 1) * sizeof *vals))) rc = -ENOMEM;
    for (uint64_t i = 0; !rc && i < count; i++)
        if (ff_rd_str(&r, &vals[i]))
            rc = fail(err, errlen, FF_ECORRUPT, "%s: %s at offset %llu: entry %llu is cut short", p->path, what,
                      (unsigned long long)c->offset, (unsigned long long)i);
        /* sorted and distinct, as the writer makes it: code order is string order, and a
         * merge maps codes by walking two dictionaries together */
        else if (i && ff_str_cmp(vals[i - 1], vals[i]) >= 0)
            rc = fail(err, errlen, FF_ECORRUPT, "%s: %s at offset %llu: entry %llu is out of order", p->path, what,
                      (unsigned long long)c->offset, (unsigned long long)i);
    if (rc) {
        ff_free(raw);
        ff_free(vals);
        return rc;
    }
    p->dicts[col] = vals;
    p->dict_count[col] = (uint32_t)count;
    p->dict_raw[col] = raw;
    return 0;
}

int ff_part_open(const char *path, struct ff_part **out, char *err, size_t errlen)
{
    struct ff_part *p = ff_calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    snprintf(p->path, sizeof p->path, "%s", path);
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        rc = fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        ff_free(p);
        return rc;
    }
    p->size = (size_t)st.st_size;
    if (p->size < 8 + TRAILER_LEN) {
        close(fd);
        rc = fail(err, errlen, FF_ECORRUPT, "%s: %zu bytes is too short for a part", path, p->size);
        ff_free(p);
        return rc;
    }
    void *m = mmap(NULL, p->size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        rc = fail(err, errlen, -errno, "%s: cannot map: %s", path, strerror(errno));
        ff_free(p);
        return rc;
    }
    p->map = m;
    const uint8_t *t = p->map + p->size - TRAILER_LEN;
    struct ff_reader tr = {t, TRAILER_LEN, 0};
    uint64_t foff = 0, fhash = 0;
    uint32_t flen = 0;
    ff_rd_u64(&tr, &foff), ff_rd_u32(&tr, &flen), ff_rd_u64(&tr, &fhash);
    if (memcmp(p->map, "FFPART\0", 7) || memcmp(t + 20, "FFPTAIL1", 8)) {
        rc = fail(err, errlen, FF_ECORRUPT, "%s: not a part file (bad magic at offset 0 or %zu)", path,
                  p->size - 8);
        goto out;
    }
    if (p->map[7] != FF_PART_VERSION) {
        rc = fail(err, errlen, FF_ECORRUPT, "%s: part format version %u, this footfall reads %u", path, p->map[7],
                  FF_PART_VERSION);
        goto out;
    }
    if (foff < 8 || foff > p->size - TRAILER_LEN || flen != p->size - TRAILER_LEN - foff) {
        rc = fail(err, errlen, FF_ECORRUPT, "%s: trailer at offset %zu points outside the file", path,
                  p->size - TRAILER_LEN);
        goto out;
    }
    if (XXH3_64bits(p->map + foff, flen) != fhash) {
        rc = fail(err, errlen, FF_ECORRUPT, "%s: footer at offset %llu (%u bytes): checksum mismatch", path,
                  (unsigned long long)foff, flen);
        goto out;
    }
    struct ff_reader r = {p->map + foff, flen, 0};
    struct ff_part_info *in = &p->info;
    uint32_t day;
    if (ff_rd_u64(&r, &in->nrows) || ff_rd_u32(&r, &in->block_rows) || ff_rd_u32(&r, &in->nblocks) ||
        ff_rd_u32(&r, &in->ncols) || ff_rd_u32(&r, &day) || ff_rd_i64(&r, &in->min_time) ||
        ff_rd_i64(&r, &in->max_time) || ff_rd_i64(&r, &in->min_received) || ff_rd_i64(&r, &in->max_received) ||
        in->ncols > 4096 || in->nblocks > flen) {
        rc = fail(err, errlen, FF_ECORRUPT, "%s: footer at offset %llu: bad header", path, (unsigned long long)foff);
        goto out;
    }
    in->day = (int32_t)day;
    p->cols = ff_calloc(in->ncols ? in->ncols : 1, sizeof *p->cols);
    p->dicts = ff_calloc(in->ncols ? in->ncols : 1, sizeof *p->dicts);
    p->dict_count = ff_calloc(in->ncols ? in->ncols : 1, sizeof *p->dict_count);
    p->dict_raw = ff_calloc(in->ncols ? in->ncols : 1, sizeof *p->dict_raw);
    p->blocks = ff_calloc(in->nblocks ? in->nblocks : 1, sizeof *p->blocks);
    p->chunks = ff_calloc((size_t)in->nblocks * in->ncols + 1, sizeof *p->chunks);
    if (!p->cols || !p->dicts || !p->dict_count || !p->dict_raw || !p->blocks || !p->chunks) {
        rc = -ENOMEM;
        goto out;
    }
    for (uint32_t c = 0; c < in->ncols; c++) {
        struct ff_part_column *col = &p->cols[c];
        struct ff_str name;
        if (ff_rd_str(&r, &name) || name.len >= sizeof col->name || ff_rd_u8(&r, &col->type) ||
            ff_rd_u8(&r, &col->enc) || col->type < FF_COL_I64 || col->type > FF_COL_F64 || col->enc > FF_ENC_UUID ||
            (col->enc == FF_ENC_DICT && rd_chunkref(&r, &col->dict))) {
            rc = fail(err, errlen, FF_ECORRUPT, "%s: footer at offset %llu: column %u is malformed", path,
                      (unsigned long long)foff, c);
            goto out;
        }
        memcpy(col->name, name.p, name.len);
    }
    uint64_t rows = 0;
    for (uint32_t b = 0; b < in->nblocks; b++) {
        struct ff_part_block *blk = &p->blocks[b];
        blk->chunks = p->chunks + (size_t)b * in->ncols;
        if (ff_rd_u64(&r, &blk->row0) || ff_rd_u32(&r, &blk->nrows) || ff_rd_str(&r, &blk->first_key) ||
            ff_rd_str(&r, &blk->last_key) || blk->row0 != rows || !blk->nrows || blk->nrows > in->block_rows) {
            rc = fail(err, errlen, FF_ECORRUPT, "%s: footer at offset %llu: block %u is malformed", path,
                      (unsigned long long)foff, b);
            goto out;
        }
        for (uint32_t c = 0; c < in->ncols; c++)
            if (rd_chunkref(&r, &blk->chunks[c])) {
                rc = fail(err, errlen, FF_ECORRUPT, "%s: footer at offset %llu: block %u is cut short", path,
                          (unsigned long long)foff, b);
                goto out;
            }
        rows += blk->nrows;
    }
    if (rows != in->nrows || r.off != r.len) {
        rc = fail(err, errlen, FF_ECORRUPT, "%s: footer at offset %llu: %llu rows in blocks, %llu in the header",
                  path, (unsigned long long)foff, (unsigned long long)rows, (unsigned long long)in->nrows);
        goto out;
    }
    pthread_mutex_init(&p->dict_mu, NULL);
    p->dict_mu_ok = 1;
out:
    if (rc) {
        ff_part_close(p);
        return rc;
    }
    *out = p;
    return 0;
}

int ff_part_dict(const struct ff_part *cp, uint32_t col, const struct ff_str **vals, uint32_t *count, char *err,
                 size_t errlen)
{
    struct ff_part *p = (struct ff_part *)cp; /* the cache is the only thing that changes */
    if (col >= p->info.ncols || p->cols[col].enc != FF_ENC_DICT) return FF_EINVAL;
    pthread_mutex_lock(&p->dict_mu);
    int rc = p->dicts[col] ? 0 : load_dict(p, col, err, errlen);
    if (!rc) {
        *vals = p->dicts[col];
        *count = p->dict_count[col];
    }
    pthread_mutex_unlock(&p->dict_mu);
    return rc;
}

void ff_part_close(struct ff_part *p)
{
    if (!p) return;
    if (p->dict_mu_ok) pthread_mutex_destroy(&p->dict_mu);
    if (p->map) munmap((void *)p->map, p->size);
    for (uint32_t c = 0; p->dicts && c < p->info.ncols; c++) {
        ff_free(p->dicts[c]);
        ff_free(p->dict_raw[c]);
    }
    ff_free(p->dicts);
    ff_free(p->dict_raw);
    ff_free(p->dict_count);
    ff_free(p->cols);
    ff_free(p->blocks);
    ff_free(p->chunks);
    ff_free(p);
}

int ff_part_column_index(const struct ff_part *p, const char *name)
{
    for (uint32_t c = 0; c < p->info.ncols; c++)
        if (strcmp(p->cols[c].name, name) == 0) return (int)c;
    return -1;
}

/* Carves n elements of `size` bytes, 8-aligned, out of v->mem (reserved beforehand). */
static void *carve(struct ff_colvec *v, size_t n, size_t size)
{
    size_t at = (v->mem.len + 7) & ~(size_t)7;
    v->mem.len = at + n * size;
    return v->mem.data + at;
}

/* Decodes the raw bytes of a chunk (already in out->mem, raw_len bytes at its start) into n
 * values; out->mem has room for the arrays. 0 or FF_ECORRUPT. */
/* codes[i] = u[i] for n one-byte codes; the largest. Vectorized (the build's -O2 is not):
 * every dictionary column of a query comes through here. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("tree-vectorize")))
#endif
static unsigned char widen_codes(const unsigned char *restrict u, uint32_t *restrict codes, uint32_t n)
{
    unsigned char top = 0;
    for (uint32_t i = 0; i < n; i++) top = u[i] > top ? u[i] : top;
    for (uint32_t i = 0; i < n; i++) codes[i] = u[i];
    return top;
}

/* A bit per byte of p[0 .. 63]: set where a varint ends (no continuation bit). */
static inline uint64_t varint_ends(const unsigned char *p)
{
    uint64_t ends = 0;
    for (int k = 0; k < 8; k++) {
        uint64_t low = (~ff_load_le64(p + 8 * k) & 0x8080808080808080ULL) >> 7; /* bit 8j: byte j ends one */
        ends |= ((low * 0x0102040810204080ULL) >> 56) << (8 * k); /* bit 8j to bit j */
    }
    return ends;
}

/* Zigzag varint deltas (a time or count column) into v[0 ..], *prev the running sum, while
 * r has 72 bytes or more left: the varints' ends are found 64 bytes at a time, so that
 * decoding one does not wait for the length of the one before (that wait was a funnel's
 * largest cost). How many it decoded; r is left at the next. */
static uint32_t decode_deltas(struct ff_reader *r, uint32_t n, int64_t *v, uint64_t *prev)
{
    const unsigned char *p = r->p;
    size_t at = r->off;
    uint32_t i = 0;
    uint64_t sum = *prev;
    while (i < n && at + 72 <= r->len) {
        uint64_t ends = varint_ends(p + at);
        size_t start = at; /* of the varint being read: within the 64 bytes, with 8 readable */
        for (; ends && i < n; ends &= ends - 1) {
            size_t end = at + (size_t)__builtin_ctzll(ends);
            uint64_t z;
            if (end - start < 8) {
                z = ff_varint_value(ff_load_le64(p + start), (int)(end - start + 1));
            } else { /* 9 or 10 bytes (a jump past 2^55): byte by byte */
                struct ff_reader one = {p, r->len, start};
                if (ff_rd_varint(&one, &z) || one.off != end + 1) {
                    at = start; /* the caller's loop finds it corrupt */
                    goto done;
                }
            }
            sum += (z >> 1) ^ (0 - (z & 1));
            v[i++] = (int64_t)sum;
            start = end + 1;
        }
        if (start == at) break; /* no varint ends in 64 bytes: the caller's loop says corrupt */
        at = start;
    }
done:
    r->off = at;
    *prev = sum;
    return i;
}

static int decode_raw(struct ff_colvec *out, uint8_t type, uint8_t enc, size_t raw_len, uint32_t n,
                      const struct ff_str *dict, uint32_t dict_count, int raw_uuid)
{
    char *raw = out->mem.data;
    out->mem.len = raw_len;
    out->type = type;
    out->n = n;
    struct ff_reader r = {(const unsigned char *)raw, raw_len, 0};
    int bad = 0;
    if (type == FF_COL_I64) {
        int64_t *v = out->i64 = carve(out, n, 8);
        uint64_t prev = 0;
        uint32_t i = decode_deltas(&r, n, v, &prev);
        for (; i < n && !bad; i++) {
            uint64_t z = 0;
            int k = r.off + 8 <= r.len ? ff_varint8(r.p + r.off, &z) : 0;
            if (k) r.off += (size_t)k;
            else if (ff_rd_varint(&r, &z)) bad = 1;
            prev += (z >> 1) ^ (0 - (z & 1));
            v[i] = (int64_t)prev;
        }
    } else if (type == FF_COL_U8) {
        if (raw_len != n) bad = 1;
        out->u8 = (uint8_t *)raw;
        r.off = r.len;
    } else if (type == FF_COL_F64) {
        if (raw_len != (size_t)n * 8) bad = 1;
        double *v = out->f64 = carve(out, n, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (!bad) memcpy(v, raw, (size_t)n * 8); /* stored little-endian: as they are */
#else
        for (uint32_t i = 0; i < n && !bad; i++) {
            uint64_t bits = 0;
            for (int k = 7; k >= 0; k--) bits = bits << 8 | (unsigned char)raw[(size_t)i * 8 + (size_t)k];
            memcpy(&v[i], &bits, 8);
        }
#endif
        r.off = r.len;
    } else if (type != FF_COL_STR) {
        bad = 1;
    } else if (enc == FF_ENC_DICT) {
        /* without the dictionary's strings (codes only) when the caller did not ask for them */
        out->codes = carve(out, n, 4);
        out->str = dict ? carve(out, n, sizeof *out->str) : NULL;
        if (raw_len == n) { /* n values in n bytes: every code is one byte, a loop the compiler widens */
            const unsigned char *u = (const unsigned char *)raw;
            unsigned char top = widen_codes(u, out->codes, n);
            bad = n && (top >= 0x80 || top >= dict_count);
            for (uint32_t i = 0; dict && i < n && !bad; i++) out->str[i] = dict[out->codes[i]];
            r.off = r.len;
        }
        for (uint32_t i = 0; i < n && !bad && raw_len != n; i++) {
            uint64_t code;
            if (ff_rd_varint(&r, &code) || code >= dict_count) bad = 1;
            else if ((out->codes[i] = (uint32_t)code), dict) out->str[i] = dict[code];
        }
    } else if (enc == FF_ENC_UUID && raw_uuid) {
        if (raw_len != (size_t)n * 16) bad = 1;
        out->uuid16 = (const uint8_t *)raw;
        r.off = r.len;
    } else if (enc == FF_ENC_UUID) {
        out->str = carve(out, n, sizeof *out->str);
        char *t = carve(out, (size_t)n * 36, 1);
        if (raw_len != (size_t)n * 16) bad = 1;
        for (uint32_t i = 0; i < n && !bad; i++) {
            const uint8_t *u = (const uint8_t *)raw + (size_t)i * 16;
            if (!memcmp(u, (uint8_t[16]){0}, 16)) {
                out->str[i] = (struct ff_str){"", 0};
            } else {
                ff_uuid_format(u, t + (size_t)i * 36);
                out->str[i] = (struct ff_str){t + (size_t)i * 36, 36};
            }
        }
        r.off = r.len;
    } else if (enc == FF_ENC_PLAIN) {
        out->str = carve(out, n, sizeof *out->str);
        for (uint32_t i = 0; i < n && !bad; i++)
            if (ff_rd_str(&r, &out->str[i])) bad = 1;
    } else {
        bad = 1;
    }
    return bad || r.off != r.len ? FF_ECORRUPT : 0;
}

/* Sizes out->mem for a chunk of raw_len bytes decoding to n values of this type: exactly
 * what decode_raw carves, for the new room is zeroed (faulted in) whether used or not.
 * `strings`: as read_chunk's (a dictionary column's values, or UUIDs left binary). */
static int reserve_for(struct ff_colvec *out, uint8_t type, uint8_t enc, size_t raw_len, uint32_t n, int strings)
{
    size_t per = 0;
    if (type == FF_COL_I64 || type == FF_COL_F64) per = 8;
    else if (type == FF_COL_STR && enc == FF_ENC_DICT) per = 4 + (strings == 1 ? sizeof(struct ff_str) : 0);
    else if (type == FF_COL_STR && enc == FF_ENC_UUID) per = strings == 2 ? 0 : sizeof(struct ff_str) + 36;
    else if (type == FF_COL_STR) per = sizeof(struct ff_str);
    if (!out->mem.data) ff_buf_init(&out->mem, (size_t)1 << 34);
    return ff_buf_reserve(&out->mem, raw_len + (size_t)n * per + 32);
}

int ff_chunk_decode(const void *raw, size_t raw_len, uint8_t type, uint8_t enc, uint32_t n, const struct ff_str *dict,
                    uint32_t dict_count, struct ff_colvec *out)
{
    ff_colvec_free(out);
    int rc = reserve_for(out, type, enc, raw_len, n, dict ? 1 : 0);
    if (rc) return rc;
    if (raw_len) memcpy(out->mem.data, raw, raw_len);
    if ((rc = decode_raw(out, type, enc, raw_len, n, dict, dict_count, 0))) ff_colvec_free(out);
    return rc;
}

/* Empties a column vector but keeps its memory: readers that go block by block reuse one
 * buffer instead of page-faulting a fresh one in for every block. */
static void colvec_recycle(struct ff_colvec *v)
{
    struct ff_buf mem = v->mem;
    mem.len = 0;
    memset(v, 0, sizeof *v);
    v->mem = mem;
}

static int read_chunk(const struct ff_part *p, uint32_t block, uint32_t col, struct ff_colvec *out, int strings,
                      char *err, size_t errlen)
{
    colvec_recycle(out);
    if (block >= p->info.nblocks || col >= p->info.ncols) return FF_EINVAL;
    const struct ff_part_column *cd = &p->cols[col];
    const struct ff_chunkref *c = &p->blocks[block].chunks[col];
    uint32_t n = p->blocks[block].nrows;
    char what[128];
    snprintf(what, sizeof what, "column '%s' of block %u", cd->name, block);
    const struct ff_str *dict = NULL;
    uint32_t dict_count = 0;
    int rc = cd->enc == FF_ENC_DICT ? ff_part_dict(p, col, &dict, &dict_count, err, errlen) : 0;
    if (!rc) rc = reserve_for(out, cd->type, cd->enc, c->raw_len, n, strings);
    if (!rc) rc = load_chunk(p, c, out->mem.data, what, err, errlen);
    if (!rc && decode_raw(out, cd->type, cd->enc, c->raw_len, n, strings == 1 ? dict : NULL, dict_count, strings == 2))
        rc = fail(err, errlen, FF_ECORRUPT, "%s: %s at offset %llu: encoded values do not match its %u rows", p->path,
                  what, (unsigned long long)c->offset, n);
    if (rc) ff_colvec_free(out);
    return rc;
}

int ff_part_read(const struct ff_part *p, uint32_t block, uint32_t col, struct ff_colvec *out, char *err,
                 size_t errlen)
{
    return read_chunk(p, block, col, out, 1, err, errlen);
}

int ff_part_read_codes(const struct ff_part *p, uint32_t block, uint32_t col, struct ff_colvec *out, char *err,
                       size_t errlen)
{
    return read_chunk(p, block, col, out, 0, err, errlen);
}

int ff_part_read_raw(const struct ff_part *p, uint32_t block, uint32_t col, struct ff_colvec *out, char *err,
                     size_t errlen)
{
    return read_chunk(p, block, col, out, 2, err, errlen);
}

long ff_part_verify(const struct ff_part *p, ff_part_bad_fn bad, void *arg)
{
    long nbad = 0;
    struct ff_colvec v = {0};
    char err[1024];
    for (uint32_t c = 0; c < p->info.ncols; c++) {
        const struct ff_str *d;
        uint32_t k;
        if (p->cols[c].enc == FF_ENC_DICT && ff_part_dict(p, c, &d, &k, err, sizeof err) == FF_ECORRUPT) {
            nbad++;
            if (bad) bad(arg, err);
        }
    }
    for (uint32_t b = 0; b < p->info.nblocks; b++)
        for (uint32_t c = 0; c < p->info.ncols; c++) {
            int rc = ff_part_read(p, b, c, &v, err, sizeof err);
            if (rc == FF_ECORRUPT) {
                nbad++;
                if (bad) bad(arg, err);
            } else if (rc) {
                nbad++;
                if (bad) {
                    snprintf(err, sizeof err, "%.512s: block %u column %u: %s", p->path, b, c, ff_strerror(rc));
                    bad(arg, err);
                }
            }
        }
    ff_colvec_free(&v);
    return nbad;
}
