/* Fuzzes PII masking: any bytes as a stored JSON object and as plain text. Checks what
 * masking promises: without a match nothing is written and the flag is clear; with one, the
 * output differs from the input and holds a mask token, and it never grows by more than a
 * token's worth per byte masked (a mask replaces at least 6 bytes with at most 7); and the
 * quick look (ff_pii_may_match) passes everything that has a match. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/pii.h"

static void check(const char *in, size_t n, int json)
{
    struct ff_buf out;
    ff_buf_init(&out, (size_t)1 << 26);
    int changed = 0;
    int rc = json ? ff_pii_scrub_json(in, n, "properties", "properties.keep", &out, &changed)
                  : ff_pii_scrub_text(in, n, &out, &changed);
    if (rc) abort();
    if (!changed && out.len) abort();
    /* the quick look passes whatever the careful walk masks */
    if (json) {
        struct ff_buf walked;
        ff_buf_init(&walked, (size_t)1 << 26);
        int wchanged = 0;
        if (ff_pii_scrub_json_walk(in, n, "properties", "properties.keep", &walked, &wchanged)) abort();
        if (wchanged && !ff_pii_may_match(in, n)) abort();
        if (wchanged != changed || walked.len != out.len || (out.len && memcmp(walked.data, out.data, out.len))) abort();
        ff_buf_free(&walked);
    } else if (changed && !ff_pii_may_match(in, n)) {
        abort();
    }
    if (changed) {
        if (out.len == n && memcmp(out.data, in, n) == 0) abort();
        if (!memmem(out.data, out.len, "[email]", 7) && !memmem(out.data, out.len, "[phone]", 7) &&
            !memmem(out.data, out.len, "[card]", 6))
            abort();
        if (out.len > n + n / 6 + 1) abort();
    }
    ff_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check((const char *)data, size, 1);
    check((const char *)data, size, 0);
    return 0;
}
