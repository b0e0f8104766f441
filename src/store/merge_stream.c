/* merge_stream.c - merging a day's event parts as they are stored, one column at a time.
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
 *   - first the order: a k-way merge (binary heap) over the inputs' sort key columns alone
 *     (person key, time, received, sequence number) gives the output as runs, each a stretch
 *     of rows from one input, cut where output blocks end;
 *   - then every column on its own: the runs copy each input's values into the output block,
 *     one decoded block of that column per input at a time, and each full output block
 *     becomes that column's chunk (ff_part_writer_chunk). An input block of plain strings,
 *     which the output block points into, stays until that chunk is written.
 *
 * So memory is one block of one column per input (a block of all columns was 38 MB of the
 * benchmark's events; the largest column's is a few MB), and a merge can take all of
 * FF_MERGE_MAX_INPUTS parts. When the columns differ it returns FF_MERGE_FALLBACK and the
 * caller merges the old way. Decoded vectors outlive the merge in the caller's pool
 * (ff_merge_pool), already faulted in. */
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

#define RUN_INPUT_SHIFT 26 /* a run: input index above (FF_MERGE_MAX_INPUTS), row count below */
#define RUN_LEN_MASK ((UINT32_C(1) << RUN_INPUT_SHIFT) - 1)
_Static_assert(FF_MERGE_MAX_INPUTS <= (1 << (32 - RUN_INPUT_SHIFT)), "a run's input index must fit above its length");

/* One input: its part, its code maps, and where each pass stands in it. */
struct input {
    const struct ff_part *p;
    uint32_t **remap; /* per DICT column: input code -> output code */
    /* the order pass: the current block's sort key columns */
    uint32_t block, row, nrows;
    struct ff_colvec *pid, *uid, *aid, *time, *received, *seq;
    int pid_full; /* every row of the block has a person id: the user and anonymous ids are not read */
    /* the column pass: the current block of the column being copied */
    struct ff_colvec *vec;
    uint32_t vnext, vrow, vnrows; /* vnext: the block to read after vec's */
    int vused;                    /* the output block being filled points into vec */
};

/* An output block: its rows and its first and last keys (offsets into the merger's keys). */
struct out_block {
    uint32_t n;
    size_t first, first_len, last, last_len;
};

struct merger {
    struct input *in;
    size_t n;
    uint32_t ncols;
    struct ff_part_column out_cols[FF_NCOLS + FF_PROPS_MAX];
    struct ff_str *dict[FF_NCOLS + FF_PROPS_MAX];
    uint32_t dict_count[FF_NCOLS + FF_PROPS_MAX];
    size_t *heap; /* input indexes, smallest row first */
    size_t nheap;
    uint32_t *runs; /* (input << RUN_INPUT_SHIFT) | rows, in output order */
    size_t nruns, cap_runs;
    struct out_block *blocks;
    size_t nblocks, cap_blocks;
    struct ff_buf keys;
    /* Vectors free for the next read, and those the output block still points into. */
    struct ff_colvec **free, **held;
    size_t nfree, cap_free, nheld, cap_held;
    char *err;
    size_t errlen;
};

/* The person key, as schema.c sorts by it: the person id the flush resolved, else the user
 * id, else the anonymous id. */
static struct ff_str key_at(const struct input *c, uint32_t row)
{
    struct ff_str pid = c->pid->str[row];
    if (pid.len || c->pid_full) return pid;
    struct ff_str u = c->uid->str[row];
    return u.len ? u : c->aid->str[row];
}

/* Row ra of input a comes before row rb of input b: person key, time, received, sequence
 * number, then the input's place. */
static int row_less(const struct merger *m, size_t a, uint32_t ra, size_t b, uint32_t rb)
{
    const struct input *x = &m->in[a], *y = &m->in[b];
    int k = ff_str_cmp(key_at(x, ra), key_at(y, rb));
    if (k) return k < 0;
    if (x->time->i64[ra] != y->time->i64[rb]) return x->time->i64[ra] < y->time->i64[rb];
    if (x->received->i64[ra] != y->received->i64[rb]) return x->received->i64[ra] < y->received->i64[rb];
    if (x->seq->i64[ra] != y->seq->i64[rb]) return x->seq->i64[ra] < y->seq->i64[rb];
    return a < b;
}

static int less(const struct merger *m, size_t a, size_t b) { return row_less(m, a, m->in[a].row, b, m->in[b].row); }

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

