/* analysis.h - the behaviour analysis engine's requests: POST /api/analysis/WHAT and
 * `footfall analysis WHAT` take the same JSON and give the same answer.
 *
 * Every request has the query's common fields (range, timezone, filters, bots, segment:
 * query/query.h), which choose the persons and events analysed, and the feature options:
 * revenue (the monetary field, properties.revenue by default), events (names to count) or
 * top_events (the N most frequent, 8), columns (the features used), scale (none, zscore,
 * minmax), select ({"label": COLUMN, "threshold": 0, "k": N}: the N best columns by F-score
 * against the label "COLUMN > threshold").
 *
 *   features  the table (features.h) as format csv (default), ndjson or json (with the
 *             scaling applied and the F-scores)
 *   segments  k-means (k, or k_min … k_max chosen by silhouette, with the elbow shown;
 *             n_init, max_iter, seed) or DBSCAN (eps, or the k-distance hint; min_pts):
 *             segment sizes, centroids in the features' own units, their persons; save:
 *             "NAME" keeps each segment as saved segment NAME-0, NAME-1 … that any insight
 *             can name as its segment. */
#ifndef FF_ANALYSIS_H
#define FF_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "query/query.h"

/* Where segments are saved: 0, or an error (err says what). */
struct ff_segment_saver {
    int (*save)(void *arg, const char *project, const char *name, const char *def, size_t len, char *err,
                size_t errlen);
    /* the k-means model kept beside a k-means segmentation saved as NAME (for updates) */
    int (*save_model)(void *arg, const char *project, const char *name, const char *def, size_t len, char *err,
                      size_t errlen);
    int (*get_model)(void *arg, const char *project, const char *name, struct ff_buf *out);
    void *arg;
};

/* Answers a request for `what` ("features", "segments"). Returns the HTTP status; out has
 * the answer or an error object ({"error", "field"}); *content_type what it is. */
int ff_analysis_answer(struct ff_store *s, const char *what, const char *json, size_t len, int64_t now_us,
                       const char *project, const char *default_tz, const struct ff_segment_source *segments,
                       const struct ff_segment_saver *saver, struct ff_buf *out, const char **content_type,
                       const char **field);
/* Checks a request without running it: 0, or FF_EINVAL with err and *field naming what is
 * wrong (the fuzz harness's way in). */
int ff_analysis_check(const char *what, const char *json, size_t len, char *err, size_t errlen, const char **field);
/* 1 when `what` is a request ff_analysis_answer knows. */
int ff_analysis_known(const char *what, size_t len);

#endif
