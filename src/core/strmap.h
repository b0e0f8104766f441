/* strmap.h - a map from byte strings to 32-bit values, for building dictionaries.
 *
 * Open addressing with linear probing on XXH3 hashes. Keys are not copied: the bytes a key
 * points to must outlive the map. Not thread-safe. */
#ifndef FF_STRMAP_H
#define FF_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct ff_strmap_slot {
    const char *p;
    uint32_t len;
    uint32_t value;
    uint64_t hash;
};

struct ff_strmap {
    struct ff_strmap_slot *slots;
    size_t cap;   /* power of two, 0 before the first insert */
    size_t count;
};

void ff_strmap_init(struct ff_strmap *m);
void ff_strmap_free(struct ff_strmap *m);
/* Looks `key` up; when absent, inserts it with `value`. Sets *found to whether it was there and
 * returns a pointer to the stored value (valid until the next insert), or NULL when out of
 * memory. */
uint32_t *ff_strmap_put(struct ff_strmap *m, const char *p, size_t len, uint32_t value, int *found);
/* The value of `key`, or NULL when absent. */
const uint32_t *ff_strmap_get(const struct ff_strmap *m, const char *p, size_t len);

#endif
