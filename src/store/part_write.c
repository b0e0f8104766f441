/* part_write.c - writes a part file (format in part.h): chunks as blocks arrive, then the
 * footer and trailer, fsync and rename. */
#include "store/part.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lz4.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/alloc.h"
#include "core/errors.h"
#include "core/fileio.h"
#include "core/textcodec.h"
#include "core/zstd_ctx.h"

/* zstd level for column chunks. Level 3 made parts 2% smaller than level 1 and flushes 9%
 * slower (bench/store_bench, 1 M events); flush speed is what ingest waits on. */
#define PART_ZSTD_LEVEL 1

struct ff_part_writer {
    char path[PATH_MAX], tmp[PATH_MAX];
    int fd;
    uint64_t off;
    struct ff_part_column *cols;
    uint32_t ncols, block_rows, nblocks;
    uint64_t nrows;
    uint32_t *dict_count;
    /* raw: a chunk's raw bytes. out: the file's bytes not yet written, chunks as stored:
     * written a MiB or more at a time, since a part has thousands of chunks, many of a few
     * dozen bytes, and a write(2) per chunk cost more than compressing them. blocks: the
     * footer's block entries. */
    struct ff_buf raw, out, blocks;
    /* Column by column (ff_part_writer_columns): every block's chunk references and keys,
     * kept until the footer, since chunks come in column order and the footer lists them by
     * block. */
    struct ff_chunkref *grid;       /* nblocks × ncols; offset 0 (inside the header): not written yet */
    uint32_t *grid_rows;            /* rows of each block */
    size_t *grid_key;               /* per block: offsets of its first and last key in grid_keys */
    struct ff_buf grid_keys;
};

int ff_compress(int codec, const void *src, size_t n, struct ff_buf *out)
{
    if (codec == FF_CODEC_NONE) return ff_buf_append(out, src, n);
    if (codec == FF_CODEC_ZSTD) {
        size_t cap = ZSTD_compressBound(n);
        int rc = ff_buf_reserve(out, cap);
        if (rc) return rc;
        size_t w = ff_zstd_compress(out->data + out->len, cap, src, n, PART_ZSTD_LEVEL);
        if (ZSTD_isError(w)) return -ENOMEM;
        out->len += w;
        return 0;
    }
    if (codec == FF_CODEC_LZ4) {
        if (n > (size_t)LZ4_MAX_INPUT_SIZE) return FF_ETOOBIG;
        int cap = LZ4_compressBound((int)n);
        int rc = ff_buf_reserve(out, (size_t)cap);
        if (rc) return rc;
        int w = LZ4_compress_default(src, out->data + out->len, (int)n, cap);
        if (w <= 0) return -ENOMEM;
        out->len += (size_t)w;
        return 0;
    }
    return FF_EINVAL;
}

int ff_part_writer_open(struct ff_part_writer **out, const char *path, const struct ff_part_column *cols,
                        uint32_t ncols, uint32_t block_rows)
{
    if (!ncols || !block_rows) return FF_EINVAL;
    struct ff_part_writer *w = ff_calloc(1, sizeof *w);
    if (!w) return -ENOMEM;
    w->fd = -1;
    w->ncols = ncols;
    w->block_rows = block_rows;
    ff_buf_init(&w->raw, (size_t)1 << 32);
    ff_buf_init(&w->out, (size_t)1 << 32);
    ff_buf_init(&w->blocks, (size_t)1 << 32);
    int rc = 0;
    if (snprintf(w->path, sizeof w->path, "%s", path) >= (int)sizeof w->path ||
        snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path) >= (int)sizeof w->tmp) {
        rc = -ENAMETOOLONG;
        goto fail;
    }
    w->cols = ff_calloc(ncols, sizeof *w->cols);
    w->dict_count = ff_calloc(ncols, sizeof *w->dict_count);
    if (!w->cols || !w->dict_count) {
        rc = -ENOMEM;
        goto fail;
    }
    memcpy(w->cols, cols, ncols * sizeof *cols);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        rc = -errno;
        goto fail;
    }
    static const char magic[8] = {'F', 'F', 'P', 'A', 'R', 'T', 0, FF_PART_VERSION};
    if ((rc = ff_buf_append(&w->out, magic, sizeof magic))) goto fail;
    w->off = sizeof magic;
    *out = w;
    return 0;
fail:
    ff_part_writer_abort(w);
    return rc;
}

