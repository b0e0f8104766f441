/* check.c - footfall check --data DIR [--repair]: verify every checksum of the manifest, the
 * parts, the WAL and the identity and sessions state files, and with --repair make the
 * directory start again.
 *
 * Repair sets damaged parts aside in DATA/damaged/ (their undamaged events are lost to the
 * store but the files stay for forensics) and removes them from the manifest; cuts a torn
 * WAL tail (as recovery would); and rebuilds a damaged manifest from the parts on disk. A
 * rebuilt manifest drops a part whose events all appear in another part of the same day (a
 * merge's input left beside its output) and sets wal_seq past the newest event in any part,
 * so the WAL replays only what no part holds. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/errors.h"
#include "core/fileio.h"
#include "store/datadir.h"
#include "store/dedup_file.h"
#include "store/identity.h"
#include "store/manifest.h"
#include "store/part.h"
#include "store/schema.h"
#include "store/sessions.h"
#include "store/wal.h"

struct report {
    long problems;
};

static void say(void *arg, const char *what)
{
    struct report *r = arg;
    r->problems++;
    printf("DAMAGED %s\n", what);
}

static void note(void *arg, const char *what)
{
    (void)arg;
    printf("note    %s\n", what);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A part's seq values, sorted (for the rebuilt manifest's duplicate test). */
static int part_seqs(const struct ff_part *p, uint64_t **out, size_t *n)
{
    int c = ff_part_column_index(p, "seq");
    *out = NULL;
    *n = 0;
    if (c < 0) return 0;
    uint64_t *v = ff_malloc((p->info.nrows + 1) * sizeof *v);
    if (!v) return -ENOMEM;
    struct ff_colvec col = {0};
    char err[512];
    for (uint32_t b = 0; b < p->info.nblocks; b++) {
        int rc = ff_part_read(p, b, (uint32_t)c, &col, err, sizeof err);
        if (rc) {
            ff_colvec_free(&col);
            ff_free(v);
            return rc;
        }
        for (uint32_t i = 0; i < col.n; i++) v[(*n)++] = (uint64_t)col.i64[i];
    }
    ff_colvec_free(&col);
    qsort(v, *n, sizeof *v, cmp_u64);
    *out = v;
    return 0;
}

static int subset(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    size_t j = 0;
    for (size_t i = 0; i < na; i++) {
        while (j < nb && b[j] < a[i]) j++;
        if (j == nb || b[j] != a[i]) return 0;
    }
    return 1;
}

/* Lists the parts on disk that open, as manifest entries, for a rebuilt manifest. */
static int rebuild(const char *dir, struct ff_manifest *m)
{
    char parts[PATH_MAX];
    snprintf(parts, sizeof parts, "%s/parts", dir);
    memset(m, 0, sizeof *m);
    m->next_id = 1;
    DIR *d = opendir(parts);
    if (!d) return -errno;
    struct cand {
        struct ff_manifest_part mp;
        uint64_t *seqs;
        size_t nseqs;
        int dropped;
    } *c = NULL;
    size_t n = 0;
    int rc = 0;
    for (struct dirent *e; !rc && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".part") || len >= sizeof c->mp.name) continue;
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s", parts, e->d_name);
        struct ff_part *p;
        char err[1024];
        if (ff_part_open(path, &p, err, sizeof err)) {
            printf("note    %s: does not open, left out of the rebuilt manifest\n", err);
            continue;
        }
        struct cand *nc = ff_realloc(c, (n + 1) * sizeof *c);
        if (!nc) {
            ff_part_close(p);
            rc = -ENOMEM;
            break;
        }
        c = nc;
        struct cand *k = &c[n++];
        memset(k, 0, sizeof *k);
        snprintf(k->mp.name, sizeof k->mp.name, "%s", e->d_name);
        k->mp.kind = e->d_name[0] == 'q' ? FF_PART_QUARANTINE : FF_PART_EVENTS;
        k->mp.day = p->info.day;
        k->mp.rows = p->info.nrows;
        k->mp.min_time = p->info.min_time;
        k->mp.max_time = p->info.max_time;
        struct stat st;
        if (stat(path, &st) == 0) k->mp.bytes = (uint64_t)st.st_size;
        if ((rc = part_seqs(p, &k->seqs, &k->nseqs)) == 0 && k->nseqs) {
            k->mp.min_seq = k->seqs[0];
            k->mp.max_seq = k->seqs[k->nseqs - 1];
        }
        /* the id after the largest one in a name: DDDDDDDD-NNNNNN.part or q-NNNNNN.part */
        const char *dash = strrchr(e->d_name, '-');
        uint64_t id = dash ? strtoull(dash + 1, NULL, 10) : 0;
        if (id + 1 > m->next_id) m->next_id = id + 1;
        ff_part_close(p);
    }
    closedir(d);
    /* A merge's inputs beside its output: every event of the input is in the output. */
    for (size_t i = 0; !rc && i < n; i++)
        for (size_t j = 0; j < n && !c[i].dropped; j++) {
            if (i == j || c[j].dropped || c[i].mp.kind != c[j].mp.kind || c[i].mp.day != c[j].mp.day) continue;
            if (c[i].nseqs > c[j].nseqs || (c[i].nseqs == c[j].nseqs && i < j)) continue;
            if (c[i].nseqs && subset(c[i].seqs, c[i].nseqs, c[j].seqs, c[j].nseqs)) {
                c[i].dropped = 1;
                printf("note    %s: all its events are in %s (a merge's input): left out\n", c[i].mp.name, c[j].mp.name);
            }
        }
    for (size_t i = 0; !rc && i < n; i++) {
        if (c[i].dropped) continue;
        if (c[i].mp.max_seq + 1 > m->wal_seq) m->wal_seq = c[i].mp.max_seq + 1;
        rc = ff_manifest_add(m, &c[i].mp);
    }
    for (size_t i = 0; i < n; i++) ff_free(c[i].seqs);
    ff_free(c);
    return rc;
}

