/* ratelimit.h - token buckets shared by every event loop, for the per-key and per-IP limits
 * a project sets (429 with Retry-After past them).
 *
 * A bucket holds up to one second of its rate and refills continuously. A request is let
 * through while its bucket is not empty and takes all its events from it, going into debt if
 * need be, so a batch larger than the rate still passes once the bucket is full; the debt
 * then says how long the next must wait. Buckets live in a fixed table (striped locks); an
 * idle bucket is full by definition, so when the table is crowded the stalest one gives way. */
#ifndef FF_RATELIMIT_H
#define FF_RATELIMIT_H

#include <stdint.h>

struct ff_ratelimit;

int ff_ratelimit_new(struct ff_ratelimit **out);
void ff_ratelimit_free(struct ff_ratelimit *rl);

/* Takes `n` events from the bucket `key` (a hash; the caller mixes in what it limits)
 * refilled at `rate` per second. Returns 0 when allowed, else the whole seconds (≥ 1) to wait. */
uint32_t ff_ratelimit_take(struct ff_ratelimit *rl, uint64_t key, uint32_t rate, uint32_t n, int64_t now_us);

#endif
