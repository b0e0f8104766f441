/* main.c - footfall's command line: argv → options → the server or an offline command. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/errors.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "net/server.h"
#include "store/store.h"

#define FF_VERSION "0.1.0"

static const char usage[] =
    "footfall " FF_VERSION " - real-time user behaviour analytics\n"
    "\n"
    "Usage:\n"
    "  footfall serve [--listen HOST:PORT] [--data DIR] [options]\n"
    "  footfall events --data DIR [--event NAME] [--from TIME] [--to TIME] [--limit N]\n"
    "  footfall quarantine --data DIR [--limit N]\n"
    "  footfall --help | --version\n"
    "\n"
    "serve: collect events over HTTP; each is acknowledged once it is durable on disk.\n"
    "  --listen HOST:PORT        address to listen on (default 127.0.0.1:8080; port 0 picks one)\n"
    "  --data DIR                data directory (default ./footfall-data)\n"
    "  --threads N               event loops (default: one per core)\n"
    "  --max-body-bytes N        largest request body (default 1048576; 413 past it)\n"
    "  --max-import-bytes N      largest /api/import body (default 67108864)\n"
    "  --max-header-bytes N      largest request line + headers (default 16384; 431 past it)\n"
    "  --max-connections N       open connections at once (default 10000)\n"
    "  --max-memory-bytes N      refuse new request bytes (503) past this much memory (default 4 GiB; 0 = no limit)\n"
    "  --idle-timeout-ms N       close keep-alive connections idle this long (default 60000)\n"
    "  --request-timeout-ms N    a request must arrive whole within this (default 30000)\n"
    "  --flush-bytes N           write events held in memory to parts past this many bytes\n"
    "                            (default 64 MiB)\n"
    "  --flush-interval-ms N     and at the latest this long after the oldest arrived (default 10000)\n"
    "  --retention-days N        drop whole days of events older than N days (default 0: keep all)\n"
    "\n"
    "events: print stored events as NDJSON, newest first (default limit 100).\n"
    "quarantine: print quarantined (invalid) input as NDJSON, newest first.\n"
    "  TIME is ISO 8601 (2026-11-29T10:00:00Z) or milliseconds since the epoch.\n"
    "\n"
    "Endpoints and formats: see docs/api.md.\n";

static int parse_size(const char *opt, const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || !*v || v[0] == '-') {
        fprintf(stderr, "footfall: %s needs a whole number, not '%s'\n", opt, v);
        return -1;
    }
    *out = n;
    return 0;
}

static int parse_listen(const char *v, struct ff_server_opts *o)
{
    const char *colon = strrchr(v, ':');
    if (!colon) {
        fprintf(stderr, "footfall: --listen needs HOST:PORT, not '%s'\n", v);
        return -1;
    }
    size_t hl = (size_t)(colon - v);
    if (hl >= sizeof o->host) {
        fprintf(stderr, "footfall: --listen host is too long\n");
        return -1;
    }
    /* [::1]:8080 */
    if (hl >= 2 && v[0] == '[' && v[hl - 1] == ']') {
        memcpy(o->host, v + 1, hl - 2);
        o->host[hl - 2] = '\0';
    } else {
        memcpy(o->host, v, hl);
        o->host[hl] = '\0';
    }
    uint64_t port;
    if (parse_size("--listen port", colon + 1, &port) || port > 65535) {
        fprintf(stderr, "footfall: --listen port must be 0-65535\n");
        return -1;
    }
    o->port = (int)port;
    return 0;
}

static int parse_time(const char *opt, const char *v, int64_t *us)
{
    if (ff_time_parse_any(v, strlen(v), us) == 0) return 0;
    fprintf(stderr, "footfall: %s needs an ISO 8601 date-time or epoch milliseconds, not '%s'\n", opt, v);
    return -1;
}

