/* metrics.c - the process-wide metrics (see metrics.h). */
#include "metrics.h"

struct ff_metrics ff_metrics;

const char *const ff_build_stage_names[FF_BUILD_STAGES] = {"sort", "intern", "derive", "properties", "write"};

/* 50 µs to 10 s: ingest acknowledgements live around one fsync (~0.2 ms here). */
const double ff_hist_bounds_s[FF_HIST_BUCKETS] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   10,
};

void ff_hist_observe(struct ff_histogram *h, uint64_t ns)
{
    double s = (double)ns / 1e9;
    int i = 0;
    while (i < FF_HIST_BUCKETS && s > ff_hist_bounds_s[i]) i++;
    ff_counter_add(h->buckets[i], 1);
    ff_counter_add(h->count, 1);
    ff_counter_add(h->sum_ns, ns);
}
