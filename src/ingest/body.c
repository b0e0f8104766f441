/* body.c - request body content decoding: gzip and deflate, as SDKs send them (RudderStack
 * gzips with a form-urlencoded Content-Type; posthog gzips without saying so in the header). */
#include "ingest.h"

#include <errno.h>
#include <strings.h>
#include <zlib.h>

#include "core/errors.h"

static int inflate_all(const char *in, size_t in_len, int window_bits, struct ff_buf *out)
{
    z_stream z = {0};
    if (inflateInit2(&z, window_bits) != Z_OK) return -ENOMEM;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)in_len;
    int rc = 0;
    for (;;) {
        size_t room = out->max - out->len;
        if (room == 0) {
            rc = FF_ETOOBIG;
            break;
        }
        size_t chunk = room < 65536 ? room : 65536;
        if ((rc = ff_buf_reserve(out, chunk))) break;
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)chunk;
        int zr = inflate(&z, Z_NO_FLUSH);
        out->len += chunk - z.avail_out;
        if (zr == Z_STREAM_END) {
            /* Concatenated gzip members are legal: go on while input remains. */
            if (z.avail_in == 0) break;
            if (inflateReset(&z) != Z_OK) { rc = FF_EINVAL; break; }
            continue;
        }
        if (zr == Z_OK) continue;
        if (zr == Z_BUF_ERROR && z.avail_in == 0) { rc = FF_EINVAL; break; } /* truncated */
        if (zr != Z_BUF_ERROR) { rc = zr == Z_MEM_ERROR ? -ENOMEM : FF_EINVAL; break; }
    }
    inflateEnd(&z);
    return rc;
}

int ff_body_decode(const char *encoding, size_t enc_len, const char *in, size_t in_len, struct ff_buf *tmp,
                   const char **out, size_t *out_len)
{
    int bits = 0;
    if (enc_len == 4 && strncasecmp(encoding, "gzip", 4) == 0) bits = 16 + MAX_WBITS;
    else if (enc_len == 6 && strncasecmp(encoding, "x-gzip", 6) == 0) bits = 16 + MAX_WBITS;
    else if (enc_len == 7 && strncasecmp(encoding, "deflate", 7) == 0) bits = 32 + MAX_WBITS; /* zlib or raw-ish */
    else if (enc_len == 0 || (enc_len == 8 && strncasecmp(encoding, "identity", 8) == 0)) {
        if (in_len >= 2 && (unsigned char)in[0] == 0x1f && (unsigned char)in[1] == 0x8b) bits = 16 + MAX_WBITS;
    } else {
        return FF_EINVAL;
    }
    if (!bits) {
        *out = in;
        *out_len = in_len;
        return 0;
    }
    ff_buf_reset(tmp);
    int rc = inflate_all(in, in_len, bits, tmp);
    if (rc) return rc;
    *out = tmp->data ? tmp->data : "";
    *out_len = tmp->len;
    return 0;
}
