/* session_rules.h - where the store learns each project's session rules (store/sessions.h):
 * its time zone and inactivity timeout, from the catalog (catalog.h), re-read within a
 * second of a change, with each zone loaded once (core/tz.h). Safe for any thread. */
#ifndef FF_SESSION_RULES_H
#define FF_SESSION_RULES_H

#include <stddef.h>

#include "core/buf.h"
#include "store/sessions.h"

struct ff_session_policy;

/* Opens DATA/projects.db (creating it when `create`) for the rules. 0, or an error saying why
 * in err. */
int ff_session_policy_open(const char *data_dir, int create, struct ff_session_policy **out, char *err, size_t errlen);
void ff_session_policy_free(struct ff_session_policy *p);

/* The rules of `project` ("" is the default project); UTC and 30 minutes for a project the
 * catalog does not know. An ff_session_rules_fn: pass the policy as its argument. */
void ff_session_policy_rules(void *policy, struct ff_str project, struct ff_session_rules *out);

/* Gives a store about to open the rules of DATA/projects.db (the store frees them at close).
 * Without a catalog (`create` 0 and none there) the store keeps UTC and 30 minutes. */
struct ff_store_opts;
void ff_session_policy_attach(struct ff_store_opts *so, const char *data_dir, int create);

#endif
