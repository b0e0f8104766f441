/* qparts.c - quarantine parts: invalid input kept with its reason, in the part format
 * (part.h) so it shares the checksums, the manifest and the checker with events.
 *
 * Columns: received_at (I64), format (U8), index (I64: batch item or import line, -1 when
 * none), reason, field, raw (STR, plain), seq (I64, arrival order; rows are in that order),
 * project (STR; parts written before projects existed lack it: their items are the default
 * project's). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "store/store_int.h"

enum { Q_RECEIVED, Q_FORMAT, Q_INDEX, Q_REASON, Q_FIELD, Q_RAW, Q_SEQ, Q_PROJECT, Q_NCOLS };
_Static_assert(Q_NCOLS == FF_QPART_NCOLS, "store_int.h says how many quarantine columns there are");

static const struct ff_part_column qcols[Q_NCOLS] = {
    {"received_at", FF_COL_I64, FF_ENC_PLAIN, FF_CODEC_ZSTD, {0}},
    {"format", FF_COL_U8, FF_ENC_PLAIN, FF_CODEC_ZSTD, {0}},
    {"index", FF_COL_I64, FF_ENC_PLAIN, FF_CODEC_ZSTD, {0}},
    {"reason", FF_COL_STR, FF_ENC_PLAIN, FF_CODEC_ZSTD, {0}},
    {"field", FF_COL_STR, FF_ENC_PLAIN, FF_CODEC_ZSTD, {0}},
    {"raw", FF_COL_STR, FF_ENC_PLAIN, FF_CODEC_ZSTD, {0}},
    {"seq", FF_COL_I64, FF_ENC_PLAIN, FF_CODEC_ZSTD, {0}},
    {"project", FF_COL_STR, FF_ENC_PLAIN, FF_CODEC_ZSTD, {0}},
};

int ff_qpart_build(const char *dir, uint64_t id, const struct ff_quarantined *items, const uint64_t *seqs, size_t n,
                   struct ff_built_part *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "q-%06llu.part", (unsigned long long)id);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, out->name);
    uint32_t rows = FF_PART_BLOCK_ROWS;
    struct ff_part_writer *w;
    int rc = ff_part_writer_open(&w, path, qcols, Q_NCOLS, rows);
    if (rc) return rc;
    struct ff_colvec v[Q_NCOLS];
    memset(v, 0, sizeof v);
    for (int c = 0; c < Q_NCOLS; c++) v[c].type = qcols[c].type;
    int64_t *recv = ff_malloc(rows * 8), *index = ff_malloc(rows * 8), *seq = ff_malloc(rows * 8);
    uint8_t *format = ff_malloc(rows);
    struct ff_str *strs = ff_malloc(4 * (size_t)rows * sizeof *strs);
    if (!recv || !index || !seq || !format || !strs) rc = -ENOMEM;
    out->min_seq = UINT64_MAX;
    out->info.min_time = out->info.min_received = INT64_MAX;
    out->info.max_time = out->info.max_received = INT64_MIN;
    for (size_t r0 = 0; r0 < n && !rc; r0 += rows) {
        uint32_t k = (uint32_t)(n - r0 < rows ? n - r0 : rows);
        for (uint32_t i = 0; i < k; i++) {
            const struct ff_quarantined *q = &items[r0 + i];
            recv[i] = q->received_at_us;
            format[i] = q->format;
            index[i] = q->index;
            strs[i] = q->reason;
            strs[rows + i] = q->field;
            strs[2 * (size_t)rows + i] = q->raw;
            strs[3 * (size_t)rows + i] = q->project;
            seq[i] = (int64_t)seqs[r0 + i];
            if (seqs[r0 + i] < out->min_seq) out->min_seq = seqs[r0 + i];
            if (seqs[r0 + i] > out->max_seq) out->max_seq = seqs[r0 + i];
            if (q->received_at_us < out->info.min_received) out->info.min_received = q->received_at_us;
            if (q->received_at_us > out->info.max_received) out->info.max_received = q->received_at_us;
        }
        v[Q_RECEIVED].i64 = recv, v[Q_FORMAT].u8 = format, v[Q_INDEX].i64 = index, v[Q_SEQ].i64 = seq;
        v[Q_REASON].str = strs, v[Q_FIELD].str = strs + rows, v[Q_RAW].str = strs + 2 * (size_t)rows;
        v[Q_PROJECT].str = strs + 3 * (size_t)rows;
        for (int c = 0; c < Q_NCOLS; c++) v[c].n = k;
        rc = ff_part_writer_block(w, v, k, (struct ff_str){"", 0}, (struct ff_str){"", 0});
    }
    out->info.nrows = n;
    out->info.min_time = out->info.min_received;
    out->info.max_time = out->info.max_received;
    /* the day of its last item: merges keep to one day, so retention can drop whole parts */
    out->info.day = n ? ff_day_of(out->info.max_received) : 0;
    if (!rc) rc = ff_part_writer_finish(w, &out->info);
    else ff_part_writer_abort(w);
    ff_free(recv), ff_free(index), ff_free(seq), ff_free(format), ff_free(strs);
    struct stat st;
    if (!rc && stat(path, &st) == 0) out->bytes = (uint64_t)st.st_size;
    return rc;
}

