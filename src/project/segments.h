/* segments.h - what a project saves by name in its catalog (projects.db): segments (cohorts),
 * whose definitions queries name in their "segment" field (query/query.h, struct ff_segment;
 * table segment), the dashboard's boards (table board) and alert rules (table alert). The catalog stores definitions
 * as given; whoever saves one checks it first (ff_segment_check, ff_board_check). */
#ifndef FF_SEGMENTS_H
#define FF_SEGMENTS_H

#include <stddef.h>

#include "core/buf.h"
#include "project/catalog.h"

#define FF_SEGMENT_NAME_MAX 64

/* 1 when `name` can name a segment: 1 to 64 of A-Z a-z 0-9 _ . - (it goes in URLs). */
int ff_segment_name_ok(const char *name, size_t len);
/* What a project saves by name: segments, and the dashboard's boards (a board is a JSON
 * object {"insights": [...]}, each insight as the dashboard describes it). Each collection is
 * a table of the catalog with the same columns. */
/* alerts: analysis/alerts.h; models: the k-means models behind saved segments (analysis.h) */
enum ff_saved { FF_SAVED_SEGMENT, FF_SAVED_BOARD, FF_SAVED_ALERT, FF_SAVED_MODEL };

/* Saves (or replaces) project's `name` in the collection. 0 or -EIO (err says why). */
int ff_saved_save(struct ff_catalog *c, enum ff_saved what, const char *project, const char *name, const char *def,
                  size_t len, char *err, size_t errlen);
/* Appends the definition of project's `name` to out: 0, -ENOENT, or -EIO. */
int ff_saved_get(struct ff_catalog *c, enum ff_saved what, const char *project, const char *name, struct ff_buf *out);
/* 0, -ENOENT when there was none, or -EIO. */
int ff_saved_delete(struct ff_catalog *c, enum ff_saved what, const char *project, const char *name);
/* Calls fn for every project's every item of the collection, by project and name, until fn
 * returns non-zero (which is returned); -EIO when the catalog cannot be read. */
int ff_saved_each(struct ff_catalog *c, enum ff_saved what,
                  int (*fn)(void *arg, const char *project, const char *name, const char *def, size_t len), void *arg);
/* Appends {"segments" (or "boards"):[{"name", "definition", "created"}, …]} of a project, by name. */
int ff_saved_json(struct ff_catalog *c, enum ff_saved what, const char *project, struct ff_buf *out);
#define ff_segment_save(c, p, n, d, l, e, el) ff_saved_save(c, FF_SAVED_SEGMENT, p, n, d, l, e, el)
#define ff_segment_get(c, p, n, o) ff_saved_get(c, FF_SAVED_SEGMENT, p, n, o)
#define ff_segment_delete(c, p, n) ff_saved_delete(c, FF_SAVED_SEGMENT, p, n)
#define ff_segments_json(c, p, o) ff_saved_json(c, FF_SAVED_SEGMENT, p, o)
/* 0 when `json` is a board ({"insights": [up to 64 objects]}), else -1 and err says why. */
int ff_board_check(const char *json, size_t len, char *err, size_t errlen);
/* A look-up for queries (query.h, struct ff_segment_source) in the catalog of the data
 * directory `data_dir`, opened for each look-up, so any thread may call it. */
int ff_segment_lookup_dir(void *data_dir, const char *project, const char *name, struct ff_buf *out);
/* Saves (gets) an item in the catalog of `data_dir`, opened for the one call: what the analysis
 * engine keeps (analysis.h, struct ff_segment_saver). 0, -ENOENT (get), or -EIO (err says why). */
int ff_saved_save_dir(void *data_dir, enum ff_saved what, const char *project, const char *name, const char *def,
                      size_t len, char *err, size_t errlen);
int ff_saved_get_dir(void *data_dir, enum ff_saved what, const char *project, const char *name, struct ff_buf *out);
int ff_segment_save_dir(void *data_dir, const char *project, const char *name, const char *def, size_t len, char *err,
                        size_t errlen);
int ff_model_save_dir(void *data_dir, const char *project, const char *name, const char *def, size_t len, char *err,
                      size_t errlen);
int ff_model_lookup_dir(void *data_dir, const char *project, const char *name, struct ff_buf *out);

#endif
