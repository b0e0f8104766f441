/* merge_stream.c - merging a day's event parts column by column, block by block.
 *
 * The first merge read every event of its inputs back into rows (properties joined into
 * JSON again) and built a part from them as a flush does: about a kilobyte of memory a row,
 * hence a cap of 512 K rows, and a good share of ingest's CPU. When the inputs have the same
 * columns (the same typed property columns too, as parts of one stream mostly have), this
 * merges them as they are stored instead:
 *
 *   - each string column keeps its encoding when every input has it: a dictionary column
 *     gets the sorted union of the inputs' dictionaries (each input's codes mapped onto it),
 *     a UUID column stays binary; otherwise the output stores the strings plainly;
 *   - a k-way merge (binary heap) over one decoded block per input emits rows in part order
 *     (person key, time, received, sequence number) into the output block;
 *   - an input block stays in memory until the output block that took its last row is
 *     written, since plain strings point into it.
 *
 * Memory is one block per input and one output block, whatever the part sizes. When the
 * columns differ it returns FF_MERGE_FALLBACK and the caller merges the old way. Decoded
 * blocks outlive the merge in the caller's pool (ff_merge_pool), already faulted in. */
#include "store/merge_stream.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/strsort.h"
#include "core/textcodec.h"
#include "store/props.h"

struct cursor {
    const struct ff_part *p;
    uint32_t block, row, nrows;   /* current block, row in it, rows in it */
    struct ff_colvec *cur;        /* ncols decoded columns of the current block */
    struct ff_colvec **retired;   /* earlier blocks whose rows the output block may still use */
    size_t nretired, cap_retired;
    uint32_t **remap;             /* per DICT column: input code -> output code */
};

struct merger {
    struct cursor *cur;
    size_t n;
    uint32_t ncols;
    struct ff_part_column out_cols[FF_NCOLS + FF_PROPS_MAX];
    struct ff_str *dict[FF_NCOLS + FF_PROPS_MAX];
    uint32_t dict_count[FF_NCOLS + FF_PROPS_MAX];
    /* Columns read as stored (dictionary codes, UUIDs as 16 bytes) rather than as text: all
     * but the person key columns, which rows are compared by (load_block). */
    uint8_t as_stored[FF_NCOLS + FF_PROPS_MAX];
    size_t *heap; /* cursor indexes, smallest row first */
    size_t nheap;
    /* Blocks whose rows are written, kept for the next load: their buffers are already
     * faulted in and sized, so a merge allocates about one block per input, not one per block. */
    struct ff_colvec **spare;
    size_t nspare, cap_spare;
    char *err;
    size_t errlen;
};

/* The person key, as schema.c sorts by it: the person id the flush resolved, else the user
 * id, else the anonymous id. */
static struct ff_str key_at(const struct cursor *c, uint32_t row)
{
    struct ff_str pid = c->cur[FF_C_PERSON_ID].str[row];
    if (pid.len) return pid;
    struct ff_str u = c->cur[FF_C_USER_ID].str[row];
    return u.len ? u : c->cur[FF_C_ANONYMOUS_ID].str[row];
}

/* Row ra of cursor a comes before row rb of cursor b: person key, time, received, sequence
 * number, then the input's place. */
static int row_less(const struct merger *m, size_t a, uint32_t ra, size_t b, uint32_t rb)
{
    const struct cursor *x = &m->cur[a], *y = &m->cur[b];
    int k = ff_str_cmp(key_at(x, ra), key_at(y, rb));
    if (k) return k < 0;
    static const int cols[] = {FF_C_TIME, FF_C_RECEIVED, FF_C_SEQ};
    for (int i = 0; i < 3; i++) {
        int64_t p = x->cur[cols[i]].i64[ra], q = y->cur[cols[i]].i64[rb];
        if (p != q) return p < q;
    }
    return a < b;
}

static int less(const struct merger *m, size_t a, size_t b) { return row_less(m, a, m->cur[a].row, b, m->cur[b].row); }

static void sift_down(struct merger *m, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < m->nheap && less(m, m->heap[l], m->heap[s])) s = l;
        if (r < m->nheap && less(m, m->heap[r], m->heap[s])) s = r;
        if (s == i) return;
        size_t t = m->heap[i];
        m->heap[i] = m->heap[s];
        m->heap[s] = t;
        i = s;
    }
}

