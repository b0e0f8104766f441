/* project_cmds.c - `footfall project create|list|rotate-key|set`: the project catalog
 * (project/catalog.h) from the command line. Safe while the server runs: it notices the
 * change within a second. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/errors.h"
#include "core/timeutil.h"
#include "project/catalog.h"

struct opts {
    const char *dir, *name;
    const char *pos[3];  /* positional arguments */
    int npos, json, kind;
    const char *write_keys[64];
    size_t nwrite_keys;
    uint64_t grace_s;
};

static int parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->dir = "footfall-data";
    o->kind = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "--write")) o->kind = FF_KEY_WRITE;
        else if (!strcmp(a, "--read")) o->kind = FF_KEY_READ;
        else if (!strcmp(a, "--write-key")) {
            if (!v || o->nwrite_keys == 64) {
                fprintf(stderr, "footfall: --write-key needs a value (at most 64 of them)\n");
                return 2;
            }
            o->write_keys[o->nwrite_keys++] = argv[++i];
        } else if (!strcmp(a, "--data") || !strcmp(a, "--name") || !strcmp(a, "--grace")) {
            if (!v) {
                fprintf(stderr, "footfall: %s needs a value\n", a);
                return 2;
            }
            i++;
            if (a[2] == 'd') o->dir = v;
            else if (a[2] == 'n') o->name = v;
            else if (ff_cli_size(a, v, &o->grace_s)) return 2;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "footfall: unknown option %s (see footfall --help)\n", a);
            return 2;
        } else if (o->npos < 3) {
            o->pos[o->npos++] = a;
        } else {
            fprintf(stderr, "footfall: unexpected argument %s\n", a);
            return 2;
        }
    }
    return 0;
}

static struct ff_catalog *open_catalog(const char *dir, int create)
{
    if (create && mkdir(dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "footfall: cannot create %s: %s\n", dir, strerror(errno));
        return NULL;
    }
    struct ff_catalog *c;
    char err[1024];
    if (ff_catalog_open(dir, create, &c, err, sizeof err)) {
        fprintf(stderr, "footfall: %s\n", err);
        return NULL;
    }
    return c;
}

void ff_print_new_project(FILE *f, const char *id, const char *write_key, const char *read_key)
{
    fprintf(f,
            "project %s\n"
            "  write key: %s   (public: goes in your pages and SDKs; ingest only)\n"
            "  read key:  %s   (secret, shown only now: queries, export, erasure)\n",
            id, write_key, read_key);
    fflush(f);
}

static int create(struct opts *o)
{
    if (o->npos != 1) {
        fprintf(stderr, "footfall: project create needs one project id, e.g. `footfall project create shop`\n");
        return 2;
    }
    struct ff_catalog *c = open_catalog(o->dir, 1);
    if (!c) return 1;
    char w[FF_KEY_MAX + 1], r[FF_KEY_MAX + 1], err[1024];
    int rc = ff_catalog_create(c, o->pos[0], o->name ? o->name : o->pos[0], o->write_keys, o->nwrite_keys, w, r, err,
                               sizeof err);
    ff_catalog_close(c);
    if (rc) {
        fprintf(stderr, "footfall: %s\n", err);
        return rc == FF_EINVAL ? 2 : 1;
    }
    if (o->json) printf("{\"id\":\"%s\",\"write_key\":\"%s\",\"read_key\":\"%s\"}\n", o->pos[0], w, r);
    else ff_print_new_project(stdout, o->pos[0], w, r);
    return 0;
}

/* rotate-key and add-key: a new key beside (or instead of) the project's others. */
static int new_key(struct opts *o, int rotate)
{
    if (o->npos < 1 || o->npos > (rotate ? 1 : 2) || o->kind < 0) {
        fprintf(stderr, rotate ? "footfall: usage: footfall project rotate-key ID (--write | --read) [--grace SECONDS]\n"
                               : "footfall: usage: footfall project add-key ID (--write [KEY] | --read)\n");
        return 2;
    }
    struct ff_catalog *c = open_catalog(o->dir, 0);
    if (!c) return 1;
    char k[FF_KEY_MAX + 1], err[1024];
    int rc = rotate ? ff_catalog_rotate_key(c, o->pos[0], o->kind, (int64_t)o->grace_s, k, err, sizeof err)
                    : ff_catalog_add_key(c, o->pos[0], o->kind, o->npos == 2 ? o->pos[1] : NULL, k, err, sizeof err);
    ff_catalog_close(c);
    if (rc) {
        fprintf(stderr, "footfall: %s\n", err);
        return rc == FF_EINVAL ? 2 : 1;
    }
    const char *kind = o->kind == FF_KEY_WRITE ? "write" : "read";
    if (o->json) printf("{\"id\":\"%s\",\"%s_key\":\"%s\"}\n", o->pos[0], kind, k);
    else printf("project %s\n  %s %s key: %s\n", o->pos[0], rotate ? "new" : "added", kind, k);
    if (!o->json && rotate && o->grace_s)
        printf("  the old %s keys stop working in %llu s\n", kind, (unsigned long long)o->grace_s);
    else if (!o->json && rotate)
        printf("  the old %s keys no longer work\n", kind);
    return 0;
}

