/* sessions.h - server-side sessions: which visit each event belongs to.
 *
 * A session is one device's run of activity (its anonymousId, else its userId, within a
 * project): it ends after a spell of inactivity (30 minutes unless the project says
 * otherwise), at midnight in the project's time zone, and when the visitor comes back
 * through another campaign (a different utm_source, utm_medium or utm_campaign; events
 * without UTM tags carry the session's on). Keyed by device, not by person, so logging in
 * mid-visit does not split it and a later merge of identities (identity.h) does not change
 * it. Track, page and screen calls belong to sessions; identify, group and alias do not.
 *
 * Events are assigned as they become durable, in WAL order, so an id is known the moment
 * an event can be read and never changes. An event that arrives late (an app's offline
 * batch) joins the session whose time span holds it, else extends the one just before or
 * after it when that is within the timeout on the same day under the same campaign, else
 * starts its own. A session's id is a hash of its project, device and first event time,
 * 16 hex digits.
 *
 * The store saves the open sessions of each device (an event in the last two days) to
 * DATA/SESSIONS with every flush; the WAL's records since give back the rest at the next
 * start, and since an event lies inside the span of the session it joined, assigning it
 * again gives the same id. Summaries (entry and exit page, duration, page count, bounce)
 * are read from the events themselves: see ff_store_sessions (store.h). */
#ifndef FF_SESSIONS_H
#define FF_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "event/event.h"

#define FF_SESSION_ID_LEN 16
#define FF_SESSION_TIMEOUT_DEFAULT_US (30LL * 60 * 1000000)
/* A session never crosses midnight in its project's zone: the sessions that start in
 * [from, to) have all their events in [from, to + this) (a local day, with a DST hour and
 * zone margin). */
#define FF_SESSION_SPAN_US (26LL * 3600 * 1000000)

/* How a project's sessions end. */
struct ff_tz;
struct ff_session_rules {
    const struct ff_tz *tz;  /* where its day ends; NULL = UTC */
    int64_t timeout_us;      /* inactivity that ends a session; 0 = 30 minutes */
};
/* The rules of `project` (the store asks on the WAL writer thread and at start-up). */
typedef void (*ff_session_rules_fn)(void *arg, struct ff_str project, struct ff_session_rules *out);

struct ff_sessions;

/* Loads DATA/SESSIONS (none: no open sessions). On damage, an error saying what. */
int ff_sessions_open(const char *dir, struct ff_sessions **out, char *err, size_t errlen);
void ff_sessions_free(struct ff_sessions *ss);

/* The session of an event, as FF_SESSION_ID_LEN hex digits into id: 1 when it has one, 0
 * when it belongs to none (identify, group, alias, or no id), or -ENOMEM. */
int ff_sessions_assign(struct ff_sessions *ss, const struct ff_event *ev, const struct ff_session_rules *rules,
                       char id[FF_SESSION_ID_LEN]);

/* Writes DATA/SESSIONS when anything changed since the last save, leaving out devices that
 * have sent nothing for two days before `now_us` (they go from memory too). */
int ff_sessions_save(struct ff_sessions *ss, const char *dir, int64_t now_us);

/* Forgets the open sessions of device `who` in `project` (NULL: any): for erasure. */
void ff_sessions_forget(struct ff_sessions *ss, const char *project, struct ff_str who);

/* Devices with open sessions held. */
size_t ff_sessions_devices(struct ff_sessions *ss);

#endif
