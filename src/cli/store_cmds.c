/* store_cmds.c - commands that read a data directory offline: events, quarantine, export.
 * They open the store read-only (parts, and the WAL's records not yet in parts). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/errors.h"
#include "core/timeutil.h"
#include "event/event.h"
#include "store/datadir.h"
#include "store/export.h"
#include "project/catalog.h"
#include "project/segments.h"
#include "project/session_rules.h"
#include "analysis/analysis.h"
#include "query/query.h"
#include "store/store.h"
#include "store/dedup.h"
#include "store/wal.h"

static struct ff_store *open_read_only(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "footfall: %s is not a data directory: %s\n", dir, errno ? strerror(errno) : "not a directory");
        return NULL;
    }
    struct ff_store *st;
    char err[1024];
    struct ff_store_opts so = {.dir = dir, .read_only = 1};
    ff_session_policy_attach(&so, dir, 0);
    if (ff_store_open(&st, &so, err, sizeof err)) {
        fprintf(stderr, "footfall: cannot open the store in %s: %s\n", dir, err);
        return NULL;
    }
    return st;
}

int ff_cmd_read(int argc, char **argv, int what)
{
    const char *dir = NULL, *event = NULL, *project = NULL, *person = NULL;
    int quarantine = what == FF_READ_QUARANTINE, sessions = what == FF_READ_SESSIONS, bots = 0;
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
        else if (!strcmp(a, "--project")) project = v;
        else if (!strcmp(a, "--event") && what == FF_READ_EVENTS) event = v;
        else if (!strcmp(a, "--person") && sessions) person = v;
        else if (!strcmp(a, "--bots") && sessions) {
            if (strcmp(v, "include") && strcmp(v, "exclude")) {
                fprintf(stderr, "footfall: --bots is include or exclude, not '%s'\n", v);
                return 2;
            }
            bots = !strcmp(v, "include");
        }
        else if (!strcmp(a, "--limit")) {
            if (ff_cli_size(a, v, &n)) return 2;
            f.limit = (size_t)n;
        } else if (!strcmp(a, "--from") && !quarantine) {
            if (ff_cli_time(a, v, &f.from_us)) return 2;
        } else if (!strcmp(a, "--to") && !quarantine) {
            if (ff_cli_time(a, v, &f.to_us)) return 2;
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
    f.project = project;
    struct ff_buf out;
    ff_buf_init(&out, SIZE_MAX / 4);
    size_t count = 0;
    struct ff_store *st = open_read_only(dir);
    if (!st) {
        ff_buf_free(&out);
        return 1;
    }
    int rc;
    if (sessions) { /* as GET /api/sessions: without --from or --to, the last day */
        struct ff_session_filter sf = {f.from_us, f.to_us, person, person ? strlen(person) : 0, project, bots, f.limit, 0};
        if (sf.from_us == FF_TIME_NONE && sf.to_us == FF_TIME_NONE) sf.from_us = ff_now_us() - 24LL * 3600 * 1000000;
        rc = ff_store_sessions_json(st, &sf, "\n", &out, &count);
    } else {
        rc = ff_store_read_json(st, &f, "\n", &out, &count);
    }
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

int ff_cmd_export(int argc, char **argv)
{
    const char *dir = NULL, *person = NULL, *project = NULL;
    int64_t from = FF_TIME_NONE, to = FF_TIME_NONE;
    enum ff_export_format format = FF_EXPORT_NDJSON;
    for (int i = 0; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "footfall export: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--data")) dir = v;
        else if (!strcmp(a, "--person")) person = v;
        else if (!strcmp(a, "--project")) project = v;
        else if (!strcmp(a, "--from")) {
            if (ff_cli_time(a, v, &from)) return 2;
        } else if (!strcmp(a, "--to")) {
            if (ff_cli_time(a, v, &to)) return 2;
        } else if (!strcmp(a, "--format")) {
            if (!strcmp(v, "ndjson")) format = FF_EXPORT_NDJSON;
            else if (!strcmp(v, "csv")) format = FF_EXPORT_CSV;
            else {
                fprintf(stderr, "footfall export: --format is ndjson or csv, not '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "footfall export: unknown option %s (see footfall --help)\n", a);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "footfall export: --data DIR is required\n");
        return 2;
    }
    if (person && (from != FF_TIME_NONE || to != FF_TIME_NONE)) {
        fprintf(stderr, "footfall export: --person exports all of a person's events; leave out --from and --to\n");
        return 2;
    }
    if (person && !*person) {
        fprintf(stderr, "footfall export: --person needs a non-empty id\n");
        return 2;
    }
    struct ff_store *st = open_read_only(dir);
    if (!st) return 1;
    size_t count = 0;
    int rc;
    if (person) {
        struct ff_buf out;
        ff_buf_init(&out, SIZE_MAX / 4);
        rc = ff_export_person(st, project, person, strlen(person), format, &out, &count);
        if (!rc && out.len && fwrite(out.data, 1, out.len, stdout) != out.len) rc = -EIO;
        ff_buf_free(&out);
    } else {
        rc = ff_export_range(st, project, from, to, format, stdout, &count);
    }
    ff_store_close(st);
    if (rc) {
        fprintf(stderr, "footfall export: %s\n", ff_strerror(rc));
        return 1;
    }
    fprintf(stderr, "footfall export: %zu events\n", count);
    return 0;
}

int ff_cmd_erase(int argc, char **argv)
{
    const char *dir = NULL, *person = NULL, *project = NULL;
    for (int i = 0; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "footfall erase: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--data")) dir = v;
        else if (!strcmp(a, "--person")) person = v;
        else if (!strcmp(a, "--project")) project = v;
        else {
            fprintf(stderr, "footfall erase: unknown option %s (see footfall --help)\n", a);
            return 2;
        }
    }
    if (!dir || !person || !*person) {
        fprintf(stderr, "footfall erase: --data DIR and --person ID are required\n");
        return 2;
    }
    /* Writes the data directory: a running server must do it instead (DELETE /api/persons/ID). */
    int lock_fd = -1;
    if (ff_datadir_lock(dir, &lock_fd)) return 1;
    struct ff_store *st;
    char err[1024];
    struct ff_store_opts so = {.dir = dir, .manual_flush = 1, .wal_keep_us = FF_DEDUP_WINDOW_US};
    ff_session_policy_attach(&so, dir, 0);
    int rc = ff_store_open(&st, &so, err, sizeof err);
    if (rc) {
        fprintf(stderr, "footfall erase: cannot open the store in %s: %s\n", dir, err);
        close(lock_fd);
        return 1;
    }
    struct ff_wal *w = NULL;
    struct ff_wal_recovery rec;
    struct ff_wal_opts wo = {.dir = dir, .dedup_window_us = FF_DEDUP_WINDOW_US,
                             .dedup_max_bytes = FF_DEDUP_CLI_MAX_BYTES, .on_durable = ff_store_on_durable,
                             .on_durable_arg = st, .on_forget = ff_store_on_forget, .min_next_seq = ff_store_next_seq(st)};
    if ((rc = ff_wal_open(&w, &wo, &rec))) {
        fprintf(stderr, "footfall erase: cannot open the WAL in %s: %s\n", dir, ff_strerror(rc));
    } else {
        ff_store_attach_wal(st, w);
        uint64_t removed = 0;
        rc = ff_store_erase(st, project, person, strlen(person), &removed);
        if (rc) fprintf(stderr, "footfall erase: %s\n", ff_strerror(rc));
        else printf("{\"erased\":%llu}\n", (unsigned long long)removed);
        ff_wal_close(w);
    }
    ff_store_close(st);
    close(lock_fd);
    return rc ? 1 : 0;
}