/* Moves DIR/SUB/NAME to DIR/damaged/NAME. */
static int set_aside(const char *dir, const char *sub, const char *name)
{
    char from[PATH_MAX + 300], to[PATH_MAX + 300], damaged[PATH_MAX];
    snprintf(damaged, sizeof damaged, "%.3000s/damaged", dir);
    if (mkdir(damaged, 0755) && errno != EEXIST) return -errno;
    snprintf(from, sizeof from, "%.3000s/%s/%.200s", dir, sub, name);
    snprintf(to, sizeof to, "%.3000s/%.200s", damaged, name);
    return ff_io_rename(from, to);
}

/* Sets aside the damaged keys files whose segment is gone: nothing can rebuild them, and
 * left in place they would be reported at every start. (A damaged one whose segment is
 * still there is rewritten from it when the log opens.) Returns how many were moved. */
static size_t set_aside_keys(const char *dir)
{
    char waldir[PATH_MAX];
    snprintf(waldir, sizeof waldir, "%.3000s/wal", dir);
    DIR *d = opendir(waldir);
    size_t moved = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l != 26 || strcmp(e->d_name + 20, ".dedup")) continue;
        char path[PATH_MAX + 300], seg[PATH_MAX + 300], err[1024];
        snprintf(path, sizeof path, "%s/%s", waldir, e->d_name);
        snprintf(seg, sizeof seg, "%s/%.20s.wal", waldir, e->d_name);
        uint64_t count;
        if (!access(seg, F_OK) || !ff_dedup_file_check(path, &count, err, sizeof err)) continue;
        int rc = set_aside(dir, "wal", e->d_name);
        if (rc) fprintf(stderr, "footfall check: cannot move %s aside: %s\n", path, ff_strerror(rc));
        else moved++;
    }
    if (d) closedir(d);
    return moved;
}

