/* Differential fuzzing of core/json.h's two paths: the fast walk of simdjson's stage-1
 * indexes and simdjson's DOM (json.cpp). The first byte picks the raw depth (0 to 3, or
 * none), the rest is the document. Either both paths reject it, or both accept it and give
 * the same nodes (json_dump.h), strings, raw text and numbers alike. */
#include "fuzz_common.h"
#include "json_dump.h"

static struct ff_buf fast_dump, dom_dump;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size) return 0;
    uint32_t raw_depth = data[0] % 5 == 4 ? UINT32_MAX : data[0] % 5;
    const char *in = fuzz_padded(data + 1, size - 1);
    if (!fast_dump.max) {
        ff_buf_init(&fast_dump, (size_t)1 << 30);
        ff_buf_init(&dom_dump, (size_t)1 << 30);
    }
    struct ff_json_doc doc;
    ff_json_fast_path = 1;
    int fast = ff_json_parse_shallow(fuzz_parser, in, size - 1, raw_depth, &doc, NULL);
    if (!fast) json_dump(&fast_dump, &doc);
    ff_json_fast_path = 0;
    int dom = ff_json_parse_shallow(fuzz_parser, in, size - 1, raw_depth, &doc, NULL);
    ff_json_fast_path = 1;
    if ((fast == 0) != (dom == 0)) __builtin_trap();
    if (dom) return 0;
    json_dump(&dom_dump, &doc);
    if (fast_dump.len != dom_dump.len || memcmp(fast_dump.data, dom_dump.data, dom_dump.len)) __builtin_trap();
    return 0;
}