void ff_part_writer_abort(struct ff_part_writer *w)
{
    if (!w) return;
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->tmp);
    }
    ff_buf_free(&w->raw);
    ff_buf_free(&w->out);
    ff_buf_free(&w->blocks);
    ff_free(w->grid);
    ff_free(w->grid_rows);
    ff_free(w->grid_key);
    ff_buf_free(&w->grid_keys);
    ff_free(w->cols);
    ff_free(w->dict_count);
    ff_free(w);
}

#define WRITE_BYTES ((size_t)1 << 20)

/* Writes the bytes w->out holds to the file. */
static int write_out(struct ff_part_writer *w)
{
    int rc = w->out.len ? ff_io_write_all(w->fd, w->out.data, w->out.len) : 0;
    ff_buf_reset(&w->out);
    return rc;
}

/* Compresses w->raw with `codec` and appends it to the file; fills `ref`. */
static int write_chunk(struct ff_part_writer *w, int codec, struct ff_chunkref *ref)
{
    if (w->raw.len > UINT32_MAX) return FF_ETOOBIG;
    const size_t start = w->out.len;
    int rc = ff_compress(codec, w->raw.data ? w->raw.data : "", w->raw.len, &w->out);
    /* Stored raw when compression does not help: the reader then skips a decompression. */
    if (!rc && w->out.len - start >= w->raw.len && codec != FF_CODEC_NONE) {
        w->out.len = start;
        codec = FF_CODEC_NONE;
        rc = ff_buf_append(&w->out, w->raw.data ? w->raw.data : "", w->raw.len);
    }
    if (rc) {
        w->out.len = start;
        return rc;
    }
    const size_t stored = w->out.len - start;
    if (stored > UINT32_MAX) return FF_ETOOBIG;
    ref->offset = w->off;
    ref->stored_len = (uint32_t)stored;
    ref->raw_len = (uint32_t)w->raw.len;
    ref->codec = (uint8_t)codec;
    ref->hash = XXH3_64bits(w->out.data + start, stored);
    w->off += stored;
    return w->out.len >= WRITE_BYTES ? write_out(w) : 0;
}

static int put_str(struct ff_buf *b, struct ff_str s)
{
    int rc = ff_buf_put_varint(b, s.len);
    return rc ? rc : ff_buf_append(b, s.p ? s.p : "", s.len);
}

static int put_chunkref(struct ff_buf *b, const struct ff_chunkref *r)
{
    int rc = ff_buf_put_u64(b, r->offset);
    if (!rc) rc = ff_buf_put_u32(b, r->stored_len);
    if (!rc) rc = ff_buf_put_u32(b, r->raw_len);
    if (!rc) rc = ff_buf_put_u8(b, r->codec);
    if (!rc) rc = ff_buf_put_u64(b, r->hash);
    if (!rc) rc = ff_buf_put_u64(b, (uint64_t)r->min);
    if (!rc) rc = ff_buf_put_u64(b, (uint64_t)r->max);
    return rc;
}

int ff_part_writer_dict(struct ff_part_writer *w, uint32_t col, const struct ff_str *values, uint32_t count)
{
    if (col >= w->ncols || w->cols[col].type != FF_COL_STR || w->cols[col].enc != FF_ENC_DICT || w->nblocks)
        return FF_EINVAL;
    ff_buf_reset(&w->raw);
    int rc = ff_buf_put_varint(&w->raw, count);
    for (uint32_t i = 0; i < count && !rc; i++) {
        /* Sorted and distinct, or code order would not be string order. */
        if (i && ff_str_cmp(values[i - 1], values[i]) >= 0) {
            rc = FF_EINVAL;
            break;
        }
        rc = put_str(&w->raw, values[i]);
    }
    if (rc) return rc;
    w->dict_count[col] = count;
    struct ff_chunkref *ref = &w->cols[col].dict;
    memset(ref, 0, sizeof *ref);
    ref->max = count ? (int64_t)count - 1 : 0;
    return write_chunk(w, w->cols[col].codec, ref);
}

/* Codes of one byte each (all below 128) into o, with their least and greatest. A merge
 * writes every dictionary column of every block through here, and the plain loop ran a code
 * at a time (gcc does not vectorise it for the x86-64 baseline): with SSE2, 16 at a time. */
