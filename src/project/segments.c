/* segments.c - a project's saved segments in the catalog (see segments.h). */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/timeutil.h"
#include "project/segments.h"

int ff_segment_name_ok(const char *name, size_t len)
{
    if (!len || len > FF_SEGMENT_NAME_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

/* A statement with the project and name bound as its first two parameters. */
static sqlite3_stmt *prepare(struct ff_catalog *c, const char *sql, const char *project, const char *name)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ff_catalog_db(c), sql, -1, &st, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_text(st, 1, project, -1, SQLITE_TRANSIENT);
    if (name) sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    return st;
}

int ff_segment_save(struct ff_catalog *c, const char *project, const char *name, const char *def, size_t len,
                    char *err, size_t errlen)
{
    sqlite3_stmt *st = prepare(c, "INSERT INTO segment(project, name, definition, created_us) VALUES (?1, ?2, ?3, ?4)"
                                  " ON CONFLICT(project, name) DO UPDATE SET definition = excluded.definition,"
                                  " created_us = excluded.created_us",
                               project, name);
    int rc = st ? 0 : -EIO;
    if (st) {
        sqlite3_bind_text(st, 3, def, (int)len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, ff_now_us());
        if (sqlite3_step(st) != SQLITE_DONE) rc = -EIO;
    }
    if (rc) snprintf(err, errlen, "projects.db: cannot save the segment: %s", sqlite3_errmsg(ff_catalog_db(c)));
    sqlite3_finalize(st);
    return rc;
}

int ff_segment_get(struct ff_catalog *c, const char *project, const char *name, struct ff_buf *out)
{
    sqlite3_stmt *st = prepare(c, "SELECT definition FROM segment WHERE project = ?1 AND name = ?2", project, name);
    if (!st) return -EIO;
    int step = sqlite3_step(st), rc = step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? -ENOENT : -EIO;
    if (!rc) rc = ff_buf_append(out, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    sqlite3_finalize(st);
    return rc;
}

int ff_segment_delete(struct ff_catalog *c, const char *project, const char *name)
{
    sqlite3_stmt *st = prepare(c, "DELETE FROM segment WHERE project = ?1 AND name = ?2", project, name);
    if (!st) return -EIO;
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
    if (!rc && sqlite3_changes(ff_catalog_db(c)) == 0) rc = -ENOENT;
    sqlite3_finalize(st);
    return rc;
}

int ff_segments_json(struct ff_catalog *c, const char *project, struct ff_buf *out)
{
    sqlite3_stmt *st =
        prepare(c, "SELECT name, definition, created_us FROM segment WHERE project = ?1 ORDER BY name", project, NULL);
    if (!st) return -EIO;
    int rc = ff_buf_append_str(out, "{\"segments\":[");
    int step, n = 0;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        char t[40];
        ff_time_format_iso(sqlite3_column_int64(st, 2), t);
        const char *name = (const char *)sqlite3_column_text(st, 0);
        rc = ff_buf_append_str(out, n++ ? ",{\"name\":" : "{\"name\":");
        if (!rc) rc = ff_json_write_str(out, name, strlen(name));
        /* the definition is JSON, checked when it was saved */
        if (!rc) rc = ff_buf_append_str(out, ",\"definition\":");
        if (!rc) rc = ff_buf_append(out, (const char *)sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
        if (!rc) rc = ff_buf_printf(out, ",\"created\":\"%s\"}", t);
    }
    if (!rc && step != SQLITE_DONE) rc = -EIO;
    if (!rc) rc = ff_buf_append_str(out, "]}");
    sqlite3_finalize(st);
    return rc;
}

int ff_segment_lookup_dir(void *data_dir, const char *project, const char *name, struct ff_buf *out)
{
    struct ff_catalog *c;
    char err[512];
    if (ff_catalog_open(data_dir, 0, &c, err, sizeof err)) return -EIO;
    int rc = ff_segment_get(c, project, name, out);
    ff_catalog_close(c);
    return rc;
}
