/* table.c - the counting structures queries share (see query_int.h): a hash table of
 * 128-bit keys with a count each, and a dictionary of the distinct values of a field. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "query/colscan.h"
#include "query/query_int.h"

#define EMPTY UINT64_MAX

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static int table_grow(struct ff_qtable *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    struct ff_qslot *s = ff_malloc(cap * sizeof *s);
    if (!s) return -ENOMEM;
    for (size_t i = 0; i < cap; i++) s[i].a = EMPTY;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->s[i].a == EMPTY) continue;
        size_t j = mix(t->s[i].a ^ t->s[i].b) & (cap - 1);
        while (s[j].a != EMPTY) j = (j + 1) & (cap - 1);
        s[j] = t->s[i];
    }
    ff_free(t->s);
    t->s = s, t->cap = cap;
    return 0;
}

uint64_t *ff_qtable_at(struct ff_qtable *t, uint64_t a, uint64_t b, uint64_t init, int *created, int *err)
{
    *created = 0;
    if ((t->n + 1) * 2 > t->cap) {
        if (t->n >= FF_QUERY_MAX_ENTRIES) return *err = FF_ETOOBIG, NULL;
        if (table_grow(t)) return *err = -ENOMEM, NULL;
    }
    size_t j = mix(a ^ b) & (t->cap - 1);
    for (; t->s[j].a != EMPTY; j = (j + 1) & (t->cap - 1))
        if (t->s[j].a == a && t->s[j].b == b) return &t->s[j].v;
    t->s[j].a = a, t->s[j].b = b, t->s[j].v = init, t->n++;
    *created = 1;
    return &t->s[j].v;
}

int ff_qtable_add(struct ff_qtable *t, uint64_t a, uint64_t b, uint64_t by)
{
    int created, err = 0;
    uint64_t *v = ff_qtable_at(t, a, b, 0, &created, &err);
    if (!v) return err;
    *v += by;
    return created;
}

uint64_t ff_qtable_get(const struct ff_qtable *t, uint64_t a, uint64_t b)
{
    if (!t->cap) return 0;
    for (size_t j = mix(a ^ b) & (t->cap - 1); t->s[j].a != EMPTY; j = (j + 1) & (t->cap - 1))
        if (t->s[j].a == a && t->s[j].b == b) return t->s[j].v;
    return 0;
}

int ff_qtable_count(struct ff_qtable *cells, struct ff_qtable *seen, uint64_t cell, uint64_t id_hash)
{
    int rc = ff_qtable_add(seen, cell, id_hash, 0);
    if (rc == 1) rc = ff_qtable_add(cells, cell, 0, 1);
    return rc < 0 ? rc : 0;
}

/* ---- distinct pairs by partition ---- */

static uint64_t pair_hash(uint64_t cell, uint64_t id) { return mix(cell * 0x9e3779b97f4a7c15ULL ^ id); }

static int pairs_push(struct ff_qpairs *p, uint64_t cell, uint64_t id)
{
    struct ff_qchunk *c = p->tail;
    if (!c || p->fill == FF_QCHUNK_PAIRS) {
        if (!(c = ff_chunk_take())) return -ENOMEM;
        c->next = NULL, c->n = 0;
        if (p->tail) p->tail->n = p->fill, p->tail->next = c;
        else p->head = c;
        p->tail = c;
        p->fill = 0;
    }
    c->v[p->fill][0] = cell, c->v[p->fill][1] = id, p->fill++;
    p->n++;
    return 0;
}

/* Sets the tail chunk's count, for a reader of the chunks. */
static void pairs_seal(struct ff_qpairs *p)
{
    if (p->tail) p->tail->n = p->fill;
}

int ff_qdistinct_add(struct ff_qdistinct *d, uint64_t cell, uint64_t id)
{
    uint64_t h = pair_hash(cell, id);
    if (!d->recent && !(d->recent = ff_calloc(FF_QRECENT, sizeof *d->recent))) return -ENOMEM;
    struct ff_qslot *r = &d->recent[h & (FF_QRECENT - 1)];
    if (r->v && r->a == cell && r->b == id) return 0;
    *r = (struct ff_qslot){cell, id, 1};
    if (d->n >= FF_QUERY_MAX_ENTRIES) return FF_ETOOBIG;
    d->n++;
    return pairs_push(&d->part[h >> 56], cell, id);
}

