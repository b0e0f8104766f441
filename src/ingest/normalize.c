/* normalize.c - a Segment-shaped JSON object to a footfall event: validation, ids, clock-skew
 * correction and the JSON text of properties, traits and context.
 *
 * Every wire format ends here; Segment's HTTP Tracking API spec is the common language
 * (https://segment.com/docs/connections/spec/common/). */
#include "ingest_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/timeutil.h"
#include "enrich/enrich.h"
#include "enrich/pii.h"
#include "project/projects.h"

/* The members of a Segment event that normalisation reads. */
enum key {
    K_TYPE, K_USER_ID, K_ANONYMOUS_ID, K_GROUP_ID, K_PREVIOUS_ID, K_EVENT, K_NAME, K_MESSAGE_ID, K_TIMESTAMP,
    K_ORIGINAL_TIMESTAMP, K_SENT_AT, K_WRITE_KEY, K_PROPERTIES, K_DATA, K_TRAITS, K_CONTEXT, K_COUNT
};

/* Which of the keys above `name` is, or K_COUNT. A switch on the length with constant-size
 * compares, which the compiler turns into a few integer compares. */
static int key_of(const char *name, uint32_t len)
{
#define IS(lit) (memcmp(name, lit, sizeof lit - 1) == 0)
    switch (len) {
    case 4: return IS("type") ? K_TYPE : IS("name") ? K_NAME : IS("data") ? K_DATA : K_COUNT;
    case 5: return IS("event") ? K_EVENT : K_COUNT;
    case 6: return IS("userId") ? K_USER_ID : IS("sentAt") ? K_SENT_AT : IS("traits") ? K_TRAITS : K_COUNT;
    case 7: return IS("groupId") ? K_GROUP_ID : IS("context") ? K_CONTEXT : K_COUNT;
    case 8: return IS("writeKey") ? K_WRITE_KEY : K_COUNT;
    case 9: return IS("messageId") ? K_MESSAGE_ID : IS("timestamp") ? K_TIMESTAMP : K_COUNT;
    case 10: return IS("previousId") ? K_PREVIOUS_ID : IS("properties") ? K_PROPERTIES : K_COUNT;
    case 11: return IS("anonymousId") ? K_ANONYMOUS_ID : K_COUNT;
    case 17: return IS("originalTimestamp") ? K_ORIGINAL_TIMESTAMP : K_COUNT;
    default: return K_COUNT;
    }
#undef IS
}

/* One pass over the object's members instead of a lookup per key; the first of repeated
 * keys wins. */
static void index_members(const struct ff_json_doc *doc, uint32_t obj, uint32_t idx[K_COUNT])
{
    for (int k = 0; k < K_COUNT; k++) idx[k] = FF_JSON_NONE;
    for (uint32_t c = obj + 1; c < doc->nodes[obj].end; c = doc->nodes[c].end) {
        int k = key_of(doc->nodes[c].key, doc->nodes[c].key_len);
        if (k < K_COUNT && idx[k] == FF_JSON_NONE) idx[k] = c;
    }
}

static int fail(struct failure *f, const char *error, const char *field)
{
    f->error = error;
    f->field = field;
    return FF_EINVAL;
}

/* An id field: a string, or a number that SDKs sometimes send (Segment stringifies it). */
static int get_id(const struct ff_json_doc *doc, uint32_t i, const char *key, struct ff_str *out,
                  char *numbuf, size_t numcap, struct failure *f, const char *msg)
{
    out->p = "", out->len = 0;
    if (i == FF_JSON_NONE || doc->nodes[i].type == FF_JSON_NULL) return 0;
    const struct ff_json_node *n = &doc->nodes[i];
    if (n->type == FF_JSON_STRING) {
        out->p = n->v.s, out->len = n->len;
        return 0;
    }
    int w;
    if (n->type == FF_JSON_INT) w = snprintf(numbuf, numcap, "%lld", (long long)n->v.i);
    else if (n->type == FF_JSON_UINT) w = snprintf(numbuf, numcap, "%llu", (unsigned long long)n->v.u);
    else return fail(f, msg, key);
    out->p = numbuf, out->len = (uint32_t)w;
    return 0;
}

