/* Fuzzes the access-log decoder: the first byte picks combined, common or JSON lines, the
 * rest is the log. Every line becomes an event or a quarantined item, and every record
 * decodes again, also once the file's name is put before the quarantined lines' reasons. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int format = data[0] % 3;
    const char *p = fuzz_padded(data + 1, size - 1);
    struct ff_ingest_ctx ctx = fuzz_ctx();
    ff_batch_reset(&fuzz_batch, FF_FMT_LOG);
    if (ff_ingest_access_log(&ctx, format, 1, p, size - 1, &fuzz_batch)) return 0;
    fuzz_check_batch(&fuzz_batch);
    /* the file's name in front of each quarantined line's reason (import-log): the records
     * still decode, and the items are the same */
    uint32_t items = fuzz_batch.nitems;
    if (ff_batch_name_source(&fuzz_batch, "logs/a b.log", 12)) return 0;
    if (fuzz_batch.nitems != items) __builtin_trap();
    fuzz_check_batch(&fuzz_batch);
    /* a line is one item at most (blank lines none) */
    size_t lines = 1;
    for (size_t i = 0; i + 1 < size; i++) lines += p[i] == '\n';
    if (fuzz_batch.nitems > lines) __builtin_trap();
    return 0;
}
