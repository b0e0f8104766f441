/* httpclient.c - a blocking HTTP/1.1 client for the log shippers (see httpclient.h). */
#include "net/httpclient.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

int ff_http_client_init(struct ff_http_client *c, const char *url, const char *write_key)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "footfall: --url must be http://HOST:PORT, not '%s'\n", url);
        return -1;
    }
    const char *h = url + 7, *end = h + strcspn(h, "/");
    const char *colon = memchr(h, ':', (size_t)(end - h));
    size_t hl = (size_t)((colon ? colon : end) - h);
    if (!hl || hl >= sizeof c->host || (colon && ((size_t)(end - colon - 1) >= sizeof c->port || end == colon + 1))) {
        fprintf(stderr, "footfall: --url must be http://HOST:PORT, not '%s'\n", url);
        return -1;
    }
    memcpy(c->host, h, hl);
    if (colon) memcpy(c->port, colon + 1, (size_t)(end - colon - 1));
    else strcpy(c->port, "80");
    snprintf(c->content_type, sizeof c->content_type, "text/plain");
    if (!write_key) return 0; /* no Authorization header (a webhook) */
    char raw[300], b64[420];
    size_t n = (size_t)snprintf(raw, sizeof raw, "%s:", write_key);
    if (n >= sizeof raw) {
        fprintf(stderr, "footfall: the write key is too long\n");
        return -1;
    }
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)raw, n, sodium_base64_VARIANT_ORIGINAL);
    snprintf(c->auth, sizeof c->auth, "Authorization: Basic %s\r\n", b64);
    return 0;
}

void ff_http_client_close(struct ff_http_client *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

static int connect_to(struct ff_http_client *c, char *why, size_t whylen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int g = getaddrinfo(c->host, c->port, &hints, &res);
    if (g) {
        snprintf(why, whylen, "%s: %s", c->host, gai_strerror(g));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen)) {
            snprintf(why, whylen, "%s:%s: %s", c->host, c->port, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0 && c->timeout_ms > 0) { /* a receiver that never answers does not hold us */
        struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    c->fd = fd;
    return fd < 0 ? -1 : 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* Reads one response: status line, headers (Content-Length), body. */
static int read_response(int fd, int *status, struct ff_buf *resp, char *why, size_t whylen)
{
    struct ff_buf in;
    ff_buf_init(&in, (size_t)64 << 20);
    size_t head_end = 0, need = 0;
    int rc = -1, have_head = 0;
    char chunk[16384];
    for (;;) {
        if (have_head && in.len >= head_end + need) break;
        ssize_t r = recv(fd, chunk, sizeof chunk, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            snprintf(why, whylen, "the connection closed before the answer was complete");
            goto out;
        }
        if (ff_buf_append(&in, chunk, (size_t)r)) {
            snprintf(why, whylen, "answer too large");
            goto out;
        }
        if (!have_head) {
            const char *e = memmem(in.data, in.len, "\r\n\r\n", 4);
            if (!e) continue;
            head_end = (size_t)(e - in.data) + 4;
            have_head = 1;
            if (in.len < 12 || memcmp(in.data, "HTTP/1.", 7) != 0) {
                snprintf(why, whylen, "not an HTTP answer");
                goto out;
            }
            *status = atoi(in.data + 9);
            for (const char *l = in.data; l < e;) {
                const char *nl = memmem(l, (size_t)(e - l), "\r\n", 2);
                if (!nl) nl = e;
                if ((size_t)(nl - l) > 15 && strncasecmp(l, "Content-Length:", 15) == 0) need = strtoull(l + 15, NULL, 10);
                l = nl + 2;
            }
        }
    }
    ff_buf_reset(resp);
    rc = ff_buf_append(resp, in.data + head_end, need) ? -1 : 0;
out:
    ff_buf_free(&in);
    return rc;
}

int ff_http_post(struct ff_http_client *c, const char *target, const char *body, size_t len, int *status,
                 struct ff_buf *resp, char *why, size_t whylen)
{
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%s\r\n%sContent-Type: %s\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      target, c->host, c->port, c->auth, c->content_type, len);
    if (hl < 0 || (size_t)hl >= sizeof head) {
        snprintf(why, whylen, "request target too long");
        return -1;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int fresh = c->fd < 0;
        if (fresh && connect_to(c, why, whylen)) return -1;
        if (!send_all(c->fd, head, (size_t)hl) && !send_all(c->fd, body, len) &&
            !read_response(c->fd, status, resp, why, whylen))
            return 0;
        ff_http_client_close(c);
        if (fresh) return -1; /* a new connection failing is an answer; a kept one may just have timed out */
    }
    return -1;
}