static int push(struct ff_colvec ***arr, size_t *n, size_t *cap, struct ff_colvec *v)
{
    struct ff_colvec **r = ff_grow(*arr, cap, *n + 1, sizeof *r, 16);
    if (!r) return -ENOMEM;
    *arr = r;
    r[(*n)++] = v;
    return 0;
}

/* A vector to read into: a free one (its buffer already faulted in), else a new one. */
static struct ff_colvec *take_vec(struct merger *m)
{
    return m->nfree ? m->free[--m->nfree] : ff_calloc(1, sizeof(struct ff_colvec));
}

static void free_vec(struct ff_colvec *v)
{
    if (!v) return;
    ff_colvec_free(v);
    ff_free(v);
}

/* Back to the free list (freed when even that fails). */
static void drop_vec(struct merger *m, struct ff_colvec *v)
{
    if (v && push(&m->free, &m->nfree, &m->cap_free, v)) free_vec(v);
}

void ff_merge_pool_free(struct ff_merge_pool *pool)
{
    for (size_t i = 0; i < pool->n; i++) free_vec(pool->vecs[i]);
    ff_free(pool->vecs);
    ff_mem_note_idle(-(long long)pool->bytes);
    memset(pool, 0, sizeof *pool);
}

/* Chooses each column's output encoding; builds union dictionaries and code maps. 0, or
 * FF_MERGE_FALLBACK when the inputs' columns differ. */
static int plan_columns(struct merger *m)
{
    const struct ff_part *p0 = m->in[0].p;
    m->ncols = p0->info.ncols;
    if (m->ncols < FF_NCOLS || m->ncols > FF_NCOLS + FF_PROPS_MAX) return FF_MERGE_FALLBACK;
    for (size_t i = 0; i < m->n; i++) {
        const struct ff_part *p = m->in[i].p;
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
            all_dict &= m->in[i].p->cols[c].enc == FF_ENC_DICT;
            all_uuid &= m->in[i].p->cols[c].enc == FF_ENC_UUID;
        }
        if (all_uuid) oc->enc = FF_ENC_UUID;
        if (!all_dict) continue;
        /* the union of the inputs' dictionaries, sorted and distinct */
        size_t total = 0;
        const struct ff_str *vals[FF_MERGE_MAX_INPUTS];
        uint32_t counts[FF_MERGE_MAX_INPUTS];
        for (size_t i = 0; i < m->n; i++) {
            int rc = ff_part_dict(m->in[i].p, c, &vals[i], &counts[i], m->err, m->errlen);
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
            struct input *cu = &m->in[i];
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
        m->dict[c] = u;
        m->dict_count[c] = (uint32_t)d;
    }
    return 0;
}

/* Reads the sort key columns of input c's block c->block. */
static int load_keys(struct merger *m, struct input *c)
{
    const struct ff_part *p = c->p;
    int rc = ff_part_read(p, c->block, FF_C_PERSON_ID, c->pid, m->err, m->errlen);
    if (rc) return rc;
    c->pid_full = 1;
    for (uint32_t i = 0; i < c->pid->n && c->pid_full; i++) c->pid_full = c->pid->str[i].len > 0;
    if (!c->pid_full && ((rc = ff_part_read(p, c->block, FF_C_USER_ID, c->uid, m->err, m->errlen)) ||
                         (rc = ff_part_read(p, c->block, FF_C_ANONYMOUS_ID, c->aid, m->err, m->errlen))))
        return rc;
    if ((rc = ff_part_read(p, c->block, FF_C_TIME, c->time, m->err, m->errlen)) ||
        (rc = ff_part_read(p, c->block, FF_C_RECEIVED, c->received, m->err, m->errlen)) ||
        (rc = ff_part_read(p, c->block, FF_C_SEQ, c->seq, m->err, m->errlen)))
        return rc;
    c->row = 0;
    c->nrows = p->blocks[c->block].nrows;
    return 0;
}

static int add_run(struct merger *m, size_t input, uint32_t len)
{
    uint32_t *r = ff_grow(m->runs, &m->cap_runs, m->nruns + 1, sizeof *r, 1024);
    if (!r) return -ENOMEM;
    m->runs = r;
    r[m->nruns++] = (uint32_t)input << RUN_INPUT_SHIFT | len;
    return 0;
}

