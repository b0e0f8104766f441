/* parallel.c - see parallel.h. */
#include <pthread.h>
#include <unistd.h>

#include "analysis/parallel.h"

#include "core/splitmix.h"

size_t ff_par_threads(size_t work, size_t grain)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = cores > 0 ? (size_t)cores : 1;
    if (nt > FF_PAR_MAX) nt = FF_PAR_MAX;
    if (grain && work / grain < nt) nt = work / grain ? work / grain : 1;
    return nt;
}

struct par_task {
    void (*fn)(void *arg, size_t t, size_t nt);
    void *arg;
    size_t t, nt;
};

static void *par_main(void *p)
{
    struct par_task *task = p;
    task->fn(task->arg, task->t, task->nt);
    return NULL;
}

void ff_par_run(size_t nt, void (*fn)(void *arg, size_t t, size_t nt), void *arg)
{
    if (nt < 1) nt = 1;
    if (nt > FF_PAR_MAX) nt = FF_PAR_MAX;
    pthread_t th[FF_PAR_MAX];
    struct par_task task[FF_PAR_MAX];
    int started[FF_PAR_MAX] = {0};
    for (size_t t = 1; t < nt; t++) {
        task[t] = (struct par_task){fn, arg, t, nt};
        started[t] = pthread_create(&th[t], NULL, par_main, &task[t]) == 0;
    }
    fn(arg, 0, nt);
    for (size_t t = 1; t < nt; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else fn(arg, t, nt);
    }
}

void ff_rng_seed(struct ff_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = ff_splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ff_rng_next(struct ff_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}
