/* useragent.h - a user agent string → browser, OS and device, by the uap-core regexes
 * (Debian package uap-core, /usr/share/uap-core/regexes.yaml; the rules are its
 * specification's: the first matching regex of each list wins, `$1`…`$9` in a replacement
 * take the match's groups), compiled with PCRE2 (JIT where it is available). footfall adds
 * a device type and a bot flag derived from what uap-core found and a few tokens it does not
 * look for (headless browsers, HTTP libraries).
 *
 * Matching tries up to a thousand regexes, tens of µs: ingest calls ff_ua_cache_get, which
 * parses each distinct user agent once. */
#ifndef FF_USERAGENT_H
#define FF_USERAGENT_H

#include <stddef.h>
#include <stdint.h>

#define FF_UA_DEFAULT_REGEXES "/usr/share/uap-core/regexes.yaml"
#define FF_UA_FIELD 64      /* longer values are cut (at a UTF-8 character boundary) */
#define FF_UA_MAX_INPUT 1024 /* bytes of a user agent that are matched; the rest is ignored */

struct ff_ua {
    /* uap-core's fields; "" where it found nothing ("Other" is its family for no match) */
    char family[FF_UA_FIELD], major[FF_UA_FIELD], minor[FF_UA_FIELD], patch[FF_UA_FIELD];
    char os[FF_UA_FIELD], os_major[FF_UA_FIELD], os_minor[FF_UA_FIELD], os_patch[FF_UA_FIELD],
        os_patch_minor[FF_UA_FIELD];
    char device[FF_UA_FIELD], brand[FF_UA_FIELD], model[FF_UA_FIELD];
    /* footfall's: "desktop", "mobile", "tablet", "bot", or "" when the string says too little */
    const char *device_type;
    uint8_t bot; /* crawlers, headless browsers, HTTP libraries */
};

/* "120.0.6099" from major, minor, patch (those present); "" without a major. */
void ff_ua_browser_version(const struct ff_ua *ua, char out[FF_UA_FIELD]);
void ff_ua_os_version(const struct ff_ua *ua, char out[FF_UA_FIELD]);

/* What an event keeps of a parse: what the cache holds, so a hit is one small copy. */
struct ff_ua_brief {
    char browser[FF_UA_FIELD], browser_version[FF_UA_FIELD], os[FF_UA_FIELD], os_version[FF_UA_FIELD];
    uint8_t browser_len, browser_version_len, os_len, os_version_len;
    const char *device_type; /* as in struct ff_ua */
    uint8_t bot;
};
void ff_ua_brief(const struct ff_ua *ua, struct ff_ua_brief *out);

struct ff_ua_parser;
/* Loads and compiles a regexes.yaml. A regex PCRE2 rejects is an error naming its line. */
int ff_ua_parser_load(struct ff_ua_parser **out, const char *path, char *err, size_t errlen);
void ff_ua_parser_free(struct ff_ua_parser *p);
/* Parses a user agent (any bytes). Thread-safe. 0, or -ENOMEM. */
int ff_ua_parse(const struct ff_ua_parser *p, const char *ua, size_t len, struct ff_ua *out);

/* A bounded cache of parses, shared by threads (sharded locks). */
struct ff_ua_cache;
struct ff_ua_cache *ff_ua_cache_new(const struct ff_ua_parser *p, size_t max_entries);
void ff_ua_cache_free(struct ff_ua_cache *c);
/* Copies what an event keeps of the parse of `ua` into *out, parsing it on a miss. 0, or
 * -ENOMEM. */
int ff_ua_cache_get(struct ff_ua_cache *c, const char *ua, size_t len, struct ff_ua_brief *out);
/* Hits and misses so far (for metrics and the benchmark). */
void ff_ua_cache_counts(struct ff_ua_cache *c, uint64_t *hits, uint64_t *misses);

#endif