int json_time(const struct ff_json_doc *doc, uint32_t i, int64_t *us)
{
    if (i == FF_JSON_NONE || doc->nodes[i].type == FF_JSON_NULL) return 0;
    const struct ff_json_node *n = &doc->nodes[i];
    if (n->type == FF_JSON_STRING) return ff_time_parse_iso(n->v.s, n->len, us);
    if (n->type == FF_JSON_INT) return ff_time_from_ms(n->v.i, us);
    return FF_EINVAL;
}

static int get_time(const struct ff_json_doc *doc, uint32_t i, const char *key, int64_t *us,
                    struct failure *f, const char *msg)
{
    return json_time(doc, i, us) ? fail(f, msg, key) : 0;
}

/* The member names of an object, sorted, to look defaults up in O(log n): merging a batch
 * context of n keys into events of n keys must not cost n² (a 20k-key context stalled a loop
 * for seconds). */
struct key_ref {
    const char *p;
    uint32_t len;
};

static int cmp_key(const void *a, const void *b)
{
    const struct key_ref *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The JSON text of object `i` (or none when absent or empty) with `defaults`' members merged
 * in: either the parse's own text (*direct, nothing copied) or text written to b->scratch at
 * *off. */
static int write_object(struct ff_batch *b, const struct ff_json_doc *doc, uint32_t i, const struct ff_json_doc *ddoc,
                        uint32_t defaults, const char **direct, size_t *off, size_t *len)
{
    struct ff_buf *s = &b->scratch;
    *off = s->len;
    *direct = NULL;
    /* The defaults (a batch's context) are parsed with nodes; an empty object adds nothing. */
    int has_defaults = defaults != FF_JSON_NONE && ddoc->nodes[defaults].end > defaults + 1;
    if (i == FF_JSON_NONE && !has_defaults) {
        *len = 0;
        return 0;
    }
    int rc;
    if (!has_defaults && (doc->nodes[i].flags & FF_JSON_F_RAW)) {
        *direct = doc->nodes[i].v.s;
        *len = doc->nodes[i].len == 2 ? 0 : doc->nodes[i].len; /* "{}" is stored as absent */
        return 0;
    }
    struct ff_json_doc expanded;
    if (has_defaults && i != FF_JSON_NONE && (doc->nodes[i].flags & FF_JSON_F_RAW)) {
        /* Merging needs the event's members: parse its text again (rare: SDKs send the
         * context with each event, not with the batch), with a parser of the batch's own so
         * the request's parse stays valid. */
        if (!b->merge_parser && !(b->merge_parser = ff_json_parser_new())) return -ENOMEM;
        const char *err;
        if ((rc = ff_json_parse(b->merge_parser, doc->nodes[i].v.s, doc->nodes[i].len, &expanded, &err)))
            return rc == -ENOMEM ? rc : FF_EINVAL;
        doc = &expanded;
        i = 0;
    }
    if (!has_defaults) {
        rc = ff_json_write_node(s, doc, i);
    } else if (i == FF_JSON_NONE) {
        rc = ff_json_write_node(s, ddoc, defaults);
    } else {
        uint32_t nkeys = doc->nodes[i].len, k = 0;
        struct key_ref *keys = ff_malloc((size_t)(nkeys ? nkeys : 1) * sizeof *keys);
        if (!keys) return -ENOMEM;
        for (uint32_t c = i + 1; c < doc->nodes[i].end && k < nkeys; c = doc->nodes[c].end)
            keys[k++] = (struct key_ref){doc->nodes[c].key, doc->nodes[c].key_len};
        qsort(keys, k, sizeof *keys, cmp_key);
        rc = ff_buf_putc(s, '{');
        int first = 1;
        for (uint32_t c = i + 1; !rc && c < doc->nodes[i].end; c = doc->nodes[c].end) {
            if (!first) ff_buf_putc(s, ',');
            first = 0;
            rc = ff_json_write_str(s, doc->nodes[c].key, doc->nodes[c].key_len);
            if (!rc) rc = ff_buf_putc(s, ':');
            if (!rc) rc = ff_json_write_node(s, doc, c);
        }
        for (uint32_t c = defaults + 1; !rc && c < ddoc->nodes[defaults].end; c = ddoc->nodes[c].end) {
            const struct ff_json_node *dn = &ddoc->nodes[c];
            struct key_ref want = {dn->key, dn->key_len};
            if (bsearch(&want, keys, k, sizeof *keys, cmp_key)) continue; /* the event's own wins */
            if (!first) ff_buf_putc(s, ',');
            first = 0;
            rc = ff_json_write_str(s, dn->key, dn->key_len);
            if (!rc) rc = ff_buf_putc(s, ':');
            if (!rc) rc = ff_json_write_node(s, ddoc, c);
        }
        if (!rc) rc = ff_buf_putc(s, '}');
        ff_free(keys);
    }
    *len = s->len - *off;
    /* An empty object is stored as "absent" so every event without one looks the same. */
    if (!rc && *len == 2) {
        s->len = *off;
        *len = 0;
    }
    return rc;
}

/* Masks e-mail addresses, phone and card numbers in the event's properties and context
 * (enrich/pii.h); the masked texts live in b->pii until the event is encoded. */
static int scrub_pii(struct ff_batch *b, const struct ff_project *pr, struct ff_event *ev)
{
    ff_buf_reset(&b->pii);
    int pc = 0, cc = 0;
    int rc = ff_pii_scrub_json(ev->properties.p, ev->properties.len, "properties", pr->pii_keep, &b->pii, &pc);
    size_t split = b->pii.len;
    /* the context the last event had, found clean under the same project: clean again */
    int again = b->pii_clean_project == pr && ev->context.len == b->pii_clean.len &&
                (!ev->context.len || !memcmp(ev->context.p, b->pii_clean.data, ev->context.len));
    if (!rc && !again) {
        rc = ff_pii_scrub_json(ev->context.p, ev->context.len, "context", pr->pii_keep, &b->pii, &cc);
        b->pii_clean_project = NULL;
        ff_buf_reset(&b->pii_clean);
        if (!rc && !cc && !ff_buf_append(&b->pii_clean, ev->context.p, ev->context.len)) b->pii_clean_project = pr;
    }
    if (rc) return rc;
    /* pointers only now: the buffer may have moved while it grew */
    if (pc) ev->properties = (struct ff_str){b->pii.data, (uint32_t)split};
    if (cc) ev->context = (struct ff_str){b->pii.data + split, (uint32_t)(b->pii.len - split)};
    return 0;
}

static int object_or_absent(const struct ff_json_doc *doc, uint32_t i, const char *key, uint32_t *out,
                            struct failure *f, const char *msg)
{
    *out = FF_JSON_NONE;
    if (i == FF_JSON_NONE || doc->nodes[i].type == FF_JSON_NULL) return 0;
    if (doc->nodes[i].type != FF_JSON_OBJECT) return fail(f, msg, key);
    *out = i;
    return 0;
}

int normalize_segment(const struct ff_ingest_ctx *ctx, const struct segment_defaults *defs,
                      uint32_t obj, int type, int seed, struct ff_batch *b, struct failure *f)
{
    const struct ff_json_doc *doc = defs->doc;
    f->project = ctx->project;
    f->refused = 0;
    if (doc->nodes[obj].type != FF_JSON_OBJECT) return fail(f, "an event must be a JSON object", "");
    uint32_t idx[K_COUNT];
    index_members(doc, obj, idx);
    struct ff_event ev;
    memset(&ev, 0, sizeof ev);
    ev.format = (uint8_t)b->format;
    ev.received_at_us = ctx->received_at_us;

    /* Write key first: whose event it is decides where even an invalid one is kept. The
     * body's, else the request's (Basic auth), else the batch's. */
    uint32_t i = idx[K_WRITE_KEY];
    if (i != FF_JSON_NONE && doc->nodes[i].type == FF_JSON_STRING)
        ev.write_key.p = doc->nodes[i].v.s, ev.write_key.len = doc->nodes[i].len;
    else if (ctx->write_key.len) ev.write_key = ctx->write_key;
    else ev.write_key = defs->write_key;
    const struct ff_project *pr;
    if (resolve_project(ctx, ev.write_key, &pr, f)) return FF_EINVAL;
    if (pr) {
        f->project = pr;
        ev.project = (struct ff_str){pr->id, (uint32_t)strlen(pr->id)};
        if (pr->honor_dnt && ctx->do_not_track) { /* acknowledged, and forgotten */
            b->not_tracked++;
            return 0;
        }
    }

    if (!type) {
        uint32_t t = idx[K_TYPE];
        if (t == FF_JSON_NONE) {
            if (defs->type_required) return fail(f, "type is required for each batch item", "type");
            type = FF_EV_TRACK;
        } else if (doc->nodes[t].type != FF_JSON_STRING ||
                   !(type = ff_event_type_parse(doc->nodes[t].v.s, doc->nodes[t].len))) {
            return fail(f, "type must be one of track, page, screen, identify, group, alias", "type");
        }
    }
    ev.type = (uint8_t)type;

    char uid_num[24], aid_num[24], gid_num[24], pid_num[24];
    if (get_id(doc, idx[K_USER_ID], "userId", &ev.user_id, uid_num, sizeof uid_num, f, "userId must be a string") ||
        get_id(doc, idx[K_ANONYMOUS_ID], "anonymousId", &ev.anonymous_id, aid_num, sizeof aid_num, f,
               "anonymousId must be a string") ||
        get_id(doc, idx[K_GROUP_ID], "groupId", &ev.group_id, gid_num, sizeof gid_num, f, "groupId must be a string") ||
        get_id(doc, idx[K_PREVIOUS_ID], "previousId", &ev.previous_id, pid_num, sizeof pid_num, f,
               "previousId must be a string"))
        return FF_EINVAL;

    i = idx[K_EVENT];
    if (type == FF_EV_TRACK) {
        if (i == FF_JSON_NONE || doc->nodes[i].type != FF_JSON_STRING || doc->nodes[i].len == 0)
            return fail(f, "event must be a non-empty string", "event");
        ev.event.p = doc->nodes[i].v.s, ev.event.len = doc->nodes[i].len;
    }
    if (type == FF_EV_PAGE || type == FF_EV_SCREEN) {
        i = idx[K_NAME];
        if (i != FF_JSON_NONE && doc->nodes[i].type == FF_JSON_STRING)
            ev.name.p = doc->nodes[i].v.s, ev.name.len = doc->nodes[i].len;
        else if (i != FF_JSON_NONE && doc->nodes[i].type != FF_JSON_NULL)
            return fail(f, "name must be a string", "name");
    }
    /* A browser's event without ids gets a cookieless visitor id when its project allows:
     * browsers send the pixel and /api/track themselves, and an Origin header with fetch and
     * sendBeacon; server-side SDKs send none of these. So does a browser's identify with a
     * userId and no anonymousId (the tracker's: it knows no visitor id), which links the
     * visitor's earlier events to the user; other events of a user do not, so each
     * identify makes one link, not every event. */
    int browser = b->format == FF_FMT_PIXEL || b->format == FF_FMT_SEED || ctx->origin.len;
    int derive = pr && pr->cookieless && ctx->visitor_salt && ctx->enrich && browser && type != FF_EV_ALIAS &&
                 !ev.anonymous_id.len && (!ev.user_id.len || type == FF_EV_IDENTIFY);
    /* The seed format (/api/track) predates Segment ids: there the ids are optional. */
    if (!seed && !derive && type != FF_EV_ALIAS && !ev.user_id.len && !ev.anonymous_id.len)
        return fail(f, "userId or anonymousId is required", "userId");
    if (type == FF_EV_GROUP && !ev.group_id.len) return fail(f, "groupId is required for group", "groupId");
    if (type == FF_EV_ALIAS && !ev.user_id.len) return fail(f, "userId is required for alias", "userId");
    if (type == FF_EV_ALIAS && !ev.previous_id.len)
        return fail(f, "previousId is required for alias", "previousId");

    char mid_num[24], mid_gen[37];
    if (get_id(doc, idx[K_MESSAGE_ID], "messageId", &ev.message_id, mid_num, sizeof mid_num, f,
               "messageId must be a string"))
        return FF_EINVAL;
    if (!ev.message_id.len) {
        make_message_id(mid_gen);
        ev.message_id.p = mid_gen, ev.message_id.len = 36;
    }

    int64_t client_ts = FF_TIME_NONE, sent_at = defs->sent_at_us;
    if (get_time(doc, idx[K_TIMESTAMP], "timestamp", &client_ts, f, "timestamp must be an ISO 8601 date-time or epoch milliseconds"))
        return FF_EINVAL;
    if (client_ts == FF_TIME_NONE &&
        get_time(doc, idx[K_ORIGINAL_TIMESTAMP], "originalTimestamp", &client_ts, f,
                 "originalTimestamp must be an ISO 8601 date-time or epoch milliseconds"))
        return FF_EINVAL;
    if (get_time(doc, idx[K_SENT_AT], "sentAt", &sent_at, f, "sentAt must be an ISO 8601 date-time or epoch milliseconds")) return FF_EINVAL;
    ev.original_timestamp_us = client_ts;
    ev.sent_at_us = sent_at;
    if (client_ts == FF_TIME_NONE) ev.timestamp_us = ctx->received_at_us;
    else if (sent_at == FF_TIME_NONE) ev.timestamp_us = client_ts;
    else ev.timestamp_us = ctx->received_at_us - (sent_at - client_ts);

    uint32_t props, traits, context;
    if (object_or_absent(doc, seed ? idx[K_DATA] : idx[K_PROPERTIES], seed ? "data" : "properties", &props, f,
                         seed ? "data must be an object" : "properties must be an object"))
        return FF_EINVAL;
    if (seed && props == FF_JSON_NONE &&
        object_or_absent(doc, idx[K_PROPERTIES], "properties", &props, f, "properties must be an object"))
        return FF_EINVAL;
    if (object_or_absent(doc, idx[K_TRAITS], "traits", &traits, f, "traits must be an object") ||
        object_or_absent(doc, idx[K_CONTEXT], "context", &context, f, "context must be an object"))
        return FF_EINVAL;
    /* identify and group carry traits at the top level; some SDKs put them in context. */
    size_t s0 = b->scratch.len, po, pl, to, tl, co, cl;
    int rc = ff_buf_reserve(&b->scratch, 0); /* so scratch.data is never NULL below */
    const char *pd, *td, *cd;
    if (!rc) rc = write_object(b, doc, props, doc, FF_JSON_NONE, &pd, &po, &pl);
    if (!rc) rc = write_object(b, doc, traits, doc, FF_JSON_NONE, &td, &to, &tl);
    if (!rc) rc = write_object(b, doc, context, defs->doc, defs->context, &cd, &co, &cl);
    if (rc) {
        b->scratch.len = s0;
        return rc;
    }
    /* Pointers only now: scratch may have moved while it grew. */
    ev.properties = (struct ff_str){pd ? pd : b->scratch.data + po, (uint32_t)pl};
    ev.traits = (struct ff_str){td ? td : b->scratch.data + to, (uint32_t)tl};
    ev.context = (struct ff_str){cd ? cd : b->scratch.data + co, (uint32_t)cl};
    rc = finish_event(ctx, b, pr, &ev, derive ? ctx->visitor_salt : NULL, derive && !seed, f);
    b->scratch.len = s0;
    return rc;
}

int finish_event(const struct ff_ingest_ctx *ctx, struct ff_batch *b, const struct ff_project *pr, struct ff_event *ev,
                 const uint8_t *visitor_salt, int ids_required, struct failure *f)
{
    int rc = 0;
    if (ctx->enrich) {
        /* The header speaks for the person only where their browser sent the request itself;
         * the request's address is nobody's for a back-fill or a shipped log line. */
        struct ff_enrich_request rq = {.user_agent = ctx->user_agent, .peer_ip = ctx->peer_ip,
                                       .browser_sent = b->format == FF_FMT_PIXEL || b->format == FF_FMT_SEED,
                                       .peer_is_person = b->format != FF_FMT_IMPORT && b->format != FF_FMT_LOG,
                                       .visitor_salt = visitor_salt, .project = ev->project,
                                       .header_is_persons = ctx->origin.len > 0};
        if (!b->enriched && (b->enriched = ff_malloc(sizeof *b->enriched))) ff_enriched_init(b->enriched);
        rc = b->enriched ? ff_enrich_event(ctx->enrich, &rq, ev, b->enriched) : -ENOMEM;
    }
    if (!rc && ids_required && !ev->user_id.len && !ev->anonymous_id.len) /* nothing to derive one from */
        return fail(f, "userId or anonymousId is required", "userId");
    if (!rc && pr && pr->scrub_pii) rc = scrub_pii(b, pr, ev);
    if (!rc) rc = batch_add_event(b, ev); /* ev's enrichment points into b->enriched until here */
    if (!rc && !b->project) b->project = pr;
    return rc;
}