static void narrow_codes(const uint32_t *restrict codes, unsigned char *restrict o, uint32_t n, uint32_t *low,
                         uint32_t *top)
{
    uint32_t i = 0, t = 0, l = UINT32_MAX;
#ifdef __SSE2__
    if (n >= 16) {
        /* Packed with saturation, so a code past 127 comes out wrong only in the bytes: every
         * code's bits above the seventh are or'd together to catch it. */
        __m128i hi = _mm_setzero_si128(), mx = _mm_setzero_si128(), mn = _mm_set1_epi8((char)0xff);
        for (; i + 16 <= n; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(codes + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(codes + i + 4));
            __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(codes + i + 8));
            __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(codes + i + 12));
            hi = _mm_or_si128(hi, _mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d)));
            __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d));
            _mm_storeu_si128((__m128i *)(void *)(o + i), bytes);
            mx = _mm_max_epu8(mx, bytes);
            mn = _mm_min_epu8(mn, bytes);
        }
        mx = _mm_max_epu8(mx, _mm_srli_si128(mx, 8)), mn = _mm_min_epu8(mn, _mm_srli_si128(mn, 8));
        mx = _mm_max_epu8(mx, _mm_srli_si128(mx, 4)), mn = _mm_min_epu8(mn, _mm_srli_si128(mn, 4));
        mx = _mm_max_epu8(mx, _mm_srli_si128(mx, 2)), mn = _mm_min_epu8(mn, _mm_srli_si128(mn, 2));
        mx = _mm_max_epu8(mx, _mm_srli_si128(mx, 1)), mn = _mm_min_epu8(mn, _mm_srli_si128(mn, 1));
        t = (uint32_t)_mm_cvtsi128_si32(mx) & 0xff;
        l = (uint32_t)_mm_cvtsi128_si32(mn) & 0xff;
        __m128i big = _mm_and_si128(hi, _mm_set1_epi32(~0x7f));
        if (_mm_movemask_epi8(_mm_cmpeq_epi32(big, _mm_setzero_si128())) != 0xffff) t = UINT32_MAX;
    }
#endif
    for (; i < n; i++) {
        t = codes[i] > t ? codes[i] : t, l = codes[i] < l ? codes[i] : l;
        o[i] = (unsigned char)codes[i];
    }
    *low = l, *top = t;
}

/* Encodes one column of a block into w->raw; sets min/max. */
static int encode(struct ff_part_writer *w, uint32_t c, const struct ff_colvec *v, uint32_t n, struct ff_chunkref *ref)
{
    struct ff_buf *b = &w->raw;
    const struct ff_part_column *col = &w->cols[c];
    ff_buf_reset(b);
    if (v->type != col->type) return FF_EINVAL;
    int rc = 0;
    int64_t mn = 0, mx = 0;
    switch (col->type) {
    case FF_COL_I64: {
        uint64_t prev = 0;
        if (n) mn = mx = v->i64[0];
        if ((rc = ff_buf_reserve(b, (size_t)n * 10))) return rc;
        for (uint32_t i = 0; i < n; i++) {
            int64_t x = v->i64[i];
            if (x < mn) mn = x;
            if (x > mx) mx = x;
            uint64_t d = (uint64_t)x - prev;
            prev = (uint64_t)x;
            uint64_t z = (d << 1) ^ (uint64_t)((int64_t)d >> 63); /* zigzag */
            b->len += ff_varint_put_raw((unsigned char *)b->data + b->len, z);
        }
        break;
    }
    case FF_COL_F64:
        if ((rc = ff_buf_reserve(b, (size_t)n * 8))) return rc;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t bits;
            memcpy(&bits, &v->f64[i], 8);
            for (int k = 0; k < 8; k++) b->data[b->len++] = (char)(bits >> (8 * k));
        }
        break;
    case FF_COL_U8:
        if (n) mn = mx = v->u8[0];
        for (uint32_t i = 0; i < n; i++) {
            if (v->u8[i] < mn) mn = v->u8[i];
            if (v->u8[i] > mx) mx = v->u8[i];
        }
        rc = ff_buf_append(b, v->u8, n);
        break;
    case FF_COL_STR:
        if (col->enc == FF_ENC_DICT) {
            if (n) mn = mx = v->codes[0];
            if ((rc = ff_buf_reserve(b, (size_t)n * 5))) return rc;
            if (w->dict_count[c] <= 128) { /* every code one byte */
                uint32_t top, low;
                narrow_codes(v->codes, (unsigned char *)b->data + b->len, n, &low, &top);
                if (n && top >= w->dict_count[c]) return FF_EINVAL;
                if (n) mn = low, mx = top;
                b->len += n;
                break;
            }
            for (uint32_t i = 0; i < n; i++) {
                uint32_t code = v->codes[i];
                if (code >= w->dict_count[c]) return FF_EINVAL;
                if (code < mn) mn = code;
                if (code > mx) mx = code;
                b->len += ff_varint_put_raw((unsigned char *)b->data + b->len, code);
            }
        } else if (col->enc == FF_ENC_UUID && v->uuid16) {
            rc = ff_buf_append(b, v->uuid16, (size_t)n * 16);
        } else if (col->enc == FF_ENC_UUID) {
            if ((rc = ff_buf_reserve(b, (size_t)n * 16))) return rc;
            for (uint32_t i = 0; i < n; i++) {
                uint8_t *o = (uint8_t *)b->data + b->len;
                if (v->str[i].len == 0) memset(o, 0, 16);
                else if (!ff_uuid_parse(v->str[i].p, v->str[i].len, o) || !memcmp(o, (uint8_t[16]){0}, 16))
                    return FF_EINVAL;
                b->len += 16;
            }
        } else {
            size_t need = 0; /* all at once: growing by doubling copied and zeroed it twice over */
            for (uint32_t i = 0; i < n; i++) need += (size_t)v->str[i].len + 10;
            if ((rc = ff_buf_reserve(b, need))) return rc;
            for (uint32_t i = 0; i < n; i++) {
                struct ff_str s = v->str[i];
                b->len += ff_varint_put_raw((unsigned char *)b->data + b->len, s.len);
                if (s.len) memcpy(b->data + b->len, s.p, s.len);
                b->len += s.len;
            }
        }
        break;
    default:
        return FF_EINVAL;
    }
    ref->min = mn;
    ref->max = mx;
    return rc;
}