static int set(struct opts *o)
{
    if (o->npos != 3) {
        fprintf(stderr, "footfall: usage: footfall project set ID SETTING VALUE (settings: ");
        for (size_t i = 0; ff_catalog_setting(i); i++) fprintf(stderr, "%s%s", i ? ", " : "", ff_catalog_setting(i));
        fprintf(stderr, ")\n");
        return 2;
    }
    struct ff_catalog *c = open_catalog(o->dir, 0);
    if (!c) return 1;
    char err[1024];
    int rc = ff_catalog_set(c, o->pos[0], o->pos[1], o->pos[2], err, sizeof err);
    ff_catalog_close(c);
    if (rc) {
        fprintf(stderr, "footfall: %s\n", err);
        return rc == FF_EINVAL ? 2 : 1;
    }
    printf("project %s: %s = %s\n", o->pos[0], o->pos[1], o->pos[2]);
    return 0;
}

static int print_key(const struct ff_key_info *k, void *arg)
{
    (void)arg;
    char t[40];
    printf("  %-5s key       %s", k->kind == FF_KEY_READ ? "read" : "write", k->shown);
    if (k->expires_us) {
        ff_time_format_iso(k->expires_us, t);
        printf("  (until %s)", t);
    }
    printf("\n");
    return 0;
}

static int list(struct opts *o)
{
    struct ff_catalog *c = open_catalog(o->dir, 0);
    if (!c) return 1;
    char err[1024];
    int rc;
    if (o->json) {
        struct ff_buf out;
        ff_buf_init(&out, (size_t)1 << 30);
        rc = ff_catalog_list_json(c, &out, err, sizeof err);
        if (!rc) fwrite(out.data, 1, out.len, stdout);
        ff_buf_free(&out);
    } else {
        struct ff_projects p;
        rc = ff_catalog_load(c, &p, err, sizeof err);
        int loaded = !rc;
        for (size_t i = 0; !rc && i < p.n; i++) {
            const struct ff_project *pr = &p.v[i];
            printf("%s%s (%s)\n  timezone        %s\n  cors origins    %s\n  accept keyless  %s\n  honour DNT/GPC  %s\n"
                   "  scrub PII       %s%s%s\n  rate limits     %u events/s per key, %u per IP (0 = none)\n"
                   "  sessions        end after %d minutes without events, at midnight, on a new campaign\n",
                   i ? "\n" : "", pr->id, pr->name, pr->timezone, *pr->cors_origins ? pr->cors_origins : "(any)",
                   pr->accept_keyless ? "on" : "off", pr->honor_dnt ? "on" : "off", pr->scrub_pii ? "on" : "off",
                   *pr->pii_keep ? ", except " : "", pr->pii_keep, pr->key_rate, pr->ip_rate, pr->session_timeout_min);
            if (ff_catalog_keys(c, pr->id, print_key, NULL)) rc = -EIO, snprintf(err, sizeof err, "projects.db: cannot read keys");
        }
        if (loaded) ff_projects_free(&p);
    }
    ff_catalog_close(c);
    if (rc) {
        fprintf(stderr, "footfall: %s\n", rc == -ENOMEM ? "out of memory" : err);
        return 1;
    }
    return 0;
}

int ff_cmd_project(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help")) {
        fprintf(stderr, "footfall: usage: footfall project create|list|add-key|rotate-key|set ... (see footfall --help)\n");
        return 2;
    }
    struct opts o;
    int rc = parse(argc - 1, argv + 1, &o);
    if (rc) return rc;
    if (!strcmp(argv[0], "create")) return create(&o);
    if (!strcmp(argv[0], "list")) return list(&o);
    if (!strcmp(argv[0], "rotate-key")) return new_key(&o, 1);
    if (!strcmp(argv[0], "set")) return set(&o);
    if (!strcmp(argv[0], "add-key")) return new_key(&o, 0);
    fprintf(stderr, "footfall: unknown project command '%s' (create, list, add-key, rotate-key, set)\n", argv[0]);
    return 2;
}
