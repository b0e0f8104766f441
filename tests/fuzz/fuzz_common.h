/* fuzz_common.h - what the libFuzzer harnesses share: a padded copy of the input (the JSON
 * parser reads ahead) and a reusable parser and batch. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "ingest/ingest.h"

static struct ff_json_parser *fuzz_parser;
static struct ff_batch fuzz_batch;
static struct ff_buf fuzz_input;

static inline const char *fuzz_padded(const uint8_t *data, size_t size)
{
    if (!fuzz_parser) {
        fuzz_parser = ff_json_parser_new();
        ff_batch_init(&fuzz_batch, FF_FMT_SEGMENT, 1 << 20);
        ff_buf_init(&fuzz_input, (size_t)1 << 30);
    }
    ff_buf_reset(&fuzz_input);
    ff_buf_append(&fuzz_input, data, size);
    ff_buf_reserve(&fuzz_input, 0);
    return fuzz_input.data;
}

static inline struct ff_ingest_ctx fuzz_ctx(void)
{
    struct ff_ingest_ctx ctx = {.received_at_us = 1764000000000000LL, .write_key = {"wk", 2}, .parser = fuzz_parser};
    return ctx;
}

/* Every record a decoder produced must decode again: the encoder and decoder agree. */
static inline void fuzz_check_batch(const struct ff_batch *b)
{
    for (uint32_t i = 0; i < b->nitems; i++) {
        size_t off = b->items[i].off;
        struct ff_record rec;
        if (ff_record_decode(b->records.data, b->items[i].off + b->items[i].len, &off, &rec)) __builtin_trap();
    }
}

#endif
