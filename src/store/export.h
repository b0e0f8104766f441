/* export.h - a person's events, or everything in a time range, as NDJSON or CSV: what
 * `footfall export` and GET /api/persons/{id}/events give users who want their raw data. */
#ifndef FF_EXPORT_H
#define FF_EXPORT_H

#include <stdio.h>

#include "store/store.h"

enum ff_export_format { FF_EXPORT_NDJSON, FF_EXPORT_CSV };

/* A person's events (user id, anonymous id or person id equal to `id`), oldest first, one
 * JSON object per line (or CSV rows after a header line), appended to `out`; *count gets
 * how many. */
int ff_export_person(struct ff_store *s, const char *project, const char *id, size_t len, enum ff_export_format format, struct ff_buf *out,
                     size_t *count);

/* Streams every event with a time in [from, to) to `fp` (CSV with a header line). */
int ff_export_range(struct ff_store *s, const char *project, int64_t from_us, int64_t to_us, enum ff_export_format format, FILE *fp,
                    size_t *count);

#endif
