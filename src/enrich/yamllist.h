/* yamllist.h - reads the one YAML shape footfall's data files have: a top-level mapping of
 * section names to sequences of flat mappings of scalars, as in uap-core's regexes.yaml and
 * its test files:
 *
 *   user_agent_parsers:
 *     - regex: '(Chrome)/(\d+)'
 *       family_replacement: 'Chrome'
 *
 * Each item of each sequence is handed to a callback; anything else in the file (other
 * shapes, nested collections inside an item) is an error naming the line. libyaml does the
 * parsing. */
#ifndef FF_YAMLLIST_H
#define FF_YAMLLIST_H

#include <stddef.h>

#define FF_YAML_MAX_KEYS 16

struct ff_yaml_item {
    const char *section;                 /* the top-level key */
    size_t line;                         /* 1-based line where the item starts */
    size_t n;
    const char *key[FF_YAML_MAX_KEYS];
    const char *value[FF_YAML_MAX_KEYS]; /* NULL for a YAML null (`key:`, `~`, `null`) */
};

/* The value of `key` in the item: NULL when absent or null. */
const char *ff_yaml_get(const struct ff_yaml_item *it, const char *key);

/* Calls fn for every item; fn returns 0 to go on, anything else stops the read and is
 * returned. Returns 0, an error code (errors.h), or fn's value; err says what and where. */
int ff_yaml_read_lists(const char *path, int (*fn)(void *arg, const struct ff_yaml_item *it), void *arg, char *err,
                       size_t errlen);

#endif
