/* api.h - the read endpoints: GET /api/events, /api/quarantine, /api/stats, /healthz and
 * /metrics (Prometheus text). */
#ifndef FF_API_H
#define FF_API_H

#include <stddef.h>

#include "core/buf.h"
#include "net/http.h"

/* Answers the request if `path` is one of the read endpoints; returns 1 then, else 0. */
int ff_api_route(struct ff_conn *c, const char *path, size_t plen, const char *query, size_t qlen);

/* The /api/stats JSON object and the /metrics text, also used by the CLI and tests. */
struct ff_store;
/* GET /api/stats: the ingest counters, and what `store` holds now. */
int ff_api_write_stats(struct ff_buf *out, struct ff_store *store);
struct ff_enricher;
/* `enrich` may be NULL (no enrichment counters). */
int ff_api_write_metrics(struct ff_buf *out, struct ff_store *store, const struct ff_enricher *enrich);

#endif
