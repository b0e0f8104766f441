/* erase.c - GDPR erasure: a person's events leave the WAL and every part.
 *
 * Order matters, so that an erased event cannot come back:
 *   1. the WAL: the writer starts a new segment, and every older segment is rewritten with
 *      the person's records replaced by empty ones marked dropped (sequence numbers stay);
 *   2. a flush: what was in memory (including anything that arrived meanwhile) goes to parts,
 *      and the manifest's wal_seq moves past it, so a restart replays none of it;
 *   3. the parts: each part that holds the person is rewritten without those rows, and all
 *      of them are swapped in one manifest. A merge that read a replaced part finds it gone
 *      when it tries to publish, and gives up (merge.c), so it cannot bring the rows back.
 * Events that arrive after step 2's flush are new data and are kept; those that arrived
 * before it went into parts with the rest and are erased with them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "store/store_int.h"
#include "store/wal.h"

struct person {
    struct ff_str id;
    const char *project; /* NULL: in every project */
    struct ff_store *s;  /* its identity map: the person's other ids are theirs too */
    struct ff_buf tmp, tmp2;
};

static int is_person(const struct person *pp, struct ff_str v) { return ff_str_eq(v, pp->id); }

static int is_theirs(void *arg, const struct ff_event *ev)
{
    struct person *pp = arg;
    return ff_in_project(ev->project, pp->project) && ff_store_is_persons(pp->s, ev, pp->id, &pp->tmp, &pp->tmp2);
}

/* Counts the ids that lead to the person (ff_identity_ids_of visits the person too). */
static int count_id(void *arg, struct ff_str id)
{
    (void)id;
    ++*(size_t *)arg;
    return 0;
}

struct forget {
    struct ff_sessions *ss;
    const char *project;
};

static int forget_sessions(void *arg, struct ff_str id)
{
    struct forget *f = arg;
    ff_sessions_forget(f->ss, f->project, id);
    return 0;
}

static int wal_match(void *arg, const struct ff_record *rec)
{
    return rec->kind == FF_REC_EVENT && is_theirs(arg, &rec->u.ev);
}

static int keep_event(void *arg, const struct ff_event *ev) { return !is_theirs(arg, ev); }

/* Whether part p may hold the person: a dictionary column says for sure; others are read. */
static int part_has(const struct ff_part *p, const struct person *pp, int merged)
{
    if (merged) return 1; /* the person has other ids: every part is read, the events decide */
    static const char *const cols[] = {"user_id", "anonymous_id", "person_id"};
    for (int k = 0; k < 3; k++) {
        int c = ff_part_column_index(p, cols[k]);
        if (c < 0) continue;
        if (p->cols[c].enc == FF_ENC_DICT) {
            const struct ff_str *dict;
            uint32_t count;
            char err[512];
            if (ff_part_dict(p, (uint32_t)c, &dict, &count, err, sizeof err)) return 1; /* the rewrite reports it */
            for (uint32_t i = 0; i < count; i++)
                if (is_person(pp, dict[i])) return 1;
            continue;
        }
        struct ff_colvec v = {0};
        char err[512];
        for (uint32_t b = 0; b < p->info.nblocks; b++) {
            if (ff_part_read(p, b, (uint32_t)c, &v, err, sizeof err)) {
                ff_colvec_free(&v);
                return 1; /* unreadable: rewrite it, the rewrite reports */
            }
            for (uint32_t i = 0; i < v.n; i++)
                if (is_person(pp, v.str[i])) {
                    ff_colvec_free(&v);
                    return 1;
                }
        }
        ff_colvec_free(&v);
    }
    return 0;
}

