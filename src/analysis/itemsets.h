/* itemsets.h - frequent itemsets and association rules over transactions (sets of item ids):
 *
 *   Apriori    level by level: candidates of size k are joins of frequent (k-1)-sets that
 *              share all but their last item, kept when every (k-1)-subset is frequent, then
 *              counted in one pass over the transactions
 *   FP-growth  the transactions as a prefix tree of their frequent items (most frequent
 *              first), mined item by item through conditional trees, never generating
 *              candidates
 *
 * Both give the same itemsets (the tests check that, and both against brute force). Rules
 * A → C from each frequent itemset I = A ∪ C: support(I), confidence = support(I) /
 * support(A), lift = confidence / support(C), conviction = (1 - support(C)) / (1 -
 * confidence) (infinite when confidence is 1), supports as shares of the transactions. */
#ifndef FF_ITEMSETS_H
#define FF_ITEMSETS_H

#include <stddef.h>
#include <stdint.h>

#define FF_ITEMSET_MAX 10 /* the largest itemset size asked for */

/* Transactions in one array: transaction t's items are items[off[t] .. off[t+1]), sorted
 * ascending, without repeats, each below nitems. */
struct ff_txset {
    size_t ntx, nitems;
    size_t *off;     /* ntx + 1 */
    uint32_t *items;
};

struct ff_itemset {
    uint32_t at;      /* its items: pool[at .. at + n), ascending */
    uint32_t n;
    uint64_t count;   /* transactions holding it */
};

struct ff_itemsets {
    struct ff_itemset *v;
    size_t n, cap;
    uint32_t *pool;
    size_t pool_n, pool_cap;
};

/* Every itemset of 1 to max_size items held by at least min_count transactions, in the
 * canonical order (by size, then items). 0 or -ENOMEM. */
int ff_apriori(const struct ff_txset *t, uint64_t min_count, size_t max_size, struct ff_itemsets *out);
int ff_fpgrowth(const struct ff_txset *t, uint64_t min_count, size_t max_size, struct ff_itemsets *out);
void ff_itemsets_free(struct ff_itemsets *s);

struct ff_rule {
    uint32_t ante, nante, cons, ncons; /* items in the rules' pool */
    uint64_t count;                    /* transactions holding both */
    double support, confidence, lift, conviction;
};

struct ff_rules {
    struct ff_rule *v;
    size_t n, cap;
    uint32_t *pool;
    size_t pool_n, pool_cap;
};

/* The rules of confidence >= min_confidence from frequent itemsets s (all of whose subsets
 * are in s, as the miners leave them) of ntx transactions, sorted by `by` (0 lift, 1
 * confidence, 2 support, 3 conviction; then support, then items). 0 or -ENOMEM. */
int ff_rules_from(const struct ff_itemsets *s, size_t ntx, double min_confidence, int by, struct ff_rules *out);
void ff_rules_free(struct ff_rules *r);

#endif