/* A UUID column's value as stored: 16 zero bytes for none. */
static int uuid_bytes(struct ff_str s, uint8_t *o)
{
    if (!s.len) return memset(o, 0, 16), 0;
    return ff_uuid_parse(s.p, s.len, o) && memcmp(o, (uint8_t[16]){0}, 16) ? 0 : FF_ECORRUPT;
}

/* Every block has room for the most columns a part can have, so any merge can reuse it. */
#define BLOCK_COLS (FF_NCOLS + FF_PROPS_MAX)

static void free_block(struct ff_colvec *v)
{
    if (!v) return;
    for (uint32_t c = 0; c < BLOCK_COLS; c++) ff_colvec_free(&v[c]);
    ff_free(v);
}

static size_t block_bytes(const struct ff_colvec *v)
{
    size_t b = 0;
    for (uint32_t c = 0; c < BLOCK_COLS; c++) b += v[c].mem.cap;
    return b;
}

void ff_merge_pool_free(struct ff_merge_pool *pool)
{
    for (size_t i = 0; i < pool->n; i++) free_block(pool->blocks[i]);
    ff_free(pool->blocks);
    ff_mem_note_idle(-(long long)pool->bytes);
    memset(pool, 0, sizeof *pool);
}

/* Appends v to a growable array of blocks. */
static int push_block(struct ff_colvec ***arr, size_t *n, size_t *cap, struct ff_colvec *v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        struct ff_colvec **r = ff_realloc(*arr, nc * sizeof *r);
        if (!r) return -ENOMEM;
        *arr = r;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

/* Decodes block c->block of the cursor's part; the previous one is retired, not freed. */
static int load_block(struct merger *m, struct cursor *c)
{
    if (c->cur) {
        int rc = push_block(&c->retired, &c->nretired, &c->cap_retired, c->cur);
        if (rc) return rc;
        c->cur = NULL;
    }
    if (m->nspare) c->cur = m->spare[--m->nspare];
    else if (!(c->cur = ff_calloc(BLOCK_COLS, sizeof *c->cur))) return -ENOMEM;
    /* The person id first: when every row has one, rows are never compared by the user or
     * anonymous id, and those are read as stored too. */
    int rc = ff_part_read(c->p, c->block, FF_C_PERSON_ID, &c->cur[FF_C_PERSON_ID], m->err, m->errlen);
    if (rc) return rc;
    int pid_full = 1;
    for (uint32_t i = 0; i < c->cur[FF_C_PERSON_ID].n && pid_full; i++) pid_full = c->cur[FF_C_PERSON_ID].str[i].len > 0;
    for (uint32_t k = 0; k < m->ncols; k++) {
        if (k == FF_C_PERSON_ID) continue;
        int key = k == FF_C_USER_ID || k == FF_C_ANONYMOUS_ID;
        int raw = m->as_stored[k] || (key && pid_full && m->out_cols[k].enc != FF_ENC_PLAIN);
        rc = raw ? ff_part_read_raw(c->p, c->block, k, &c->cur[k], m->err, m->errlen)
                 : ff_part_read(c->p, c->block, k, &c->cur[k], m->err, m->errlen);
        if (rc) return rc;
    }
    c->row = 0;
    c->nrows = c->p->blocks[c->block].nrows;
    return 0;
}

/* Chooses each column's output encoding; builds union dictionaries and code maps. 0, or
 * FF_MERGE_FALLBACK when the inputs' columns differ. */
static int plan_columns(struct merger *m)
{
    const struct ff_part *p0 = m->cur[0].p;
    m->ncols = p0->info.ncols;
    if (m->ncols < FF_NCOLS || m->ncols > FF_NCOLS + FF_PROPS_MAX) return FF_MERGE_FALLBACK;
    for (size_t i = 0; i < m->n; i++) {
        const struct ff_part *p = m->cur[i].p;
        if (p->info.ncols != m->ncols || p->info.day != p0->info.day) return FF_MERGE_FALLBACK;
        for (uint32_t c = 0; c < m->ncols; c++)
            if (strcmp(p->cols[c].name, p0->cols[c].name) || p->cols[c].type != p0->cols[c].type ||
                (c < FF_NCOLS && (strcmp(p->cols[c].name, ff_schema[c].name) || p->cols[c].type != ff_schema[c].type)))
                return FF_MERGE_FALLBACK;
    }
    for (uint32_t c = 0; c < m->ncols; c++) {
        struct ff_part_column *oc = &m->out_cols[c];
        memset(oc, 0, sizeof *oc);
        snprintf(oc->name, sizeof oc->name, "%s", p0->cols[c].name);
        oc->type = p0->cols[c].type;
        oc->codec = ff_schema_codec(c);
        oc->enc = FF_ENC_PLAIN;
        if (oc->type != FF_COL_STR) continue;
        int all_dict = 1, all_uuid = 1;
        for (size_t i = 0; i < m->n; i++) {
            all_dict &= m->cur[i].p->cols[c].enc == FF_ENC_DICT;
            all_uuid &= m->cur[i].p->cols[c].enc == FF_ENC_UUID;
        }
        int key = c == FF_C_USER_ID || c == FF_C_ANONYMOUS_ID || c == FF_C_PERSON_ID;
        if (all_uuid) oc->enc = FF_ENC_UUID, m->as_stored[c] = !key;
        if (!all_dict) continue;
        /* the union of the inputs' dictionaries, sorted and distinct */
        size_t total = 0;
        const struct ff_str *vals[FF_MERGE_MAX_INPUTS];
        uint32_t counts[FF_MERGE_MAX_INPUTS];
        for (size_t i = 0; i < m->n; i++) {
            int rc = ff_part_dict(m->cur[i].p, c, &vals[i], &counts[i], m->err, m->errlen);
            if (rc) return rc;
            total += counts[i];
        }
        struct ff_str *u = ff_malloc((total ? total : 1) * sizeof *u);
        if (!u) return -ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < m->n; i++)
            for (uint32_t j = 0; j < counts[i]; j++) u[k++] = vals[i][j];
        uint32_t *order = ff_malloc((k ? k : 1) * sizeof *order);
        struct ff_str *sorted = ff_malloc((k ? k : 1) * sizeof *sorted);
        int rc = order && sorted ? 0 : -ENOMEM;
        for (size_t j = 0; j < k && !rc; j++) order[j] = (uint32_t)j;
        if (!rc) rc = ff_str_sort_index(u, order, k);
        size_t d = 0, bytes = 0;
        for (size_t j = 0; j < k && !rc; j++)
            if (!d || !ff_str_eq(sorted[d - 1], u[order[j]])) bytes += u[order[j]].len, sorted[d++] = u[order[j]];
        ff_free(order);
        ff_free(u);
        u = sorted;
        if (rc) {
            ff_free(u);
            return rc;
        }
        if (d > FF_DICT_MAX_VALUES || bytes > FF_DICT_MAX_BYTES) { /* too big for a dictionary: plain strings */
            ff_free(u);
            continue;
        }
        for (size_t i = 0; i < m->n; i++) {
            struct cursor *cu = &m->cur[i];
            if (!cu->remap && !(cu->remap = ff_calloc(m->ncols, sizeof *cu->remap))) {
                ff_free(u);
                return -ENOMEM;
            }
            if (!(cu->remap[c] = ff_malloc((counts[i] ? counts[i] : 1) * sizeof **cu->remap))) {
                ff_free(u);
                return -ENOMEM;
            }
            /* both sorted: one walk maps every code */
            size_t at = 0;
            for (uint32_t j = 0; j < counts[i]; j++) {
                while (ff_str_cmp(u[at], vals[i][j]) < 0) at++;
                cu->remap[c][j] = (uint32_t)at;
            }
        }
        oc->enc = FF_ENC_DICT;
        m->as_stored[c] = !key;
        m->dict[c] = u;
        m->dict_count[c] = (uint32_t)d;
    }
    return 0;
}