static int cmd_serve(int argc, char **argv)
{
    struct ff_server_opts o;
    memset(&o, 0, sizeof o);
    strcpy(o.host, "127.0.0.1");
    o.port = 8080;
    o.data_dir = "footfall-data";
    o.limits = (struct ff_http_limits){
        .max_header_bytes = 16384,
        .max_body_bytes = 1 << 20,
        .max_import_bytes = 64 << 20,
        .idle_timeout_ms = 60000,
        .request_timeout_ms = 30000,
        .max_connections = 10000,
        .max_memory_bytes = (uint64_t)4 << 30,
    };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;
        if (!v) {
            fprintf(stderr, "footfall serve: unknown option or missing value: %s\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--listen")) {
            if (parse_listen(v, &o)) return 2;
        } else if (!strcmp(a, "--data")) {
            o.data_dir = v;
        } else if (!strcmp(a, "--threads")) {
            if (parse_size(a, v, &n) || n > 256) return 2;
            o.threads = (int)n;
        } else if (!strcmp(a, "--max-body-bytes")) {
            if (parse_size(a, v, &n) || n < 1024) return fprintf(stderr, "footfall: %s must be at least 1024\n", a), 2;
            o.limits.max_body_bytes = n;
        } else if (!strcmp(a, "--max-import-bytes")) {
            if (parse_size(a, v, &n) || n < 1024) return fprintf(stderr, "footfall: %s must be at least 1024\n", a), 2;
            o.limits.max_import_bytes = n;
        } else if (!strcmp(a, "--max-header-bytes")) {
            if (parse_size(a, v, &n) || n < 256) return fprintf(stderr, "footfall: %s must be at least 256\n", a), 2;
            o.limits.max_header_bytes = n;
        } else if (!strcmp(a, "--max-connections")) {
            if (parse_size(a, v, &n) || n < 1) return 2;
            o.limits.max_connections = n;
        } else if (!strcmp(a, "--max-memory-bytes")) {
            if (parse_size(a, v, &n)) return 2;
            o.limits.max_memory_bytes = n;
        } else if (!strcmp(a, "--idle-timeout-ms")) {
            if (parse_size(a, v, &n) || n < 1) return 2;
            o.limits.idle_timeout_ms = n;
        } else if (!strcmp(a, "--request-timeout-ms")) {
            if (parse_size(a, v, &n) || n < 1) return 2;
            o.limits.request_timeout_ms = n;
        } else if (!strcmp(a, "--flush-bytes")) {
            if (parse_size(a, v, &n) || n < 1) return 2;
            o.flush_bytes = (size_t)n;
        } else if (!strcmp(a, "--retention-days")) {
            if (parse_size(a, v, &n) || n > 1000000) return 2;
            o.retention_days = (int)n;
        } else if (!strcmp(a, "--flush-interval-ms")) {
            if (parse_size(a, v, &n) || n < 1 || n > 86400000) return 2;
            o.flush_interval_us = (int64_t)n * 1000;
        } else {
            fprintf(stderr, "footfall serve: unknown option %s (see footfall --help)\n", a);
            return 2;
        }
    }
    return ff_server_run(&o) ? 1 : 0;
}

static int cmd_read(int argc, char **argv, int quarantine)
{
    const char *dir = NULL, *event = NULL;
    struct ff_read_filter f = {
        .kind = quarantine ? FF_REC_QUARANTINE : FF_REC_EVENT, .from_us = FF_TIME_NONE, .to_us = FF_TIME_NONE, .limit = 100};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;
        if (!v) {
            fprintf(stderr, "footfall: unknown option or missing value: %s\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--data")) dir = v;
        else if (!strcmp(a, "--event") && !quarantine) event = v;
        else if (!strcmp(a, "--limit")) {
            if (parse_size(a, v, &n)) return 2;
            f.limit = (size_t)n;
        } else if (!strcmp(a, "--from") && !quarantine) {
            if (parse_time(a, v, &f.from_us)) return 2;
        } else if (!strcmp(a, "--to") && !quarantine) {
            if (parse_time(a, v, &f.to_us)) return 2;
        } else {
            fprintf(stderr, "footfall: unknown option %s (see footfall --help)\n", a);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "footfall: --data DIR is required\n");
        return 2;
    }
    if (event) f.event = event, f.event_len = strlen(event);
    struct ff_buf out;
    ff_buf_init(&out, SIZE_MAX / 4);
    size_t count = 0;
    struct ff_store *st;
    char err[1024];
    struct ff_store_opts so = {.dir = dir, .read_only = 1};
    int rc = ff_store_open(&st, &so, err, sizeof err);
    if (rc) {
        fprintf(stderr, "footfall: cannot open the store in %s: %s\n", dir, err);
        ff_buf_free(&out);
        return 1;
    }
    rc = ff_store_read_json(st, &f, "\n", &out, &count);
    ff_store_close(st);
    if (rc) {
        fprintf(stderr, "footfall: cannot read %s: %s\n", dir, ff_strerror(rc));
        ff_buf_free(&out);
        return 1;
    }
    if (count) {
        fwrite(out.data, 1, out.len, stdout);
        fputc('\n', stdout);
    }
    ff_buf_free(&out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        puts("footfall " FF_VERSION);
        return 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        }
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "events")) return cmd_read(argc - 2, argv + 2, 0);
    if (!strcmp(cmd, "quarantine")) return cmd_read(argc - 2, argv + 2, 1);
    fprintf(stderr, "footfall: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