int ff_part_writer_block(struct ff_part_writer *w, const struct ff_colvec *cols, uint32_t n,
                         struct ff_str first_key, struct ff_str last_key)
{
    if (!n || n > w->block_rows || w->grid) return FF_EINVAL;
    int rc = ff_buf_put_u64(&w->blocks, w->nrows);
    if (!rc) rc = ff_buf_put_u32(&w->blocks, n);
    if (!rc) rc = put_str(&w->blocks, first_key);
    if (!rc) rc = put_str(&w->blocks, last_key);
    for (uint32_t c = 0; c < w->ncols && !rc; c++) {
        struct ff_chunkref ref = {0};
        if (cols[c].n != n) return FF_EINVAL;
        if ((rc = encode(w, c, &cols[c], n, &ref))) break;
        int64_t mn = ref.min, mx = ref.max;
        if ((rc = write_chunk(w, w->cols[c].codec, &ref))) break;
        ref.min = mn, ref.max = mx;
        rc = put_chunkref(&w->blocks, &ref);
    }
    if (rc) return rc;
    w->nblocks++;
    w->nrows += n;
    return 0;
}

int ff_part_writer_columns(struct ff_part_writer *w, uint32_t nblocks)
{
    if (w->nblocks || w->grid) return FF_EINVAL;
    size_t cells = (size_t)(nblocks ? nblocks : 1) * w->ncols;
    w->grid = ff_calloc(cells, sizeof *w->grid);
    w->grid_rows = ff_calloc(nblocks ? nblocks : 1, sizeof *w->grid_rows);
    w->grid_key = ff_calloc((size_t)(nblocks ? nblocks : 1) * 4, sizeof *w->grid_key);
    ff_buf_init(&w->grid_keys, (size_t)1 << 32);
    if (!w->grid || !w->grid_rows || !w->grid_key) return -ENOMEM;
    w->nblocks = nblocks;
    return 0;
}

int ff_part_writer_block_keys(struct ff_part_writer *w, uint32_t block, uint32_t n, struct ff_str first_key,
                              struct ff_str last_key)
{
    if (!w->grid || block >= w->nblocks || !n || n > w->block_rows) return FF_EINVAL;
    size_t *k = &w->grid_key[(size_t)block * 4];
    k[0] = w->grid_keys.len, k[1] = first_key.len;
    int rc = ff_buf_append(&w->grid_keys, first_key.p ? first_key.p : "", first_key.len);
    k[2] = w->grid_keys.len, k[3] = last_key.len;
    if (!rc) rc = ff_buf_append(&w->grid_keys, last_key.p ? last_key.p : "", last_key.len);
    if (!rc) w->grid_rows[block] = n;
    return rc;
}

