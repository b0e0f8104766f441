/* derive.c - page, campaign and channel fields of an event (see derive.h). */
#include "store/derive.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/jsonscan.h"
#include "core/textcodec.h"
#include "enrich/channel.h"

int ff_deriver_init(struct ff_deriver *d)
{
    memset(d, 0, sizeof *d);
    ff_buf_init(&d->scratch, (size_t)1 << 32);
    ff_buf_init(&d->arena, (size_t)1 << 34);
    ff_buf_init(&d->query, (size_t)1 << 32);
    ff_buf_init(&d->urlq, (size_t)1 << 32);
    ff_buf_init(&d->memo_in, (size_t)1 << 32);
    d->memo_type = -1;
    d->memo_ctx_id = UINT32_MAX;
    return (d->parser = ff_json_parser_new()) ? 0 : -ENOMEM;
}

void ff_deriver_free(struct ff_deriver *d)
{
    ff_json_parser_free(d->parser);
    ff_buf_free(&d->scratch);
    ff_buf_free(&d->arena);
    ff_buf_free(&d->query);
    ff_buf_free(&d->urlq);
    ff_buf_free(&d->memo_in);
    memset(d, 0, sizeof *d);
}

static void keep(struct ff_deriver *d, struct ff_span *out, const char *s, uint32_t len)
{
    if (out->len || !len) return; /* the first source that has a value wins */
    if (ff_buf_append(&d->arena, s, len)) return; /* out of memory: the column stays empty */
    out->off = d->arena.len - len;
    out->len = len;
}

static void take_object_fields(struct ff_deriver *d, const struct ff_json_doc *doc, uint32_t obj, const char *const *keys,
                               struct ff_span *out, int count)
{
    if (obj == FF_JSON_NONE || doc->nodes[obj].type != FF_JSON_OBJECT) return;
    for (int k = 0; k < count; k++) {
        const char *s;
        uint32_t len;
        if (keys[k] && ff_json_str(doc, ff_json_get(doc, obj, keys[k]), &s, &len)) keep(d, &out[k], s, len);
    }
}

static int parse_text(struct ff_deriver *d, struct ff_str text, struct ff_json_doc *doc)
{
    return ff_json_parse_copy(d->parser, &d->scratch, text.p, text.len, doc);
}

static const char *const page_keys[] = {"url", "path", "title", "referrer"};
/* Segment's context.campaign uses name for utm_campaign. */
static const char *const campaign_keys[] = {"source", "medium", "name", "term", "content"};
static const char *const utm_params[] = {"utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"};

/* Takes the string members named by `keys` (the first member of each name, as
 * ff_json_get finds it) from object text without parsing it. 0, or -1 to parse instead. */
static int scan_fields(struct ff_deriver *d, struct ff_str text, const char *const *keys, struct ff_span *out, int count)
{
    struct ff_jscan sc;
    struct ff_jscan_member m;
    if (ff_jscan_begin(&sc, text.p, text.len)) return -1;
    unsigned seen = 0;
    int more;
    while ((more = ff_jscan_next(&sc, &m)) == 1)
        for (int k = 0; k < count; k++) {
            if (!keys[k] || (seen >> k & 1) || m.key.len != strlen(keys[k]) || memcmp(m.key.p, keys[k], m.key.len))
                continue;
            seen |= 1u << k;
            if (m.kind == FF_JS_STRING) {
                if (m.escaped) return -1; /* its content needs unescaping */
                keep(d, &out[k], m.value.p, m.value.len);
            }
            break;
        }
    return more < 0 ? -1 : 0;
}

/* The page and campaign fields, read without parsing (jsonscan.h). 0, or -1 to parse. */
static int derive_scanned(struct ff_deriver *d, const struct ff_event *ev, struct ff_span *out)
{
    if (ev->type == FF_EV_PAGE && ev->properties.len && scan_fields(d, ev->properties, page_keys, out, 4)) return -1;
    if (!ev->context.len) return 0;
    struct ff_jscan sc;
    struct ff_jscan_member m;
    if (ff_jscan_begin(&sc, ev->context.p, ev->context.len)) return -1;
    int page = 0, campaign = 0, more;
    while ((more = ff_jscan_next(&sc, &m)) == 1) {
        int is_page = !page && ff_str_eq(m.key, (struct ff_str){"page", 4});
        int is_campaign = !campaign && ff_str_eq(m.key, (struct ff_str){"campaign", 8});
        page |= is_page, campaign |= is_campaign;
        if ((is_page || is_campaign) && m.kind == FF_JS_OBJECT &&
            scan_fields(d, m.value, is_page ? page_keys : campaign_keys, is_page ? out : out + 4, is_page ? 4 : 5))
            return -1;
    }
    return more < 0 ? -1 : 0;
}

/* The same, by parsing: for text the scan gives up on. */
static void derive_parsed(struct ff_deriver *d, const struct ff_event *ev, struct ff_span *out)
{
    struct ff_json_doc doc;
    /* A page call carries its page in properties (Segment spec); context.page comes second. */
    if (ev->type == FF_EV_PAGE && !parse_text(d, ev->properties, &doc))
        take_object_fields(d, &doc, 0, page_keys, out, 4);
    if (!parse_text(d, ev->context, &doc)) {
        take_object_fields(d, &doc, ff_json_get(&doc, 0, "page"), page_keys, out, 4);
        take_object_fields(d, &doc, ff_json_get(&doc, 0, "campaign"), campaign_keys, out + 4, 5);
    }
}

