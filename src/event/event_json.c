/* event_json.c - events and quarantined items as JSON, for the API and the CLI. */
#include "event.h"

#include <string.h>

#include "core/json.h"
#include "core/timeutil.h"

static int field_str(struct ff_buf *b, const char *name, struct ff_str s, int *first)
{
    int rc = ff_buf_append_str(b, *first ? "\"" : ",\"");
    *first = 0;
    if (!rc) rc = ff_buf_append_str(b, name);
    if (!rc) rc = ff_buf_append(b, "\":", 2);
    if (!rc) rc = ff_json_write_str(b, s.p, s.len);
    return rc;
}

static int field_time(struct ff_buf *b, const char *name, int64_t us, int *first)
{
    if (us == FF_TIME_NONE) return 0;
    char ts[32];
    int n = ff_time_format_iso(us, ts);
    return field_str(b, name, (struct ff_str){ts, (uint32_t)n}, first);
}

static int field_obj(struct ff_buf *b, const char *name, struct ff_str json)
{
    int rc = ff_buf_printf(b, ",\"%s\":", name);
    if (!rc) rc = json.len ? ff_buf_append(b, json.p, json.len) : ff_buf_append(b, "{}", 2);
    return rc;
}

int ff_event_write_json(struct ff_buf *b, const struct ff_event *ev)
{
    int first = 1, rc = ff_buf_putc(b, '{');
    const char *type = ff_event_type_name(ev->type);
    if (!rc) rc = field_str(b, "type", (struct ff_str){type, (uint32_t)strlen(type)}, &first);
    if (!rc && ev->type == FF_EV_TRACK) rc = field_str(b, "event", ev->event, &first);
    if (!rc && (ev->type == FF_EV_PAGE || ev->type == FF_EV_SCREEN) && ev->name.len)
        rc = field_str(b, "name", ev->name, &first);
    if (!rc) rc = field_str(b, "messageId", ev->message_id, &first);
    if (!rc && ev->user_id.len) rc = field_str(b, "userId", ev->user_id, &first);
    if (!rc && ev->anonymous_id.len) rc = field_str(b, "anonymousId", ev->anonymous_id, &first);
    if (!rc && ev->person_id.len) rc = field_str(b, "personId", ev->person_id, &first);
    if (!rc && ev->session_id.len) rc = field_str(b, "sessionId", ev->session_id, &first);
    if (!rc && ev->group_id.len) rc = field_str(b, "groupId", ev->group_id, &first);
    if (!rc && ev->previous_id.len) rc = field_str(b, "previousId", ev->previous_id, &first);
    if (!rc) rc = field_time(b, "timestamp", ev->timestamp_us, &first);
    if (!rc) rc = field_time(b, "originalTimestamp", ev->original_timestamp_us, &first);
    if (!rc) rc = field_time(b, "sentAt", ev->sent_at_us, &first);
    if (!rc) rc = field_time(b, "receivedAt", ev->received_at_us, &first);
    if (!rc) rc = field_obj(b, "properties", ev->properties);
    if (!rc) rc = field_obj(b, "traits", ev->traits);
    if (!rc) rc = field_obj(b, "context", ev->context);
    if (!rc && ev->write_key.len) rc = field_str(b, "writeKey", ev->write_key, &first);
    if (!rc && ev->project.len) rc = field_str(b, "project", ev->project, &first);
    const char *fmt = ff_format_name(ev->format);
    if (!rc) rc = field_str(b, "format", (struct ff_str){fmt, (uint32_t)strlen(fmt)}, &first);
    if (!rc && ff_event_has_ua_geo(ev)) {
        /* What footfall added at ingest (from the user agent and the IP address), apart from
         * what the client sent. */
        int efirst = 1;
        rc = ff_buf_append_str(b, ",\"enrichment\":{");
        if (!rc && ev->browser.len) rc = field_str(b, "browser", ev->browser, &efirst);
        if (!rc && ev->browser_version.len) rc = field_str(b, "browserVersion", ev->browser_version, &efirst);
        if (!rc && ev->os.len) rc = field_str(b, "os", ev->os, &efirst);
        if (!rc && ev->os_version.len) rc = field_str(b, "osVersion", ev->os_version, &efirst);
        if (!rc && ev->device_type.len) rc = field_str(b, "deviceType", ev->device_type, &efirst);
        if (!rc && ev->country.len) rc = field_str(b, "country", ev->country, &efirst);
        if (!rc && ev->region.len) rc = field_str(b, "region", ev->region, &efirst);
        if (!rc && ev->city.len) rc = field_str(b, "city", ev->city, &efirst);
        if (!rc) rc = ff_buf_append_str(b, efirst ? "\"bot\":" : ",\"bot\":");
        if (!rc) rc = ff_buf_append_str(b, ev->bot ? "true}" : "false}");
    }
    if (!rc) rc = ff_buf_putc(b, '}');
    return rc;
}

int ff_quarantine_write_json(struct ff_buf *b, const struct ff_quarantined *q)
{
    int first = 1, rc = ff_buf_putc(b, '{');
    if (!rc) rc = field_time(b, "receivedAt", q->received_at_us, &first);
    const char *fmt = ff_format_name(q->format);
    if (!rc) rc = field_str(b, "format", (struct ff_str){fmt, (uint32_t)strlen(fmt)}, &first);
    if (!rc) rc = field_str(b, "reason", q->reason, &first);
    if (!rc) rc = field_str(b, "field", q->field, &first);
    if (!rc && q->index >= 0) rc = ff_buf_printf(b, ",\"index\":%d", (int)q->index);
    /* A listing shows at most 64 KiB of each input: a list of big bodies must not need
     * gigabytes to answer. rawBytes says how long the input was. */
    struct ff_str raw = q->raw;
    if (raw.len > FF_QUARANTINE_RAW_SHOWN) {
        raw.len = FF_QUARANTINE_RAW_SHOWN;
        if (!rc) rc = ff_buf_printf(b, ",\"rawBytes\":%u,\"rawTruncated\":true", q->raw.len);
    }
    if (!rc) rc = field_str(b, "raw", raw, &first);
    if (!rc) rc = ff_buf_putc(b, '}');
    return rc;
}
