/* person_runs.h - a part block's rows as runs of one person each, resolved once and kept.
 *
 * A part's rows are sorted by person, so a block is a few runs of rows with the same
 * project, user id and anonymous id. Each run's person is where those ids lead in the
 * identity map now (ff_store_person_of), as XXH3 of the person's id, as queries key persons.
 * Resolving costs a look-up in a map too large for the caches, for every run of every
 * query, and the columns read to find the runs cost more than the rest of a distinct-persons
 * query; so the store keeps each block's runs with its part, from the first query that asks
 * until the part goes, and checks them against the identity map's history
 * (ff_identity_linked_since) before handing them out: a block is resolved again only when
 * one of its persons gained a link since (an identify, an alias) or a link was forgotten. */
#ifndef FF_PERSON_RUNS_H
#define FF_PERSON_RUNS_H

#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "event/event.h"
#include "store/part.h"

/* One run: rows up to (not including) `end` of the block, after the previous run's. */
struct ff_person_run {
    uint32_t end;
    uint64_t person; /* XXH3 of the person's id; 0: the rows have no id */
};

/* An id column of a block (project, user id, anonymous id, session id), for comparing rows
 * and reading a row's id. */
struct ff_idvec {
    int pc; /* the part's column; -1 when it has none (every row reads as "") */
    struct ff_colvec v;
    const struct ff_str *dict;
};
/* Reads schema column `col` of block `b` into c (c->pc already set by ff_part_schema_col).
 * 0 or FF_ECORRUPT with err saying where. */
int ff_idvec_read(const struct ff_part *p, uint32_t b, struct ff_idvec *c, char *err, size_t errlen);
static inline int ff_idvec_same(const struct ff_idvec *c, uint32_t i, uint32_t j)
{
    const struct ff_colvec *v = &c->v;
    if (c->pc < 0) return 1;
    if (v->codes) return v->codes[i] == v->codes[j];
    if (v->uuid16) return memcmp(v->uuid16 + (size_t)i * 16, v->uuid16 + (size_t)j * 16, 16) == 0;
    return ff_str_eq(v->str[i], v->str[j]);
}
/* Row i's id (its text may be put in buf). */
struct ff_str ff_idvec_text(const struct ff_idvec *c, uint32_t i, char buf[36]);

/* The ids that make a person: project, user id, anonymous id. */
enum { FF_ID_PROJECT, FF_ID_USER, FF_ID_ANON, FF_PERSON_IDS };
extern const int ff_person_id_cols[FF_PERSON_IDS];
/* Row i as an event of its ids only (id[FF_ID_*]; their text may be put in buf), its person
 * resolved (ff_store_person_of: ev->person_id, pointing into tmp). 0, or the identity map's error. */
struct ff_store;
int ff_idvec_person(struct ff_store *s, const struct ff_idvec *id, uint32_t i, struct ff_event *ev,
                    char buf[FF_PERSON_IDS][36], struct ff_buf *tmp);
/* Rows i and j have the same project, user and anonymous ids (id[FF_ID_*]): one person. */
static inline int ff_person_ids_same(const struct ff_idvec *id, uint32_t i, uint32_t j)
{
    return ff_idvec_same(&id[FF_ID_PROJECT], i, j) && ff_idvec_same(&id[FF_ID_USER], i, j) &&
           ff_idvec_same(&id[FF_ID_ANON], i, j);
}

#endif