/* Appends from's chunks to into's (another thread's partition), leaving from empty. */
static void pairs_move(struct ff_qpairs *a, struct ff_qpairs *b)
{
    if (!b->head) return;
    pairs_seal(a), pairs_seal(b);
    if (a->tail) a->tail->next = b->head;
    else a->head = b->head;
    a->tail = b->tail;
    a->fill = b->fill;
    a->n += b->n;
    *b = (struct ff_qpairs){NULL, NULL, 0, 0};
}

static void pairs_free(struct ff_qpairs *p)
{
    for (struct ff_qchunk *ch = p->head, *next; ch; ch = next) next = ch->next, ff_chunk_give(ch);
    *p = (struct ff_qpairs){NULL, NULL, 0, 0};
}

/* Moves every partition of from into into's (another thread's). */
static void parts_merge(struct ff_qpairs *into, size_t *into_n, struct ff_qpairs *from, size_t *from_n)
{
    *into_n += *from_n;
    *from_n = 0;
    for (size_t p = 0; p < FF_QDISTINCT_PARTS; p++) pairs_move(&into[p], &from[p]);
}

int ff_qdistinct_merge(struct ff_qdistinct *into, struct ff_qdistinct *from)
{
    parts_merge(into->part, &into->n, from->part, &from->n);
    return 0;
}

int ff_qunion_add(struct ff_qunion *u, uint64_t id, uint64_t cells)
{
    if (u->n >= FF_QUERY_MAX_ENTRIES) return FF_ETOOBIG;
    u->n++;
    if (id == EMPTY) id = 0; /* EMPTY marks a free slot when they are united; 0 is no id's */
    return pairs_push(&u->part[mix(id) >> 56], id, cells);
}

int ff_qunion_merge(struct ff_qunion *into, struct ff_qunion *from)
{
    parts_merge(into->part, &into->n, from->part, &from->n);
    return 0;
}

void ff_qunion_free(struct ff_qunion *u)
{
    for (size_t p = 0; p < FF_QDISTINCT_PARTS; p++) pairs_free(&u->part[p]);
    u->n = 0;
}

#define SMALL_CELLS 1024
#define PARALLEL_MIN 262144 /* pairs: fewer are counted on the calling thread alone */

/* One thread's share of a count: partitions first, first + step, … */
struct count_job {
    struct ff_qpairs *part; /* an ff_qdistinct's or an ff_qunion's partitions */
    int unite;              /* the partitions hold (id, set of cells): ff_qunion */
    size_t first, step;
    struct ff_qtable cells;
    /* small cells (a top list's value indexes, a trend's buckets) counted in an array, put in
     * the table at the end: a hash table operation for every distinct pair cost a fifth */
    uint64_t small[SMALL_CELLS];
    size_t dropped;             /* pairs found twice */
    int rc;
};

/* Leaves partition q with its distinct (cell, id) pairs only, each counted in its cell; set
 * has room for twice its pairs. */
static int distinct_partition(struct count_job *j, struct ff_qpairs *q, uint64_t (*set)[2], size_t c)
{
    int rc = 0;
    size_t kept = 0;
    struct ff_qchunk *out = q->head; /* distinct pairs to the front */
    size_t at = 0;
    for (struct ff_qchunk *ch = q->head; ch && !rc; ch = ch->next)
        for (size_t i = 0; i < ch->n; i++) {
            uint64_t cell = ch->v[i][0], id = ch->v[i][1];
            size_t k = (pair_hash(cell, id) >> 8) & (c - 1);
            for (; set[k][0] != EMPTY; k = (k + 1) & (c - 1))
                if (set[k][0] == cell && set[k][1] == id) break;
            if (set[k][0] != EMPTY) continue;
            set[k][0] = cell, set[k][1] = id;
            if (at == FF_QCHUNK_PAIRS) out->n = at, out = out->next, at = 0;
            out->v[at][0] = cell, out->v[at][1] = id, at++;
            kept++;
            if (cell < SMALL_CELLS) j->small[cell]++;
            else if ((rc = ff_qtable_add(&j->cells, cell, 0, 1)) < 0) break;
            rc = 0;
        }
    if (out) { /* the chunks past the last kept pair go back */
        out->n = at;
        for (struct ff_qchunk *ch = out->next, *next; ch; ch = next) next = ch->next, ff_chunk_give(ch);
        out->next = NULL;
        q->tail = out;
        q->fill = at;
    }
    j->dropped += q->n - kept;
    q->n = kept;
    return rc;
}