int ff_cmd_check(int argc, char **argv)
{
    const char *dir = NULL;
    int repair = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--repair")) repair = 1;
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) dir = argv[++i];
        else {
            fprintf(stderr, "footfall check: unknown option or missing value: %s\n", argv[i]);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "footfall check: --data DIR is required\n");
        return 2;
    }
    struct stat sb;
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "footfall check: %s is not a data directory\n", dir);
        return 2;
    }
    int lock_fd = -1;
    if (repair && ff_datadir_lock(dir, &lock_fd)) return 1;
    struct report r = {0};
    char err[1024];
    struct ff_manifest m;
    int rc = ff_manifest_load(dir, &m, err, sizeof err);
    int rebuilt = 0;
    if (rc) {
        say(&r, err);
        if (repair && (rc = rebuild(dir, &m)) == 0) {
            rebuilt = 1;
            printf("repair  the manifest is rebuilt from %zu parts on disk\n", m.nparts);
        } else if (repair) {
            fprintf(stderr, "footfall check: cannot rebuild the manifest: %s\n", ff_strerror(rc));
        }
    }
    /* Parts: the footer when opening, then every chunk. */
    char (*bad)[64] = ff_calloc(m.nparts + 1, sizeof *bad);
    size_t nbad = 0;
    uint64_t rows = 0, bad_rows = 0;
    for (size_t i = 0; bad && i < m.nparts; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/parts/%s", dir, m.parts[i].name);
        struct ff_part *p;
        long before = r.problems;
        if (ff_part_open(path, &p, err, sizeof err)) {
            say(&r, err);
        } else {
            ff_part_verify(p, say, &r);
            rows += p->info.nrows;
            ff_part_close(p);
        }
        if (r.problems != before) {
            snprintf(bad[nbad++], sizeof *bad, "%s", m.parts[i].name);
            bad_rows += m.parts[i].rows;
        }
    }
    /* Files the manifest does not list. */
    char parts_dir[PATH_MAX];
    snprintf(parts_dir, sizeof parts_dir, "%s/parts", dir);
    DIR *d = opendir(parts_dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.' || ff_manifest_find(&m, e->d_name) >= 0) continue;
        char msg[PATH_MAX + 512];
        snprintf(msg, sizeof msg, "%.3000s/%.255s: not in the manifest (left by an interrupted flush or merge; the next start removes it)",
                 parts_dir, e->d_name);
        note(NULL, msg);
    }
    if (d) closedir(d);
    /* The WAL. */
    uint64_t torn = 0;
    long wal_bad = ff_wal_check(dir, say, &r, &torn);
    if (wal_bad < 0) {
        snprintf(err, sizeof err, "%s/wal: %s", dir, ff_strerror((int)wal_bad));
        say(&r, err);
    }
    if (torn) r.problems--; /* reported by ff_wal_check, but recovery cuts it: not damage */
    /* The identity map and the sessions, files and journals, read as a start reads them: a
     * damaged one stops the start. */
    int identity_bad = 0, sessions_bad = 0;
    struct ff_identity *idm = NULL;
    if (ff_identity_open(dir, &idm, err, sizeof err)) say(&r, err), identity_bad = 1;
    else ff_identity_free(idm);
    struct ff_sessions *ss = NULL;
    if (ff_sessions_open(dir, &ss, err, sizeof err)) say(&r, err), sessions_bad = 1;
    else ff_sessions_free(ss);
    if (repair) {
        if (nbad || rebuilt) {
            for (size_t i = 0; i < nbad; i++) {
                int e = set_aside(dir, "parts", bad[i]);
                if (e) fprintf(stderr, "footfall check: cannot move %s aside: %s\n", bad[i], ff_strerror(e));
            }
            /* The manifest less the parts set aside. */
            size_t keep = 0;
            for (size_t i = 0; i < m.nparts; i++) {
                int gone = 0;
                for (size_t k = 0; k < nbad && !gone; k++) gone = !strcmp(m.parts[i].name, bad[k]);
                if (!gone) m.parts[keep++] = m.parts[i];
            }
            m.nparts = keep;
            if ((rc = ff_manifest_publish(dir, &m)) == FF_IO_UNSYNCED) rc = 0;
            if (rc)
                fprintf(stderr, "footfall check: cannot write the manifest: %s\n", ff_strerror(rc));
            else {
                if (nbad) printf("repair  %zu damaged parts (%llu events) moved to %s/damaged/\n", nbad,
                                 (unsigned long long)bad_rows, dir);
            }
        }
        static const char *const state_what[2] = {
            "the identity map (its links are made again from the events the WAL holds)",
            "the sessions (open sessions start afresh; stored events keep their session ids)"};
        const char *const state_files[2] = {"IDENTITY", "SESSIONS"};
        const int state_bad[2] = {identity_bad, sessions_bad};
        for (int k = 0; k < 2; k++) {
            if (!state_bad[k]) continue;
            char journal[64];
            snprintf(journal, sizeof journal, "%s.journal", state_files[k]);
            int e = set_aside(dir, ".", state_files[k]);
            int je = set_aside(dir, ".", journal);
            if (e || (je && je != -ENOENT)) {
                fprintf(stderr, "footfall check: cannot move %s aside: %s\n", state_files[k], ff_strerror(e ? e : je));
                rc = e ? e : je;
            } else {
                printf("repair  %s moved to %s/damaged/\n", state_what[k], dir);
            }
        }
        size_t keys_moved = wal_bad > 0 ? set_aside_keys(dir) : 0;
        if (keys_moved)
            printf("repair  %zu damaged dedup keys files moved to %s/damaged/ (retries of their events may be "
                   "stored again)\n", keys_moved, dir);
        if (torn || wal_bad > 0) {
            /* Recovery cuts a torn tail; damage inside the log is skipped by every reader and
             * left for forensics. */
            struct ff_wal *w;
            struct ff_wal_recovery rec;
            struct ff_wal_opts wo = {.dir = dir, .dedup_window_us = 1, .min_next_seq = m.wal_seq};
            if ((rc = ff_wal_open(&w, &wo, &rec)) == 0) {
                ff_wal_close(w);
                if (torn) printf("repair  torn WAL tail of %llu bytes cut\n", (unsigned long long)rec.truncated_bytes);
            } else {
                fprintf(stderr, "footfall check: cannot open the WAL: %s\n", ff_strerror(rc));
            }
        }
    }
    printf("%s: %zu parts (%llu events), %ld problem%s found%s\n", dir, m.nparts, (unsigned long long)rows, r.problems,
           r.problems == 1 ? "" : "s", repair ? (rc ? ", repair failed" : ", repaired") : "");
    ff_free(bad);
    ff_manifest_free(&m);
    if (lock_fd >= 0) close(lock_fd);
    if (repair) return rc ? 1 : 0;
    return r.problems || torn ? 1 : 0;
}
