/* person_runs.c - a part block's rows as runs of one person each, kept (person_runs.h). */
#include "store/person_runs.h"

#include <errno.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/metrics.h"
#include "core/textcodec.h"
#include "store/identity.h"
#include "store/schema.h"
#include "store/store_int.h"

const int ff_person_id_cols[FF_PERSON_IDS] = {FF_C_PROJECT, FF_C_USER_ID, FF_C_ANONYMOUS_ID};

/* The ids of persons who gained a link that a block's kept runs are checked against at
 * most; past it, the block is resolved again. */
#define CHECK_MAX 64

/* The most memory kept runs take, all parts together (16 bytes a run: bench/store's 20 M
 * events make 1.4 M runs, 22 MB): past it, a block's runs are resolved for each query and
 * not kept, so the cache cannot take the memory that ingest needs (--max-memory-bytes). */
#define KEEP_MAX_BYTES ((uint64_t)256 << 20)

static void note_kept(int64_t bytes)
{
    if (bytes >= 0) ff_counter_add(ff_metrics.person_runs_bytes, (uint64_t)bytes);
    else atomic_fetch_sub_explicit(&ff_metrics.person_runs_bytes, (uint64_t)-bytes, memory_order_relaxed);
}

int ff_idvec_read(const struct ff_part *p, uint32_t b, struct ff_idvec *c, char *err, size_t errlen)
{
    if (c->pc < 0) return 0;
    int rc = ff_part_read_raw(p, b, (uint32_t)c->pc, &c->v, err, errlen);
    if (!rc && c->v.codes) {
        uint32_t nd;
        rc = ff_part_dict(p, (uint32_t)c->pc, &c->dict, &nd, err, errlen);
    }
    return rc;
}

struct ff_str ff_idvec_text(const struct ff_idvec *c, uint32_t i, char buf[36])
{
    const struct ff_colvec *v = &c->v;
    if (c->pc < 0) return (struct ff_str){"", 0};
    if (v->codes) return c->dict[v->codes[i]];
    if (v->uuid16) {
        static const uint8_t zero[16];
        if (!memcmp(v->uuid16 + (size_t)i * 16, zero, 16)) return (struct ff_str){"", 0};
        ff_uuid_format(v->uuid16 + (size_t)i * 16, buf);
        return (struct ff_str){buf, 36};
    }
    return v->str[i];
}

int ff_idvec_person(struct ff_store *s, const struct ff_idvec *id, uint32_t i, struct ff_event *ev,
                    char buf[FF_PERSON_IDS][36], struct ff_buf *tmp)
{
    memset(ev, 0, sizeof *ev);
    ev->type = FF_EV_TRACK;
    ev->project = ff_idvec_text(&id[FF_ID_PROJECT], i, buf[FF_ID_PROJECT]);
    ev->user_id = ff_idvec_text(&id[FF_ID_USER], i, buf[FF_ID_USER]);
    ev->anonymous_id = ff_idvec_text(&id[FF_ID_ANON], i, buf[FF_ID_ANON]);
    return ff_store_person_of(s, ev, tmp);
}

