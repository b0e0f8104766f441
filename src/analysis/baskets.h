/* baskets.h - transactions for association rules, read from the store through the query
 * engine's column reader: one per session (or per person) of the query's range, holding the
 * distinct values of an item field its events have: event names ("event"), pages ("page"),
 * or products from a property ("properties.product_id"). */
#ifndef FF_BASKETS_H
#define FF_BASKETS_H

#include "analysis/itemsets.h"
#include "query/query_int.h"

enum { FF_BASKET_SESSIONS, FF_BASKET_PERSONS };

/* Fills *t (ff_baskets_free it) and *names (ff_free it): item id i's text is (*names)[i],
 * pointing into *items; ids follow the names' order. 0, FF_ETOOBIG, FF_QUERY_TIMEOUT or
 * another error. */
int ff_baskets_build(struct ff_store *s, const struct ff_query *q, int by, const struct ff_field *item,
                     struct ff_txset *t, struct ff_qvalues *items, struct ff_str **names);
void ff_baskets_free(struct ff_txset *t);

#endif
