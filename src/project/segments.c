/* segments.c - what a project saves by name in the catalog: segments and boards (see segments.h). */
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

/* Each collection's table (catalog.c creates them) and its list's key in JSON. */
static const char *const tables[] = {"segment", "board", "alert", "segment_model"};
static const char *const list_keys[] = {"segments", "boards", "alerts", "models"};

/* A statement on collection `what` (its table where sql says %s) with the project and name
 * bound as its first two parameters. */
static sqlite3_stmt *prepare(struct ff_catalog *c, enum ff_saved what, const char *fmt, const char *project,
                             const char *name)
{
    char sql[512];
    snprintf(sql, sizeof sql, fmt, tables[what]);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ff_catalog_db(c), sql, -1, &st, NULL) != SQLITE_OK) return NULL;
    sqlite3_bind_text(st, 1, project, -1, SQLITE_TRANSIENT);
    if (name) sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    return st;
}

int ff_saved_save(struct ff_catalog *c, enum ff_saved what, const char *project, const char *name, const char *def,
                  size_t len, char *err, size_t errlen)
{
    sqlite3_stmt *st = prepare(c, what, "INSERT INTO %s(project, name, definition, created_us) VALUES (?1, ?2, ?3, ?4)"
                                        " ON CONFLICT(project, name) DO UPDATE SET definition = excluded.definition,"
                                        " created_us = excluded.created_us",
                               project, name);
    int rc = st ? 0 : -EIO;
    if (st) {
        sqlite3_bind_text(st, 3, def, (int)len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, ff_now_us());
        if (sqlite3_step(st) != SQLITE_DONE) rc = -EIO;
    }
    if (rc) snprintf(err, errlen, "projects.db: cannot save the %s: %s", tables[what], sqlite3_errmsg(ff_catalog_db(c)));
    sqlite3_finalize(st);
    return rc;
}

int ff_saved_get(struct ff_catalog *c, enum ff_saved what, const char *project, const char *name, struct ff_buf *out)
{
    sqlite3_stmt *st = prepare(c, what, "SELECT definition FROM %s WHERE project = ?1 AND name = ?2", project, name);
    if (!st) return -EIO;
    int step = sqlite3_step(st), rc = step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? -ENOENT : -EIO;
    if (!rc) rc = ff_buf_append(out, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    sqlite3_finalize(st);
    return rc;
}

int ff_saved_delete(struct ff_catalog *c, enum ff_saved what, const char *project, const char *name)
{
    sqlite3_stmt *st = prepare(c, what, "DELETE FROM %s WHERE project = ?1 AND name = ?2", project, name);
    if (!st) return -EIO;
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
    if (!rc && sqlite3_changes(ff_catalog_db(c)) == 0) rc = -ENOENT;
    sqlite3_finalize(st);
    return rc;
}

int ff_saved_json(struct ff_catalog *c, enum ff_saved what, const char *project, struct ff_buf *out)
{
    sqlite3_stmt *st =
        prepare(c, what, "SELECT name, definition, created_us FROM %s WHERE project = ?1 ORDER BY name", project, NULL);
    if (!st) return -EIO;
    int rc = ff_buf_printf(out, "{\"%s\":[", list_keys[what]);
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

int ff_saved_each(struct ff_catalog *c, enum ff_saved what,
                  int (*fn)(void *arg, const char *project, const char *name, const char *def, size_t len), void *arg)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT project, name, definition FROM %s ORDER BY project, name", tables[what]);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ff_catalog_db(c), sql, -1, &st, NULL) != SQLITE_OK) return -EIO;
    int rc = 0, step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = fn(arg, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
                (const char *)sqlite3_column_text(st, 2), (size_t)sqlite3_column_bytes(st, 2));
    if (!rc && step != SQLITE_DONE) rc = -EIO;
    sqlite3_finalize(st);
    return rc;
}

int ff_segment_lookup_dir(void *data_dir, const char *project, const char *name, struct ff_buf *out)
{
    return ff_saved_get_dir(data_dir, FF_SAVED_SEGMENT, project, name, out);
}

int ff_saved_save_dir(void *data_dir, enum ff_saved what, const char *project, const char *name, const char *def,
                      size_t len, char *err, size_t errlen)
{
    struct ff_catalog *c;
    if (ff_catalog_open(data_dir, 0, &c, err, errlen)) return -EIO;
    int rc = ff_saved_save(c, what, project, name, def, len, err, errlen);
    ff_catalog_close(c);
    return rc;
}

int ff_saved_get_dir(void *data_dir, enum ff_saved what, const char *project, const char *name, struct ff_buf *out)
{
    struct ff_catalog *c;
    char err[512];
    if (ff_catalog_open(data_dir, 0, &c, err, sizeof err)) return -EIO;
    int rc = ff_saved_get(c, what, project, name, out);
    ff_catalog_close(c);
    return rc;
}

int ff_segment_save_dir(void *data_dir, const char *project, const char *name, const char *def, size_t len, char *err,
                        size_t errlen)
{
    return ff_saved_save_dir(data_dir, FF_SAVED_SEGMENT, project, name, def, len, err, errlen);
}

int ff_model_save_dir(void *data_dir, const char *project, const char *name, const char *def, size_t len, char *err,
                      size_t errlen)
{
    return ff_saved_save_dir(data_dir, FF_SAVED_MODEL, project, name, def, len, err, errlen);
}

int ff_model_lookup_dir(void *data_dir, const char *project, const char *name, struct ff_buf *out)
{
    return ff_saved_get_dir(data_dir, FF_SAVED_MODEL, project, name, out);
}

int ff_board_check(const char *json, size_t len, char *err, size_t errlen)
{
    struct ff_json_parser *jp = ff_json_parser_new();
    if (!jp) return snprintf(err, errlen, "out of memory"), -1;
    struct ff_buf scratch;
    ff_buf_init(&scratch, (size_t)1 << 22);
    struct ff_json_doc doc;
    int rc = -1;
    if (ff_json_parse_copy(jp, &scratch, json, len, &doc)) {
        snprintf(err, errlen, "a board is a JSON object: this does not parse");
    } else if (doc.nodes[0].type != FF_JSON_OBJECT) {
        snprintf(err, errlen, "a board is a JSON object {\"insights\": [...]}");
    } else {
        uint32_t at = ff_json_get(&doc, 0, "insights");
        const struct ff_json_node *ins = at == FF_JSON_NONE ? NULL : &doc.nodes[at];
        size_t n = 0;
        int objects = 1;
        if (ins && ins->type == FF_JSON_ARRAY)
            for (uint32_t m = at + 1; m < ins->end; m = doc.nodes[m].end, n++)
                objects &= doc.nodes[m].type == FF_JSON_OBJECT;
        if (!ins || ins->type != FF_JSON_ARRAY) snprintf(err, errlen, "a board needs \"insights\", an array");
        else if (!objects) snprintf(err, errlen, "each of a board's insights is an object");
        else if (n > 64) snprintf(err, errlen, "a board holds at most 64 insights");
        else rc = 0;
    }
    ff_buf_free(&scratch);
    ff_json_parser_free(jp);
    return rc;
}
