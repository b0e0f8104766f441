/* Fuzzes request handling end to end without sockets: bytes go through llhttp, the limits,
 * routing, body decoding and every decoder; responses are discarded and the "WAL" accepts
 * everything at once (a harness loop has fake_io set and no WAL). */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "net/http.h"
#include "net/server.h"

static struct ff_server srv;
static struct ff_loop loop;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop.srv) {
        srv.opts.data_dir = "/nonexistent/footfall-fuzz";
        srv.opts.limits = (struct ff_http_limits){
            .max_header_bytes = 4096, .max_body_bytes = 65536, .max_import_bytes = 131072,
            .idle_timeout_ms = 1000, .request_timeout_ms = 1000, .max_connections = 10};
        loop.srv = &srv;
        loop.fake_io = 1;
        loop.json = ff_json_parser_new();
    }
    struct ff_conn *c = ff_malloc(sizeof *c);
    if (!c) return 0;
    ff_conn_init(c, &loop);
    loop.conns = c;
    loop.nconns = 1;
    /* Feed in two pieces so requests split across reads are covered too. */
    size_t cut = size ? data[0] % (size + 1) : 0;
    ff_conn_feed(c, (const char *)data, cut);
    ff_conn_feed(c, (const char *)data + cut, size - cut);
    ff_conn_destroy(c);
    return 0;
}