/* Source, channel and click id (enrich/channel.h) from the page, referrer and UTM columns. */
static void derive_channel(struct ff_deriver *d, struct ff_span *out)
{
    struct ff_str url = ff_span_str(d, &out[FF_D(FF_C_PAGE_URL)]);
    int clicked = ff_click_id(url, &d->query) && d->query.len <= UINT32_MAX;
    struct ff_str click = {clicked ? d->query.data : "", clicked ? (uint32_t)d->query.len : 0};
    char source[256];
    size_t slen;
    const char *channel = ff_channel(url, ff_span_str(d, &out[FF_D(FF_C_PAGE_REFERRER)]), ff_span_str(d, &out[FF_D(FF_C_UTM_SOURCE)]),
                                     ff_span_str(d, &out[FF_D(FF_C_UTM_MEDIUM)]), click, source, sizeof source, &slen);
    /* kept last: keeping moves the arena the spans above point into */
    keep(d, &out[FF_D(FF_C_SOURCE)], source, (uint32_t)slen);
    keep(d, &out[FF_D(FF_C_CHANNEL)], channel, (uint32_t)strlen(channel));
    if (clicked) keep(d, &out[FF_D(FF_C_CLICK_ID)], d->query.data, (uint32_t)d->query.len);
}

/* The inputs ff_derive reads, as one key: the context, then the properties of a page call. */
static int same_inputs(const struct ff_deriver *d, const struct ff_event *ev, uint32_t ctx_id)
{
    size_t plen = ev->type == FF_EV_PAGE ? ev->properties.len : 0;
    return d->memo_type == (int)ev->type && d->memo_arena_len == d->arena.len &&
           d->memo_in.len == (size_t)ev->context.len + plen + 1 &&
           ((ctx_id != UINT32_MAX && ctx_id == d->memo_ctx_id) || !ev->context.len ||
            !memcmp(d->memo_in.data, ev->context.p, ev->context.len)) &&
           d->memo_in.data[ev->context.len] == '\0' &&
           (!plen || !memcmp(d->memo_in.data + ev->context.len + 1, ev->properties.p, plen));
}

static void remember(struct ff_deriver *d, const struct ff_event *ev, uint32_t ctx_id, const struct ff_span *out)
{
    size_t plen = ev->type == FF_EV_PAGE ? ev->properties.len : 0;
    ff_buf_reset(&d->memo_in);
    d->memo_type = -1;
    if (ff_buf_append(&d->memo_in, ev->context.p, ev->context.len) || ff_buf_putc(&d->memo_in, '\0') ||
        ff_buf_append(&d->memo_in, ev->properties.p, plen))
        return;
    memcpy(d->memo_out, out, sizeof d->memo_out);
    d->memo_arena_len = d->arena.len;
    d->memo_type = (int)ev->type;
    d->memo_ctx_id = ctx_id;
}

void ff_derive(struct ff_deriver *d, const struct ff_event *ev, struct ff_span *out)
{
    ff_derive_known(d, ev, UINT32_MAX, out);
}

void ff_derive_known(struct ff_deriver *d, const struct ff_event *ev, uint32_t ctx_id, struct ff_span *out)
{
    if (same_inputs(d, ev, ctx_id)) {
        memcpy(out, d->memo_out, sizeof d->memo_out);
        return;
    }
    memset(out, 0, FF_NDERIVED * sizeof *out);
    if (derive_scanned(d, ev, out)) {
        memset(out, 0, FF_NDERIVED * sizeof *out);
        derive_parsed(d, ev, out);
    }
    /* No campaign object: the UTM parameters of the page URL, as analytics.js would read them. */
    if (out[0].len) {
        ff_buf_reset(&d->urlq); /* a copy: the arena the URL is in moves while values are kept */
        const char *url = d->arena.data + out[0].off;
        const char *q = memchr(url, '?', out[0].len);
        if (q && !ff_buf_append(&d->urlq, q + 1, out[0].len - (size_t)(q + 1 - url))) {
            const char *hash = memchr(d->urlq.data, '#', d->urlq.len);
            size_t qlen = hash ? (size_t)(hash - d->urlq.data) : d->urlq.len;
            for (int k = 0; k < 5; k++) {
                if (out[4 + k].len) continue;
                ff_buf_reset(&d->query);
                if (ff_query_get(d->urlq.data, qlen, utm_params[k], &d->query) == 1)
                    keep(d, &out[4 + k], d->query.data, (uint32_t)d->query.len);
            }
        }
    }
    derive_channel(d, out);
    remember(d, ev, ctx_id, out);
}

/* The path of a URL: "https://x.test/a/b?q#f" → "/a/b" ("/" when it has none). */
struct ff_str ff_url_path(struct ff_str url)
{
    const char *p = url.p, *end = url.p + url.len;
    const char *scheme = url.len > 3 ? memmem(p, url.len, "://", 3) : NULL;
    if (scheme) {
        p = scheme + 3;
        while (p < end && *p != '/' && *p != '?' && *p != '#') p++;
    }
    const char *q = p;
    while (q < end && *q != '?' && *q != '#') q++;
    return q > p ? (struct ff_str){p, (uint32_t)(q - p)} : (struct ff_str){"/", 1};
}

struct ff_str ff_derived_path(const struct ff_deriver *d, const struct ff_span *out)
{
    struct ff_str path = ff_span_str(d, &out[FF_D(FF_C_PAGE_PATH)]);
    if (path.len) return path;
    struct ff_str url = ff_span_str(d, &out[FF_D(FF_C_PAGE_URL)]);
    return url.len ? ff_url_path(url) : url;
}
