/* segments.h - a project's saved segments (cohorts): a name and a definition that queries
 * name in their "segment" field (query/query.h, struct ff_segment), kept in the project
 * catalog (projects.db, table segment). The catalog stores definitions as given; whoever
 * saves one checks it first (ff_segment_check). */
#ifndef FF_SEGMENTS_H
#define FF_SEGMENTS_H

#include <stddef.h>

#include "core/buf.h"
#include "project/catalog.h"

#define FF_SEGMENT_NAME_MAX 64

/* 1 when `name` can name a segment: 1 to 64 of A-Z a-z 0-9 _ . - (it goes in URLs). */
int ff_segment_name_ok(const char *name, size_t len);
/* Saves (or replaces) project's segment `name`. 0 or -EIO (err says why). */
int ff_segment_save(struct ff_catalog *c, const char *project, const char *name, const char *def, size_t len,
                    char *err, size_t errlen);
/* Appends the definition of project's segment `name` to out: 0, -ENOENT, or -EIO. */
int ff_segment_get(struct ff_catalog *c, const char *project, const char *name, struct ff_buf *out);
/* 0, -ENOENT when there was none, or -EIO. */
int ff_segment_delete(struct ff_catalog *c, const char *project, const char *name);
/* Appends {"segments":[{"name", "definition", "created"}, …]} of a project, by name. */
int ff_segments_json(struct ff_catalog *c, const char *project, struct ff_buf *out);
/* A look-up for queries (query.h, struct ff_segment_source) in the catalog of the data
 * directory `data_dir`, opened for each look-up, so any thread may call it. */
int ff_segment_lookup_dir(void *data_dir, const char *project, const char *name, struct ff_buf *out);

#endif