int ff_store_erase(struct ff_store *s, const char *project, const char *id, size_t len, uint64_t *removed)
{
    *removed = 0;
    if (!len || len > UINT32_MAX) return FF_EINVAL;
    struct person pp = {{id, (uint32_t)len}, project, s, {0}, {0}};
    ff_buf_init(&pp.tmp, (size_t)1 << 20);
    ff_buf_init(&pp.tmp2, (size_t)1 << 20);
    /* Merged with other ids (identity.h): their events are the person's too, and a part may
     * hold them under any of those ids. */
    size_t nids = 0;
    int rc = ff_identity_ids_of(s->identity, project, pp.id, count_id, &nids);
    int merged = nids > 1 || (ff_identity_count(s->identity) && !project);
    /* the person the id leads to (an anonymousId: its user), whose links go too */
    struct ff_buf canonical;
    ff_buf_init(&canonical, (size_t)1 << 20);
    if (!rc && project)
        rc = ff_identity_person(s->identity, (struct ff_str){project, (uint32_t)strlen(project)}, pp.id,
                                (struct ff_str){"", 0}, &canonical);
    if (!rc && canonical.len && !ff_str_eq((struct ff_str){canonical.data, (uint32_t)canonical.len}, pp.id)) merged = 1;
    if (rc) {
        ff_buf_free(&pp.tmp);
        ff_buf_free(&pp.tmp2);
        ff_buf_free(&canonical);
        return rc;
    }
    uint64_t wal_erased = 0;
    if ((s->wal && (rc = ff_wal_erase(s->wal, wal_match, &pp, &wal_erased))) || (rc = ff_store_flush(s))) {
        ff_buf_free(&pp.tmp);
        ff_buf_free(&pp.tmp2);
        ff_buf_free(&canonical);
        return rc;
    }
    pthread_mutex_lock(&s->flush_mu);
    /* The event parts, referenced so they stay while they are read. */
    pthread_mutex_lock(&s->mu);
    struct partset *ps = s->ps;
    atomic_fetch_add(&ps->refs, 1);
    pthread_mutex_unlock(&s->mu);
    struct ff_manifest_part *added = ff_calloc(ps->n + 1, sizeof *added);
    const char **gone = ff_calloc(ps->n + 1, sizeof *gone);
    struct ff_built_part *all_built = NULL;
    size_t nadded = 0, ngone = 0, nbuilt_all = 0;
    if (!added || !gone) rc = -ENOMEM;
    for (size_t i = 0; !rc && i < ps->n; i++) {
        struct live_part *lp = ps->parts[i];
        if (lp->meta.kind != FF_PART_EVENTS || !part_has(lp->p, &pp, merged)) continue;
        struct ff_collected col;
        char err[1024];
        if ((rc = ff_parts_collect(&lp->p, 1, keep_event, &pp, &col, err, sizeof err))) {
            if (rc == FF_ECORRUPT) ff_error("store: erasure cannot read %s: %s", lp->meta.name, err);
            break;
        }
        if (col.dropped) {
            struct ff_built_part *built = NULL;
            size_t nbuilt = 0;
            pthread_mutex_lock(&s->mu);
            uint64_t next = s->man.next_id;
            s->man.next_id += 1;
            pthread_mutex_unlock(&s->mu);
            rc = ff_parts_build(s->partsdir, &next, col.evs, col.n, s->o.block_rows, &built, &nbuilt);
            if (!rc && nbuilt > 1) rc = FF_EINVAL; /* one day in, at most one part out */
            if (!rc && nbuilt) {
                struct ff_built_part *nb = ff_realloc(all_built, (nbuilt_all + 1) * sizeof *nb);
                if (!nb) rc = -ENOMEM;
                else {
                    all_built = nb;
                    all_built[nbuilt_all++] = built[0];
                    ff_built_to_manifest(&built[0], FF_PART_EVENTS, &added[nadded++]);
                }
            }
            ff_free(built);
            if (!rc) {
                gone[ngone++] = lp->meta.name;
                *removed += col.dropped;
            }
        }
        ff_collected_free(&col);
    }
    struct ff_manifest m;
    memset(&m, 0, sizeof m);
    if (!rc && ngone) {
        if (!(rc = ff_manifest_copy(&m, &s->man)) &&
            (rc = ff_store_publish(s, &m, added, nadded, gone, ngone, 0)) == FF_IO_UNSYNCED)
            rc = 0;
        ff_manifest_free(&m);
    }
    if (rc) {
        ff_parts_remove(s->partsdir, all_built, nbuilt_all);
        *removed = 0;
    }
    pthread_mutex_unlock(&s->flush_mu);
    ff_partset_release(ps);
    ff_free(added);
    ff_free(gone);
    ff_free(all_built);
    /* and who they were: their devices' open sessions and the links to and from them go */
    struct forget fa = {s->sessions, project};
    struct ff_str person = canonical.len ? (struct ff_str){canonical.data, (uint32_t)canonical.len} : pp.id;
    if (!rc) rc = ff_identity_ids_of(s->identity, project, person, forget_sessions, &fa); /* pp.id among them */
    if (!rc) rc = ff_sessions_save(s->sessions, s->dir, ff_now_us());
    if (!rc) rc = ff_identity_forget(s->identity, project, pp.id);
    if (!rc && canonical.len)
        rc = ff_identity_forget(s->identity, project, (struct ff_str){canonical.data, (uint32_t)canonical.len});
    if (!rc) rc = ff_identity_save(s->identity, s->dir);
    ff_buf_free(&pp.tmp);
    ff_buf_free(&pp.tmp2);
    ff_buf_free(&canonical);
    if (!rc)
        ff_info("store: erased %llu events of a person from %zu parts (and %llu records from the WAL)",
                (unsigned long long)*removed, ngone, (unsigned long long)wal_erased);
    return rc;
}
