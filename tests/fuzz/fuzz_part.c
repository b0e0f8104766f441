/* Fuzzes part reading with the input as a part file: open (trailer, footer, dictionaries),
 * then decode every chunk. A part on disk may be damaged, so its bytes are untrusted.
 * Inputs starting with 0xC5 go straight to the chunk decoders instead, which in a part sit
 * behind checksums the fuzzer would rarely get right. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/part.h"
#include "store/schema.h"
#include "fuzz_file.h"

/* The decoders behind the checksums: the input's first byte picks a column type and
 * encoding and the rest is a chunk's raw bytes. */
static void decode_chunk(const uint8_t *data, size_t size)
{
    static const struct ff_str dict[3] = {{"a", 1}, {"bb", 2}, {"", 0}};
    uint8_t type = (uint8_t)(FF_COL_I64 + data[0] % 4), enc = (uint8_t)(data[0] / 4 % 4);
    uint32_t n = (uint32_t)(data[0] >> 4) * 3 + 1;
    struct ff_colvec v = {0};
    if (ff_chunk_decode(data + 1, size - 1, type, enc, n, dict, 3, &v) == 0 && v.str) {
        size_t sum = 0;
        for (uint32_t i = 0; i < v.n; i++)
            for (uint32_t k = 0; k < v.str[i].len; k++) sum += (unsigned char)v.str[i].p[k];
        if (sum == (size_t)-1) __builtin_trap();
    }
    ff_colvec_free(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size && data[0] == 0xC5) { /* a chunk, not a part: parts start with 'F' */
        if (size > 1) decode_chunk(data + 1, size - 1);
        return 0;
    }
    static char path[128];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/footfall-fuzz-part-%d.part", (int)getpid());
    if (fuzz_write_file(path, data, size)) return 0;
    struct ff_part *p;
    char err[512];
    if (ff_part_open(path, &p, err, sizeof err)) return 0;
    ff_part_verify(p, NULL, NULL);
    /* and as events, touching every string so a bad length shows under ASan */
    struct ff_part_events pe;
    ff_part_events_init(&pe, p);
    size_t sum = 0;
    for (uint32_t b = 0; b < p->info.nblocks; b++) {
        if (ff_part_events_load(&pe, p, b, err, sizeof err)) continue;
        for (uint32_t i = 0; i < pe.n; i++) {
            struct ff_event ev;
            ff_part_events_get(&pe, i, &ev);
            for (uint32_t k = 0; k < ev.properties.len; k++) sum += (unsigned char)ev.properties.p[k];
            for (uint32_t k = 0; k < ev.message_id.len; k++) sum += (unsigned char)ev.message_id.p[k];
        }
    }
    ff_part_events_free(&pe);
    ff_part_close(p);
    return sum == (size_t)-1 ? -1 : 0; /* keeps `sum` alive; never true */
}
