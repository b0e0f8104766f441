/* useragent.c - uap-core's regexes with PCRE2, footfall's device type and bot flag, and the
 * cache that keeps the regexes off the hot path (see useragent.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "enrich/useragent.h"

#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/errors.h"
#include "enrich/yamllist.h"

/* ---- the regexes ---- */

enum list { L_UA, L_OS, L_DEVICE, NLISTS };
#define MAX_REPS 5

/* The replacement keys of each list, in the order of the fields they fill. */
static const char *const rep_keys[NLISTS][MAX_REPS] = {
    [L_UA] = {"family_replacement", "v1_replacement", "v2_replacement", "v3_replacement", NULL},
    [L_OS] = {"os_replacement", "os_v1_replacement", "os_v2_replacement", "os_v3_replacement", "os_v4_replacement"},
    [L_DEVICE] = {"device_replacement", "brand_replacement", "model_replacement", NULL, NULL},
};
static const char *const sections[NLISTS] = {"user_agent_parsers", "os_parsers", "device_parsers"};

struct rule {
    pcre2_code *re;
    char *rep[MAX_REPS]; /* NULL: the field comes from its group */
};

struct ff_ua_parser {
    struct rule *rules[NLISTS];
    size_t n[NLISTS], cap[NLISTS];
};

struct loader {
    struct ff_ua_parser *p;
    const char *path;
    char *err;
    size_t errlen;
};

static int on_rule(void *arg, const struct ff_yaml_item *it)
{
    struct loader *ld = arg;
    int l = 0;
    while (l < NLISTS && strcmp(it->section, sections[l])) l++;
    if (l == NLISTS) return 0; /* a section uap-core may add later */
    const char *regex = ff_yaml_get(it, "regex");
    if (!regex) {
        snprintf(ld->err, ld->errlen, "%s:%zu: a rule without a regex", ld->path, it->line);
        return FF_EINVAL;
    }
    struct ff_ua_parser *p = ld->p;
    if (p->n[l] == p->cap[l]) {
        size_t cap = p->cap[l] ? p->cap[l] * 2 : 256;
        struct rule *r = ff_realloc(p->rules[l], cap * sizeof *r);
        if (!r) return -ENOMEM;
        p->rules[l] = r;
        p->cap[l] = cap;
    }
    struct rule *r = &p->rules[l][p->n[l]];
    memset(r, 0, sizeof *r);
    const char *flag = ff_yaml_get(it, "regex_flag");
    uint32_t opts = flag && strchr(flag, 'i') ? PCRE2_CASELESS : 0;
    int code;
    PCRE2_SIZE at;
    /* Byte mode (no PCRE2_UTF): user agents are any bytes, and the regexes are ASCII. */
    r->re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, opts, &code, &at, NULL);
    if (!r->re) {
        char msg[256];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof msg);
        snprintf(ld->err, ld->errlen, "%s:%zu: regex does not compile at offset %zu: %s", ld->path, it->line,
                 (size_t)at, msg);
        return FF_EINVAL;
    }
    (void)pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE); /* without JIT it is slower, not wrong */
    p->n[l]++;
    for (int k = 0; k < MAX_REPS && rep_keys[l][k]; k++) {
        const char *v = ff_yaml_get(it, rep_keys[l][k]);
        if (v && !(r->rep[k] = ff_strdup(v))) return -ENOMEM;
    }
    return 0;
}

void ff_ua_parser_free(struct ff_ua_parser *p)
{
    if (!p) return;
    for (int l = 0; l < NLISTS; l++) {
        for (size_t i = 0; i < p->n[l]; i++) {
            pcre2_code_free(p->rules[l][i].re);
            for (int k = 0; k < MAX_REPS; k++) ff_free(p->rules[l][i].rep[k]);
        }
        ff_free(p->rules[l]);
    }
    ff_free(p);
}

