/* strmap.c - string-keyed open-addressing hash map (see strmap.h). */
#include "core/strmap.h"

#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/buf.h"

void ff_strmap_init(struct ff_strmap *m) { memset(m, 0, sizeof *m); }

void ff_strmap_free(struct ff_strmap *m)
{
    ff_free(m->slots);
    memset(m, 0, sizeof *m);
}

static struct ff_strmap_slot *find(const struct ff_strmap *m, const char *p, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct ff_strmap_slot *s = &m->slots[i];
        if (!s->p) return s;
        if (s->hash == h && s->len == len && ff_bytes_same(s->p, p, len)) return s;
    }
}

static int grow(struct ff_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct ff_strmap_slot *slots = ff_calloc(cap, sizeof *slots);
    if (!slots) return -1;
    struct ff_strmap old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].p) *find(m, old.slots[i].p, old.slots[i].len, old.slots[i].hash) = old.slots[i];
    ff_free(old.slots);
    return 0;
}

/* An empty key still needs a non-NULL pointer: NULL marks a free slot. */
static const char empty_key[1] = "";

uint32_t *ff_strmap_put(struct ff_strmap *m, const char *p, size_t len, uint32_t value, int *found)
{
    if (!p) p = empty_key;
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m)) return NULL;
    uint64_t h = XXH3_64bits(p, len);
    struct ff_strmap_slot *s = find(m, p, len, h);
    *found = s->p != NULL;
    if (!s->p) {
        *s = (struct ff_strmap_slot){p, (uint32_t)len, value, h};
        m->count++;
    }
    return &s->value;
}

const uint32_t *ff_strmap_get(const struct ff_strmap *m, const char *p, size_t len)
{
    if (!m->cap) return NULL;
    if (!p) p = empty_key;
    struct ff_strmap_slot *s = find(m, p, len, XXH3_64bits(p, len));
    return s->p ? &s->value : NULL;
}
