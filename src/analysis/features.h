/* features.h - the feature table: one row per person of a query's range (its project,
 * filters, bots and segment, as every insight reads them), read from the store's columns on
 * every core, so it is current to the last acknowledged event. Columns, in this order:
 *
 *   events              events in the range
 *   pageviews           of them, page views and screens
 *   sessions            distinct sessions
 *   avg_session_s       mean session length (first to last event), seconds
 *   pages_per_session   pageviews / sessions
 *   days_active         distinct days with an event (the query's zone)
 *   recency_days        days from the last event to the end of the range (or now)
 *   frequency           events that carry the revenue property (orders)
 *   monetary            the sum of the revenue property
 *   count:EVENT         events of each of the most frequent names (or of those asked for)
 *   dow:mon … dow:sun   events by local day of the week
 *   hour:00 … hour:23   events by local hour
 *
 * and two text columns, device and channel: each person's most frequent device type and
 * channel. Standardisation and F-score selection work on any matrix (scale.h). */
#ifndef FF_FEATURES_H
#define FF_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "query/query.h"

#define FF_FEATURES_MAX_EVENTS 32

struct ff_features_opts {
    char revenue[FF_QUERY_NAME_MAX];              /* the monetary field ("": properties.revenue) */
    size_t top_events;                            /* count:EVENT columns for the N most frequent (0: 8) */
    char events[FF_FEATURES_MAX_EVENTS][FF_QUERY_NAME_MAX]; /* or exactly these names */
    size_t nevents;
};

struct ff_ftable {
    size_t n, d;           /* persons, numeric columns */
    char **cols;           /* d names */
    double *x;             /* n × d, row by row */
    struct ff_str *person; /* n: the person's id */
    struct ff_str *device, *channel; /* n: most frequent ("" when none) */
    struct ff_buf text;    /* what the names and strings point into */
};

/* Builds the table of q's range. 0, FF_ETOOBIG (err says why), FF_QUERY_TIMEOUT, or another
 * error. */
int ff_features_build(struct ff_store *s, const struct ff_query *q, const struct ff_features_opts *o,
                      struct ff_ftable *t, char *err, size_t errlen);
void ff_ftable_free(struct ff_ftable *t);
/* The index of column `name`, or -1. */
int ff_ftable_column(const struct ff_ftable *t, const char *name, size_t len);

/* The table as CSV (a header line, then a line per person: person, the numeric columns,
 * device, channel) or NDJSON (an object per person). Numbers as the shortest text that reads
 * back the same. */
int ff_ftable_write_csv(const struct ff_ftable *t, struct ff_buf *out);
int ff_ftable_write_ndjson(const struct ff_ftable *t, struct ff_buf *out);

#endif
