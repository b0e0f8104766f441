/* Fuzzes request body decoding (gzip, deflate, magic-number sniffing). The first byte picks
 * the Content-Encoding. */
#include <string.h>

#include "core/buf.h"
#include "ingest/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const enc[] = {"", "gzip", "deflate", "identity", "x-gzip", "br"};
    if (size < 1) return 0;
    static struct ff_buf tmp;
    if (!tmp.max) ff_buf_init(&tmp, 1 << 22);
    const char *e = enc[data[0] % 6], *out;
    size_t out_len;
    ff_body_decode(e, strlen(e), (const char *)data + 1, size - 1, &tmp, &out, &out_len);
    return 0;
}
