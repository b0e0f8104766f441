/* event_codec.c - the binary record encoding of events and quarantined input (layout in
 * event.h). */
#include "event.h"

#include <string.h>

#include "core/binread.h"
#include "core/errors.h"
#include "core/metrics.h"

_Static_assert(FF_FMT_COUNT == FF_METRIC_FORMATS, "metrics count one counter per wire format");

static const char *const type_names[] = {NULL, "track", "page", "screen", "identify", "group", "alias"};
static const char *const format_names[] = {"seed", "segment", "pixel", "import", "log"};

const char *ff_event_type_name(int type)
{
    return type >= 1 && type <= FF_EV_TYPE_MAX ? type_names[type] : NULL;
}

int ff_event_type_parse(const char *s, size_t len)
{
    for (int t = 1; t <= FF_EV_TYPE_MAX; t++)
        if (strlen(type_names[t]) == len && memcmp(type_names[t], s, len) == 0) return t;
    return 0;
}

int ff_in_project(struct ff_str stored, const char *project)
{
    if (!project) return 1;
    if (!stored.len) return strcmp(project, FF_DEFAULT_PROJECT) == 0;
    return strlen(project) == stored.len && memcmp(project, stored.p, stored.len) == 0;
}

const char *ff_format_name(int format)
{
    return format >= 0 && format < FF_FMT_COUNT ? format_names[format] : "unknown";
}

static int put_str(struct ff_buf *b, struct ff_str s)
{
    int rc = ff_buf_put_varint(b, s.len);
    return rc ? rc : ff_buf_append(b, s.p, s.len);
}

/* Writes kind and a placeholder length; returns the offset of the length to patch. */
static int begin(struct ff_buf *b, uint8_t kind, size_t *len_at)
{
    int rc = ff_buf_put_u8(b, kind);
    *len_at = b->len;
    return rc ? rc : ff_buf_put_u32(b, 0);
}

static void finish(struct ff_buf *b, size_t len_at)
{
    uint32_t n = (uint32_t)(b->len - len_at - 4);
    unsigned char *p = (unsigned char *)b->data + len_at;
    p[0] = (unsigned char)n, p[1] = (unsigned char)(n >> 8);
    p[2] = (unsigned char)(n >> 16), p[3] = (unsigned char)(n >> 24);
}

static unsigned char *put_le64(unsigned char *o, uint64_t v)
{
    for (int i = 0; i < 8; i++) o[i] = (unsigned char)(v >> (8 * i)); /* one store once optimised */
    return o + 8;
}

static unsigned char *put_varint_str(unsigned char *o, struct ff_str s)
{
    uint32_t v = s.len;
    while (v >= 0x80) *o++ = (unsigned char)(v | 0x80), v >>= 7;
    *o++ = (unsigned char)v;
    if (s.len) memcpy(o, s.p, s.len);
    return o + s.len;
}

#define FLAG_ENRICHED 1
#define NENRICH 9 /* strings of the enrichment block this version writes and reads */

int ff_event_has_ua_geo(const struct ff_event *ev)
{
    return ev->bot || ev->browser.len || ev->browser_version.len || ev->os.len || ev->os_version.len ||
           ev->device_type.len || ev->country.len || ev->region.len || ev->city.len;
}

int ff_event_enriched(const struct ff_event *ev) { return ev->project.len || ff_event_has_ua_geo(ev); }

/* The hot path of ingest: one reservation, then stores through a pointer. */
int ff_event_encode(struct ff_buf *b, const struct ff_event *ev)
{
    const struct ff_str *strs[] = {&ev->event, &ev->name, &ev->message_id, &ev->anonymous_id,
                                   &ev->user_id, &ev->group_id, &ev->previous_id, &ev->write_key,
                                   &ev->properties, &ev->traits, &ev->context};
    const struct ff_str *enrich[NENRICH] = {&ev->browser, &ev->browser_version, &ev->os, &ev->os_version,
                                            &ev->device_type, &ev->country, &ev->region, &ev->city, &ev->project};
    enum { NSTR = sizeof strs / sizeof *strs };
    int flags = ff_event_enriched(ev) ? FLAG_ENRICHED : 0;
    size_t max = 1 + 4 + 4 + 32 + NSTR * 5 + 2 + NENRICH * 5;
    for (size_t i = 0; i < NSTR; i++) max += strs[i]->len;
    for (size_t i = 0; flags && i < NENRICH; i++) max += enrich[i]->len;
    int rc = ff_buf_reserve(b, max);
    if (rc) return rc;
    unsigned char *start = (unsigned char *)b->data + b->len, *o = start + 5;
    *o++ = ev->type;
    *o++ = ev->format;
    *o++ = (unsigned char)flags, *o++ = 0;
    o = put_le64(o, (uint64_t)ev->timestamp_us);
    o = put_le64(o, (uint64_t)ev->original_timestamp_us);
    o = put_le64(o, (uint64_t)ev->sent_at_us);
    o = put_le64(o, (uint64_t)ev->received_at_us);
    for (size_t i = 0; i < NSTR; i++) o = put_varint_str(o, *strs[i]);
    if (flags) {
        *o++ = ev->bot ? 1 : 0;
        *o++ = NENRICH;
        for (size_t i = 0; i < NENRICH; i++) o = put_varint_str(o, *enrich[i]);
    }
    size_t body = (size_t)(o - start) - 5;
    if (body > UINT32_MAX) return FF_ETOOBIG;
    start[0] = FF_REC_EVENT;
    start[1] = (unsigned char)body, start[2] = (unsigned char)(body >> 8);
    start[3] = (unsigned char)(body >> 16), start[4] = (unsigned char)(body >> 24);
    b->len += (size_t)(o - start);
    return 0;
}