/* The time zone of `project` ("default" when NULL) in DIR's catalog; UTC without one. */
static void project_timezone(const char *dir, const char *project, char *out, size_t cap)
{
    snprintf(out, cap, "UTC");
    struct ff_catalog *c;
    char err[512];
    if (ff_catalog_open(dir, 0, &c, err, sizeof err)) return;
    struct ff_projects p;
    if (!ff_catalog_load(c, &p, err, sizeof err)) {
        const struct ff_project *pr = ff_projects_find(&p, project ? project : FF_DEFAULT_PROJECT);
        if (pr) snprintf(out, cap, "%s", pr->timezone);
        ff_projects_free(&p);
    }
    ff_catalog_close(c);
}

/* `footfall query` and `footfall analysis WHAT`: a request (an argument, or stdin for -) over
 * DIR's store, answered as POST /api/query or /api/analysis/WHAT answers it. */
static int answer_cmd(const char *cmd, const char *what, int argc, char **argv)
{
    const char *dir = NULL, *project = NULL, *json = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((!strcmp(a, "--data") || !strcmp(a, "--project")) && v) {
            *(a[2] == 'd' ? &dir : &project) = v;
            i++;
        } else if (a[0] != '-' || !strcmp(a, "-")) {
            json = a;
        } else {
            fprintf(stderr, "footfall %s: unknown option or missing value: %s\n", cmd, a);
            return 2;
        }
    }
    if (!dir || !json) {
        fprintf(stderr, "footfall %s: usage: footfall %s --data DIR [--project ID] '<json>' (or - for stdin)\n", cmd, cmd);
        return 2;
    }
    struct ff_buf in, out;
    ff_buf_init(&in, (size_t)1 << 20);
    ff_buf_init(&out, SIZE_MAX / 4);
    int rc = 0;
    if (!strcmp(json, "-")) {
        char chunk[4096];
        size_t n;
        while (!rc && (n = fread(chunk, 1, sizeof chunk, stdin)) > 0) rc = ff_buf_append(&in, chunk, n);
    } else {
        rc = ff_buf_append_str(&in, json);
    }
    if (rc) {
        fprintf(stderr, "footfall %s: the request is larger than 1 MiB\n", cmd);
        ff_buf_free(&in);
        return 2;
    }
    char tz[80];
    project_timezone(dir, project, tz, sizeof tz);
    struct ff_store *st = open_read_only(dir);
    if (!st) {
        ff_buf_free(&in);
        return 1;
    }
    const char *field, *ctype = "application/json";
    struct ff_segment_source segments = {ff_segment_lookup_dir, (void *)dir};
    struct ff_segment_saver saver = {ff_segment_save_dir, ff_model_save_dir, ff_model_lookup_dir, (void *)dir};
    int status = what ? ff_analysis_answer(st, what, in.data, in.len, ff_now_us(), project, tz, &segments, &saver, &out,
                                           &ctype, &field)
                      : ff_query_answer(st, in.data, in.len, ff_now_us(), project, tz, &segments, &out, &field);
    ff_store_close(st);
    fwrite(out.data, 1, out.len, status == 200 ? stdout : stderr);
    if (!out.len || out.data[out.len - 1] != '\n') fputc('\n', status == 200 ? stdout : stderr);
    ff_buf_free(&in);
    ff_buf_free(&out);
    return status == 200 ? 0 : status == 400 ? 2 : 1;
}

int ff_cmd_query(int argc, char **argv) { return answer_cmd("query", NULL, argc, argv); }

int ff_cmd_analysis_store(const char *what, int argc, char **argv)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "analysis %s", what);
    return answer_cmd(cmd, what, argc, argv);
}
