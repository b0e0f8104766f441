/* Fuzzes the access-log decoder: the first byte picks combined, common or JSON lines, and
 * whether the log has a name (import-log's, before each quarantined line's reason); the rest
 * is the log. Every line becomes an event or a quarantined item, and every record decodes
 * again. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int format = data[0] % 3;
    const char *p = fuzz_padded(data + 1, size - 1);
    struct ff_ingest_ctx ctx = fuzz_ctx();
    if (data[0] / 3 % 2) ctx.source = (struct ff_str){"logs/a b.log", 12};
    ff_batch_reset(&fuzz_batch, FF_FMT_LOG);
    if (ff_ingest_access_log(&ctx, format, 1, p, size - 1, &fuzz_batch)) return 0;
    fuzz_check_batch(&fuzz_batch);
    /* a line is one item at most (blank lines none) */
    size_t lines = 1;
    for (size_t i = 0; i + 1 < size; i++) lines += p[i] == '\n';
    if (fuzz_batch.nitems > lines) __builtin_trap();
    return 0;
}
