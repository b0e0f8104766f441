/* alert_events.c - see alert_events.h. */
#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "core/json.h"
#include "core/timeutil.h"
#include "project/alert_events.h"

/* Binds a row's key: ?1 project, ?2 rule, ?3 interval. */
static void bind_key(sqlite3_stmt *st, const char *project, const char *name, const char *bucket)
{
    sqlite3_bind_text(st, 1, project, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, bucket, -1, SQLITE_TRANSIENT);
}

int ff_alert_event_add(struct ff_catalog *c, const char *project, const char *name, const char *bucket, int64_t fired_us,
                       const char *payload, size_t len)
{
    sqlite3 *db = ff_catalog_db(c);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO alert_event(project, name, bucket, fired_us, payload)"
                               " VALUES (?1, ?2, ?3, ?4, ?5)", -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    bind_key(st, project, name, bucket);
    sqlite3_bind_int64(st, 4, fired_us);
    sqlite3_bind_text(st, 5, payload, (int)len, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db) > 0 : -EIO;
    sqlite3_finalize(st);
    return rc;
}

int ff_alert_event_outcome(struct ff_catalog *c, const char *project, const char *name, const char *bucket, int attempts,
                           int delivered, const char *outcome)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ff_catalog_db(c), "UPDATE alert_event SET attempts = ?4, delivered = ?5, outcome = ?6"
                                             " WHERE project = ?1 AND name = ?2 AND bucket = ?3", -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    bind_key(st, project, name, bucket);
    sqlite3_bind_int(st, 4, attempts);
    sqlite3_bind_int(st, 5, delivered);
    sqlite3_bind_text(st, 6, outcome, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
    sqlite3_finalize(st);
    return rc;
}

int ff_alert_events_list(struct ff_catalog *c, const char *project, size_t limit, struct ff_buf *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ff_catalog_db(c), "SELECT name, bucket, fired_us, attempts, delivered, outcome, payload"
                                             " FROM alert_event WHERE project = ?1 ORDER BY fired_us DESC, name LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, project, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    int rc = ff_buf_append_str(out, "{\"events\":["), step, n = 0;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        char t[40];
        ff_time_format_iso(sqlite3_column_int64(st, 2), t);
        const char *name = (const char *)sqlite3_column_text(st, 0), *bucket = (const char *)sqlite3_column_text(st, 1);
        const char *outcome = (const char *)sqlite3_column_text(st, 5);
        rc = ff_buf_append_str(out, n++ ? ",{\"alert\":" : "{\"alert\":");
        if (!rc) rc = ff_json_write_str(out, name, strlen(name));
        if (!rc) rc = ff_buf_append_str(out, ",\"bucket\":");
        if (!rc) rc = ff_json_write_str(out, bucket, strlen(bucket));
        if (!rc) rc = ff_buf_printf(out, ",\"fired\":\"%s\",\"attempts\":%d,\"delivered\":%s,\"outcome\":", t,
                                    sqlite3_column_int(st, 3), sqlite3_column_int(st, 4) ? "true" : "false");
        if (!rc) rc = ff_json_write_str(out, outcome, strlen(outcome));
        /* the payload is JSON this server wrote */
        if (!rc) rc = ff_buf_append_str(out, ",\"payload\":");
        if (!rc) rc = ff_buf_append(out, (const char *)sqlite3_column_text(st, 6), (size_t)sqlite3_column_bytes(st, 6));
        if (!rc) rc = ff_buf_putc(out, '}');
    }
    if (!rc && step != SQLITE_DONE) rc = -EIO;
    if (!rc) rc = ff_buf_append_str(out, "]}");
    sqlite3_finalize(st);
    return rc;
}
