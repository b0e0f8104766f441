/* projects.c - lookups in a loaded catalog (see projects.h). */
#include "project/projects.h"

#include <string.h>

#include "core/buf.h"

static const struct ff_project *by_key(const struct ff_projects *p, const struct ff_strmap *m, const char *key,
                                       size_t len, int64_t now_us)
{
    const uint32_t *k = ff_strmap_get(m, key, len);
    if (!k) return NULL;
    const struct ff_key_entry *e = &p->keys[*k];
    if (e->expires_us && e->expires_us <= now_us) return NULL;
    return &p->v[e->project];
}

const struct ff_project *ff_projects_by_write_key(const struct ff_projects *p, const char *key, size_t len,
                                                  int64_t now_us)
{
    if (len == 0) return p->keyless >= 0 ? &p->v[p->keyless] : NULL;
    if (len > FF_KEY_MAX) return NULL;
    return by_key(p, &p->write_keys, key, len, now_us);
}

const struct ff_project *ff_projects_by_read_key(const struct ff_projects *p, const char *key, size_t len,
                                                 int64_t now_us)
{
    if (len == 0 || len > FF_KEY_MAX) return NULL;
    char digest[65];
    ff_key_digest(key, len, digest);
    return by_key(p, &p->read_keys, digest, 64, now_us);
}

const struct ff_project *ff_projects_find(const struct ff_projects *p, const char *id)
{
    for (size_t i = 0; id && i < p->n; i++)
        if (strcmp(p->v[i].id, id) == 0) return &p->v[i];
    return NULL;
}

struct ff_str ff_projects_write_key(const struct ff_projects *p, const char *id, int64_t now_us)
{
    struct ff_str best = {NULL, 0};
    uint32_t best_index = 0;
    const struct ff_project *pr = ff_projects_find(p, id);
    for (size_t s = 0; pr && s < p->write_keys.cap; s++) {
        const struct ff_strmap_slot *sl = &p->write_keys.slots[s];
        if (!sl->p) continue;
        const struct ff_key_entry *e = &p->keys[sl->value];
        if (&p->v[e->project] != pr || (e->expires_us && e->expires_us <= now_us)) continue;
        if (!best.p || sl->value > best_index) best = (struct ff_str){sl->p, sl->len}, best_index = sl->value;
    }
    return best;
}

int ff_project_origin_allowed(const struct ff_project *pr, const char *origin, size_t len)
{
    const char *l = pr->cors_origins;
    while (l && *l == ' ') l++;
    return !l || !*l || ff_listed(l, origin, len, 0);
}
