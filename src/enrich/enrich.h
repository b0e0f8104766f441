/* enrich.h - the ingest stage between parsing and the WAL that adds what an event's raw
 * fields imply: browser, OS, device type and bot flag from the user agent (useragent.h).
 *
 * The user agent is the event's context.userAgent (what analytics.js and the mobile SDKs
 * send); without one, for the formats a browser sends itself (the pixel, /api/track), the
 * request's User-Agent header. Server-side SDKs send neither on behalf of a person, so their
 * events stay unenriched rather than being described as "Node.js". */
#ifndef FF_ENRICH_H
#define FF_ENRICH_H

#include <stddef.h>

#include "core/buf.h"
#include "enrich/useragent.h"
#include "event/event.h"

struct ff_enrich_opts {
    const char *ua_regexes;  /* uap-core regexes.yaml; NULL: FF_UA_DEFAULT_REGEXES */
    int ua_optional;         /* 1: a missing default file turns user-agent enrichment off
                              * (with a warning) instead of failing */
    size_t ua_cache_entries; /* distinct user agents remembered; 0: 16384 (about 14 MB when full) */
};

struct ff_enricher;
int ff_enricher_open(struct ff_enricher **out, const struct ff_enrich_opts *o, char *err, size_t errlen);
void ff_enricher_close(struct ff_enricher *e);
/* 1 when user agents are parsed (the regexes loaded). */
int ff_enricher_has_ua(const struct ff_enricher *e);
void ff_enricher_ua_counts(const struct ff_enricher *e, uint64_t *hits, uint64_t *misses);

/* What an event's enrichment strings point into while it is encoded. */
struct ff_enriched {
    struct ff_ua_brief ua;
    char unescaped[FF_UA_MAX_INPUT]; /* a context.userAgent that held JSON escapes */
};

/* The user agent context.userAgent holds in `context` (compact JSON object text as
 * normalisation writes it, or ""), else `fallback`; points into context or into out. */
struct ff_str ff_enrich_user_agent(struct ff_str context, struct ff_str fallback, struct ff_enriched *out);

/* Fills ev's enrichment fields for user agent `ua`; they point into *out. `e` may be NULL
 * (nothing is filled). 0, or -ENOMEM. */
int ff_enrich_event(struct ff_enricher *e, struct ff_event *ev, struct ff_str ua, struct ff_enriched *out);

#endif