/* Unites partition q's sets per id (set: room for twice its entries, keyed by id, EMPTY
 * free) and counts each id once in every cell of its union. */
static void union_partition(struct count_job *j, const struct ff_qpairs *q, uint64_t (*set)[2], size_t c)
{
    for (const struct ff_qchunk *ch = q->head; ch; ch = ch->next)
        for (size_t i = 0; i < ch->n; i++) {
            uint64_t id = ch->v[i][0];
            size_t k = mix(id) & (c - 1);
            while (set[k][0] != EMPTY && set[k][0] != id) k = (k + 1) & (c - 1);
            set[k][1] = (set[k][0] == id ? set[k][1] : 0) | ch->v[i][1];
            set[k][0] = id;
        }
    for (size_t k = 0; k < c; k++)
        if (set[k][0] != EMPTY)
            for (uint64_t m = set[k][1]; m; m &= m - 1) j->small[__builtin_ctzll(m)]++;
}

static void *count_parts(void *arg)
{
    struct count_job *j = arg;
    size_t most = 0;
    for (size_t p = j->first; p < FF_QDISTINCT_PARTS; p += j->step)
        if (j->part[p].n > most) most = j->part[p].n;
    size_t cap = 16;
    while (cap < most * 2) cap *= 2;
    uint64_t(*set)[2] = ff_malloc(cap * sizeof *set);
    if (!set) return j->rc = -ENOMEM, NULL;
    int rc = 0;
    for (size_t p = j->first; !rc && p < FF_QDISTINCT_PARTS; p += j->step) {
        struct ff_qpairs *q = &j->part[p];
        pairs_seal(q);
        size_t c = 16;
        while (c < q->n * 2) c *= 2;
        memset(set, 0xff, c * sizeof *set); /* a free slot's first word is EMPTY */
        if (j->unite) union_partition(j, q, set, c);
        else rc = distinct_partition(j, q, set, c);
    }
    ff_free(set);
    j->rc = rc;
    return NULL;
}

/* fn(a) on this thread, and with `two`, fn(b) on a helper (or after, if none starts): the
 * work that follows a scan, once its threads are done. */
static void run_two(void *(*fn)(void *), void *a, void *b, int two)
{
    pthread_t helper;
    int started = two && pthread_create(&helper, NULL, fn, b) == 0;
    fn(a);
    if (started) pthread_join(helper, NULL);
    else if (two) fn(b);
}

/* Counts the n entries of partitions part[] on one or two threads (jobs: zeroed, njobs of
 * them, returned through *njobs): partitions are independent. */
static struct count_job *count_split(struct ff_qpairs *part, size_t n, int unite, size_t *njobs)
{
    *njobs = n >= PARALLEL_MIN && ff_qplan_threads() > 1 ? 2 : 1;
    struct count_job *jobs = ff_calloc(*njobs, sizeof *jobs);
    if (!jobs) return NULL;
    for (size_t k = 0; k < *njobs; k++) jobs[k].part = part, jobs[k].unite = unite, jobs[k].first = k, jobs[k].step = *njobs;
    run_two(count_parts, &jobs[0], &jobs[*njobs - 1], *njobs > 1);
    return jobs;
}

