/* itemsets.c - see itemsets.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/itemsets.h"
#include "core/alloc.h"

/* ---- itemset lists ---- */

static int push(struct ff_itemsets *s, const uint32_t *items, uint32_t n, uint64_t count)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        struct ff_itemset *nv = ff_realloc(s->v, nc * sizeof *nv);
        if (!nv) return -ENOMEM;
        s->v = nv, s->cap = nc;
    }
    if (s->pool_n + n > s->pool_cap) {
        size_t nc = s->pool_cap ? s->pool_cap * 2 : 1024;
        while (nc < s->pool_n + n) nc *= 2;
        uint32_t *np = ff_realloc(s->pool, nc * sizeof *np);
        if (!np) return -ENOMEM;
        s->pool = np, s->pool_cap = nc;
    }
    memcpy(s->pool + s->pool_n, items, n * sizeof *items);
    s->v[s->n++] = (struct ff_itemset){(uint32_t)s->pool_n, n, count};
    s->pool_n += n;
    return 0;
}

void ff_itemsets_free(struct ff_itemsets *s)
{
    ff_free(s->v);
    ff_free(s->pool);
    memset(s, 0, sizeof *s);
}

static const uint32_t *items_of(const struct ff_itemsets *s, size_t i) { return s->pool + s->v[i].at; }