/* The order pass: the output as runs, its blocks with their keys, and the part's ranges. */
static int merge_order(struct merger *m, uint32_t block_rows, struct ff_built_part *out)
{
    struct ff_part_info *info = &out->info;
    int rc = 0;
    for (size_t i = 0; i < m->n && !rc; i++) {
        struct input *c = &m->in[i];
        if (!(c->pid = take_vec(m)) || !(c->uid = take_vec(m)) || !(c->aid = take_vec(m)) || !(c->time = take_vec(m)) ||
            !(c->received = take_vec(m)) || !(c->seq = take_vec(m)))
            rc = -ENOMEM;
        else if (c->p->info.nblocks && !(rc = load_keys(m, c)))
            m->heap[m->nheap++] = i;
    }
    for (size_t i = m->nheap; !rc && i-- > 0;) sift_down(m, i);
    uint32_t k = 0; /* rows in the output block */
    struct out_block *ob = NULL;
    while (!rc && m->nheap) {
        size_t top = m->heap[0];
        struct input *c = &m->in[top];
        /* The run of rows this input gives before another's turn: inputs hold whole stretches
         * of one person, so rows come in runs. */
        size_t other = m->nheap == 1 ? SIZE_MAX : m->nheap > 2 && less(m, m->heap[2], m->heap[1]) ? m->heap[2] : m->heap[1];
        uint32_t r0 = c->row, len = 1, room = block_rows - k;
        while (len < room && r0 + len < c->nrows && (other == SIZE_MAX || row_less(m, top, r0 + len, other, m->in[other].row)))
            len++;
        if (k == 0) {
            struct out_block *b = ff_grow(m->blocks, &m->cap_blocks, m->nblocks + 1, sizeof *b, 64);
            if (!b) {
                rc = -ENOMEM;
                break;
            }
            m->blocks = b;
            ob = &b[m->nblocks++];
            struct ff_str key = key_at(c, r0);
            ob->n = 0;
            ob->first = m->keys.len, ob->first_len = key.len;
            if ((rc = ff_buf_append(&m->keys, key.p, key.len))) break;
        }
        if ((rc = add_run(m, top, len))) break;
        for (uint32_t i = r0; i < r0 + len; i++) {
            int64_t t = c->time->i64[i], rv = c->received->i64[i];
            uint64_t seq = (uint64_t)c->seq->i64[i];
            if (t < info->min_time) info->min_time = t;
            if (t > info->max_time) info->max_time = t;
            if (rv < info->min_received) info->min_received = rv;
            if (rv > info->max_received) info->max_received = rv;
            if (seq < out->min_seq) out->min_seq = seq;
            if (seq > out->max_seq) out->max_seq = seq;
        }
        k += len;
        ob->n = k;
        info->nrows += len;
        c->row += len;
        int last_row = m->nheap == 1 && c->row == c->nrows && c->block + 1 == c->p->info.nblocks;
        if (k == block_rows || last_row) {
            /* the last key is the row just taken: kept before the input moves on */
            struct ff_str key = key_at(c, c->row - 1);
            ob->last = m->keys.len, ob->last_len = key.len;
            if ((rc = ff_buf_append(&m->keys, key.p, key.len))) break;
            k = 0;
        }
        if (c->row == c->nrows) {
            if (++c->block < c->p->info.nblocks) rc = load_keys(m, c);
            else m->heap[0] = m->heap[--m->nheap]; /* this input is done */
        }
        if (!rc && m->nheap) sift_down(m, 0);
    }
    return rc;
}

/* How column col is read from the inputs: as stored (dictionary codes, 16-byte UUIDs) when
 * the output keeps that encoding, else as values. */
static int read_col(struct merger *m, const struct input *c, uint32_t block, uint32_t col, struct ff_colvec *v)
{
    uint8_t enc = m->out_cols[col].enc;
    if (m->out_cols[col].type == FF_COL_STR && enc == FF_ENC_DICT)
        return ff_part_read_codes(c->p, block, col, v, m->err, m->errlen);
    if (m->out_cols[col].type == FF_COL_STR && enc == FF_ENC_UUID)
        return ff_part_read_raw(c->p, block, col, v, m->err, m->errlen);
    return ff_part_read(c->p, block, col, v, m->err, m->errlen);
}

/* Input c's next block of column col, into a vector of its own; the one before is held while
 * the output block points into it (plain strings), else free again. */
static int next_vec(struct merger *m, struct input *c, uint32_t col, int points)
{
    if (c->vec && points && c->vused) {
        if (push(&m->held, &m->nheld, &m->cap_held, c->vec)) return -ENOMEM; /* vec stays, freed with the merger */
    } else {
        drop_vec(m, c->vec);
    }
    c->vec = NULL;
    c->vused = 0;
    uint32_t block = c->vnext++;
    if (block >= c->p->info.nblocks) return FF_ECORRUPT; /* the order pass saw fewer rows */
    if (!(c->vec = take_vec(m))) return -ENOMEM;
    c->vrow = 0;
    c->vnrows = c->p->blocks[block].nrows;
    return read_col(m, c, block, col, c->vec);
}

