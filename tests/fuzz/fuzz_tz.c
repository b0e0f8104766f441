/* Fuzzes TZif parsing (core/tz.h): zone files come from disk, so their counts, indexes and
 * footer rule are untrusted. A parse either fails cleanly or gives a zone whose offsets can
 * be asked for at any instant without reading out of bounds or overflowing. */
#include <stdint.h>

#include "core/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ff_tz *tz;
    if (ff_tz_parse(data, size, &tz)) return 0;
    static const int64_t at[] = {INT64_MIN / 2, -2208988800LL, -1, 0, 1700000000LL, 2145916800LL, 4102444800LL,
                                 253402300799LL, INT64_MAX / 4};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        int32_t off = ff_tz_offset(tz, at[i]);
        if (off < -200 * 3600 || off > 200 * 3600) __builtin_trap();
        (void)ff_tz_local_day(tz, at[i] < INT64_MIN / 4000000 || at[i] > INT64_MAX / 4000000 ? 0 : at[i] * 1000000);
    }
    ff_tz_free(tz);
    return 0;
}
