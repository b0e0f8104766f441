/* alerts.h - anomaly alerts: rules kept per project in the catalog (project/segments.h,
 * collection "alert"), each a trends series and a condition, checked by a thread of the
 * server every --alert-check-ms. A rule fires once per interval of its series:
 *
 *   {"query": {a trends query, as POST /api/analysis/forecast takes it},
 *    "series": 0,                      which of its series (default the first)
 *    "condition": "anomaly" | "above" | "below",
 *    "threshold": N,                   for above and below
 *    "level": 95,                      anomaly: the forecast interval (80, 95 or 99)
 *    "webhook": "http://host:port/path"  optional}
 *
 * anomaly: the last complete interval's value lies outside the interval of its one-step
 * forecast from the values before it; above / below: it crosses the threshold. A firing is
 * recorded in the catalog's alert_event table (what the dashboard and GET /api/analysis/alert-events
 * read) and, when the rule has a webhook, POSTed to it as JSON, retried with back-off (1, 2,
 * 4, 8 s) until a 2xx or 5 attempts; the attempts and the outcome are recorded. */
#ifndef FF_ALERTS_H
#define FF_ALERTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct ff_store;
struct ff_alerts;

/* 0 when `json` is an alert rule, else -1 and err says what is wrong. */
int ff_alert_check(const char *json, size_t len, char *err, size_t errlen);

/* The thread that checks every project's rules every interval_ms (the first time at once),
 * firing those whose condition holds for an interval not fired before; it also brings
 * k-means segmentations saved with "live": true up to date (analysis.h). */
int ff_alerts_start(struct ff_alerts **out, struct ff_store *s, const char *data_dir, int interval_ms);
void ff_alerts_stop(struct ff_alerts *a);

/* {"events": [...]}: a project's firings, newest first, at most `limit`. */
int ff_alert_events_json(const char *data_dir, const char *project, size_t limit, struct ff_buf *out);

#endif
