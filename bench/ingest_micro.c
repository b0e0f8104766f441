/* ingest_micro.c - user-space cost of decoding events, without the network or the disk.
 *
 * Decodes a /v1/batch body of 100 Segment track events (like bench/segment.lua's) many
 * times with the real decoder and prints ns per event, without enrichment and with it (the
 * user-agent stage with its cache warm as under load, GeoIP, the IP setting): once with one
 * context for every event (a server SDK's batch: enrichment answers the repeats from the
 * event before) and once with an address of its own in each event's context (every event
 * enriched in full). Deterministic enough for
 * `valgrind --tool=callgrind build/ingest_micro 200` to compare instruction counts between
 * two builds. Usage: build/ingest_micro [ROUNDS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "enrich/enrich.h"
#include "ingest/ingest.h"

/* A /v1/batch body of 100 track events; `varied`: each event's context has its own address
 * (as a browser SDK's page context differs event to event), else one context for all (as a
 * server SDK repeats it); `escaped`: a product name with non-ASCII letters and quotes, as
 * Python's SDK writes them (json.dumps escapes every non-ASCII character). */
static void make_body(struct ff_buf *body, int varied, int escaped)
{
    ff_buf_init(body, 1 << 24);
    ff_buf_append_str(body, "{\"batch\":[");
    for (int i = 0; i < 100; i++) {
        ff_buf_printf(body,
                      "%s{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"user-%d\","
                      "\"anonymousId\":\"5d6a1c1e-8f3b-4c2e-9a51-0c3f2e9d7b41\",\"properties\":{\"orderId\":"
                      "\"ord-%06d\",\"revenue\":89.99,\"currency\":\"USD\",\"coupon\":\"SPRING24\"%s},\"context\":"
                      "{\"library\":{\"name\":\"@segment/analytics-node\",\"version\":\"2.1.2\"},\"ip\":"
                      "\"203.0.113.%d\",\"userAgent\":\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, "
                      "like Gecko) Chrome/120.0 Safari/537.36\"},\"timestamp\":\"2026-11-29T10:00:00.000Z\","
                      "\"messageId\":\"micro-%d\"}",
                      i ? "," : "", i % 7, i,
                      escaped ? ",\"product\":\"Caf\\u00e9 cr\\u00e8me \\\"Gr\\u00fcn\\\" \\u20ac5\"" : "",
                      varied ? i + 1 : 7, i);
    }
    ff_buf_append_str(body, "],\"sentAt\":\"2026-11-29T10:00:01.000Z\"}");
    ff_buf_reserve(body, 0);
}

/* Decodes `body` `rounds` times into b: ns per event, and (when not NULL) record bytes per
 * event. Exits on a decode that fails. */
static double time_decode(struct ff_ingest_ctx *ctx, const struct ff_buf *body, int rounds, struct ff_batch *b,
                          size_t *record_bytes)
{
    uint64_t t0 = ff_mono_ns();
    size_t bytes = 0;
    for (int r = 0; r < rounds; r++) {
        ff_batch_reset(b, FF_FMT_SEGMENT);
        if (ff_ingest_segment(ctx, 0, body->data, body->len, b) || b->accepted != 100) {
            fprintf(stderr, "decode failed\n");
            exit(1);
        }
        bytes += b->records.len;
    }
    if (record_bytes) *record_bytes = bytes / ((size_t)rounds * 100);
    return (double)(ff_mono_ns() - t0) / ((double)rounds * 100);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20000;
    struct ff_ingest_ctx ctx = {.received_at_us = ff_now_us(), .write_key = {"k", 1}, .parser = ff_json_parser_new()};
    struct ff_batch b;
    ff_batch_init(&b, FF_FMT_SEGMENT, 1 << 22);
    struct ff_enricher *enrich = NULL;
    struct ff_enrich_opts eo = {0};
    char err[512];
    if (ff_enricher_open(&enrich, &eo, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    static const char *const how[] = {"one context for all events", "a context of its own per event"};
    for (int varied = 0; varied < 2; varied++) {
        struct ff_buf body;
        make_body(&body, varied, 0);
        double ns[2];
        for (int pass = 0; pass < 2; pass++) {
            ctx.enrich = pass ? enrich : NULL;
            size_t bytes;
            ns[pass] = time_decode(&ctx, &body, rounds, &b, &bytes);
            printf("%d rounds of 100 events (%zu-byte body, %s)%s: %.0f ns per event decoded, %zu record bytes per "
                   "event\n",
                   rounds, body.len, how[varied], pass ? ", enriched" : "", ns[pass], bytes);
        }
        printf("enrichment (user agent from the cache, GeoIP, context.ip dropped), %s: %.0f ns per event\n", how[varied],
               ns[1] - ns[0]);
        ff_buf_free(&body);
    }
    /* core/json.h's fast path against simdjson's DOM path, without enrichment */
    ctx.enrich = NULL;
    for (int escaped = 0; escaped < 2; escaped++) {
        struct ff_buf body;
        make_body(&body, 0, escaped);
        double ns[2];
        for (int fast = 1; fast >= 0; fast--) {
            ff_json_fast_path = fast;
            ns[fast] = time_decode(&ctx, &body, rounds, &b, NULL);
        }
        ff_json_fast_path = 1;
        printf("JSON %s: %.0f ns per event decoded with the fast path, %.0f with simdjson's DOM path\n",
               escaped ? "with escapes (Python SDK style)" : "without escapes", ns[1], ns[0]);
        ff_buf_free(&body);
    }
    ff_enricher_close(enrich);
    ff_batch_free(&b);
    ff_json_parser_free(ctx.parser);
    return 0;
}