int ff_ua_parser_load(struct ff_ua_parser **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    struct ff_ua_parser *p = ff_calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    struct loader ld = {p, path, err, errlen};
    int rc = ff_yaml_read_lists(path, on_rule, &ld, err, errlen);
    if (rc == -ENOMEM) snprintf(err, errlen, "%s: out of memory", path);
    if (!rc && (!p->n[L_UA] || !p->n[L_OS] || !p->n[L_DEVICE])) {
        snprintf(err, errlen, "%s: not a uap-core regexes file (no user_agent_parsers, os_parsers or device_parsers)",
                 path);
        rc = FF_EINVAL;
    }
    if (rc) {
        ff_ua_parser_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* ---- matching ---- */

/* Per thread: PCRE2's match data, and a JIT stack larger than its default 32 KiB. The match
 * limit bounds the time one hostile string can take. */
struct matcher {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *js;
};
static pthread_key_t matcher_key;
static pthread_once_t matcher_once = PTHREAD_ONCE_INIT;

static void matcher_free(void *arg)
{
    struct matcher *m = arg;
    if (!m) return;
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mc);
    pcre2_jit_stack_free(m->js);
    ff_free(m);
}

static void make_matcher_key(void) { pthread_key_create(&matcher_key, matcher_free); }

static struct matcher *matcher_get(void)
{
    pthread_once(&matcher_once, make_matcher_key);
    struct matcher *m = pthread_getspecific(matcher_key);
    if (m) return m;
    if (!(m = ff_calloc(1, sizeof *m))) return NULL;
    m->md = pcre2_match_data_create(10, NULL);
    m->mc = pcre2_match_context_create(NULL);
    m->js = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
    if (!m->md || !m->mc || !m->js || pthread_setspecific(matcher_key, m)) {
        matcher_free(m);
        return NULL;
    }
    pcre2_jit_stack_assign(m->mc, NULL, m->js);
    pcre2_set_match_limit(m->mc, 100000);
    pcre2_set_depth_limit(m->mc, 10000);
    return m;
}

/* Copies at most FF_UA_FIELD - 1 bytes, cut back to a UTF-8 character boundary. */
static void set_field(char out[FF_UA_FIELD], const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (n >= FF_UA_FIELD) {
        n = FF_UA_FIELD - 1;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    memcpy(out, s, n);
    out[n] = 0;
}

struct groups {
    const char *subj;
    const PCRE2_SIZE *ov;
    int n; /* groups set by the match, the whole match included */
};

static size_t group(const struct groups *g, int i, const char **p)
{
    if (i >= g->n || g->ov[2 * i] == PCRE2_UNSET) return 0;
    *p = g->subj + g->ov[2 * i];
    return g->ov[2 * i + 1] - g->ov[2 * i];
}

/* A field from its replacement (with $1…$9 filled in), or from group `dflt` without one. */
static void fill(char out[FF_UA_FIELD], const char *rep, const struct groups *g, int dflt)
{
    const char *p = "";
    if (!rep) {
        size_t n = dflt ? group(g, dflt, &p) : 0;
        set_field(out, p, n);
        return;
    }
    char buf[4 * FF_UA_FIELD];
    size_t o = 0;
    for (const char *r = rep; *r && o < sizeof buf; r++) {
        if (r[0] == '$' && r[1] >= '1' && r[1] <= '9') {
            size_t n = group(g, r[1] - '0', &p);
            if (n > sizeof buf - o) n = sizeof buf - o;
            memcpy(buf + o, p, n);
            o += n;
            r++;
        } else {
            buf[o++] = *r;
        }
    }
    set_field(out, buf, o);
}

/* The first rule of list l that matches; NULL when none does. */
static const struct rule *first_match(const struct ff_ua_parser *p, int l, struct matcher *m, const char *s, size_t n,
                                      struct groups *g)
{
    for (size_t i = 0; i < p->n[l]; i++) {
        const struct rule *r = &p->rules[l][i];
        int rc = pcre2_match(r->re, (PCRE2_SPTR)s, n, 0, 0, m->md, m->mc);
        if (rc == PCRE2_ERROR_NOMATCH) continue;
        if (rc < 0) continue; /* a limit: this rule does not decide the string */
        g->subj = s;
        g->ov = pcre2_get_ovector_pointer(m->md);
        g->n = rc ? rc : (int)pcre2_get_ovector_count(m->md);
        return r;
    }
    return NULL;
}

/* Tokens of automated clients uap-core does not call "Spider": headless browsers, test
 * drivers, HTTP libraries and command-line tools, and the "+http" a crawler names itself with. */
static const char *const bot_tokens[] = {
    "headless", "phantomjs", "puppeteer", "playwright", "selenium", "webdriver", "lighthouse", "pagespeed",
    "curl/", "wget/", "python-requests", "python-urllib", "aiohttp", "go-http-client", "libwww-perl", "java/",
    "apache-httpclient", "node-fetch", "axios/", "scrapy", "httpie", "postmanruntime", "+http", "crawler",
    "spider", "bot/", "bot;", "bot)", "bot-", "bot ", NULL};

static void classify(struct ff_ua *u, const char *s, size_t n)
{
    struct ff_str str = {s, (uint32_t)n};
    u->bot = !strcmp(u->device, "Spider");
    for (int i = 0; !u->bot && bot_tokens[i]; i++) u->bot = ff_str_contains_ci(str, bot_tokens[i]) ? 1 : 0;
    static const char *const mobile_os[] = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "Symbian OS",
                                            "Firefox OS", "Sailfish", "webOS", "Tizen", "HarmonyOS", "watchOS", NULL};
    static const char *const desktop_os[] = {"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora",
                                             "Debian", "FreeBSD", "OpenBSD", "NetBSD", "Solaris", "Mint",
                                             "Arch Linux", "Gentoo", "Red Hat", "SUSE", "macOS", NULL};
    int mobile_os_hit = 0, desktop_os_hit = 0;
    for (int i = 0; mobile_os[i]; i++) mobile_os_hit |= !strcmp(u->os, mobile_os[i]);
    for (int i = 0; desktop_os[i]; i++) desktop_os_hit |= !strcmp(u->os, desktop_os[i]);
    if (u->bot) u->device_type = "bot";
    else if (!strcmp(u->device, "iPad") || strstr(u->device, "Tablet") || strstr(u->model, "Tab") ||
             strstr(u->device, "Kindle") || ff_str_contains_ci(str, "tablet") ||
             (!strcmp(u->os, "Android") && !ff_str_contains_ci(str, "mobile")))
        u->device_type = "tablet";
    else if (mobile_os_hit || ff_str_contains_ci(str, "mobi") || !strcmp(u->device, "iPhone") ||
             !strcmp(u->device, "iPod") || !strncmp(u->device, "Generic Smartphone", 18) ||
             !strncmp(u->device, "Generic Feature Phone", 21))
        u->device_type = "mobile";
    else if (desktop_os_hit || (strcmp(u->family, "Other") && u->family[0])) u->device_type = "desktop";
    else u->device_type = "";
}

int ff_ua_parse(const struct ff_ua_parser *p, const char *s, size_t n, struct ff_ua *u)
{
    memset(u, 0, sizeof *u);
    u->device_type = "";
    if (n > FF_UA_MAX_INPUT) n = FF_UA_MAX_INPUT;
    if (!n) return 0; /* no user agent: nothing to say, and not a bot */
    struct matcher *m = matcher_get();
    if (!m) return -ENOMEM;
    /* Each list fills its fields from the first matching rule: a replacement, else a group
     * (device brand has no default group); no match leaves the first field "Other". */
    char *const fields[NLISTS][MAX_REPS] = {
        [L_UA] = {u->family, u->major, u->minor, u->patch},
        [L_OS] = {u->os, u->os_major, u->os_minor, u->os_patch, u->os_patch_minor},
        [L_DEVICE] = {u->device, u->brand, u->model},
    };
    static const int groups_of[NLISTS][MAX_REPS] = {[L_UA] = {1, 2, 3, 4}, [L_OS] = {1, 2, 3, 4, 5},
                                                     [L_DEVICE] = {1, 0, 1}};
    for (int l = 0; l < NLISTS; l++) {
        struct groups g;
        const struct rule *r = first_match(p, l, m, s, n, &g);
        for (int k = 0; r && k < MAX_REPS && fields[l][k]; k++) fill(fields[l][k], r->rep[k], &g, groups_of[l][k]);
        if (!fields[l][0][0]) set_field(fields[l][0], "Other", 5);
    }
    classify(u, s, n);
    return 0;
}

static void version(char out[FF_UA_FIELD], const char *a, const char *b, const char *c)
{
    const char *parts[] = {a, b, c};
    size_t o = 0;
    out[0] = 0;
    for (int i = 0; i < 3 && parts[i][0]; i++) {
        int w = snprintf(out + o, FF_UA_FIELD - o, "%s%s", i ? "." : "", parts[i]);
        if (w < 0 || (size_t)w >= FF_UA_FIELD - o) break;
        o += (size_t)w;
    }
}

void ff_ua_browser_version(const struct ff_ua *u, char out[FF_UA_FIELD]) { version(out, u->major, u->minor, u->patch); }
void ff_ua_os_version(const struct ff_ua *u, char out[FF_UA_FIELD])
{
    version(out, u->os_major, u->os_minor, u->os_patch);
}

void ff_ua_brief(const struct ff_ua *u, struct ff_ua_brief *out)
{
    memset(out, 0, sizeof *out); /* whole, padding too: the cache's copies compare equal */
    memcpy(out->browser, u->family, FF_UA_FIELD);
    memcpy(out->os, u->os, FF_UA_FIELD);
    ff_ua_browser_version(u, out->browser_version);
    ff_ua_os_version(u, out->os_version);
    out->browser_len = (uint8_t)strlen(out->browser);
    out->browser_version_len = (uint8_t)strlen(out->browser_version);
    out->os_len = (uint8_t)strlen(out->os);
    out->os_version_len = (uint8_t)strlen(out->os_version);
    out->device_type = u->device_type;
    out->bot = u->bot;
}

/* ---- the cache ---- */

#define SHARDS 16

struct cached {
    uint64_t hash;
    uint32_t len;
    struct ff_ua_brief val;
    char key[];
};

struct shard {
    pthread_mutex_t mu;
    struct cached **slots; /* allocated on the shard's first insert */
    size_t cap, count, max; /* cap: a power of two, at least twice max */
};

struct ff_ua_cache {
    const struct ff_ua_parser *p;
    struct shard shards[SHARDS];
    atomic_uint_fast64_t hits, misses;
    uint64_t id; /* unique in the process: what a thread's memo keys on */
};

/* The last user agent a thread looked up: the events of one request mostly share it (a
 * browser's batch), and the event loops would otherwise take turns on one shard's lock. */
static _Thread_local struct {
    uint64_t cache;
    uint32_t len;
    char ua[FF_UA_MAX_INPUT];
    struct ff_ua_brief val;
} last_ua;
static atomic_uint_fast64_t next_cache_id = 1;

static void remember_last(const struct ff_ua_cache *c, const char *s, size_t n, const struct ff_ua_brief *val)
{
    last_ua.cache = c->id;
    last_ua.len = (uint32_t)n;
    memcpy(last_ua.ua, s, n);
    last_ua.val = *val;
}

static void shard_clear(struct shard *sh)
{
    for (size_t i = 0; sh->slots && i < sh->cap; i++) {
        ff_free(sh->slots[i]);
        sh->slots[i] = NULL;
    }
    sh->count = 0;
}

struct ff_ua_cache *ff_ua_cache_new(const struct ff_ua_parser *p, size_t max_entries)
{
    struct ff_ua_cache *c = ff_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->p = p;
    c->id = atomic_fetch_add(&next_cache_id, 1);
    size_t per = max_entries / SHARDS + 1, cap = 16;
    while (cap < 2 * per) cap *= 2;
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&c->shards[i].mu, NULL);
        c->shards[i].cap = cap;
        c->shards[i].max = per;
    }
    return c;
}