/* Keeps block v in the pool if there is room, else frees it. */
static void give_back(struct ff_merge_pool *pool, struct ff_colvec *v)
{
    if (!v) return;
    size_t b = block_bytes(v);
    if (!pool || pool->n >= FF_MERGE_POOL_BLOCKS || pool->bytes + b > FF_MERGE_POOL_BYTES ||
        push_block(&pool->blocks, &pool->n, &pool->cap, v)) {
        free_block(v);
        return;
    }
    pool->bytes += b;
    ff_mem_note_idle((long long)b);
}

static void merger_free(struct merger *m, struct ff_colvec *ov, struct ff_merge_pool *pool)
{
    for (uint32_t c = 0; c < FF_NCOLS + FF_PROPS_MAX; c++) {
        ff_free(ov[c].i64), ff_free(ov[c].f64), ff_free(ov[c].u8), ff_free(ov[c].str), ff_free(ov[c].codes);
        ff_free(m->dict[c]);
    }
    for (size_t i = 0; i < m->nspare; i++) give_back(pool, m->spare[i]);
    for (size_t i = 0; m->cur && i < m->n; i++) {
        struct cursor *c = &m->cur[i];
        give_back(pool, c->cur);
        for (size_t j = 0; j < c->nretired; j++) give_back(pool, c->retired[j]);
        ff_free(c->retired);
        for (uint32_t col = 0; c->remap && col < m->ncols; col++) ff_free(c->remap[col]);
        ff_free(c->remap);
    }
    ff_free(m->spare);
    ff_free(m->cur);
    ff_free(m->heap);
}

