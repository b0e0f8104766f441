/* dedup.c - the 24-hour message id set (see dedup.h). */
#include "dedup.h"

#include <errno.h>

#include "core/alloc.h"

int ff_dedup_init(struct ff_dedup *d, int64_t window_us)
{
    d->cap = 1024;
    d->used = 0;
    d->window_us = window_us;
    d->slots = ff_calloc(d->cap, sizeof *d->slots);
    return d->slots ? 0 : -ENOMEM;
}

void ff_dedup_free(struct ff_dedup *d)
{
    ff_free(d->slots);
    d->slots = NULL;
    d->cap = d->used = 0;
}

/* The home slot; ff_dedup_prefetch in dedup.h computes the same. */
static size_t home_of(const struct ff_dedup *d, uint64_t hash)
{
    return (size_t)(hash * 0x9e3779b97f4a7c15u >> 17) & (d->cap - 1);
}

static size_t find(const struct ff_dedup *d, uint64_t hash)
{
    size_t mask = d->cap - 1, i = home_of(d, hash);
    while (d->slots[i].hash && d->slots[i].hash != hash) i = (i + 1) & mask;
    return i;
}

int ff_dedup_contains(const struct ff_dedup *d, uint64_t hash, int64_t now_us)
{
    const struct ff_dedup_entry *e = &d->slots[find(d, hash)];
    return e->hash == hash && e->expires_us > now_us;
}

/* Rebuilds into a table sized for the live entries, dropping expired ones. */
static int rehash(struct ff_dedup *d, int64_t now_us)
{
    size_t live = 0;
    for (size_t i = 0; i < d->cap; i++)
        if (d->slots[i].hash && d->slots[i].expires_us > now_us) live++;
    size_t cap = 1024;
    while (cap < live * 2 + 2) cap *= 2;
    struct ff_dedup_entry *old = d->slots;
    size_t old_cap = d->cap;
    struct ff_dedup_entry *fresh = ff_calloc(cap, sizeof *fresh);
    if (!fresh) return -ENOMEM;
    d->slots = fresh;
    d->cap = cap;
    d->used = 0;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].hash || old[i].expires_us <= now_us) continue;
        d->slots[find(d, old[i].hash)] = old[i];
        d->used++;
    }
    ff_free(old);
    return 0;
}

int ff_dedup_insert(struct ff_dedup *d, uint64_t hash, int64_t received_us, int64_t now_us)
{
    if ((d->used + 1) * 10 > d->cap * 7) {
        int rc = rehash(d, now_us);
        if (rc) return rc;
    }
    size_t i = find(d, hash);
    if (!d->slots[i].hash) d->used++;
    d->slots[i].hash = hash;
    int64_t exp = received_us + d->window_us;
    if (exp > d->slots[i].expires_us) d->slots[i].expires_us = exp;
    return 0;
}

void ff_dedup_remove(struct ff_dedup *d, uint64_t hash)
{
    size_t mask = d->cap - 1, i = find(d, hash);
    if (d->slots[i].hash != hash) return;
    /* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
    size_t j = i;
    for (;;) {
        d->slots[i].hash = 0;
        d->slots[i].expires_us = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (!d->slots[j].hash) {
                d->used--;
                return;
            }
            size_t home = home_of(d, d->slots[j].hash);
            /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) break;
        }
        d->slots[i] = d->slots[j];
        i = j;
    }
}
