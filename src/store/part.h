/* part.h - immutable columnar parts: the files the event store queries.
 *
 * A part holds rows cut into blocks of at most `block_rows` rows. Each column of each block
 * is one compressed chunk with its own checksum, so a damaged chunk costs that chunk only,
 * and a query reads only the columns and blocks it needs. The store (store.c) decides what
 * the rows are (one day of events sorted by person, then time: schema.h); this file knows
 * only columns.
 *
 * File layout, format version 1. Integers are little-endian, varint is LEB128,
 * str is varint length + bytes.
 *
 *   header   "FFPART" 0x00 0x01          8 bytes: magic and format version 1
 *   chunks   compressed column chunks and dictionaries, back to back, where the footer says
 *   footer   nrows:u64 block_rows:u32 nblocks:u32 ncols:u32 day:i32
 *            min_time:i64 max_time:i64 min_received:i64 max_received:i64
 *            column × ncols:  name:str type:u8 encoding:u8 [dict:chunkref when encoding = DICT]
 *            block × nblocks: row0:u64 nrows:u32 first_key:str last_key:str
 *                             chunk:chunkref × ncols
 *   trailer  footer_offset:u64 footer_len:u32 footer_xxh3:u64 "FFPTAIL1"      28 bytes
 *
 *   chunkref := offset:u64 stored_len:u32 raw_len:u32 codec:u8 xxh3:u64 min:i64 max:i64
 *
 * xxh3 is XXH3-64 of the stored (compressed) bytes. codec: 0 none, 1 zstd, 2 lz4 (block
 * format). first_key/last_key are the block's first and last sort keys (the person), which
 * lets a reader skip to one person's rows.
 *
 * Column types and the raw (decompressed) bytes of their chunks:
 *   I64  varint(zigzag(v[i] - v[i-1])) per row, v[-1] = 0, subtraction modulo 2^64 (so
 *        INT64_MIN, "absent", costs nothing special). min/max: of the values.
 *   U8   one byte per row. min/max: of the values.
 *   F64  8 bytes per row, IEEE 754 binary64 little-endian. min/max: 0.
 *   STR  encoding PLAIN: str per row. min/max: 0.
 *        encoding DICT:  varint code per row into the column's dictionary: the dictionary
 *                        chunk's raw bytes are count:varint then str × count, sorted
 *                        bytewise and distinct, so code order is string order. min/max: the
 *                        smallest and largest code in the chunk (a block without an event
 *                        name's code in range is skipped without reading it).
 *        encoding UUID:  16 bytes per row; the value is the canonical text of those bytes
 *                        (8-4-4-4-12 lowercase hex digits), and 16 zero bytes stand for "".
 *                        Chosen only when every value of the column has that form.
 *
 * A reader checks the trailer's magic and the footer's checksum when it opens a part, and a
 * chunk's (or dictionary's) checksum before it decompresses it. */
#ifndef FF_PART_H
#define FF_PART_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "core/buf.h"
#include "event/event.h"

#define FF_PART_VERSION 1
#define FF_PART_BLOCK_ROWS 65536

enum ff_col_type { FF_COL_I64 = 1, FF_COL_U8 = 2, FF_COL_STR = 3, FF_COL_F64 = 4 };
enum ff_col_enc { FF_ENC_PLAIN = 0, FF_ENC_DICT = 1, FF_ENC_UUID = 2 };
enum ff_codec { FF_CODEC_NONE = 0, FF_CODEC_ZSTD = 1, FF_CODEC_LZ4 = 2 };

/* One column of one block, decoded (reader) or to encode (writer). */
struct ff_colvec {
    uint8_t type;          /* enum ff_col_type */
    uint32_t n;
    int64_t *i64;          /* I64 */
    double *f64;           /* F64 */
    uint8_t *u8;           /* U8 */
    struct ff_str *str;    /* STR: the values (reader: always filled; writer: PLAIN and UUID) */
    uint32_t *codes;       /* STR with DICT: codes into the dictionary (reader and writer) */
    const uint8_t *uuid16; /* STR with UUID: writer, optional: the values already parsed; reader: ff_part_read_raw's */
    struct ff_buf mem;     /* reader: owns what the arrays point to */
};
void ff_colvec_free(struct ff_colvec *v);

struct ff_chunkref {
    uint64_t offset;
    uint32_t stored_len, raw_len;
    uint8_t codec;
    uint64_t hash;
    int64_t min, max;
};

struct ff_part_column {
    char name[64];
    uint8_t type, enc, codec; /* codec: what the writer uses for this column's chunks */
    struct ff_chunkref dict;  /* DICT only */
};

struct ff_part_block {
    uint64_t row0;
    uint32_t nrows;
    struct ff_str first_key, last_key;
    struct ff_chunkref *chunks; /* ncols */
};

/* What a part says about itself (the footer without the chunk references). */
struct ff_part_info {
    uint64_t nrows;
    uint32_t block_rows, nblocks, ncols;
    int32_t day;                 /* days since 1970-01-01 (UTC) */
    int64_t min_time, max_time;  /* event time, µs */
    int64_t min_received, max_received;
};

