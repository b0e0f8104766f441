/* Fuzzes the Segment decoder: the first byte picks the endpoint (batch or one of the types). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *p = fuzz_padded(data + 1, size - 1);
    struct ff_ingest_ctx ctx = fuzz_ctx();
    ff_batch_reset(&fuzz_batch, FF_FMT_SEGMENT);
    ff_ingest_segment(&ctx, data[0] % (FF_EV_TYPE_MAX + 1), p, size - 1, &fuzz_batch);
    fuzz_check_batch(&fuzz_batch);
    return 0;
}