/* The column pass for one column: every output block of it, in order. `ov` has room for a
 * block of any type. */
static int merge_column(struct merger *m, struct ff_part_writer *w, uint32_t col, struct ff_colvec *ov, uint32_t block_rows)
{
    const struct ff_part_column *oc = &m->out_cols[col];
    int points = oc->type == FF_COL_STR && oc->enc == FF_ENC_PLAIN; /* the output points into the inputs */
    int uuid = oc->type == FF_COL_STR && oc->enc == FF_ENC_UUID, dict = oc->type == FF_COL_STR && oc->enc == FF_ENC_DICT;
    for (size_t i = 0; i < m->n; i++) m->in[i].vnext = 0, m->in[i].vused = 0;
    struct ff_colvec v = {.type = oc->type};
    int rc = 0;
    size_t r = 0;
    for (size_t b = 0; b < m->nblocks && !rc; b++) {
        uint32_t k = 0, want = m->blocks[b].n;
        uint8_t *u16 = (uint8_t *)ov->uuid16;
        while (k < want && !rc) {
            if (r == m->nruns) {
                rc = FF_ECORRUPT;
                break;
            }
            struct input *c = &m->in[m->runs[r] >> RUN_INPUT_SHIFT];
            uint32_t len = m->runs[r++] & RUN_LEN_MASK;
            while (len && !rc) {
                if (!c->vec || c->vrow == c->vnrows) {
                    if ((rc = next_vec(m, c, col, points))) break;
                    continue;
                }
                const struct ff_colvec *src = c->vec;
                uint32_t take = c->vnrows - c->vrow < len ? c->vnrows - c->vrow : len, s0 = c->vrow;
                if (k + take > block_rows) {
                    rc = FF_ECORRUPT;
                    break;
                }
                if (oc->type == FF_COL_I64) memcpy(ov->i64 + k, src->i64 + s0, (size_t)take * 8);
                else if (oc->type == FF_COL_F64) memcpy(ov->f64 + k, src->f64 + s0, (size_t)take * 8);
                else if (oc->type == FF_COL_U8) memcpy(ov->u8 + k, src->u8 + s0, take);
                else if (dict)
                    for (uint32_t i = 0; i < take; i++) ov->codes[k + i] = c->remap[col][src->codes[s0 + i]];
                else if (uuid && src->uuid16) memcpy(u16 + (size_t)k * 16, src->uuid16 + (size_t)s0 * 16, (size_t)take * 16);
                else if (uuid) rc = FF_ECORRUPT;
                else memcpy(ov->str + k, src->str + s0, (size_t)take * sizeof *ov->str);
                c->vused = 1;
                c->vrow += take;
                k += take;
                len -= take;
            }
        }
        if (rc) break;
        v.n = k;
        v.i64 = ov->i64, v.f64 = ov->f64, v.u8 = ov->u8;
        v.str = dict || uuid ? NULL : ov->str;
        v.codes = dict ? ov->codes : NULL;
        v.uuid16 = uuid ? ov->uuid16 : NULL;
        rc = ff_part_writer_chunk(w, (uint32_t)b, col, &v);
        /* written: what it pointed into is free again */
        for (size_t i = 0; i < m->nheld; i++) drop_vec(m, m->held[i]);
        m->nheld = 0;
        for (size_t i = 0; i < m->n; i++) m->in[i].vused = 0;
    }
    for (size_t i = 0; i < m->n; i++) {
        drop_vec(m, m->in[i].vec);
        m->in[i].vec = NULL;
    }
    if (!rc && r != m->nruns) rc = FF_ECORRUPT;
    return rc;
}

/* Keeps vector v in the pool if there is room, else frees it. */
static void give_back(struct ff_merge_pool *pool, struct ff_colvec *v)
{
    if (!v) return;
    size_t b = v->mem.cap;
    if (!pool || pool->n >= FF_MERGE_POOL_VECS || pool->bytes + b > FF_MERGE_POOL_BYTES ||
        push(&pool->vecs, &pool->n, &pool->cap, v)) {
        free_vec(v);
        return;
    }
    pool->bytes += b;
    ff_mem_note_idle((long long)b);
}

