/* main.c - footfall's command line: argv → options → the server or an offline command. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/errors.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "enrich/geoip.h"
#include "net/server.h"
#include "cli/cli.h"

#define FF_VERSION "0.1.0"

static const char usage[] =
    "footfall " FF_VERSION " - real-time user behaviour analytics\n"
    "\n"
    "Usage:\n"
    "  footfall serve [--listen HOST:PORT] [--data DIR] [options]\n"
    "  footfall events --data DIR [--project ID] [--event NAME] [--from TIME] [--to TIME] [--limit N]\n"
    "  footfall quarantine --data DIR [--project ID] [--limit N]\n"
    "  footfall sessions --data DIR [--project ID] [--person ID] [--from TIME] [--to TIME]\n"
    "                    [--bots include|exclude] [--limit N]   (default: those of the last day)\n"
    "  footfall query --data DIR [--project ID] '<json>'   (the query of POST /api/query; - reads stdin)\n"
    "  footfall segment save NAME '<json>' | list | delete NAME [--project ID] [--data DIR]\n"
    "  footfall alert save NAME '<json>' | list | delete NAME | events [--project ID] [--data DIR]\n"
    "  footfall analysis features|segments|rules|recommend|forecast --data DIR [--project ID] '<json>'\n"
    "                                      (as POST /api/analysis/...)\n"
    "  footfall analysis kmeans --input FILE.csv --k K [--n-init N] [--max-iter N] [--seed N]\n"
    "  footfall analysis dbscan --input FILE.csv --eps E --min-pts M\n"
    "  footfall analysis kdist --input FILE.csv --min-pts M [--sample N] [--seed N]\n"
    "  footfall analysis itemsets --input FILE --min-support S [--max-size N] [--algorithm fpgrowth|apriori]\n"
    "                             [--min-confidence C]\n"
    "  footfall analysis arima --input FILE [--order p,d,q] [--seasonal P,D,Q,s] [--horizon H]\n"
    "  footfall analysis adf --input FILE\n"
    "  footfall export --data DIR [--project ID] (--person ID | [--from TIME] [--to TIME])\n"
    "                  [--format ndjson|csv]\n"
    "  footfall erase --data DIR [--project ID] --person ID\n"
    "  footfall project create ID [--name NAME] [--write-key KEY]... [--data DIR] [--json]\n"
    "  footfall project list [--data DIR] [--json]\n"
    "  footfall project add-key ID (--write [KEY] | --read) [--data DIR] [--json]\n"
    "  footfall project rotate-key ID (--write | --read) [--grace SECONDS] [--data DIR] [--json]\n"
    "  footfall project set ID SETTING VALUE [--data DIR]\n"
    "  footfall import-log --format combined|common|json (--data DIR [--project ID] [--ip MODE]\n"
    "                      | --url URL --key WRITE_KEY) FILE...\n"
    "  footfall tail-log --format combined|common|json --key WRITE_KEY [--url URL] [--from-start] FILE\n"
    "  footfall check --data DIR [--repair]\n"
    "  footfall generate [--url URL] [--key WRITE_KEY | --data DIR [--project ID]] [--events N]\n"
    "                    [--days N] [--seed N] [--connections N]\n"
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
    "  --dedup-max-bytes N       memory for the messageId set of the last 24 hours (default: half of\n"
    "                            --max-memory-bytes; 0 = no bound); past it the oldest ids go first\n"
    "  --idle-timeout-ms N       close keep-alive connections idle this long (default 60000)\n"
    "  --request-timeout-ms N    a request must arrive whole within this (default 30000)\n"
    "  --flush-bytes N           write events held in memory to parts past this many bytes\n"
    "                            (default 64 MiB)\n"
    "  --flush-interval-ms N     and at the latest this long after the oldest arrived (default 10000)\n"
    "  --retention-days N        drop whole days of events older than N days (default 0: keep all)\n"
    "  --wal-segment-bytes N     start a new write-ahead log segment past this size (default 64 MiB);\n"
    "                            a finished segment is deleted once its events are in parts\n"
    "  --ua-regexes FILE         uap-core regexes.yaml for browser, OS and device type (default\n"
    "                            /usr/share/uap-core/regexes.yaml, Debian package uap-core)\n"
    "  --geoip FILE              MaxMind DB (.mmdb: GeoLite2/GeoIP2 Country or City, ...) for country,\n"
    "                            region and city (default: the free country database the set-up\n"
    "                            installs from npm)\n"
    "  --ip drop|truncate|keep   what is stored of an event's IP address once geo has used it\n"
    "                            (default drop; truncate zeroes the last IPv4 byte, the last 80 IPv6 bits)\n"
    "  --alert-check-ms N        how often alert rules are checked (default 60000; 0 never)\n"
    "  --demo on|off             serve a demo shop at /demo that sends its visits to the default\n"
    "                            project through the tracker (default off; make run turns it on)\n"
    "\n"
    "events: print stored events as NDJSON, newest first (default limit 100).\n"
    "quarantine: print quarantined (invalid) input as NDJSON, newest first.\n"
    "export: print raw events: a person's (user id, anonymous id or person id), oldest first, or\n"
    "  everything with a time in [--from, --to); NDJSON or CSV with a header line.\n"
    "erase: remove every event of a person (user id or anonymous id) from the WAL and the parts\n"
    "  (GDPR); prints how many. With the server running, use DELETE /api/persons/ID instead.\n"
    "check: verify every checksum of the manifest, the parts, the WAL and the identity and\n"
    "  sessions files (exit 1 on damage); --repair moves damaged parts, identity or sessions\n"
    "  files to DATA/damaged/, cuts a torn WAL tail and rebuilds a damaged manifest, so that\n"
    "  the server starts.\n"
    "  TIME is ISO 8601 (2026-11-29T10:00:00Z) or milliseconds since the epoch.\n"
    "import-log: web-server access logs into page events (same enrichment as live events): into a\n"
    "  data directory with the server stopped (--data), or to a running server (--url, --key).\n"
    "  Lines that do not parse are quarantined with their line number. tail-log follows a\n"
    "  growing log (through rotation) into a running server (--url, default\n"
    "  http://127.0.0.1:8080), from its end unless --from-start.\n"
    "generate: realistic history (shop and social-app visits over --days, 30, ending now; about\n"
    "  --events, 200000) sent to a running server (--url, default http://127.0.0.1:8080) with\n"
    "  --key, or the write key of --project (default) in --data (default ./footfall-data),\n"
    "  500 events a request over --connections (1) connections at once.\n"
    "project: projects and their keys (DATA/projects.db; safe while the server runs). The first\n"
    "  start makes project \"default\" and prints its keys. create prints a new project's write\n"
    "  key (public, ingest only) and read key (secret, shown once); --write-key keeps keys SDKs\n"
    "  already send. rotate-key retires the old keys of a kind at once or after --grace.\n"
    "  Settings: name, timezone (tz zone), cors-origins (space-separated; empty = any),\n"
    "  accept-keyless on|off, dnt on|off, scrub-pii on|off, pii-keep FIELDS, key-rate N,\n"
    "  ip-rate N (events per second; 0 = no limit), cookieless on|off,\n"
    "  session-timeout MINUTES (inactivity that ends a session; 30).\n"
    "\n"
    "Endpoints and formats: see docs/api.md.\n";


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
    if (ff_cli_size("--listen port", colon + 1, &port) || port > 65535) {
        fprintf(stderr, "footfall: --listen port must be 0-65535\n");
        return -1;
    }
    o->port = (int)port;
    return 0;
}


/* Reads a whole-number option into *n, within [lo, hi]; says what is wrong when it is not. */
static int size_opt(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *n)
{
    if (ff_cli_size(opt, v, n)) return -1;
    if (*n >= lo && *n <= hi) return 0;
    if (hi == UINT64_MAX) fprintf(stderr, "footfall: %s must be at least %llu, not %s\n", opt, (unsigned long long)lo, v);
    else fprintf(stderr, "footfall: %s must be between %llu and %llu, not %s\n", opt, (unsigned long long)lo,
                 (unsigned long long)hi, v);
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
    int dedup_max_given = 0;
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
            if (size_opt(a, v, 0, 256, &n)) return 2;
            o.threads = (int)n;
        } else if (!strcmp(a, "--max-body-bytes")) {
            if (size_opt(a, v, 1024, UINT64_MAX, &n)) return 2;
            o.limits.max_body_bytes = n;
        } else if (!strcmp(a, "--max-import-bytes")) {
            if (size_opt(a, v, 1024, UINT64_MAX, &n)) return 2;
            o.limits.max_import_bytes = n;
        } else if (!strcmp(a, "--max-header-bytes")) {
            if (size_opt(a, v, 256, UINT64_MAX, &n)) return 2;
            o.limits.max_header_bytes = n;
        } else if (!strcmp(a, "--max-connections")) {
            if (size_opt(a, v, 1, UINT64_MAX, &n)) return 2;
            o.limits.max_connections = n;
        } else if (!strcmp(a, "--max-memory-bytes")) {
            if (ff_cli_size(a, v, &n)) return 2;
            o.limits.max_memory_bytes = n;
        } else if (!strcmp(a, "--idle-timeout-ms")) {
            if (size_opt(a, v, 1, UINT64_MAX, &n)) return 2;
            o.limits.idle_timeout_ms = n;
        } else if (!strcmp(a, "--request-timeout-ms")) {
            if (size_opt(a, v, 1, UINT64_MAX, &n)) return 2;
            o.limits.request_timeout_ms = n;
        } else if (!strcmp(a, "--flush-bytes")) {
            if (size_opt(a, v, 1, UINT64_MAX, &n)) return 2;
            o.flush_bytes = (size_t)n;
        } else if (!strcmp(a, "--retention-days")) {
            if (size_opt(a, v, 0, 1000000, &n)) return 2;
            o.retention_days = (int)n;
        } else if (!strcmp(a, "--dedup-max-bytes")) {
            if (ff_cli_size(a, v, &n)) return 2;
            o.dedup_max_bytes = n;
            dedup_max_given = 1;
        } else if (!strcmp(a, "--wal-segment-bytes")) {
            if (size_opt(a, v, 4096, (uint64_t)1 << 30, &n)) return 2;
            o.wal_segment_bytes = (size_t)n;
        } else if (!strcmp(a, "--ua-regexes")) {
            o.ua_regexes = v;
        } else if (!strcmp(a, "--geoip")) {
            o.geoip = v;
        } else if (!strcmp(a, "--ip")) {
            if ((o.ip_mode = ff_ip_mode_parse(v)) < 0) {
                fprintf(stderr, "footfall serve: --ip must be drop, truncate or keep (got '%s')\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--alert-check-ms")) {
            if (size_opt(a, v, 0, 86400000, &n)) return 2;
            o.alert_check_ms = n ? (int)n : -1;
        } else if (!strcmp(a, "--demo")) {
            if (strcmp(v, "on") && strcmp(v, "off")) {
                fprintf(stderr, "footfall serve: --demo must be on or off (got '%s')\n", v);
                return 2;
            }
            o.demo = !strcmp(v, "on");
        } else if (!strcmp(a, "--flush-interval-ms")) {
            if (size_opt(a, v, 1, 86400000, &n)) return 2;
            o.flush_interval_us = (int64_t)n * 1000;
        } else {
            fprintf(stderr, "footfall serve: unknown option %s (see footfall --help)\n", a);
            return 2;
        }
    }
    /* by default the set takes half the memory requests may use, so the two together stay
     * within it: a set that grew with the ingest rate for 24 hours made every request 503 */
    if (!dedup_max_given) o.dedup_max_bytes = o.limits.max_memory_bytes / 2;
    return ff_server_run(&o) ? 1 : 0;
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
    /* The process's memory policy, for every command: the server and import-log flush and
     * merge parts, queries and exports take large arrays. */
    ff_alloc_prefer_huge_pages(argv);
    ff_alloc_keep_freed_memory();
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "events")) return ff_cmd_read(argc - 2, argv + 2, FF_READ_EVENTS);
    if (!strcmp(cmd, "quarantine")) return ff_cmd_read(argc - 2, argv + 2, FF_READ_QUARANTINE);
    if (!strcmp(cmd, "sessions")) return ff_cmd_read(argc - 2, argv + 2, FF_READ_SESSIONS);
    if (!strcmp(cmd, "query")) return ff_cmd_query(argc - 2, argv + 2);
    if (!strcmp(cmd, "analysis")) return ff_cmd_analysis(argc - 2, argv + 2);
    if (!strcmp(cmd, "segment")) return ff_cmd_segment(argc - 2, argv + 2);
    if (!strcmp(cmd, "alert")) return ff_cmd_alert(argc - 2, argv + 2);
    if (!strcmp(cmd, "export")) return ff_cmd_export(argc - 2, argv + 2);
    if (!strcmp(cmd, "erase")) return ff_cmd_erase(argc - 2, argv + 2);
    if (!strcmp(cmd, "check")) return ff_cmd_check(argc - 2, argv + 2);
    if (!strcmp(cmd, "project")) return ff_cmd_project(argc - 2, argv + 2);
    if (!strcmp(cmd, "import-log")) return ff_cmd_import_log(argc - 2, argv + 2);
    if (!strcmp(cmd, "tail-log")) return ff_cmd_tail_log(argc - 2, argv + 2);
    if (!strcmp(cmd, "generate")) return ff_cmd_generate(argc - 2, argv + 2);
    fprintf(stderr, "footfall: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
