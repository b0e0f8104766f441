/* session_rules.c - each project's session rules from the catalog (see session_rules.h). */
#include "project/session_rules.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/tz.h"
#include "event/event.h"
#include "project/catalog.h"
#include "project/projects.h"
#include "store/store.h"

#define RECHECK_US 1000000 /* how often the catalog is asked whether it changed */

struct zone {
    char *name;
    struct ff_tz *tz; /* NULL: could not be loaded (UTC is used, and said once) */
};

struct ff_session_policy {
    pthread_mutex_t mu;
    struct ff_catalog *catalog;
    struct ff_projects projects;
    int loaded;
    int64_t checked_us;
    struct zone *zones; /* every zone asked for, kept: rules handed out point to them */
    size_t nzones;
};

static void reload(struct ff_session_policy *p)
{
    struct ff_projects fresh;
    char err[512];
    if (ff_catalog_load(p->catalog, &fresh, err, sizeof err)) {
        ff_warn("sessions: cannot read the project catalog (%s): the rules stay as they were", err);
        return;
    }
    if (p->loaded) ff_projects_free(&p->projects);
    p->projects = fresh;
    p->loaded = 1;
}

int ff_session_policy_open(const char *data_dir, int create, struct ff_session_policy **out, char *err, size_t errlen)
{
    struct ff_session_policy *p = ff_calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    int rc = ff_catalog_open(data_dir, create, &p->catalog, err, errlen);
    if (rc) {
        ff_session_policy_free(p);
        return rc;
    }
    reload(p);
    p->checked_us = ff_now_us();
    *out = p;
    return 0;
}

void ff_session_policy_free(struct ff_session_policy *p)
{
    if (!p) return;
    if (p->loaded) ff_projects_free(&p->projects);
    ff_catalog_close(p->catalog);
    for (size_t i = 0; i < p->nzones; i++) {
        ff_free(p->zones[i].name);
        ff_tz_free(p->zones[i].tz);
    }
    ff_free(p->zones);
    pthread_mutex_destroy(&p->mu);
    ff_free(p);
}

static const struct ff_tz *zone(struct ff_session_policy *p, const char *name)
{
    for (size_t i = 0; i < p->nzones; i++)
        if (strcmp(p->zones[i].name, name) == 0) return p->zones[i].tz;
    struct zone *nz = ff_realloc(p->zones, (p->nzones + 1) * sizeof *nz);
    if (!nz) return NULL;
    p->zones = nz;
    struct zone *z = &p->zones[p->nzones];
    if (!(z->name = ff_strdup(name))) return NULL;
    int rc = ff_tz_load(name, &z->tz);
    if (rc) ff_warn("sessions: time zone '%s': %s; sessions of its projects end at midnight UTC", name, ff_strerror(rc));
    p->nzones++;
    return z->tz;
}

static void policy_free(void *p) { ff_session_policy_free(p); }

void ff_session_policy_attach(struct ff_store_opts *so, const char *data_dir, int create)
{
    struct ff_session_policy *p;
    char err[1024];
    int rc = ff_session_policy_open(data_dir, create, &p, err, sizeof err);
    if (rc) {
        if (create) ff_warn("sessions: %s: every project's sessions end at midnight UTC after 30 minutes", err);
        return;
    }
    so->session_rules = ff_session_policy_rules;
    so->session_rules_arg = p;
    so->session_rules_free = policy_free;
}

void ff_session_policy_rules(void *policy, struct ff_str project, struct ff_session_rules *out)
{
    struct ff_session_policy *p = policy;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&p->mu);
    int64_t now = ff_now_us();
    if (now - p->checked_us >= RECHECK_US || now < p->checked_us) {
        p->checked_us = now;
        if (ff_catalog_changed(p->catalog)) reload(p);
    }
    char id[FF_PROJECT_ID_MAX + 1];
    if (!project.len) snprintf(id, sizeof id, "%s", FF_DEFAULT_PROJECT);
    else snprintf(id, sizeof id, "%.*s", (int)(project.len < FF_PROJECT_ID_MAX ? project.len : FF_PROJECT_ID_MAX), project.p);
    const struct ff_project *pr = p->loaded ? ff_projects_find(&p->projects, id) : NULL;
    if (pr) {
        out->tz = zone(p, pr->timezone);
        out->timeout_us = (int64_t)pr->session_timeout_min * 60 * 1000000;
    }
    pthread_mutex_unlock(&p->mu);
}