int ff_qpart_columns(const struct ff_part *p, int cols[FF_QPART_NCOLS])
{
    for (int c = 0; c < Q_NCOLS; c++) {
        cols[c] = ff_part_column_index(p, qcols[c].name);
        if (cols[c] >= 0 && p->cols[cols[c]].type != qcols[c].type) return -1;
        if (cols[c] < 0 && c != Q_PROJECT) return -1;
    }
    return 0;
}

static int by_seq(const void *a, const void *b, void *arg)
{
    const uint64_t *seq = arg;
    uint64_t x = seq[*(const uint32_t *)a], y = seq[*(const uint32_t *)b];
    return x < y ? -1 : x > y;
}

int ff_qparts_collect(struct ff_part *const *parts, size_t n, struct ff_qcollected *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t rows = 0, blocks = 0;
    for (size_t k = 0; k < n; k++) rows += parts[k]->info.nrows, blocks += parts[k]->info.nblocks;
    out->vecs = ff_calloc(blocks * Q_NCOLS + 1, sizeof *out->vecs);
    struct ff_quarantined *items = ff_malloc((rows + 1) * sizeof *items);
    uint64_t *seqs = ff_malloc((rows + 1) * sizeof *seqs);
    uint32_t *order = ff_malloc((rows + 1) * sizeof *order);
    int rc = out->vecs && items && seqs && order ? 0 : -ENOMEM;
    for (size_t k = 0; !rc && k < n; k++) {
        const struct ff_part *p = parts[k];
        int cols[Q_NCOLS];
        if (ff_qpart_columns(p, cols)) {
            snprintf(err, errlen, "%s: not a quarantine part (columns missing)", p->path);
            rc = FF_ECORRUPT;
            break;
        }
        for (uint32_t b = 0; !rc && b < p->info.nblocks; b++) {
            struct ff_colvec *v = &out->vecs[out->nvecs];
            out->nvecs += Q_NCOLS;
            for (int c = 0; c < Q_NCOLS && !rc; c++)
                if (cols[c] >= 0) rc = ff_part_read(p, b, (uint32_t)cols[c], &v[c], err, errlen);
            for (uint32_t i = 0; !rc && i < p->blocks[b].nrows; i++, out->n++) {
                items[out->n] = (struct ff_quarantined){.received_at_us = v[Q_RECEIVED].i64[i],
                                                        .format = v[Q_FORMAT].u8[i],
                                                        .index = (int32_t)v[Q_INDEX].i64[i],
                                                        .reason = v[Q_REASON].str[i],
                                                        .field = v[Q_FIELD].str[i],
                                                        .raw = v[Q_RAW].str[i],
                                                        .project = cols[Q_PROJECT] >= 0 ? v[Q_PROJECT].str[i]
                                                                                        : (struct ff_str){"", 0}};
                seqs[out->n] = (uint64_t)v[Q_SEQ].i64[i];
                order[out->n] = (uint32_t)out->n;
            }
        }
    }
    /* arrival order across the inputs */
    if (!rc) {
        qsort_r(order, out->n, sizeof *order, by_seq, seqs);
        out->items = ff_malloc((out->n + 1) * sizeof *out->items);
        out->seqs = ff_malloc((out->n + 1) * sizeof *out->seqs);
        if (!out->items || !out->seqs) rc = -ENOMEM;
        for (size_t i = 0; !rc && i < out->n; i++) out->items[i] = items[order[i]], out->seqs[i] = seqs[order[i]];
    }
    ff_free(items), ff_free(seqs), ff_free(order);
    if (rc) ff_qcollected_free(out);
    return rc;
}

void ff_qcollected_free(struct ff_qcollected *c)
{
    for (size_t i = 0; c->vecs && i < c->nvecs; i++) ff_colvec_free(&c->vecs[i]);
    ff_free(c->vecs), ff_free(c->items), ff_free(c->seqs);
    memset(c, 0, sizeof *c);
}
