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
    size_t max_bytes;         /* most the kept matches may hold; 0 = FF_READ_BUDGET_BYTES */
};

/* Most an answer keeps in memory by default: past it the oldest kept matches give way, so a
 * listing of many large events answers with fewer of them instead of exhausting memory. */
#define FF_READ_BUDGET_BYTES ((size_t)256 << 20)

/* Appends up to f->limit matching records as JSON objects, newest first, separated by
 * `sep`; sets *count. 0 or a negative error (nothing appended then). */
int ff_wal_read_json(const char *dir, const struct ff_read_filter *f, const char *sep, struct ff_buf *out,
                     size_t *count);

#endif
