/* wal_read.h - reading events and quarantined items back out of the WAL, newest first,
 * as JSON: what GET /api/events, GET /api/quarantine and the CLI print. */
#ifndef FF_WAL_READ_H
#define FF_WAL_READ_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct ff_read_filter {
    int kind;                 /* FF_REC_EVENT or FF_REC_QUARANTINE */
    const char *event;        /* event name to match (track events), or NULL */
    size_t event_len;
    int64_t from_us, to_us;   /* timestamp range [from, to), FF_TIME_NONE for open ends */
    size_t limit;
};

/* Appends up to f->limit matching records as JSON objects, newest first, separated by
 * `sep`; sets *count. 0 or a negative error (nothing appended then). */
int ff_wal_read_json(const char *dir, const struct ff_read_filter *f, const char *sep, struct ff_buf *out,
                     size_t *count);

#endif
