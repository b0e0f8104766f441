/* yamllist.c - the sections-of-flat-lists YAML reader (see yamllist.h), on libyaml's event
 * parser. */
#include "enrich/yamllist.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/errors.h"

const char *ff_yaml_get(const struct ff_yaml_item *it, const char *key)
{
    for (size_t i = 0; i < it->n; i++)
        if (!strcmp(it->key[i], key)) return it->value[i];
    return NULL;
}

/* A plain empty scalar, `~` or `null` is YAML's null; a quoted one is a string. */
static int is_null(const yaml_event_t *e)
{
    const char *v = (const char *)e->data.scalar.value;
    return e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL"));
}

static void item_clear(struct ff_yaml_item *it)
{
    for (size_t i = 0; i < it->n; i++) {
        ff_free((char *)it->key[i]);
        ff_free((char *)it->value[i]);
    }
    it->n = 0;
}

int ff_yaml_read_lists(const char *path, int (*fn)(void *arg, const struct ff_yaml_item *it), void *arg, char *err,
                       size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    yaml_parser_set_input_file(&parser, f);

    /* Where the reader is: 0 top level, 1 inside a section's sequence, 2 inside an item. */
    int depth = 0, rc = 0, done = 0;
    char section[256] = "";
    char *key = NULL; /* inside an item: the key whose value comes next */
    struct ff_yaml_item it;
    memset(&it, 0, sizeof it);
    it.section = section;
    while (!rc && !done) {
        yaml_event_t e;
        if (!yaml_parser_parse(&parser, &e)) {
            snprintf(err, errlen, "%s:%zu: %s", path, parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "not YAML");
            rc = FF_EINVAL;
            break;
        }
        size_t line = e.start_mark.line + 1;
        switch (e.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_MAPPING_START_EVENT:
            if (depth == 1) {
                depth = 2;
                item_clear(&it);
                it.line = line;
            } else if (depth != 0 || section[0]) {
                snprintf(err, errlen, "%s:%zu: a nested mapping where a value was expected", path, line);
                rc = FF_EINVAL;
            }
            break;
        case YAML_MAPPING_END_EVENT:
            if (depth == 2) {
                if (key) {
                    snprintf(err, errlen, "%s:%zu: key '%s' has no value", path, line, key);
                    rc = FF_EINVAL;
                    break;
                }
                depth = 1;
                rc = fn(arg, &it);
                item_clear(&it);
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
            if (depth == 0 && section[0]) {
                depth = 1;
            } else {
                snprintf(err, errlen, "%s:%zu: a list where a value was expected", path, line);
                rc = FF_EINVAL;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
            depth = 0;
            section[0] = 0;
            break;
        case YAML_SCALAR_EVENT: {
            const char *v = (const char *)e.data.scalar.value;
            if (depth == 0) {
                if (section[0]) { /* a section whose value is a scalar: not one of ours, skip it */
                    section[0] = 0;
                } else {
                    snprintf(section, sizeof section, "%s", v);
                }
            } else if (depth == 1) {
                snprintf(err, errlen, "%s:%zu: a list item is not a mapping", path, line);
                rc = FF_EINVAL;
            } else if (!key) {
                if (!(key = ff_strdup(v))) rc = -ENOMEM;
            } else if (it.n == FF_YAML_MAX_KEYS) {
                snprintf(err, errlen, "%s:%zu: more than %d keys in one item", path, line, FF_YAML_MAX_KEYS);
                rc = FF_EINVAL;
            } else {
                char *val = is_null(&e) ? NULL : ff_strdup(v);
                if (!is_null(&e) && !val) {
                    rc = -ENOMEM;
                } else {
                    it.key[it.n] = key;
                    it.value[it.n++] = val;
                    key = NULL;
                }
            }
            break;
        }
        case YAML_ALIAS_EVENT:
            snprintf(err, errlen, "%s:%zu: aliases are not supported", path, line);
            rc = FF_EINVAL;
            break;
        default:
            break;
        }
        yaml_event_delete(&e);
    }
    ff_free(key);
    item_clear(&it);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}
