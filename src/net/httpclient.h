/* httpclient.h - the little HTTP/1.1 client `import-log --url` and `tail-log` send lines to a
 * running server with, and the alerts post to webhooks with: one keep-alive connection,
 * blocking, Content-Length bodies only (what footfall answers with). */
#ifndef FF_HTTPCLIENT_H
#define FF_HTTPCLIENT_H

#include <stddef.h>

#include "core/buf.h"

struct ff_http_client {
    char host[256];
    char port[8];
    char auth[512];  /* "Authorization: Basic …\r\n" for the write key, or "" */
    char content_type[64]; /* text/plain unless set */
    int timeout_ms;  /* 0: none; else each send and receive gives up after this long */
    int fd;          /* -1 when not connected */
};

/* Parses "http://HOST:PORT" (the port defaults to 80; a path after it is ignored);
 * write_key NULL sends no Authorization. -1 with a message on stderr. */
int ff_http_client_init(struct ff_http_client *c, const char *url, const char *write_key);
/* POSTs `body` to `target`; fills *status and `resp` (the body). Reconnects once when a kept
 * connection turns out closed. 0, or -1 when the server could not be reached or answered
 * garbage (errno-style reason in `why`). */
int ff_http_post(struct ff_http_client *c, const char *target, const char *body, size_t len, int *status,
                 struct ff_buf *resp, char *why, size_t whylen);
void ff_http_client_close(struct ff_http_client *c);

#endif
