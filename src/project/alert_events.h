/* alert_events.h - the firings of alert rules (analysis/alerts.h), kept in the catalog's
 * alert_event table: one row per rule and interval, so a rule fires once per interval, with
 * what was sent and how delivering it to the webhook went. */
#ifndef FF_ALERT_EVENTS_H
#define FF_ALERT_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "project/catalog.h"

/* Records a firing of project's rule `name` for interval `bucket`: 1 when it is new, 0 when
 * that interval had fired already, -EIO. */
int ff_alert_event_add(struct ff_catalog *c, const char *project, const char *name, const char *bucket, int64_t fired_us,
                       const char *payload, size_t len);
/* Notes how delivering it went: attempts made, delivered or not, and a word on the outcome. */
int ff_alert_event_outcome(struct ff_catalog *c, const char *project, const char *name, const char *bucket, int attempts,
                           int delivered, const char *outcome);
/* Appends {"events":[{"alert", "bucket", "fired", "attempts", "delivered", "outcome",
 * "payload"}, …]} of a project, newest first, at most `limit`. */
int ff_alert_events_list(struct ff_catalog *c, const char *project, size_t limit, struct ff_buf *out);

#endif