/* ---- writing ---- */
struct ff_part_writer;

/* Creates `path`.tmp with the given columns (type, encoding and codec set per column). */
int ff_part_writer_open(struct ff_part_writer **out, const char *path, const struct ff_part_column *cols,
                        uint32_t ncols, uint32_t block_rows);
/* Sets the sorted, distinct dictionary of a DICT column; before the first block. */
int ff_part_writer_dict(struct ff_part_writer *w, uint32_t col, const struct ff_str *values, uint32_t count);
/* Appends a block: one vector per column, all of `n` rows (n <= block_rows). */
int ff_part_writer_block(struct ff_part_writer *w, const struct ff_colvec *cols, uint32_t n,
                         struct ff_str first_key, struct ff_str last_key);
/* Or column by column (a merge): the part will have nblocks blocks; each gets its row count
 * and keys (ff_part_writer_block_keys) before its chunks, and every (block, column) chunk is
 * written once, in any order (ff_part_writer_chunk, a vector of the block's rows). The file
 * then holds each column's chunks together; the footer lists them by block as always. */
int ff_part_writer_columns(struct ff_part_writer *w, uint32_t nblocks);
int ff_part_writer_block_keys(struct ff_part_writer *w, uint32_t block, uint32_t n, struct ff_str first_key,
                              struct ff_str last_key);
int ff_part_writer_chunk(struct ff_part_writer *w, uint32_t block, uint32_t col, const struct ff_colvec *v);
/* Writes footer and trailer, fsyncs, renames `path`.tmp to `path`. The caller makes the rename
 * durable (fsync of the directory) with whatever else it publishes. Frees `w` in every case. */
int ff_part_writer_finish(struct ff_part_writer *w, const struct ff_part_info *info);
/* Gives up: removes the temporary file and frees `w`. */
void ff_part_writer_abort(struct ff_part_writer *w);

/* ---- reading ---- */
struct ff_part {
    char path[512];
    const uint8_t *map;
    size_t size;
    struct ff_part_info info;
    struct ff_part_column *cols;
    struct ff_part_block *blocks;
    struct ff_chunkref *chunks; /* nblocks × ncols, what blocks[].chunks point into */
    struct ff_str **dicts;      /* per column: the decoded dictionary, once loaded (ff_part_dict) */
    uint32_t *dict_count;
    char **dict_raw;            /* per column: the bytes dicts[] point into */
    pthread_mutex_t dict_mu;    /* dictionaries load on first use, from any reader thread */
    int dict_mu_ok;
};

/* Maps and checks `path` (trailer, footer checksum, dictionaries). On FF_ECORRUPT or -errno,
 * `err` says what is wrong and where (file and offset). */
int ff_part_open(const char *path, struct ff_part **out, char *err, size_t errlen);
void ff_part_close(struct ff_part *p);
/* The dictionary of DICT column `col`, decoded on first use (checked against its checksum)
 * and kept while the part is open. 0, or FF_ECORRUPT with `err` naming file and offset. */
int ff_part_dict(const struct ff_part *p, uint32_t col, const struct ff_str **vals, uint32_t *count, char *err,
                 size_t errlen);
/* Index of the column named `name`, or -1. */
int ff_part_column_index(const struct ff_part *p, const char *name);
/* Decodes one chunk into `out` (freed and refilled). FF_ECORRUPT with `err` naming the file,
 * column, block and offset when its checksum or encoding is wrong. */
int ff_part_read(const struct ff_part *p, uint32_t block, uint32_t col, struct ff_colvec *out, char *err,
                 size_t errlen);
/* Like ff_part_read, but a DICT column comes back as codes only (str NULL): 16 bytes a row
 * less, for a caller that maps codes itself (a merge). */
int ff_part_read_codes(const struct ff_part *p, uint32_t block, uint32_t col, struct ff_colvec *out, char *err,
                       size_t errlen);
/* Like ff_part_read_codes, and a UUID column comes back as its 16 bytes a row (uuid16, str
 * NULL) rather than as text: for a reader that formats only the values it needs. */
int ff_part_read_raw(const struct ff_part *p, uint32_t block, uint32_t col, struct ff_colvec *out, char *err,
                     size_t errlen);
/* Decodes a chunk's raw (decompressed) bytes holding n values of a column with this type and
 * encoding (and dictionary, for DICT). 0 or FF_ECORRUPT. */
int ff_chunk_decode(const void *raw, size_t raw_len, uint8_t type, uint8_t enc, uint32_t n, const struct ff_str *dict,
                    uint32_t dict_count, struct ff_colvec *out);
/* Checks every chunk's checksum and decoding; calls `bad` for each damaged one. Returns the
 * number of damaged chunks. */
typedef void (*ff_part_bad_fn)(void *arg, const char *what);
long ff_part_verify(const struct ff_part *p, ff_part_bad_fn bad, void *arg);

/* ---- block compression, shared with other files of the store ---- */
/* zstd goes through the calling thread's context (core/zstd_ctx.h). */
int ff_compress(int codec, const void *src, size_t n, struct ff_buf *out);
int ff_decompress(int codec, const void *src, size_t n, void *dst, size_t raw_len);

#endif
