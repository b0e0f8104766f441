/* Fuzzes the NDJSON import decoder. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_padded(data, size);
    struct ff_ingest_ctx ctx = fuzz_ctx();
    ff_batch_reset(&fuzz_batch, FF_FMT_IMPORT);
    ff_ingest_import(&ctx, p, size, &fuzz_batch);
    fuzz_check_batch(&fuzz_batch);
    return 0;
}