int ff_quarantine_encode(struct ff_buf *b, const struct ff_quarantined *q)
{
    size_t start = b->len, len_at;
    int rc = begin(b, FF_REC_QUARANTINE, &len_at);
    if (!rc) rc = ff_buf_put_u8(b, q->format);
    if (!rc) rc = ff_buf_put_u8(b, q->project.len ? 1 : 0);
    if (!rc) rc = ff_buf_put_u64(b, (uint64_t)q->received_at_us);
    if (!rc) rc = ff_buf_put_u32(b, (uint32_t)q->index);
    if (!rc) rc = put_str(b, q->reason);
    if (!rc) rc = put_str(b, q->field);
    if (!rc) rc = put_str(b, q->raw);
    if (!rc && q->project.len) rc = put_str(b, q->project);
    if (rc) {
        b->len = start;
        return rc;
    }
    finish(b, len_at);
    return 0;
}

int ff_record_decode(const char *buf, size_t len, size_t *off, struct ff_record *out)
{
    struct ff_reader hdr = {(const unsigned char *)buf, len, *off};
    uint8_t kind;
    uint32_t body_len;
    if (hdr.off > len || ff_rd_u8(&hdr, &kind) || ff_rd_u32(&hdr, &body_len) ||
        body_len > len - hdr.off)
        return FF_ECORRUPT;
    struct ff_reader r = {(const unsigned char *)buf, hdr.off + body_len, hdr.off};
    /* straight into *out: a copy of the record through the stack cost a fifth of a decode */
    struct ff_record *rec = out;
    rec->kind = kind;
    uint64_t t[4];
    if (kind == FF_REC_EVENT) {
        struct ff_event *ev = &rec->u.ev;
        /* Every field is set here or below rather than the whole record zeroed first: that
         * memset was an eighth of a decode, and a flush decodes every event. */
        const struct ff_str none = {NULL, 0};
        ev->seq = 0;
        ev->bot = 0;
        ev->browser = ev->browser_version = ev->os = ev->os_version = ev->device_type = none;
        ev->country = ev->region = ev->city = ev->project = none;
        ev->person_id = ev->session_id = none;
        uint8_t flags, flags_hi;
        if (ff_rd_u8(&r, &ev->type) || ff_rd_u8(&r, &ev->format) || ff_rd_u8(&r, &flags) || ff_rd_u8(&r, &flags_hi) ||
            (flags & ~FLAG_ENRICHED) || flags_hi)
            return FF_ECORRUPT;
        for (int i = 0; i < 4; i++)
            if (ff_rd_u64(&r, &t[i])) return FF_ECORRUPT;
        ev->timestamp_us = (int64_t)t[0];
        ev->original_timestamp_us = (int64_t)t[1];
        ev->sent_at_us = (int64_t)t[2];
        ev->received_at_us = (int64_t)t[3];
        struct ff_str *strs[] = {&ev->event, &ev->name, &ev->message_id, &ev->anonymous_id,
                                 &ev->user_id, &ev->group_id, &ev->previous_id, &ev->write_key,
                                 &ev->properties, &ev->traits, &ev->context};
        for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
            if (ff_rd_str(&r, strs[i])) return FF_ECORRUPT;
        if (flags & FLAG_ENRICHED) {
            struct ff_str *enrich[NENRICH] = {&ev->browser, &ev->browser_version, &ev->os, &ev->os_version,
                                              &ev->device_type, &ev->country, &ev->region, &ev->city, &ev->project};
            uint8_t bot, count;
            if (ff_rd_u8(&r, &bot) || bot > 1 || ff_rd_u8(&r, &count)) return FF_ECORRUPT;
            ev->bot = bot;
            for (uint8_t i = 0; i < count; i++) {
                struct ff_str skip;
                if (ff_rd_str(&r, i < NENRICH ? enrich[i] : &skip)) return FF_ECORRUPT;
            }
        }
        if (!ff_event_type_name(ev->type) || ev->format >= FF_FMT_COUNT) return FF_ECORRUPT;
    } else if (kind == FF_REC_QUARANTINE) {
        struct ff_quarantined *q = &rec->u.q;
        memset(q, 0, sizeof *q);
        uint8_t qflags;
        uint32_t idx;
        if (ff_rd_u8(&r, &q->format) || ff_rd_u8(&r, &qflags) || (qflags & ~1) || ff_rd_u64(&r, &t[0]) ||
            ff_rd_u32(&r, &idx) || ff_rd_str(&r, &q->reason) || ff_rd_str(&r, &q->field) || ff_rd_str(&r, &q->raw) ||
            ((qflags & 1) && ff_rd_str(&r, &q->project)))
            return FF_ECORRUPT;
        q->received_at_us = (int64_t)t[0];
        q->index = (int32_t)idx;
        if (q->format >= FF_FMT_COUNT) return FF_ECORRUPT;
    } else {
        return FF_ECORRUPT;
    }
    if (r.off != r.len) return FF_ECORRUPT;
    *off = r.off;
    return 0;
}
