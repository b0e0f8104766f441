/* parallel.h - the analysis code's one way of using every core: run fn on nt threads (the
 * caller is thread 0), each given its number, and wait for all. The analysis modules split
 * their rows into nt contiguous ranges with ff_par_range. */
#ifndef FF_PARALLEL_H
#define FF_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

#define FF_PAR_MAX 8

/* Threads to use for `work` units of work: one per core (at most FF_PAR_MAX), fewer when
 * there is too little to share (under `grain` units per thread). */
size_t ff_par_threads(size_t work, size_t grain);
/* Runs fn(arg, t, nt) for t = 0 .. nt-1 at once; t 0 on the calling thread. When a thread
 * cannot be started its share runs on the caller after the others. */
void ff_par_run(size_t nt, void (*fn)(void *arg, size_t t, size_t nt), void *arg);
/* Thread t's rows of n: [*lo, *hi). */
static inline void ff_par_range(size_t n, size_t t, size_t nt, size_t *lo, size_t *hi)
{
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

/* A small fast random generator (xoshiro256**), seeded by splitmix64: results depend on the
 * seed alone, on every machine. */
struct ff_rng {
    uint64_t s[4];
};
void ff_rng_seed(struct ff_rng *r, uint64_t seed);
uint64_t ff_rng_next(struct ff_rng *r);
/* Uniform in [0, 1). */
static inline double ff_rng_double(struct ff_rng *r) { return (double)(ff_rng_next(r) >> 11) * 0x1.0p-53; }
/* Uniform in [0, n), n > 0. */
static inline size_t ff_rng_below(struct ff_rng *r, size_t n) { return (size_t)(ff_rng_double(r) * (double)n) % n; }

#endif