static void merger_free(struct merger *m, struct ff_merge_pool *pool)
{
    for (uint32_t c = 0; c < FF_NCOLS + FF_PROPS_MAX; c++) ff_free(m->dict[c]);
    for (size_t i = 0; m->in && i < m->n; i++) {
        struct input *c = &m->in[i];
        struct ff_colvec *vs[] = {c->pid, c->uid, c->aid, c->time, c->received, c->seq, c->vec};
        for (size_t k = 0; k < sizeof vs / sizeof *vs; k++) drop_vec(m, vs[k]);
        for (uint32_t col = 0; c->remap && col < m->ncols; col++) ff_free(c->remap[col]);
        ff_free(c->remap);
    }
    for (size_t i = 0; i < m->nheld; i++) drop_vec(m, m->held[i]);
    for (size_t i = 0; i < m->nfree; i++) give_back(pool, m->free[i]);
    ff_free(m->free);
    ff_free(m->held);
    ff_free(m->in);
    ff_free(m->heap);
    ff_free(m->runs);
    ff_free(m->blocks);
    ff_buf_free(&m->keys);
}

int ff_parts_merge_stream(struct ff_part *const *in, size_t n, const char *path, uint32_t block_rows,
                          struct ff_merge_pool *pool, struct ff_built_part *out, char *err, size_t errlen)
{
    if (n < 1 || n > FF_MERGE_MAX_INPUTS || !block_rows || block_rows > RUN_LEN_MASK) return FF_EINVAL;
    struct merger m;
    memset(&m, 0, sizeof m);
    m.n = n;
    m.err = err;
    m.errlen = errlen;
    m.in = ff_calloc(n, sizeof *m.in);
    m.heap = ff_calloc(n, sizeof *m.heap);
    ff_buf_init(&m.keys, (size_t)1 << 32);
    if (pool && pool->n) { /* the pool's vectors are this merge's free ones */
        m.free = pool->vecs, m.nfree = pool->n, m.cap_free = pool->cap;
        ff_mem_note_idle(-(long long)pool->bytes);
        memset(pool, 0, sizeof *pool);
    }
    struct ff_part_writer *w = NULL;
    int rc = m.in && m.heap ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) m.in[i].p = in[i];
    if (!rc) rc = plan_columns(&m);
    memset(out, 0, sizeof *out);
    struct ff_part_info *info = &out->info;
    info->min_time = info->min_received = INT64_MAX;
    info->max_time = info->max_received = INT64_MIN;
    out->min_seq = UINT64_MAX;
    if (!rc) rc = merge_order(&m, block_rows, out);
    /* the order pass's key vectors are free for the columns */
    for (size_t i = 0; m.in && i < n; i++) {
        struct input *c = &m.in[i];
        struct ff_colvec **vs[] = {&c->pid, &c->uid, &c->aid, &c->time, &c->received, &c->seq};
        for (size_t k = 0; k < sizeof vs / sizeof *vs; k++) drop_vec(&m, *vs[k]), *vs[k] = NULL;
    }
    /* one output block's worth of any column type */
    struct ff_colvec ov;
    memset(&ov, 0, sizeof ov);
    if (!rc && (!(ov.i64 = ff_malloc((size_t)block_rows * 8)) || !(ov.str = ff_malloc((size_t)block_rows * sizeof *ov.str)) ||
                !(ov.codes = ff_malloc((size_t)block_rows * 4)) || !(ov.uuid16 = ff_malloc((size_t)block_rows * 16))))
        rc = -ENOMEM;
    ov.f64 = (double *)ov.i64, ov.u8 = (uint8_t *)ov.i64;
    if (!rc) rc = ff_part_writer_open(&w, path, m.out_cols, m.ncols, block_rows);
    for (uint32_t c = 0; !rc && c < m.ncols; c++)
        if (m.out_cols[c].enc == FF_ENC_DICT) rc = ff_part_writer_dict(w, c, m.dict[c], m.dict_count[c]);
    if (!rc && m.nblocks > UINT32_MAX) rc = FF_ETOOBIG;
    if (!rc) rc = ff_part_writer_columns(w, (uint32_t)m.nblocks);
    for (size_t b = 0; !rc && b < m.nblocks; b++) {
        const struct out_block *ob = &m.blocks[b];
        const char *keys = m.keys.data ? m.keys.data : "";
        rc = ff_part_writer_block_keys(w, (uint32_t)b, ob->n, (struct ff_str){keys + ob->first, (uint32_t)ob->first_len},
                                       (struct ff_str){keys + ob->last, (uint32_t)ob->last_len});
    }
    for (uint32_t c = 0; !rc && c < m.ncols; c++) rc = merge_column(&m, w, c, &ov, block_rows);
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
    ff_free(ov.i64), ff_free(ov.str), ff_free(ov.codes), ff_free((void *)ov.uuid16);
    merger_free(&m, pool);
    return rc;
}