int ff_parts_merge_stream(struct ff_part *const *in, size_t n, const char *path, uint32_t block_rows,
                          struct ff_merge_pool *pool, struct ff_built_part *out, char *err, size_t errlen)
{
    if (n < 1 || n > FF_MERGE_MAX_INPUTS || !block_rows) return FF_EINVAL;
    struct merger m;
    memset(&m, 0, sizeof m);
    m.n = n;
    m.err = err;
    m.errlen = errlen;
    m.cur = ff_calloc(n, sizeof *m.cur);
    m.heap = ff_calloc(n, sizeof *m.heap);
    if (pool && pool->n) { /* the pool's blocks become this merge's spares */
        m.spare = pool->blocks, m.nspare = pool->n, m.cap_spare = pool->cap;
        ff_mem_note_idle(-(long long)pool->bytes);
        memset(pool, 0, sizeof *pool);
    }
    struct ff_colvec ov[FF_NCOLS + FF_PROPS_MAX];
    memset(ov, 0, sizeof ov);
    uint8_t *ov_uuid[FF_NCOLS + FF_PROPS_MAX] = {0}; /* ov[c].uuid16, writable */
    struct ff_part_writer *w = NULL;
    int rc = m.cur && m.heap ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) m.cur[i].p = in[i];
    if (!rc) rc = plan_columns(&m);
    /* output vectors, one block's worth */
    for (uint32_t c = 0; !rc && c < m.ncols; c++) {
        struct ff_colvec *v = &ov[c];
        v->type = m.out_cols[c].type;
        int uuid16 = v->type == FF_COL_STR && m.out_cols[c].enc == FF_ENC_UUID;
        size_t bytes = v->type == FF_COL_U8 ? 1 : uuid16 ? 16 : v->type == FF_COL_STR ? sizeof(struct ff_str) : 8;
        void *mem = ff_malloc((size_t)block_rows * bytes);
        if (!mem) rc = -ENOMEM;
        else if (v->type == FF_COL_I64) v->i64 = mem;
        else if (v->type == FF_COL_F64) v->f64 = mem;
        else if (v->type == FF_COL_U8) v->u8 = mem;
        else if (uuid16) v->uuid16 = ov_uuid[c] = mem;
        else v->str = mem;
        if (!rc && v->type == FF_COL_STR && m.out_cols[c].enc == FF_ENC_DICT &&
            !(v->codes = ff_malloc((size_t)block_rows * 4)))
            rc = -ENOMEM;
    }
    if (!rc) rc = ff_part_writer_open(&w, path, m.out_cols, m.ncols, block_rows);
    for (uint32_t c = 0; !rc && c < m.ncols; c++)
        if (m.out_cols[c].enc == FF_ENC_DICT) rc = ff_part_writer_dict(w, c, m.dict[c], m.dict_count[c]);
    for (size_t i = 0; !rc && i < n; i++) {
        if (!in[i]->info.nblocks) continue;
        if (!(rc = load_block(&m, &m.cur[i]))) m.heap[m.nheap++] = i;
    }
    for (size_t i = m.nheap; !rc && i-- > 0;) sift_down(&m, i);

    struct ff_part_info *info = &out->info;
    memset(out, 0, sizeof *out);
    info->min_time = info->min_received = INT64_MAX;
    info->max_time = info->max_received = INT64_MIN;
    out->min_seq = UINT64_MAX;
    struct ff_buf first_key; /* the output block's first key: it outlives its input block */
    ff_buf_init(&first_key, (size_t)1 << 32);
    uint32_t k = 0; /* rows in the output block */
    while (!rc && m.nheap) {
        size_t top = m.heap[0];
        struct cursor *c = &m.cur[top];
        /* The run of rows this input gives before another's turn: inputs hold whole stretches
         * of one person, so rows come in runs, copied column by column. */
        size_t other = m.nheap == 1 ? SIZE_MAX : m.nheap > 2 && less(&m, m.heap[2], m.heap[1]) ? m.heap[2] : m.heap[1];
        uint32_t r0 = c->row, len = 1, room = block_rows - k;
        while (len < room && r0 + len < c->nrows &&
               (other == SIZE_MAX || row_less(&m, top, r0 + len, other, m.cur[other].row)))
            len++;
        if (k == 0) {
            struct ff_str key = key_at(c, r0);
            ff_buf_reset(&first_key);
            if ((rc = ff_buf_append(&first_key, key.p, key.len))) break;
        }
        for (uint32_t col = 0; col < m.ncols; col++) {
            const struct ff_colvec *src = &c->cur[col];
            struct ff_colvec *dst = &ov[col];
            if (dst->type == FF_COL_I64) memcpy(dst->i64 + k, src->i64 + r0, (size_t)len * 8);
            else if (dst->type == FF_COL_F64) memcpy(dst->f64 + k, src->f64 + r0, (size_t)len * 8);
            else if (dst->type == FF_COL_U8) memcpy(dst->u8 + k, src->u8 + r0, len);
            else if (dst->codes)
                for (uint32_t i = 0; i < len; i++) dst->codes[k + i] = c->remap[col][src->codes[r0 + i]];
            else if (ov_uuid[col] && src->uuid16)
                memcpy(ov_uuid[col] + (size_t)k * 16, src->uuid16 + (size_t)r0 * 16, (size_t)len * 16);
            else if (ov_uuid[col]) /* read as text, to compare rows by */
                for (uint32_t i = 0; i < len && !rc; i++) rc = uuid_bytes(src->str[r0 + i], ov_uuid[col] + (size_t)(k + i) * 16);
            else memcpy(dst->str + k, src->str + r0, (size_t)len * sizeof *dst->str);
        }
        if (rc) break;
        for (uint32_t i = r0; i < r0 + len; i++) {
            int64_t t = c->cur[FF_C_TIME].i64[i], rv = c->cur[FF_C_RECEIVED].i64[i];
            uint64_t seq = (uint64_t)c->cur[FF_C_SEQ].i64[i];
            if (t < info->min_time) info->min_time = t;
            if (t > info->max_time) info->max_time = t;
            if (rv < info->min_received) info->min_received = rv;
            if (rv > info->max_received) info->max_received = rv;
            if (seq < out->min_seq) out->min_seq = seq;
            if (seq > out->max_seq) out->max_seq = seq;
        }
        k += len;
        c->row += len;
        int last_row = m.nheap == 1 && c->row == c->nrows && c->block + 1 == c->p->info.nblocks;
        if (k == block_rows || last_row) {
            /* the last key is the row just taken: write before the cursor moves on */
            struct ff_str first = {first_key.data ? first_key.data : "", (uint32_t)first_key.len};
            for (uint32_t col = 0; col < m.ncols; col++) ov[col].n = k;
            rc = ff_part_writer_block(w, ov, k, first, key_at(c, c->row - 1));
            info->nrows += k;
            k = 0;
            for (size_t i = 0; i < n; i++) { /* their rows are written */
                for (size_t j = 0; j < m.cur[i].nretired; j++)
                    if (push_block(&m.spare, &m.nspare, &m.cap_spare, m.cur[i].retired[j]))
                        free_block(m.cur[i].retired[j]);
                m.cur[i].nretired = 0;
            }
        }
        if (rc) break;
        if (c->row == c->nrows) {
            if (++c->block < c->p->info.nblocks) rc = load_block(&m, c);
            else m.heap[0] = m.heap[--m.nheap]; /* this input is done */
        }
        if (!rc && m.nheap) sift_down(&m, 0);
    }
    ff_buf_free(&first_key);
    info->block_rows = block_rows;
    info->ncols = m.ncols;
    info->day = in[0]->info.day;
    if (!rc && w) rc = ff_part_writer_finish(w, info);
    else if (w) ff_part_writer_abort(w);
    if (!rc) {
        const char *slash = strrchr(path, '/');
        snprintf(out->name, sizeof out->name, "%s", slash ? slash + 1 : path);
        struct stat st;
        if (stat(path, &st) == 0) out->bytes = (uint64_t)st.st_size;
    }
    for (uint32_t c = 0; c < FF_NCOLS + FF_PROPS_MAX; c++) ff_free(ov_uuid[c]);
    merger_free(&m, ov, pool);
    return rc;
}
