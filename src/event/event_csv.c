/* event_csv.c - events as CSV rows (RFC 4180), for `footfall export --format csv`. */
#include "event.h"

#include <string.h>

#include "core/timeutil.h"

static const char header[] = "timestamp,receivedAt,type,event,name,messageId,userId,anonymousId,personId,groupId,"
                             "previousId,sessionId,"
                             "writeKey,project,format,properties,traits,context,browser,browserVersion,os,osVersion,"
                             "deviceType,bot,country,region,city\r\n";

int ff_event_csv_header(struct ff_buf *b) { return ff_buf_append(b, header, sizeof header - 1); }

/* A field, quoted when it holds a comma, quote, CR or LF (quotes doubled). */
static int field(struct ff_buf *b, const char *s, size_t n, int last)
{
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++) quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    int rc = 0;
    if (!quote) {
        rc = ff_buf_append(b, s, n);
    } else {
        rc = ff_buf_putc(b, '"');
        for (size_t i = 0; i < n && !rc;) {
            const char *q = memchr(s + i, '"', n - i);
            size_t run = q ? (size_t)(q - (s + i)) + 1 : n - i;
            rc = ff_buf_append(b, s + i, run);
            if (!rc && q) rc = ff_buf_putc(b, '"');
            i += run;
        }
        if (!rc) rc = ff_buf_putc(b, '"');
    }
    return rc ? rc : ff_buf_append(b, last ? "\r\n" : ",", last ? 2 : 1);
}

static int str_field(struct ff_buf *b, struct ff_str s) { return field(b, s.p ? s.p : "", s.len, 0); }

static int time_field(struct ff_buf *b, int64_t us)
{
    char ts[32];
    int n = us == FF_TIME_NONE ? 0 : ff_time_format_iso(us, ts);
    return field(b, ts, (size_t)n, 0);
}

static int json_field(struct ff_buf *b, struct ff_str s, int last)
{
    return s.len ? field(b, s.p, s.len, last) : field(b, "{}", 2, last);
}

int ff_event_write_csv(struct ff_buf *b, const struct ff_event *ev)
{
    const char *type = ff_event_type_name(ev->type), *fmt = ff_format_name(ev->format);
    int rc = time_field(b, ev->timestamp_us);
    if (!rc) rc = time_field(b, ev->received_at_us);
    if (!rc) rc = field(b, type ? type : "", type ? strlen(type) : 0, 0);
    if (!rc) rc = str_field(b, ev->event);
    if (!rc) rc = str_field(b, ev->name);
    if (!rc) rc = str_field(b, ev->message_id);
    if (!rc) rc = str_field(b, ev->user_id);
    if (!rc) rc = str_field(b, ev->anonymous_id);
    if (!rc) rc = str_field(b, ev->person_id);
    if (!rc) rc = str_field(b, ev->group_id);
    if (!rc) rc = str_field(b, ev->previous_id);
    if (!rc) rc = str_field(b, ev->session_id);
    if (!rc) rc = str_field(b, ev->write_key);
    if (!rc) rc = str_field(b, ev->project);
    if (!rc) rc = field(b, fmt, strlen(fmt), 0);
    if (!rc) rc = json_field(b, ev->properties, 0);
    if (!rc) rc = json_field(b, ev->traits, 0);
    if (!rc) rc = json_field(b, ev->context, 0);
    if (!rc) rc = str_field(b, ev->browser);
    if (!rc) rc = str_field(b, ev->browser_version);
    if (!rc) rc = str_field(b, ev->os);
    if (!rc) rc = str_field(b, ev->os_version);
    if (!rc) rc = str_field(b, ev->device_type);
    if (!rc) rc = field(b, ev->bot ? "true" : "false", ev->bot ? 4 : 5, 0);
    if (!rc) rc = str_field(b, ev->country);
    if (!rc) rc = str_field(b, ev->region);
    if (!rc) rc = field(b, ev->city.p ? ev->city.p : "", ev->city.len, 1);
    return rc;
}