void ff_ua_cache_free(struct ff_ua_cache *c)
{
    if (!c) return;
    for (int i = 0; i < SHARDS; i++) {
        struct shard *sh = &c->shards[i];
        shard_clear(sh);
        ff_free(sh->slots);
        pthread_mutex_destroy(&sh->mu);
    }
    ff_free(c);
}

/* The slot holding the key, or the empty slot where it would go. Caller holds sh->mu and
 * sh->slots exists. */
static struct cached **probe(struct shard *sh, uint64_t h, const char *s, size_t n)
{
    for (size_t i = (size_t)(h >> 4) & (sh->cap - 1);; i = (i + 1) & (sh->cap - 1)) {
        struct cached *e = sh->slots[i];
        if (!e || (e->hash == h && e->len == n && !memcmp(e->key, s, n))) return &sh->slots[i];
    }
}

int ff_ua_cache_get(struct ff_ua_cache *c, const char *s, size_t n, struct ff_ua_brief *out)
{
    if (n > FF_UA_MAX_INPUT) n = FF_UA_MAX_INPUT; /* the parse ignores the rest too */
    if (last_ua.cache == c->id && last_ua.len == n && !memcmp(last_ua.ua, s, n)) {
        *out = last_ua.val;
        atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
        return 0;
    }
    uint64_t h = XXH3_64bits(s, n);
    struct shard *sh = &c->shards[h & (SHARDS - 1)];
    pthread_mutex_lock(&sh->mu);
    struct cached **e = sh->slots ? probe(sh, h, s, n) : NULL;
    if (e && *e) {
        *out = (*e)->val;
        pthread_mutex_unlock(&sh->mu);
        remember_last(c, s, n, out);
        atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
        return 0;
    }
    pthread_mutex_unlock(&sh->mu);
    atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
    struct ff_ua full;
    int rc = ff_ua_parse(c->p, s, n, &full); /* outside the lock: it is the slow part */
    if (rc) return rc;
    ff_ua_brief(&full, out);
    remember_last(c, s, n, out);
    struct cached *add = ff_malloc(sizeof *add + (n ? n : 1));
    if (!add) return 0; /* parsed, just not remembered */
    add->hash = h;
    add->len = (uint32_t)n;
    add->val = *out;
    memcpy(add->key, s, n);
    pthread_mutex_lock(&sh->mu);
    if (!sh->slots) sh->slots = ff_calloc(sh->cap, sizeof *sh->slots);
    if (sh->slots) {
        if (sh->count >= sh->max) shard_clear(sh); /* bounded: a flood of distinct strings starts it over */
        e = probe(sh, h, s, n);
        if (!*e) {
            *e = add;
            add = NULL;
            sh->count++;
        }
    }
    pthread_mutex_unlock(&sh->mu);
    ff_free(add); /* not kept: another thread got there first, or no memory for the table */
    return 0;
}

void ff_ua_cache_counts(struct ff_ua_cache *c, uint64_t *hits, uint64_t *misses)
{
    *hits = atomic_load(&c->hits);
    *misses = atomic_load(&c->misses);
}
