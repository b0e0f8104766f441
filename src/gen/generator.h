/* generator.h - footfall's event generator: realistic behaviour history (R14), for the
 * store benchmark (bench/store_bench.c) and `footfall generate` (src/cli/generate_cmd.c).
 *
 * Sessions of e-commerce visitors (home and product pages, searches, product views, cart,
 * checkout and purchases, with drop-off at each step) and of a social app (feed, post views,
 * likes, comments, shares). Session starts follow a daily and weekly rhythm (UTC) over
 * `days` × 24 hours from `start_us`; products, posts and people are Zipf-distributed; about
 * 60% of people are signed in; a visit from a campaign carries UTM parameters. A seed gives
 * the same sessions, people and message ids every run; their times follow `start_us`. */
#ifndef FF_GENERATOR_H
#define FF_GENERATOR_H

#include <stdint.h>

#include "event/event.h"

struct ff_gen_opts {
    uint64_t seed;
    int64_t start_us;   /* the window's start (not negative) */
    int days;           /* sessions start within this many days × 24 hours from start_us (1..3650) */
    uint64_t people;    /* how many distinct people visit (at least 1000) */
    /* Client addresses: 0 documentation addresses (203.0.x.y, no country: the benchmark's);
     * 1 public addresses of a few countries, so GeoIP has something to say. */
    int public_ips;
};

struct ff_gen;

/* Called for each event; ev's strings are valid during the call. `visit` numbers the
 * session the event belongs to (1, 2, …). */
typedef void (*ff_gen_emit_fn)(void *arg, const struct ff_event *ev, uint64_t visit);

/* 0, -ENOMEM or FF_EINVAL (days or people out of range). */
int ff_gen_new(struct ff_gen **out, const struct ff_gen_opts *o);
void ff_gen_free(struct ff_gen *g);
/* Emits one more session's events (in time order within it). */
void ff_gen_session(struct ff_gen *g, ff_gen_emit_fn fn, void *arg);
uint64_t ff_gen_events(const struct ff_gen *g);
uint64_t ff_gen_sessions(const struct ff_gen *g);

#endif
