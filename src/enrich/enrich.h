/* enrich.h - the ingest stage between parsing and the WAL that adds what an event's raw
 * fields imply, and applies the IP privacy setting:
 *
 *   user agent  → browser and version, OS and version, device type, bot flag (useragent.h)
 *   IP address  → country, region, city (geoip.h); then the address is dropped from the
 *                 event's context (default), truncated, or kept
 *
 * The user agent is the event's context.userAgent (what analytics.js and the mobile SDKs
 * send); without one, for the formats a browser sends itself (the pixel, /api/track), the
 * request's User-Agent header. Server-side SDKs send neither on behalf of a person, so their
 * events are not described as "Node.js". The IP address is context.ip, else the address the
 * request came from, as Segment's API does (not for /api/import: a back-fill's uploader is
 * nobody's visitor). */
#ifndef FF_ENRICH_H
#define FF_ENRICH_H

#include <stddef.h>

#include "core/buf.h"
#include "enrich/geoip.h"
#include "enrich/useragent.h"
#include "event/event.h"

struct ff_enrich_opts {
    const char *ua_regexes;  /* uap-core regexes.yaml; NULL: FF_UA_DEFAULT_REGEXES */
    size_t ua_cache_entries; /* distinct user agents remembered; 0: 16384 (about 5 MB when full) */
    const char *geoip;       /* a .mmdb file; NULL: the npm country database the set-up installs
                              * (ff_enrich_default_geoip), when it is there */
    int ip_mode;             /* enum ff_ip_mode */
    int optional;            /* 1: a default file that is missing turns its stage off (with a
                              * warning) instead of failing; files named in the options must load */
};

/* Where the set-up puts the free country database: node_modules/ beside the directory of the
 * running binary's build/ (the repository), into out[cap]. 0, or -1 when not found. */
int ff_enrich_default_geoip(char *out, size_t cap);

struct ff_enricher;
int ff_enricher_open(struct ff_enricher **out, const struct ff_enrich_opts *o, char *err, size_t errlen);
void ff_enricher_close(struct ff_enricher *e);
/* What is on: user agents parsed, a GeoIP database open. */
int ff_enricher_has_ua(const struct ff_enricher *e);
int ff_enricher_has_geoip(const struct ff_enricher *e);
void ff_enricher_ua_counts(const struct ff_enricher *e, uint64_t *hits, uint64_t *misses);

/* What the request around an event says. */
struct ff_enrich_request {
    struct ff_str user_agent; /* the User-Agent header */
    struct ff_str peer_ip;    /* the address the request came from (text) */
    int browser_sent;         /* the pixel and /api/track: the header speaks for the person */
    int peer_is_person;       /* not a back-fill (/api/import): the address may be the person's */
    /* Cookieless visitors: with a salt, an event without userId and anonymousId gets the
     * anonymousId "cl-" + hex of keyed BLAKE2b(salt; project, IP, user agent), from the same
     * address and user agent as the rest (the user agent also from the header of a request
     * a browser sent). */
    const uint8_t *visitor_salt; /* today's (32 bytes), or NULL: no visitor ids */
    int header_is_persons;       /* a browser's fetch (Origin): its User-Agent header is the person's */
    struct ff_str project;
};

/* What an event's enrichment strings point into while it is encoded. */
struct ff_enriched {
    struct ff_ua_brief ua;
    struct ff_geo geo;
    char ip[FF_IP_TEXT];
    char visitor[24];                /* a cookieless visitor id */
    struct ff_buf context;           /* the context rewritten for the IP setting */
    struct ff_buf parse;             /* a copy of the context, when it has to be parsed */
    /* The last event's context and request, and what they gave: an SDK's batch repeats one
     * context event after event, and the next such event takes the answer as it is. */
    struct ff_buf last_context;
    struct ff_enrich_request last_rq;
    struct ff_event last_out;        /* its enrichment fields and its context as stored */
    uint64_t last_enricher;          /* which enricher gave them */
    int last_rewritten;              /* its context was rewritten (into `context`) */
    int last_valid;
};
void ff_enriched_init(struct ff_enriched *en);
void ff_enriched_free(struct ff_enriched *en);
/* Forgets the last event: its request's strings (headers, project) are gone once the request
 * is answered, so a batch starts afresh. */
static inline void ff_enriched_forget(struct ff_enriched *en) { en->last_valid = 0; }

/* Fills ev's enrichment fields (pointing into *en) from ev->context (compact JSON object text
 * as normalisation writes it, or "") and the request, and applies the IP setting to
 * ev->context (then pointing into en->context). `e` NULL leaves the event as it is.
 * 0, or -ENOMEM (the event must not be stored then). */
int ff_enrich_event(struct ff_enricher *e, const struct ff_enrich_request *rq, struct ff_event *ev,
                    struct ff_enriched *en);

#endif
