/* enrich.c - the enrichment stage of ingest (see enrich.h). */
#include "enrich/enrich.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/jsonscan.h"
#include "core/log.h"

struct ff_enricher {
    struct ff_ua_parser *ua;
    struct ff_ua_cache *ua_cache;
};

int ff_enricher_open(struct ff_enricher **out, const struct ff_enrich_opts *o, char *err, size_t errlen)
{
    *out = NULL;
    struct ff_enricher *e = ff_calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    const char *path = o->ua_regexes ? o->ua_regexes : FF_UA_DEFAULT_REGEXES;
    if (o->ua_optional && !o->ua_regexes && access(path, R_OK)) {
        ff_warn("enrich: %s is missing (Debian package uap-core): events get no browser, OS or device type", path);
    } else {
        int rc = ff_ua_parser_load(&e->ua, path, err, errlen);
        if (!rc && !(e->ua_cache = ff_ua_cache_new(e->ua, o->ua_cache_entries ? o->ua_cache_entries : 16384)))
            rc = -ENOMEM;
        if (rc) {
            ff_enricher_close(e);
            return rc;
        }
    }
    *out = e;
    return 0;
}

void ff_enricher_close(struct ff_enricher *e)
{
    if (!e) return;
    ff_ua_cache_free(e->ua_cache);
    ff_ua_parser_free(e->ua);
    ff_free(e);
}

int ff_enricher_has_ua(const struct ff_enricher *e) { return e && e->ua_cache; }

void ff_enricher_ua_counts(const struct ff_enricher *e, uint64_t *hits, uint64_t *misses)
{
    *hits = *misses = 0;
    if (e && e->ua_cache) ff_ua_cache_counts(e->ua_cache, hits, misses);
}

static int hex4(const char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v << 4 | (unsigned)d;
    }
    return 0;
}

/* The content of a JSON string's text (without quotes) into out[cap]; stops early when full
 * or at a malformed escape. The length written. */
static size_t unescape(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 <= cap; i++) {
        if (s[i] != '\\') {
            out[o++] = s[i];
            continue;
        }
        if (++i >= n) break;
        char c = s[i];
        const char *simple = "\"\"\\\\//b\bf\fn\nr\rt\t";
        const char *m = NULL;
        for (const char *q = simple; *q; q += 2)
            if (*q == c) m = q;
        if (m) {
            out[o++] = m[1];
            continue;
        }
        unsigned cp;
        if (c != 'u' || i + 4 >= n || hex4(s + i + 1, &cp)) break;
        i += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < n && s[i + 1] == '\\' && s[i + 2] == 'u') {
            unsigned lo;
            if (!hex4(s + i + 3, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
        }
        if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD; /* a lone surrogate */
        if (cp < 0x80) out[o++] = (char)cp;
        else if (cp < 0x800) out[o++] = (char)(0xC0 | cp >> 6), out[o++] = (char)(0x80 | (cp & 0x3F));
        else if (cp < 0x10000)
            out[o++] = (char)(0xE0 | cp >> 12), out[o++] = (char)(0x80 | (cp >> 6 & 0x3F)),
            out[o++] = (char)(0x80 | (cp & 0x3F));
        else
            out[o++] = (char)(0xF0 | cp >> 18), out[o++] = (char)(0x80 | (cp >> 12 & 0x3F)),
            out[o++] = (char)(0x80 | (cp >> 6 & 0x3F)), out[o++] = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

struct ff_str ff_enrich_user_agent(struct ff_str context, struct ff_str fallback, struct ff_enriched *out)
{
    struct ff_jscan sc;
    struct ff_jscan_member m;
    /* Normalisation wrote the context, so the scanner reads it; if it ever gives up, the
     * event keeps its context and only loses the fallback's guess. */
    if (context.len && !ff_jscan_begin(&sc, context.p, context.len))
        while (ff_jscan_next(&sc, &m) == 1) {
            if (m.key.len != 9 || memcmp(m.key.p, "userAgent", 9)) continue;
            if (m.kind != FF_JS_STRING) break;
            if (!m.escaped) return m.value;
            size_t n = unescape(m.value.p, m.value.len, out->unescaped, sizeof out->unescaped);
            return (struct ff_str){out->unescaped, (uint32_t)n};
        }
    return fallback;
}

int ff_enrich_event(struct ff_enricher *e, struct ff_event *ev, struct ff_str ua, struct ff_enriched *out)
{
    if (!e || !e->ua_cache || !ua.len) return 0;
    struct ff_ua_brief *u = &out->ua;
    int rc = ff_ua_cache_get(e->ua_cache, ua.p, ua.len, u);
    if (rc) return rc;
    ev->browser = (struct ff_str){u->browser, u->browser_len};
    ev->browser_version = (struct ff_str){u->browser_version, u->browser_version_len};
    ev->os = (struct ff_str){u->os, u->os_len};
    ev->os_version = (struct ff_str){u->os_version, u->os_version_len};
    ev->device_type = (struct ff_str){u->device_type, (uint32_t)strlen(u->device_type)};
    ev->bot = u->bot;
    return 0;
}