int ff_qdistinct_count(struct ff_qdistinct *d, struct ff_qtable *cells)
{
    size_t njobs;
    struct count_job *jobs = count_split(d->part, d->n, 0, &njobs);
    if (!jobs) return -ENOMEM;
    int rc = 0;
    for (size_t k = 0; k < njobs; k++) {
        if (!rc) rc = jobs[k].rc;
        d->n -= jobs[k].dropped;
        if (!rc) rc = ff_qtable_merge_with(cells, &jobs[k].cells, FF_QMERGE_ADD);
        for (size_t c = 0; !rc && c < SMALL_CELLS; c++)
            if (jobs[k].small[c] && (rc = ff_qtable_add(cells, c, 0, jobs[k].small[c])) > 0) rc = 0;
        ff_qtable_free(&jobs[k].cells);
    }
    ff_free(jobs);
    return rc;
}

int ff_qunion_count(struct ff_qunion *u, uint64_t counts[FF_QUNION_CELLS])
{
    size_t njobs;
    struct count_job *jobs = count_split(u->part, u->n, 1, &njobs);
    if (!jobs) return -ENOMEM;
    int rc = 0;
    for (size_t k = 0; k < njobs; k++) {
        if (!rc) rc = jobs[k].rc;
        for (size_t c = 0; c < FF_QUNION_CELLS; c++) counts[c] += jobs[k].small[c];
    }
    ff_free(jobs);
    return rc;
}

void ff_qdistinct_free(struct ff_qdistinct *d)
{
    for (size_t p = 0; p < FF_QDISTINCT_PARTS; p++) pairs_free(&d->part[p]);
    ff_free(d->recent);
    memset(d, 0, sizeof *d);
}

/* One row copied: a constant size for the rows kinds keep, so the copy is inlined. */
static inline void copy_row(void *d, const void *s, size_t elem)
{
    switch (elem) {
    case 24: memcpy(d, s, 24); break;
    case 32: memcpy(d, s, 32); break;
    case 40: memcpy(d, s, 40); break;
    default: memcpy(d, s, elem); break;
    }
}