static int cmp_items(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb)
{
    if (na != nb) return na < nb ? -1 : 1;
    for (uint32_t i = 0; i < na; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

static int canonical(const void *x, const void *y, void *arg)
{
    const struct ff_itemsets *s = arg;
    const struct ff_itemset *a = x, *b = y;
    return cmp_items(s->pool + a->at, a->n, s->pool + b->at, b->n);
}

/* ---- an index of itemsets by their items ---- */

struct iindex {
    const struct ff_itemsets *s;
    uint32_t *slot; /* itemset index + 1; 0 empty */
    size_t mask;
};

static uint64_t hash_items(const uint32_t *a, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (size_t i = 0; i < n; i++) {
        h ^= a[i];
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return h;
}

static int index_build(struct iindex *ix, const struct ff_itemsets *s, size_t from, size_t to)
{
    size_t cap = 16;
    while (cap < 2 * (to - from) + 16) cap *= 2;
    ix->s = s, ix->mask = cap - 1;
    ix->slot = ff_calloc(cap, sizeof *ix->slot);
    if (!ix->slot) return -ENOMEM;
    for (size_t i = from; i < to; i++) {
        size_t h = hash_items(items_of(s, i), s->v[i].n) & ix->mask;
        while (ix->slot[h]) h = (h + 1) & ix->mask;
        ix->slot[h] = (uint32_t)i + 1;
    }
    return 0;
}

static long index_find(const struct iindex *ix, const uint32_t *items, uint32_t n)
{
    size_t h = hash_items(items, n) & ix->mask;
    for (; ix->slot[h]; h = (h + 1) & ix->mask) {
        size_t i = ix->slot[h] - 1;
        if (!cmp_items(items_of(ix->s, i), ix->s->v[i].n, items, n)) return (long)i;
    }
    return -1;
}

/* counts of each item over the transactions */
static uint64_t *item_counts(const struct ff_txset *t)
{
    uint64_t *c = ff_calloc(t->nitems + 1, sizeof *c);
    if (c)
        for (size_t i = 0; i < t->off[t->ntx]; i++) c[t->items[i]]++;
    return c;
}

/* ---- Apriori ---- */

/* C(m, k), or SIZE_MAX past `cap` */
static size_t choose(size_t m, size_t k, size_t cap)
{
    double r = 1;
    for (size_t i = 0; i < k; i++) {
        r = r * (double)(m - i) / (double)(i + 1);
        if (r > (double)cap) return SIZE_MAX;
    }
    return (size_t)(r + 0.5);
}

/* Counts, for one transaction's frequent items f[0..m), the k-item candidates it holds. */
static void count_tx(struct ff_itemsets *cand, const struct iindex *ix, const uint32_t *f, size_t m, size_t k)
{
    if (choose(m, k, cand->n) <= cand->n) { /* enumerate its k-subsets */
        size_t pos[FF_ITEMSET_MAX];
        uint32_t sub[FF_ITEMSET_MAX];
        for (size_t i = 0; i < k; i++) pos[i] = i;
        for (;;) {
            for (size_t i = 0; i < k; i++) sub[i] = f[pos[i]];
            long at = index_find(ix, sub, (uint32_t)k);
            if (at >= 0) cand->v[at].count++;
            size_t i = k;
            while (i > 0 && pos[i - 1] == m - k + i - 1) i--;
            if (i == 0) break;
            pos[i - 1]++;
            for (size_t j = i; j < k; j++) pos[j] = pos[j - 1] + 1;
        }
        return;
    }
    for (size_t c = 0; c < cand->n; c++) { /* or test each candidate: both lists are sorted */
        const uint32_t *a = items_of(cand, c);
        size_t i = 0, j = 0;
        while (i < k && j < m) {
            if (a[i] == f[j]) i++, j++;
            else if (a[i] > f[j]) j++;
            else break;
        }
        if (i == k) cand->v[c].count++;
    }
}

int ff_apriori(const struct ff_txset *t, uint64_t min_count, size_t max_size, struct ff_itemsets *out)
{
    memset(out, 0, sizeof *out);
    if (max_size > FF_ITEMSET_MAX) max_size = FF_ITEMSET_MAX;
    if (min_count < 1) min_count = 1;
    uint64_t *cnt = item_counts(t);
    uint32_t *f = ff_malloc((t->nitems + 1) * sizeof *f);
    int rc = cnt && f ? 0 : -ENOMEM;
    for (uint32_t it = 0; !rc && it < t->nitems; it++)
        if (cnt[it] >= min_count) rc = push(out, &it, 1, cnt[it]);
    size_t lo = 0, hi = out->n;
    for (size_t k = 2; !rc && k <= max_size && hi - lo >= 2; k++) {
        struct iindex prev = {0}, cix = {0};
        struct ff_itemsets cand = {0};
        rc = index_build(&prev, out, lo, hi);
        uint32_t c[FF_ITEMSET_MAX], sub[FF_ITEMSET_MAX];
        for (size_t i = lo; !rc && i < hi; i++) {
            const uint32_t *a = items_of(out, i);
            for (size_t j = i + 1; !rc && j < hi; j++) {
                const uint32_t *b = items_of(out, j);
                if (memcmp(a, b, (k - 2) * sizeof *a)) break; /* prefixes differ: so do all later ones */
                memcpy(c, a, (k - 1) * sizeof *c);
                c[k - 1] = b[k - 2];
                int keep = 1;
                for (size_t drop = 0; keep && drop + 2 < k; drop++) { /* every (k-1)-subset frequent */
                    for (size_t x = 0, y = 0; x < k; x++)
                        if (x != drop) sub[y++] = c[x];
                    keep = index_find(&prev, sub, (uint32_t)(k - 1)) >= 0;
                }
                if (keep) rc = push(&cand, c, (uint32_t)k, 0);
            }
        }
        if (!rc && cand.n) rc = index_build(&cix, &cand, 0, cand.n);
        for (size_t tx = 0; !rc && cand.n && tx < t->ntx; tx++) {
            size_t m = 0;
            for (size_t i = t->off[tx]; i < t->off[tx + 1]; i++)
                if (cnt[t->items[i]] >= min_count) f[m++] = t->items[i];
            if (m >= k) count_tx(&cand, &cix, f, m, k);
        }
        lo = hi;
        for (size_t i = 0; !rc && i < cand.n; i++)
            if (cand.v[i].count >= min_count) rc = push(out, items_of(&cand, i), (uint32_t)k, cand.v[i].count);
        hi = out->n;
        ff_free(prev.slot);
        ff_free(cix.slot);
        ff_itemsets_free(&cand);
    }
    ff_free(cnt);
    ff_free(f);
    if (rc) ff_itemsets_free(out);
    return rc;
}

/* ---- FP-growth ---- */

struct fpnode {
    uint32_t rank;    /* the item's rank: 0 is the most frequent */
    uint32_t parent;  /* 0: the root (node 0) */
    uint32_t child, sibling, next; /* 0: none */
    uint64_t count;
};

struct fptree {
    struct fpnode *node;
    size_t n, cap;
    uint32_t *head;     /* per rank: the first node of that item (a chain through next) */
    uint64_t *total;    /* per rank: its count in the tree */
    uint32_t *root_kid; /* per rank: the root's child of that item (the root has many) */
    size_t nranks;
};

static int tree_init(struct fptree *t, size_t nranks)
{
    memset(t, 0, sizeof *t);
    t->nranks = nranks;
    t->cap = 64;
    t->node = ff_calloc(t->cap, sizeof *t->node);
    t->head = ff_calloc(nranks + 1, sizeof *t->head);
    t->total = ff_calloc(nranks + 1, sizeof *t->total);
    t->root_kid = ff_calloc(nranks + 1, sizeof *t->root_kid);
    t->n = 1; /* the root */
    return t->node && t->head && t->total && t->root_kid ? 0 : -ENOMEM;
}

static void tree_free(struct fptree *t)
{
    ff_free(t->node);
    ff_free(t->head);
    ff_free(t->total);
    ff_free(t->root_kid);
}

/* Adds a path of ranks (ascending: most frequent first) with `count`. */
static int tree_add(struct fptree *t, const uint32_t *ranks, size_t n, uint64_t count)
{
    uint32_t at = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t r = ranks[i], c = at ? t->node[at].child : t->root_kid[r];
        while (at && c && t->node[c].rank != r) c = t->node[c].sibling;
        if (!c) {
            if (t->n == t->cap) {
                struct fpnode *nn = ff_realloc(t->node, 2 * t->cap * sizeof *nn);
                if (!nn) return -ENOMEM;
                t->node = nn, t->cap *= 2;
            }
            c = (uint32_t)t->n++;
            t->node[c] = (struct fpnode){.rank = r, .parent = at, .next = t->head[r]};
            t->head[r] = c;
            if (at) t->node[c].sibling = t->node[at].child, t->node[at].child = c;
            else t->root_kid[r] = c;
        }
        t->node[c].count += count;
        t->total[r] += count;
        at = c;
    }
    return 0;
}

struct miner {
    uint64_t min_count;
    size_t max_size;
    const uint32_t *item_of_rank; /* the top tree's ranks to item ids */
    struct ff_itemsets *out;
};

/* Mines tree t whose ranks map to top-level ranks through map[] (itemsets end with prefix). */
static int mine(struct miner *m, const struct fptree *t, const uint32_t *map, uint32_t *prefix, size_t plen)
{
    int rc = 0;
    uint32_t *path = ff_malloc((t->nranks + 1) * sizeof *path), *sub = ff_malloc((t->nranks + 1) * sizeof *sub);
    uint64_t *cnt = ff_malloc((t->nranks + 1) * sizeof *cnt);
    uint32_t *newrank = ff_malloc((t->nranks + 1) * sizeof *newrank), *newmap = ff_malloc((t->nranks + 1) * sizeof *newmap);
    if (!path || !sub || !cnt || !newrank || !newmap) rc = -ENOMEM;
    for (size_t r = t->nranks; !rc && r-- > 0;) {
        if (t->total[r] < m->min_count) continue;
        uint32_t items[FF_ITEMSET_MAX];
        prefix[plen] = m->item_of_rank[map[r]];
        for (size_t i = 0; i <= plen; i++) items[i] = prefix[i];
        /* ascending item ids: a small insertion sort */
        for (size_t i = 1; i <= plen; i++)
            for (size_t j = i; j > 0 && items[j - 1] > items[j]; j--) {
                uint32_t x = items[j];
                items[j] = items[j - 1], items[j - 1] = x;
            }
        if ((rc = push(m->out, items, (uint32_t)plen + 1, t->total[r]))) break;
        if (plen + 1 >= m->max_size) continue;
        /* the conditional pattern base: each path above an r node, with that node's count */
        memset(cnt, 0, r * sizeof *cnt);
        for (uint32_t nd = t->head[r]; nd; nd = t->node[nd].next)
            for (uint32_t p = t->node[nd].parent; p; p = t->node[p].parent) cnt[t->node[p].rank] += t->node[nd].count;
        size_t nr = 0;
        for (size_t q = 0; q < r; q++) { /* ranks kept keep their order: most frequent first still holds */
            newrank[q] = UINT32_MAX;
            if (cnt[q] >= m->min_count) newrank[q] = (uint32_t)nr, newmap[nr++] = map[q];
        }
        if (!nr) continue;
        struct fptree ct;
        if ((rc = tree_init(&ct, nr))) {
            tree_free(&ct);
            break;
        }
        for (uint32_t nd = t->head[r]; !rc && nd; nd = t->node[nd].next) {
            size_t len = 0;
            for (uint32_t p = t->node[nd].parent; p; p = t->node[p].parent)
                if (newrank[t->node[p].rank] != UINT32_MAX) path[len++] = newrank[t->node[p].rank];
            for (size_t i = 0; i < len; i++) sub[i] = path[len - 1 - i];
            if (len) rc = tree_add(&ct, sub, len, t->node[nd].count);
        }
        uint32_t *cmap = ff_malloc(nr * sizeof *cmap);
        if (!rc && !cmap) rc = -ENOMEM;
        if (!rc) {
            memcpy(cmap, newmap, nr * sizeof *cmap);
            rc = mine(m, &ct, cmap, prefix, plen + 1);
        }
        ff_free(cmap);
        tree_free(&ct);
    }
    ff_free(path);
    ff_free(sub);
    ff_free(cnt);
    ff_free(newrank);
    ff_free(newmap);
    return rc;
}

struct rank_sort {
    const uint64_t *cnt;
};

static int by_frequency(const void *a, const void *b, void *arg)
{
    const uint64_t *cnt = arg;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (cnt[x] != cnt[y]) return cnt[x] > cnt[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int by_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int ff_fpgrowth(const struct ff_txset *t, uint64_t min_count, size_t max_size, struct ff_itemsets *out)
{
    memset(out, 0, sizeof *out);
    if (max_size > FF_ITEMSET_MAX) max_size = FF_ITEMSET_MAX;
    if (!max_size) return 0;
    if (min_count < 1) min_count = 1;
    uint64_t *cnt = item_counts(t);
    uint32_t *item_of_rank = ff_malloc((t->nitems + 1) * sizeof *item_of_rank);
    uint32_t *rank = ff_malloc((t->nitems + 1) * sizeof *rank), *buf = ff_malloc((t->nitems + 1) * sizeof *buf);
    int rc = cnt && item_of_rank && rank && buf ? 0 : -ENOMEM;
    size_t nf = 0;
    for (uint32_t it = 0; !rc && it < t->nitems; it++)
        if (cnt[it] >= min_count) item_of_rank[nf++] = it;
    if (!rc) qsort_r(item_of_rank, nf, sizeof *item_of_rank, by_frequency, cnt);
    for (uint32_t it = 0; !rc && it < t->nitems; it++) rank[it] = UINT32_MAX;
    for (size_t r = 0; !rc && r < nf; r++) rank[item_of_rank[r]] = (uint32_t)r;
    struct fptree tree;
    memset(&tree, 0, sizeof tree);
    if (!rc) rc = tree_init(&tree, nf);
    for (size_t tx = 0; !rc && tx < t->ntx; tx++) {
        size_t m = 0;
        for (size_t i = t->off[tx]; i < t->off[tx + 1]; i++)
            if (rank[t->items[i]] != UINT32_MAX) buf[m++] = rank[t->items[i]];
        qsort(buf, m, sizeof *buf, by_u32);
        if (m) rc = tree_add(&tree, buf, m, 1);
    }
    uint32_t *map = rc ? NULL : ff_malloc((nf + 1) * sizeof *map), prefix[FF_ITEMSET_MAX];
    if (!rc && !map) rc = -ENOMEM;
    for (size_t r = 0; !rc && r < nf; r++) map[r] = (uint32_t)r;
    struct miner mn = {min_count, max_size, item_of_rank, out};
    if (!rc) rc = mine(&mn, &tree, map, prefix, 0);
    if (!rc && out->n) qsort_r(out->v, out->n, sizeof *out->v, canonical, out);
    ff_free(map);
    tree_free(&tree);
    ff_free(cnt);
    ff_free(item_of_rank);
    ff_free(rank);
    ff_free(buf);
    if (rc) ff_itemsets_free(out);
    return rc;
}

/* ---- rules ---- */

static int push_rule(struct ff_rules *r, const uint32_t *a, uint32_t na, const uint32_t *c, uint32_t nc,
                     const struct ff_rule *x)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        struct ff_rule *nv = ff_realloc(r->v, cap * sizeof *nv);
        if (!nv) return -ENOMEM;
        r->v = nv, r->cap = cap;
    }
    if (r->pool_n + na + nc > r->pool_cap) {
        size_t cap = r->pool_cap ? r->pool_cap * 2 : 1024;
        while (cap < r->pool_n + na + nc) cap *= 2;
        uint32_t *np = ff_realloc(r->pool, cap * sizeof *np);
        if (!np) return -ENOMEM;
        r->pool = np, r->pool_cap = cap;
    }
    struct ff_rule y = *x;
    y.ante = (uint32_t)r->pool_n, y.nante = na;
    memcpy(r->pool + r->pool_n, a, na * sizeof *a);
    r->pool_n += na;
    y.cons = (uint32_t)r->pool_n, y.ncons = nc;
    memcpy(r->pool + r->pool_n, c, nc * sizeof *c);
    r->pool_n += nc;
    r->v[r->n++] = y;
    return 0;
}

struct rule_order {
    const struct ff_rules *r;
    int by;
};

static double key_of(const struct ff_rule *x, int by)
{
    return by == 1 ? x->confidence : by == 2 ? x->support : by == 3 ? x->conviction : x->lift;
}

static int rule_cmp(const void *a, const void *b, void *arg)
{
    const struct rule_order *o = arg;
    const struct ff_rule *x = a, *y = b;
    double kx = key_of(x, o->by), ky = key_of(y, o->by);
    if (kx != ky) return kx > ky ? -1 : 1;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    int c = cmp_items(o->r->pool + x->ante, x->nante, o->r->pool + y->ante, y->nante);
    return c ? c : cmp_items(o->r->pool + x->cons, x->ncons, o->r->pool + y->cons, y->ncons);
}

int ff_rules_from(const struct ff_itemsets *s, size_t ntx, double min_confidence, int by, struct ff_rules *out)
{
    memset(out, 0, sizeof *out);
    struct iindex ix;
    int rc = index_build(&ix, s, 0, s->n);
    double n = (double)ntx;
    for (size_t i = 0; !rc && i < s->n; i++) {
        uint32_t k = s->v[i].n;
        if (k < 2) continue;
        const uint32_t *items = items_of(s, i);
        for (uint32_t mask = 1; !rc && mask + 1 < (1u << k); mask++) {
            uint32_t a[FF_ITEMSET_MAX], c[FF_ITEMSET_MAX], na = 0, nc = 0;
            for (uint32_t b = 0; b < k; b++)
                if (mask >> b & 1) a[na++] = items[b];
                else c[nc++] = items[b];
            long ia = index_find(&ix, a, na), ic = index_find(&ix, c, nc);
            if (ia < 0 || ic < 0) continue; /* cannot be: every subset of a frequent set is one */
            struct ff_rule x = {.count = s->v[i].count};
            x.support = (double)x.count / n;
            x.confidence = (double)x.count / (double)s->v[ia].count;
            if (x.confidence < min_confidence) continue;
            double sc = (double)s->v[ic].count / n;
            x.lift = x.confidence / sc;
            x.conviction = x.confidence >= 1 ? INFINITY : (1 - sc) / (1 - x.confidence);
            rc = push_rule(out, a, na, c, nc, &x);
        }
    }
    ff_free(ix.slot);
    struct rule_order o = {out, by};
    if (!rc && out->n) qsort_r(out->v, out->n, sizeof *out->v, rule_cmp, &o);
    if (rc) ff_rules_free(out);
    return rc;
}

void ff_rules_free(struct ff_rules *r)
{
    ff_free(r->v);
    ff_free(r->pool);
    memset(r, 0, sizeof *r);
}
