/* derive.h - the columns an event's JSON implies: its page (url, path, title, referrer), its
 * campaign (the five UTM fields, from context.campaign or else the page URL's query), and
 * where the visit came from (source, channel, click id; enrich/channel.h). Parts store them
 * as columns (schema.c); sessions split on a change of campaign (sessions.c). */
#ifndef FF_DERIVE_H
#define FF_DERIVE_H

#include <stdint.h>

#include "core/buf.h"
#include "event/event.h"
#include "store/schema.h"

/* The derived columns are FF_C_PAGE_URL .. FF_C_CLICK_ID, in that order. */
#define FF_LAST_DERIVED FF_C_CLICK_ID
#define FF_NDERIVED (FF_LAST_DERIVED - FF_C_PAGE_URL + 1)
#define FF_D(col) ((col) - FF_C_PAGE_URL) /* a derived column's place in a row's spans */

/* A derived value: bytes of the deriver's arena (offsets, as the arena moves while it grows). */
struct ff_span {
    uint64_t off;
    uint32_t len;
};

struct ff_json_parser;
struct ff_deriver {
    struct ff_json_parser *parser;
    struct ff_buf scratch, arena, query, urlq;
    /* The last event's inputs (type, context, and properties of a page call) and what they
     * gave: a person's events mostly repeat their context, and flushes derive in person order.
     * Valid while the arena has the length it had then (callers may reset it). */
    struct ff_buf memo_in;
    struct ff_span memo_out[FF_NDERIVED];
    size_t memo_arena_len;
    int memo_type; /* -1: none */
    uint32_t memo_ctx_id; /* its context's id (ff_derive_known), UINT32_MAX: none */
};

int ff_deriver_init(struct ff_deriver *d); /* 0 or -ENOMEM */
void ff_deriver_free(struct ff_deriver *d);

/* Appends an event's derived values to d->arena, out[FF_D(col)] locating each (len 0 when
 * the event has none). Out of memory leaves values empty. */
void ff_derive(struct ff_deriver *d, const struct ff_event *ev, struct ff_span *out);
/* The same, for a caller that has numbered the contexts it derives from (equal ids, equal
 * text; UINT32_MAX: no id): a context like the last event's is then known without comparing
 * its text, which a flush did for every event. */
void ff_derive_known(struct ff_deriver *d, const struct ff_event *ev, uint32_t ctx_id, struct ff_span *out);
/* A page's path as queries and sessions show it: its path field, else its URL's path. */
struct ff_str ff_derived_path(const struct ff_deriver *d, const struct ff_span *out);

/* The path of a URL (see derive.c). */
struct ff_str ff_url_path(struct ff_str url);

static inline struct ff_str ff_span_str(const struct ff_deriver *d, const struct ff_span *s)
{
    return (struct ff_str){s->len ? d->arena.data + s->off : "", s->len};
}

#endif