/* By key, time, arrival: -1, 0 or 1 (ff_qrow_cmp, and inlined where the sort needs it). */
static inline int row_order(const struct ff_qrow *x, const struct ff_qrow *y)
{
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static inline int row_before(const struct ff_qrow *x, const struct ff_qrow *y) { return row_order(x, y) < 0; }

/* Insertion sort of n rows: what is left after the radix passes is a few rows of one key,
 * nearly always in time order already (a person's rows come part by part, day by day).
 * Rows far out of order (a busy person's, from memory) go to qsort instead. */
static void insertion_sort(char *a, size_t n, size_t elem)
{
    char hold[64];
    size_t moves = 0;
    for (size_t i = 1; i < n; i++) {
        if (moves > 8 * n + 64) {
            qsort(a, n, elem, ff_qrow_cmp);
            return;
        }
        if (!row_before((const struct ff_qrow *)(a + i * elem), (const struct ff_qrow *)(a + (i - 1) * elem))) continue;
        copy_row(hold, a + i * elem, elem);
        size_t j = i;
        do {
            copy_row(a + j * elem, a + (j - 1) * elem, elem);
            j--, moves++;
        } while (j && row_before((const struct ff_qrow *)hold, (const struct ff_qrow *)(a + (j - 1) * elem)));
        copy_row(a + j * elem, hold, elem);
    }
}

int ff_qrows_sort(void *v, size_t n, size_t elem, void *scratch)
{
    char *src = v, *tmp = scratch;
    enum { BITS = 11, NB = 1 << BITS, SUB = 11, NS = 1 << SUB };
    if (n < FF_QROWS_SORT_SCRATCH_MIN || elem > 64) {
        qsort(src, n, elem, ff_qrow_cmp);
        return 0;
    }
    size_t *at = ff_calloc(NB + 1, sizeof *at), *fill = ff_malloc(NB * sizeof *fill);
    if (!at || !fill) {
        ff_free(at), ff_free(fill);
        return -ENOMEM;
    }
    /* by the key's top bits into tmp, then each bucket by the next bits back into src (a
     * bucket is a few KiB: that pass stays in the cache), then each of those by time */
#define TOP(r) (((const struct ff_qrow *)(r))->key >> (64 - BITS))
#define NEXT(r) ((((const struct ff_qrow *)(r))->key >> (64 - BITS - SUB)) & (NS - 1))
    for (size_t i = 0; i < n; i++) at[TOP(src + i * elem) + 1]++;
    for (size_t b = 0; b < NB; b++) at[b + 1] += at[b];
    memcpy(fill, at, NB * sizeof *fill);
    for (size_t i = 0; i < n; i++) copy_row(tmp + fill[TOP(src + i * elem)]++ * elem, src + i * elem, elem);
    for (size_t b = 0; b < NB; b++) {
        size_t lo = at[b], c = at[b + 1] - lo;
        char *from = tmp + lo * elem, *to = src + lo * elem;
        if (c <= 16) {
            memcpy(to, from, c * elem);
            insertion_sort(to, c, elem);
            continue;
        }
        size_t sub[NS + 1] = {0}, put[NS];
        for (size_t i = 0; i < c; i++) sub[NEXT(from + i * elem) + 1]++;
        for (size_t k = 0; k < NS; k++) sub[k + 1] += sub[k];
        memcpy(put, sub, sizeof put);
        for (size_t i = 0; i < c; i++) copy_row(to + put[NEXT(from + i * elem)]++ * elem, from + i * elem, elem);
        for (size_t k = 0; k < NS; k++)
            if (sub[k + 1] - sub[k] > 1) insertion_sort(to + sub[k] * elem, sub[k + 1] - sub[k], elem);
    }
#undef TOP
#undef NEXT
    ff_free(fill), ff_free(at);
    return 0;
}

int ff_qchunks_grow(struct ff_qchunks *c, size_t elem)
{
    if (!c->per) c->per = (uint32_t)(FF_LARGE_CHUNK_BYTES / elem);
    if (c->nchunks * (size_t)c->per > FF_QUERY_MAX_ENTRIES / 4) return FF_ETOOBIG;
    if (c->nchunks == c->chunks_cap) {
        size_t cap = c->chunks_cap ? c->chunks_cap * 2 : 16;
        char **p = ff_realloc(c->chunk, cap * sizeof *p);
        if (!p) return -ENOMEM;
        c->chunk = p, c->chunks_cap = cap;
    }
    if (!(c->chunk[c->nchunks] = ff_large_chunk_take())) return -ENOMEM;
    c->nchunks++;
    return 0;
}

void ff_qchunks_free(struct ff_qchunks *c)
{
    for (size_t i = 0; i < c->nchunks; i++) ff_large_chunk_give(c->chunk[i]);
    ff_free(c->chunk);
    memset(c, 0, sizeof *c);
}

int ff_qrowvec_next_chunk(struct ff_qrowvec *r, size_t elem)
{
    int rc = ff_qchunks_grow(&r->rows, elem);
    if (rc) return rc;
    r->tail = r->rows.chunk[r->rows.nchunks - 1];
    r->room = r->rows.per;
    r->run = NULL; /* a run's rows lie in one chunk */
    return 0;
}

int ff_qrowvec_new_run(struct ff_qrowvec *r, const struct ff_qrow *row)
{
    struct ff_qchunks *c = &r->runs;
    int rc = c->n < c->nchunks * (size_t)c->per ? 0 : ff_qchunks_grow(c, sizeof *r->run);
    if (rc) return rc;
    r->run = ff_qchunks_at(c, c->n++, sizeof *r->run);
    *r->run = (struct ff_qrun){*row, (uint32_t)(r->rows.n - 1), 1, 0};
    return 0;
}

size_t ff_qrowvec_runs(const struct ff_qrowvec *v, size_t nv)
{
    size_t n = 0;
    for (size_t i = 0; i < nv; i++) n += v[i].runs.n;
    return n;
}

void ff_qrowvec_release(struct ff_qrowvec *r)
{
    ff_qchunks_free(&r->rows);
    ff_qchunks_free(&r->runs);
    memset(r, 0, sizeof *r);
}

static const char *run_rows(const struct ff_qrowvec *v, const struct ff_qrun *r, size_t elem)
{
    return ff_qchunks_at(&v[r->vec].rows, r->at, elem);
}

#define RUN_PREFETCH 8 /* runs ahead: a run's rows lie anywhere in its thread's vector */

/* One thread's share of a walk: runs[0 .. n) of keys no other share has. */
struct walk_job {
    const struct ff_qrowvec *v;
    struct ff_qrun *runs;
    size_t n, elem;
    char *scratch; /* room for n runs: the sort's */
    int (*fn)(void *arg, const void *rows, size_t n);
    void *arg;
    int rc;
};

/* Sorts the share's runs by their first rows (a key's runs come together, in the order of
 * their first rows) and calls fn with each key's rows. */
static void *walk_runs(void *arg)
{
    struct walk_job *j = arg;
    const struct ff_qrowvec *v = j->v;
    struct ff_qrun *runs = j->runs;
    size_t nruns = j->n, elem = j->elem;
    int rc = ff_qrows_sort(runs, nruns, sizeof *runs, j->scratch);
    char *tmp = NULL;
    size_t tmp_cap = 0;
    for (size_t i = 0; !rc && i < nruns;) {
        size_t k = i + 1, total = runs[i].n;
        while (k < nruns && runs[k].first.key == runs[i].first.key) total += runs[k++].n;
        for (size_t f = k; f < k + RUN_PREFETCH && f < nruns; f++) {
            const char *r = run_rows(v, &runs[f], elem);
            __builtin_prefetch(r), __builtin_prefetch(r + 64), __builtin_prefetch(r + 128);
        }
        if (k == i + 1) {
            rc = j->fn(j->arg, run_rows(v, &runs[i], elem), total);
            i = k;
            continue;
        }
        if (total > tmp_cap) {
            char *t = ff_realloc(tmp, total * elem);
            if (!t) {
                rc = -ENOMEM;
                break;
            }
            tmp = t, tmp_cap = total;
        }
        /* runs one after the other; where one begins before the last ends (two parts of a
         * day not merged yet, rows from memory), an insertion sort puts them in order */
        size_t o = 0;
        int sorted = 1;
        for (size_t m = i; m < k; m++) {
            if (o && row_before((const struct ff_qrow *)run_rows(v, &runs[m], elem),
                                (const struct ff_qrow *)(tmp + (o - 1) * elem)))
                sorted = 0;
            memcpy(tmp + o * elem, run_rows(v, &runs[m], elem), runs[m].n * elem);
            o += runs[m].n;
        }
        if (!sorted) insertion_sort(tmp, total, elem);
        rc = j->fn(j->arg, tmp, total);
        i = k;
    }
    ff_free(tmp);
    j->rc = rc;
    return NULL;
}

#define WALK_PARALLEL_MIN 8192 /* runs: fewer are walked on the calling thread alone */

int ff_qrowvec_each_key(const struct ff_qrowvec *v, size_t nv, size_t elem,
                        int (*fn)(void *arg, const void *rows, size_t n), void *const *args, size_t nargs)
{
    if (nv > FF_QROWVEC_MAX || !nargs) return FF_EINVAL;
    size_t all = 0, nruns = ff_qrowvec_runs(v, nv), room = 1;
    for (size_t i = 0; i < nv; i++) all += v[i].rows.n;
    if (all >= FF_QUERY_MAX_ENTRIES / 4) return FF_ETOOBIG; /* the rows' budget, all threads' */
    if (!nruns) return 0;
    /* every vector's runs in one array (room: a power of two, so that it and the sort's
     * scratch are kept blocks of the same sizes query after query); with two walkers,
     * keys with the top bit clear to the front and the others to the back: two shares with
     * no key in common, each sorted and walked on its own thread */
    while (room < nruns) room *= 2;
    int two = nargs > 1 && nruns >= WALK_PARALLEL_MIN;
    struct ff_qrun *runs = ff_big_alloc(room * sizeof *runs);
    char *scratch = nruns >= FF_QROWS_SORT_SCRATCH_MIN ? ff_big_alloc(room * sizeof *runs) : NULL;
    if (!runs || (nruns >= FF_QROWS_SORT_SCRATCH_MIN && !scratch)) {
        ff_big_free(runs), ff_big_free(scratch);
        return -ENOMEM;
    }
    size_t lo = 0, hi = nruns;
    for (size_t i = 0; i < nv; i++)
        for (size_t j = 0; j < v[i].runs.n; j++) {
            struct ff_qrun r = *(const struct ff_qrun *)ff_qchunks_at(&v[i].runs, j, sizeof r);
            r.vec = (uint32_t)i & 15;
            if (two && r.first.key >> 63) runs[--hi] = r;
            else runs[lo++] = r;
        }
    struct walk_job jobs[2] = {{v, runs, lo, elem, scratch, fn, args[0], 0},
                               {v, runs + lo, nruns - lo, elem, scratch ? scratch + lo * sizeof *runs : NULL, fn,
                                args[nargs > 1], 0}};
    run_two(walk_runs, &jobs[0], &jobs[1], two);
    ff_big_free(runs), ff_big_free(scratch);
    return jobs[0].rc ? jobs[0].rc : jobs[1].rc;
}

int ff_qtable_merge_with(struct ff_qtable *into, const struct ff_qtable *from, int op)
{
    for (size_t i = 0; i < from->cap; i++) {
        if (from->s[i].a == EMPTY) continue;
        int created, err = 0;
        uint64_t x = from->s[i].v, *v = ff_qtable_at(into, from->s[i].a, from->s[i].b, x, &created, &err);
        if (!v) return err;
        if (!created) *v = op == FF_QMERGE_ADD ? *v + x : op == FF_QMERGE_MIN ? (x < *v ? x : *v) : *v | x;
    }
    return 0;
}

void ff_qtable_free(struct ff_qtable *t)
{
    ff_free(t->s);
    memset(t, 0, sizeof *t);
}

/* ---- rows ---- */

int ff_qrow_cmp(const void *a, const void *b) { return row_order(a, b); }

int ff_qrows_reserve(void **v, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap) return 0;
    if (n >= FF_QUERY_MAX_ENTRIES / 4) return FF_ETOOBIG;
    size_t nc = *cap ? *cap * 2 : 256;
    /* a large array kept from an earlier query is already faulted in; else realloc, which
     * moves a mapped block without copying it */
    void *nv = ff_big_take(nc * elem);
    if (nv) {
        if (n) memcpy(nv, *v, n * elem);
        ff_big_free(*v);
        nc = ff_alloc_size(nv) / elem; /* all of it: the next growth would copy again */
    } else if (!(nv = ff_realloc(*v, nc * elem))) {
        return -ENOMEM;
    }
    *v = nv;
    *cap = nc;
    return 0;
}