int ff_part_writer_chunk(struct ff_part_writer *w, uint32_t block, uint32_t col, const struct ff_colvec *v)
{
    if (!w->grid || block >= w->nblocks || col >= w->ncols || !w->grid_rows[block] || v->n != w->grid_rows[block])
        return FF_EINVAL;
    size_t cell = (size_t)block * w->ncols + col;
    struct ff_chunkref ref = {0};
    int rc = encode(w, col, v, v->n, &ref);
    int64_t mn = ref.min, mx = ref.max;
    if (!rc) rc = write_chunk(w, w->cols[col].codec, &ref);
    if (rc) return rc;
    ref.min = mn, ref.max = mx;
    w->grid[cell] = ref;
    return 0;
}

/* The footer's block entries of a part written column by column; every chunk must be there. */
static int grid_blocks(struct ff_part_writer *w)
{
    int rc = 0;
    for (uint32_t b = 0; b < w->nblocks && !rc; b++) {
        const size_t *k = &w->grid_key[(size_t)b * 4];
        if (!w->grid_rows[b]) return FF_EINVAL;
        rc = ff_buf_put_u64(&w->blocks, w->nrows);
        if (!rc) rc = ff_buf_put_u32(&w->blocks, w->grid_rows[b]);
        const char *keys = w->grid_keys.data ? w->grid_keys.data : "";
        if (!rc) rc = put_str(&w->blocks, (struct ff_str){keys + k[0], (uint32_t)k[1]});
        if (!rc) rc = put_str(&w->blocks, (struct ff_str){keys + k[2], (uint32_t)k[3]});
        for (uint32_t c = 0; c < w->ncols && !rc; c++) {
            size_t cell = (size_t)b * w->ncols + c;
            rc = w->grid[cell].offset ? put_chunkref(&w->blocks, &w->grid[cell]) : FF_EINVAL;
        }
        w->nrows += w->grid_rows[b];
    }
    return rc;
}

int ff_part_writer_finish(struct ff_part_writer *w, const struct ff_part_info *info)
{
    if (w->grid) {
        int rc = grid_blocks(w);
        if (rc) {
            ff_part_writer_abort(w);
            return rc;
        }
    }
    struct ff_buf f;
    ff_buf_init(&f, (size_t)1 << 32);
    int rc = info->nrows == w->nrows ? 0 : FF_EINVAL;
    if (!rc) rc = ff_buf_put_u64(&f, w->nrows);
    if (!rc) rc = ff_buf_put_u32(&f, w->block_rows);
    if (!rc) rc = ff_buf_put_u32(&f, w->nblocks);
    if (!rc) rc = ff_buf_put_u32(&f, w->ncols);
    if (!rc) rc = ff_buf_put_u32(&f, (uint32_t)info->day);
    const int64_t times[4] = {info->min_time, info->max_time, info->min_received, info->max_received};
    for (int i = 0; i < 4 && !rc; i++) rc = ff_buf_put_u64(&f, (uint64_t)times[i]);
    for (uint32_t c = 0; c < w->ncols && !rc; c++) {
        const struct ff_part_column *col = &w->cols[c];
        rc = put_str(&f, (struct ff_str){col->name, (uint32_t)strnlen(col->name, sizeof col->name)});
        if (!rc) rc = ff_buf_put_u8(&f, col->type);
        if (!rc) rc = ff_buf_put_u8(&f, col->enc);
        if (!rc && col->enc == FF_ENC_DICT) rc = put_chunkref(&f, &col->dict);
    }
    if (!rc) rc = ff_buf_append(&f, w->blocks.data ? w->blocks.data : "", w->blocks.len);
    if (!rc && f.len > UINT32_MAX) rc = FF_ETOOBIG;
    uint64_t footer_off = w->off;
    uint32_t footer_len = (uint32_t)f.len;
    uint64_t hash = XXH3_64bits(f.data ? f.data : "", f.len);
    if (!rc) rc = ff_buf_put_u64(&f, footer_off);
    if (!rc) rc = ff_buf_put_u32(&f, footer_len);
    if (!rc) rc = ff_buf_put_u64(&f, hash);
    if (!rc) rc = ff_buf_append(&f, "FFPTAIL1", 8);
    if (!rc) rc = write_out(w);
    if (!rc) rc = ff_io_write_all(w->fd, f.data, f.len);
    if (!rc) rc = ff_io_fsync(w->fd);
    ff_buf_free(&f);
    if (!rc) {
        if (close(w->fd)) rc = -errno;
        w->fd = -1;
        if (rc) unlink(w->tmp);
    }
    if (!rc && (rc = ff_io_rename(w->tmp, w->path))) unlink(w->tmp);
    ff_part_writer_abort(w); /* frees; the file is no longer w->tmp when the rename succeeded */
    return rc;
}
