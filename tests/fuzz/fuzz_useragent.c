/* Fuzzes the user-agent parser: any bytes against uap-core's regexes (Debian's file), through
 * the cache, checking what footfall stores from a parse: bounded, terminated fields and one
 * of the device types. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/useragent.h"

static struct ff_ua_parser *parser;
static struct ff_ua_cache *cache;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!parser) {
        char err[512];
        if (ff_ua_parser_load(&parser, FF_UA_DEFAULT_REGEXES, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            abort();
        }
        if (!(cache = ff_ua_cache_new(parser, 256))) abort();
    }
    struct ff_ua_brief cached, direct;
    struct ff_ua a;
    if (ff_ua_cache_get(cache, (const char *)data, size, &cached)) return 0;
    if (ff_ua_parse(parser, (const char *)data, size, &a)) return 0;
    ff_ua_brief(&a, &direct);
    if (memcmp(&cached, &direct, sizeof cached)) abort(); /* the cache answers what a parse does */
    const char *fields[] = {a.family, a.major, a.minor, a.patch, a.os, a.os_major, a.os_minor, a.os_patch,
                            a.os_patch_minor, a.device, a.brand, a.model, direct.browser_version, direct.os_version};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (strnlen(fields[i], FF_UA_FIELD) >= FF_UA_FIELD) abort();
    if (direct.browser_len != strlen(direct.browser) || direct.os_version_len != strlen(direct.os_version)) abort();
    const char *t = a.device_type;
    if (strcmp(t, "") && strcmp(t, "desktop") && strcmp(t, "mobile") && strcmp(t, "tablet") && strcmp(t, "bot"))
        abort();
    if (a.bot != !strcmp(t, "bot")) abort();
    return 0;
}