/* ---- distinct values ---- */

void ff_qvalues_init(struct ff_qvalues *d) { memset(d, 0, sizeof *d), ff_strmap_init(&d->map); }

int ff_qvalues_index(struct ff_qvalues *d, struct ff_str v, uint32_t *out)
{
    if (!v.len) {
        *out = 0;
        return 0;
    }
    const uint32_t *have = ff_strmap_get(&d->map, v.p, v.len);
    if (have) {
        *out = *have;
        return 0;
    }
    if (d->n >= FF_QUERY_MAX_VALUES) return FF_ETOOBIG;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        struct ff_str *nv = ff_realloc(d->v, cap * sizeof *nv);
        if (!nv) return -ENOMEM;
        d->v = nv;
        d->cap = cap;
    }
    char *copy = ff_malloc(v.len + 1); /* the map keeps pointers: each value stays where it is */
    if (!copy) return -ENOMEM;
    memcpy(copy, v.p, v.len);
    copy[v.len] = '\0';
    int found;
    uint32_t idx = (uint32_t)d->n + 1;
    if (!ff_strmap_put(&d->map, copy, v.len, idx, &found)) {
        ff_free(copy);
        return -ENOMEM;
    }
    d->v[d->n++] = (struct ff_str){copy, v.len};
    *out = idx;
    return 0;
}

struct ff_str ff_qvalues_text(const struct ff_qvalues *d, uint32_t idx)
{
    return idx && idx <= d->n ? d->v[idx - 1] : (struct ff_str){"", 0};
}

void ff_qvalues_free(struct ff_qvalues *d)
{
    for (size_t i = 0; i < d->n; i++) ff_free((char *)d->v[i].p);
    ff_free(d->v);
    ff_strmap_free(&d->map);
    memset(d, 0, sizeof *d);
}
