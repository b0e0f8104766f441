/* identity.h - who is who: the map that merges a person's devices and names into one person.
 *
 * An event with both a userId and an anonymousId (identify, and any call made after it on
 * that device, in any wire format) links the anonymousId to the userId; an alias links its
 * previousId (an anonymousId or an older userId) to its userId. Links are per project. The
 * first link of an id wins: a shared device stays with its first identified user, and two
 * users are never merged by an anonymousId alone. A person's id is where an id's links lead
 * (at most a few hops): the userId, for every anonymousId it ever had, so the anonymous
 * events before the identify belong to that person too.
 *
 * The store feeds the map every event as it becomes durable (and the WAL's records at
 * start-up), and writes it to DATA/IDENTITY with every flush (tmp, fsync, rename): what the
 * file lacks, the WAL gives back at the next start. Safe for any number of threads. */
#ifndef FF_IDENTITY_H
#define FF_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "event/event.h"

struct ff_identity;

/* Loads DATA/IDENTITY (an empty map when there is none). On damage, an error saying what. */
int ff_identity_open(const char *dir, struct ff_identity **out, char *err, size_t errlen);
void ff_identity_free(struct ff_identity *id);

/* The id an observer last found linked already: an identified user's events all carry the
 * same anonymousId and userId, and each would look its link up under the lock again. Valid
 * until a link is forgotten (ff_identity_forget). One per observing thread, zeroed to start. */
struct ff_identity_memo {
    uint32_t len; /* 0: none (a key is never empty) */
    uint64_t forgets;
    char key[256];
};

/* Notes the links an event makes; memo (or NULL) spares the lookup of a link known already.
 * 0 or -ENOMEM. */
int ff_identity_observe(struct ff_identity *id, const struct ff_event *ev, struct ff_identity_memo *memo);

/* Where `who` (a userId or anonymousId) leads in `project`: 1 with the person appended to
 * `out` when a link leads elsewhere, 0 when `who` is its own person (out untouched), or
 * -ENOMEM. */
int ff_identity_leads(struct ff_identity *id, struct ff_str project, struct ff_str who, struct ff_buf *out);

/* The person an event belongs to, copied into out (replacing its contents): where its userId
 * leads, else where its anonymousId leads; empty when it has neither. 0 or -ENOMEM. */
int ff_identity_person(struct ff_identity *id, struct ff_str project, struct ff_str user_id,
                       struct ff_str anonymous_id, struct ff_buf *out);

/* Every id (userIds and anonymousIds) that leads to `person` in `project` (NULL: any),
 * `person` included, as calls of visit(arg, id). For export and erasure. */
int ff_identity_ids_of(struct ff_identity *id, const char *project, struct ff_str person,
                       int (*visit)(void *arg, struct ff_str id), void *arg);

/* Forgets every link to or from `person` in `project` (NULL: any): for erasure. */
int ff_identity_forget(struct ff_identity *id, const char *project, struct ff_str person);

/* Where the map's history stands, for a reader that keeps resolutions: a person resolved
 * after a mark resolves the same later unless the person's id gained a link since, or a
 * link was forgotten (erasure). */
struct ff_identity_mark {
    uint64_t linked, forgets; /* ids that gained a link, forgettings: how many so far */
};
void ff_identity_mark_now(struct ff_identity *id, struct ff_identity_mark *m);
/* The ids that gained a link after `since` (XXH3 of each id's text: a person resolved to
 * one of them may now lead elsewhere), at most cap of them, into out: how many, or -1 when
 * more than cap (or more than the map remembers) did or a link was forgotten, so any
 * resolution may have changed. *now: the mark that brings `since` up to date. */
int ff_identity_linked_since(struct ff_identity *id, const struct ff_identity_mark *since, uint64_t *out, int cap,
                             struct ff_identity_mark *now);

/* Writes the map to DATA/IDENTITY when it changed since the last save. */
int ff_identity_save(struct ff_identity *id, const char *dir);

/* Links held. */
size_t ff_identity_count(struct ff_identity *id);

#endif
