/* metrics.h - process-wide counters and latency histograms, read by /metrics and
 * /api/stats. Lock-free: every field is an atomic that any thread may bump. */
#ifndef FF_METRICS_H
#define FF_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#define FF_METRIC_FORMATS 5 /* == FF_FMT_COUNT, checked in event_codec.c */
#define FF_HIST_BUCKETS 16

struct ff_histogram {
    atomic_uint_least64_t buckets[FF_HIST_BUCKETS + 1]; /* last one is +Inf */
    atomic_uint_least64_t count;
    atomic_uint_least64_t sum_ns;
};

/* Upper bounds of the buckets, in seconds (Prometheus `le`). */
extern const double ff_hist_bounds_s[FF_HIST_BUCKETS];

/* The stages of building parts from events (ff_parts_build in store/schema.c: a flush, or an
 * erasure's rewrite), whose CPU time /metrics reports: what a flush spends where, on the
 * events a server really gets. */
enum { FF_BUILD_SORT, FF_BUILD_INTERN, FF_BUILD_DERIVE, FF_BUILD_PROPERTIES, FF_BUILD_WRITE, FF_BUILD_STAGES };
extern const char *const ff_build_stage_names[FF_BUILD_STAGES];

struct ff_metrics {
    atomic_uint_least64_t stored[FF_METRIC_FORMATS];
    atomic_uint_least64_t deduplicated[FF_METRIC_FORMATS];
    atomic_uint_least64_t quarantined[FF_METRIC_FORMATS];
    atomic_uint_least64_t http_responses[6]; /* by status class: [2] = 2xx, … */
    atomic_uint_least64_t wal_bytes_written;
    atomic_uint_least64_t wal_write_errors;
    atomic_uint_least64_t connections_open;
    atomic_uint_least64_t connections_rejected;
    atomic_uint_least64_t person_runs_bytes; /* queries' kept person runs (store/person_runs.c) */
    atomic_uint_least64_t dedup_evictions;   /* times the message id set let its oldest go for room */
    atomic_uint_least64_t dedup_window_s;    /* how far back the server's set remembers ids, now */
    atomic_uint_least64_t flush_wait_ns;   /* the WAL writer waiting for flushes to make memtable room */
    atomic_uint_least64_t part_build_rows;                  /* events written into parts by builds */
    atomic_uint_least64_t part_build_cpu_ns[FF_BUILD_STAGES]; /* the building thread's CPU time, by stage */
    struct ff_histogram request_duration;
    struct ff_histogram wal_fsync_duration;
};

extern struct ff_metrics ff_metrics;

void ff_hist_observe(struct ff_histogram *h, uint64_t ns);

#define ff_counter_add(field, n) atomic_fetch_add_explicit(&(field), (n), memory_order_relaxed)
#define ff_counter_get(field) atomic_load_explicit(&(field), memory_order_relaxed)

#endif
