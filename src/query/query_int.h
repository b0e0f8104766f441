/* query_int.h - what the query modules share (see query.h). */
#ifndef FF_QUERY_INT_H
#define FF_QUERY_INT_H

#include "query/query.h"

/* kind "trends" (trends.c) */
int ff_query_trends(struct ff_store *s, const struct ff_query *q, struct ff_buf *out, char *err, size_t errlen);

#endif