/* Resolves block b's runs into br. */
static int resolve_block(struct ff_store *s, const struct ff_part *p, uint32_t b, struct ff_block_runs *br, char *err,
                         size_t errlen)
{
    struct ff_idvec id[FF_PERSON_IDS];
    memset(id, 0, sizeof id);
    int rc = 0;
    for (int k = 0; k < FF_PERSON_IDS; k++) id[k].pc = ff_part_schema_col(p, ff_person_id_cols[k]);
    for (int k = 0; !rc && k < FF_PERSON_IDS; k++) rc = ff_idvec_read(p, b, &id[k], err, errlen);
    /* the mark before the look-ups: a link made meanwhile is checked for next time */
    ff_identity_mark_now(ff_store_identity(s), &br->mark);
    uint32_t n = p->blocks[b].nrows, nruns = 0;
    struct ff_person_run *runs = rc ? NULL : ff_malloc((n ? n : 1) * sizeof *runs);
    if (!rc && !runs) rc = -ENOMEM;
    struct ff_buf tmp;
    ff_buf_init(&tmp, (size_t)1 << 20);
    for (uint32_t i = 0; !rc && i < n; i++) {
        if (i && ff_person_ids_same(id, i, i - 1)) {
            runs[nruns - 1].end = i + 1;
            continue;
        }
        char buf[FF_PERSON_IDS][36];
        struct ff_event ev;
        if ((rc = ff_idvec_person(s, id, i, &ev, buf, &tmp))) break;
        runs[nruns++] = (struct ff_person_run){i + 1, ev.person_id.len ? XXH3_64bits(ev.person_id.p, ev.person_id.len) : 0};
    }
    ff_buf_free(&tmp);
    for (int k = 0; k < FF_PERSON_IDS; k++) ff_colvec_free(&id[k].v);
    if (rc) {
        ff_free(runs);
        return rc;
    }
    struct ff_person_run *fit = ff_realloc(runs, (nruns ? nruns : 1) * sizeof *runs);
    note_kept(((int64_t)nruns - (int64_t)br->n) * (int64_t)sizeof *runs);
    ff_free(br->runs);
    br->runs = fit ? fit : runs;
    br->n = nruns;
    br->resolved = 1;
    return 0;
}

/* 1 when one of br's persons may resolve differently now (else its mark moves on). */
static int stale(struct ff_store *s, struct ff_block_runs *br)
{
    uint64_t linked[CHECK_MAX];
    struct ff_identity_mark now;
    int k = ff_identity_linked_since(ff_store_identity(s), &br->mark, linked, CHECK_MAX, &now);
    if (k < 0) return 1;
    for (uint32_t r = 0; r < br->n; r++)
        for (int j = 0; j < k; j++)
            if (br->runs[r].person == linked[j]) return 1;
    br->mark = now;
    return 0;
}

int ff_live_person_runs(struct ff_store *s, struct live_part *lp, uint32_t b, struct ff_person_run **runs,
                        uint32_t *cap, uint32_t *n, char *err, size_t errlen)
{
    const struct ff_part *p = lp->p;
    int rc = 0;
    pthread_mutex_lock(&lp->runs_mu);
    if (!lp->runs && !(lp->runs = ff_calloc(p->info.nblocks ? p->info.nblocks : 1, sizeof *lp->runs))) rc = -ENOMEM;
    struct ff_block_runs *br = rc ? NULL : &lp->runs[b];
    if (!rc && (!br->resolved || stale(s, br))) rc = resolve_block(s, p, b, br, err, errlen);
    if (!rc && br->n > *cap) {
        struct ff_person_run *grown = ff_realloc(*runs, br->n * sizeof **runs);
        if (!grown) rc = -ENOMEM;
        else *runs = grown, *cap = br->n;
    }
    if (!rc) {
        memcpy(*runs, br->runs, br->n * sizeof **runs);
        *n = br->n;
    }
    if (br && br->resolved && ff_counter_get(ff_metrics.person_runs_bytes) > KEEP_MAX_BYTES) { /* not kept */
        note_kept(-(int64_t)(br->n * sizeof *br->runs));
        ff_free(br->runs);
        *br = (struct ff_block_runs){0};
    }
    pthread_mutex_unlock(&lp->runs_mu);
    return rc;
}

void ff_live_person_runs_free(struct live_part *lp)
{
    if (lp->runs)
        for (uint32_t b = 0; b < lp->p->info.nblocks; b++) {
            note_kept(-(int64_t)(lp->runs[b].n * sizeof *lp->runs[b].runs));
            ff_free(lp->runs[b].runs);
        }
    ff_free(lp->runs);
    lp->runs = NULL;
}
