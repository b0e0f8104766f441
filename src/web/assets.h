/* assets.h - files footfall serves from inside its binary (the browser tracker; later the
 * dashboard), compiled in at build time so that one file is all there is to deploy.
 *
 * The Makefile minifies each source under web/ into build/web/ and gzips it; assets.c embeds
 * both forms (.incbin), so a client that takes gzip gets the smaller one without the server
 * compressing anything. */
#ifndef FF_ASSETS_H
#define FF_ASSETS_H

#include <stddef.h>

struct ff_asset {
    const char *path;          /* as requested: "/t.js" */
    const char *content_type;
    const char *cache_control; /* the Cache-Control header's value */
    const unsigned char *data; /* the file as served */
    size_t len;
    const unsigned char *gz;   /* the same, gzip-compressed */
    size_t gz_len;
    const char *etag;          /* 16 hex digits from the content: the validators' base */
    const char *headers;       /* more header lines (CRLF-terminated) to send with it, or "" */
};

/* The asset served at path[0..len), or NULL. */
const struct ff_asset *ff_asset_find(const char *path, size_t len);

#endif
