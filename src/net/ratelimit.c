/* ratelimit.c - shared token buckets (see ratelimit.h). */
#include "net/ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "core/alloc.h"

#define SHARDS 64
#define SLOTS 1024 /* per shard */
#define PROBE 8

struct bucket {
    uint64_t key;      /* 0: free */
    double tokens;
    int64_t last_us;
};

struct shard {
    pthread_mutex_t mu;
    struct bucket b[SLOTS];
};

struct ff_ratelimit {
    struct shard s[SHARDS];
};

int ff_ratelimit_new(struct ff_ratelimit **out)
{
    struct ff_ratelimit *rl = ff_calloc(1, sizeof *rl);
    if (!rl) return -ENOMEM;
    for (int i = 0; i < SHARDS; i++) pthread_mutex_init(&rl->s[i].mu, NULL);
    *out = rl;
    return 0;
}

void ff_ratelimit_free(struct ff_ratelimit *rl)
{
    if (!rl) return;
    for (int i = 0; i < SHARDS; i++) pthread_mutex_destroy(&rl->s[i].mu);
    ff_free(rl);
}

uint32_t ff_ratelimit_take(struct ff_ratelimit *rl, uint64_t key, uint32_t rate, uint32_t n, int64_t now_us)
{
    if (!rate) return 0;
    key |= 1; /* never 0, the free mark */
    struct shard *sh = &rl->s[key % SHARDS];
    size_t home = (size_t)(key / SHARDS) % SLOTS;
    pthread_mutex_lock(&sh->mu);
    struct bucket *b = NULL, *stalest = NULL;
    for (size_t k = 0; k < PROBE && !b; k++) {
        struct bucket *c = &sh->b[(home + k) % SLOTS];
        if (c->key == key) b = c;
        else if (!stalest || c->key == 0 || (stalest->key && c->last_us < stalest->last_us)) stalest = c;
    }
    if (!b) { /* new, or pushed out while it was idle: a full bucket either way */
        b = stalest;
        *b = (struct bucket){key, (double)rate, now_us};
    }
    double cap = (double)rate;
    if (now_us > b->last_us) {
        b->tokens += (double)(now_us - b->last_us) * cap / 1e6;
        if (b->tokens > cap) b->tokens = cap;
        b->last_us = now_us;
    }
    uint32_t wait = 0;
    if (b->tokens > 0) {
        b->tokens -= (double)n;
    } else {
        double secs = (1.0 - b->tokens) / cap; /* until at least one token is back */
        wait = secs < 1 ? 1 : (uint32_t)(secs + 0.999);
    }
    pthread_mutex_unlock(&sh->mu);
    return wait;
}
