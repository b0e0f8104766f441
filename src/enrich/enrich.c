/* enrich.c - the enrichment stage of ingest (see enrich.h). */
#include "enrich/enrich.h"

#include <errno.h>
#include <stdatomic.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/jsonscan.h"
#include "core/log.h"

#define NPM_GEOIP "node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb"

struct ff_enricher {
    struct ff_ua_parser *ua;
    struct ff_ua_cache *ua_cache;
    struct ff_geoip *geo;
    int ip_mode;
    uint64_t id; /* unique per opening: what an ff_enriched remembers came from this one */
};

int ff_enrich_default_geoip(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = 0;
    /* build/footfall (or build/asan/footfall, …): the repository is the first parent that has
     * the database under node_modules/ */
    for (char *slash = strrchr(exe, '/'); slash; slash = strrchr(exe, '/')) {
        *slash = 0;
        if ((size_t)snprintf(out, cap, "%s/%s", exe[0] ? exe : "", NPM_GEOIP) < cap && !access(out, R_OK)) return 0;
    }
    return -1;
}

int ff_enricher_open(struct ff_enricher **out, const struct ff_enrich_opts *o, char *err, size_t errlen)
{
    *out = NULL;
    struct ff_enricher *e = ff_calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    e->ip_mode = o->ip_mode;
    static atomic_uint_fast64_t opened;
    e->id = atomic_fetch_add(&opened, 1) + 1;
    int rc = 0;
    const char *ua_path = o->ua_regexes ? o->ua_regexes : FF_UA_DEFAULT_REGEXES;
    if (o->optional && !o->ua_regexes && access(ua_path, R_OK)) {
        ff_warn("enrich: %s is missing (Debian package uap-core): events get no browser, OS or device type", ua_path);
    } else {
        rc = ff_ua_parser_load(&e->ua, ua_path, err, errlen);
        if (!rc && !(e->ua_cache = ff_ua_cache_new(e->ua, o->ua_cache_entries ? o->ua_cache_entries : 16384)))
            rc = -ENOMEM;
    }
    char found[PATH_MAX];
    const char *geo_path = o->geoip ? o->geoip : !ff_enrich_default_geoip(found, sizeof found) ? found : NULL;
    if (!rc && geo_path) {
        rc = ff_geoip_open(&e->geo, geo_path, err, errlen);
    } else if (!rc && !o->optional) {
        snprintf(err, errlen, "no GeoIP database: %s not found (scripts/setup installs it)", NPM_GEOIP);
        rc = -ENOENT;
    } else if (!rc) {
        ff_warn("enrich: no GeoIP database (%s, installed by scripts/setup, or --geoip FILE): events get no "
                "country, region or city",
                NPM_GEOIP);
    }
    if (rc) {
        ff_enricher_close(e);
        return rc;
    }
    *out = e;
    return 0;
}

void ff_enricher_close(struct ff_enricher *e)
{
    if (!e) return;
    ff_ua_cache_free(e->ua_cache);
    ff_ua_parser_free(e->ua);
    ff_geoip_close(e->geo);
    ff_free(e);
}

int ff_enricher_has_ua(const struct ff_enricher *e) { return e && e->ua_cache; }
int ff_enricher_has_geoip(const struct ff_enricher *e) { return e && e->geo; }

void ff_enricher_ua_counts(const struct ff_enricher *e, uint64_t *hits, uint64_t *misses)
{
    *hits = *misses = 0;
    if (e && e->ua_cache) ff_ua_cache_counts(e->ua_cache, hits, misses);
}

void ff_enriched_init(struct ff_enriched *en)
{
    memset(en, 0, sizeof *en);
    ff_buf_init(&en->context, (size_t)1 << 32);
    ff_buf_init(&en->parse, (size_t)1 << 32);
    ff_buf_init(&en->last_context, (size_t)1 << 32);
}

void ff_enriched_free(struct ff_enriched *en)
{
    ff_buf_free(&en->context);
    ff_buf_free(&en->parse);
    ff_buf_free(&en->last_context);
}

/* The same request as the last event's, for all that enrichment reads of it. */
static int same_request(const struct ff_enrich_request *a, const struct ff_enrich_request *b)
{
    return ff_str_eq(a->user_agent, b->user_agent) && ff_str_eq(a->peer_ip, b->peer_ip) &&
           a->browser_sent == b->browser_sent && a->peer_is_person == b->peer_is_person &&
           a->visitor_salt == b->visitor_salt && a->header_is_persons == b->header_is_persons &&
           ff_str_eq(a->project, b->project);
}

/* Sets ev's enrichment fields from `from`, and its context when the setting rewrote it
 * (into en->context; otherwise the event's own context, the same bytes, stays). */
static void take_enrichment(struct ff_event *ev, const struct ff_event *from, int rewritten)
{
    ev->browser = from->browser, ev->browser_version = from->browser_version;
    ev->os = from->os, ev->os_version = from->os_version, ev->device_type = from->device_type;
    ev->bot = from->bot;
    ev->country = from->country, ev->region = from->region, ev->city = from->city;
    if (rewritten) ev->context = from->context;
}

/* ---- reading the context ---- */

/* What the context says: context.userAgent and context.ip (strings), and whether it has an
 * "ip" member at all. */
struct context_facts {
    struct ff_str ua, ip;
    int has_ip;
    struct ff_str ip_member; /* the scanner's: the whole "ip":… member, to cut it out */
};

/* Per thread, for the rare context the scanner leaves to a parse: a userAgent or ip written
 * with escapes, "ip" twice, or text the scanner gives up on. */
static pthread_key_t parser_key;
static pthread_once_t parser_once = PTHREAD_ONCE_INIT;
static void free_parser(void *p) { ff_json_parser_free(p); }
static void make_parser_key(void) { pthread_key_create(&parser_key, free_parser); }

static struct ff_json_parser *thread_parser(void)
{
    pthread_once(&parser_once, make_parser_key);
    struct ff_json_parser *p = pthread_getspecific(parser_key);
    if (!p && (p = ff_json_parser_new()) && pthread_setspecific(parser_key, p)) {
        ff_json_parser_free(p);
        p = NULL;
    }
    return p;
}

static int is_key(struct ff_str k, const char *name) { return ff_str_eq(k, (struct ff_str){name, (uint32_t)strlen(name)}); }

/* 0, or -1 when the context could not be read (then facts are empty). With a doc (the
 * parsed fallback), strings point into the parser. */
static int read_context(struct ff_str context, struct context_facts *f, struct ff_enriched *en,
                        struct ff_json_doc *doc, int *parsed)
{
    memset(f, 0, sizeof *f);
    *parsed = 0;
    if (!context.len) return 0;
    struct ff_jscan sc;
    struct ff_jscan_member m;
    int rc = ff_jscan_begin(&sc, context.p, context.len);
    while (!rc && (rc = ff_jscan_next(&sc, &m)) == 1) {
        rc = 0;
        int ua = is_key(m.key, "userAgent"), ip = is_key(m.key, "ip");
        if (ip && f->has_ip) {
            rc = -1; /* "ip" twice: the parser's way cuts every one of them */
            break;
        }
        if (ip) f->has_ip = 1, f->ip_member = m.member;
        if ((!ua && !ip) || m.kind != FF_JS_STRING) continue;
        if (m.escaped) {
            rc = -1; /* its text is not its content: the parser unescapes */
            break;
        }
        if (ua) f->ua = m.value;
        else f->ip = m.value;
    }
    if (rc == 0) return 0;
    /* the scanner gave up: parse */
    memset(f, 0, sizeof *f);
    struct ff_json_parser *p = thread_parser();
    if (!p || ff_json_parse_copy(p, &en->parse, context.p, context.len, doc) || doc->nodes[0].type != FF_JSON_OBJECT)
        return -1;
    *parsed = 1;
    for (uint32_t i = 1; i < doc->nodes[0].end; i = doc->nodes[i].end) {
        const struct ff_json_node *n = &doc->nodes[i];
        struct ff_str k = {n->key, n->key_len};
        if (is_key(k, "ip")) f->has_ip = 1;
        if (n->type != FF_JSON_STRING) continue;
        if (is_key(k, "userAgent")) f->ua = (struct ff_str){n->v.s, n->len};
        else if (is_key(k, "ip")) f->ip = (struct ff_str){n->v.s, n->len};
    }
    return 0;
}

/* ev->context less its "ip" member, plus "ip":set when set is not NULL, into en->context. */
static int rewrite_context(struct ff_str context, const struct context_facts *f, const struct ff_json_doc *doc,
                           int parsed, const char *set, struct ff_enriched *en, struct ff_event *ev)
{
    struct ff_buf *b = &en->context;
    ff_buf_reset(b);
    int rc = ff_buf_putc(b, '{');
    int first = 1;
    if (!parsed && context.len >= 2) {
        /* The scanner's text: the members around "ip", one comma between them. */
        const char *in = context.p + 1, *end = context.p + context.len - 1; /* inside the braces */
        const char *cut = end, *resume = end;
        if (f->ip_member.len) {
            cut = f->ip_member.p;
            resume = cut + f->ip_member.len;
            if (cut > in && cut[-1] == ',') cut--;
            else if (resume < end && *resume == ',') resume++;
        }
        rc = ff_buf_append(b, in, (size_t)(cut - in));
        if (!rc) rc = ff_buf_append(b, resume, (size_t)(end - resume));
        first = b->len == 1;
    } else if (parsed) {
        for (uint32_t i = 1; !rc && i < doc->nodes[0].end; i = doc->nodes[i].end) {
            const struct ff_json_node *n = &doc->nodes[i];
            if (is_key((struct ff_str){n->key, n->key_len}, "ip")) continue;
            if (!first) rc = ff_buf_putc(b, ',');
            first = 0;
            if (!rc) rc = ff_json_write_str(b, n->key, n->key_len);
            if (!rc) rc = ff_buf_putc(b, ':');
            if (!rc) rc = ff_json_write_node(b, doc, i);
        }
    }
    if (!rc && set) {
        if (!first) rc = ff_buf_putc(b, ',');
        first = 0;
        if (!rc) rc = ff_buf_append(b, "\"ip\":", 5);
        if (!rc) rc = ff_json_write_str(b, set, strlen(set));
    }
    if (!rc) rc = ff_buf_putc(b, '}');
    if (rc) return rc;
    /* an empty object is stored as absent, as normalisation does */
    ev->context = first ? (struct ff_str){"", 0} : (struct ff_str){b->data, (uint32_t)b->len};
    return 0;
}

static void set_ip_text(char out[FF_IP_TEXT], struct ff_str ip)
{
    size_t n = ip.len < FF_IP_TEXT - 1 ? ip.len : FF_IP_TEXT - 1;
    memcpy(out, ip.p, n);
    out[n] = 0;
}

/* "cl-" and 16 hex digits: 64 bits of a keyed hash, plenty to tell one day's visitors of a
 * project apart, and nothing that outlives the salt. */
static void visitor_id(const uint8_t *salt, struct ff_str project, struct ff_str ip, struct ff_str ua, char out[24])
{
    crypto_generichash_state st;
    unsigned char h[16];
    static const unsigned char sep = 0;
    crypto_generichash_init(&st, salt, 32, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)project.p, project.len);
    crypto_generichash_update(&st, &sep, 1);
    crypto_generichash_update(&st, (const unsigned char *)ip.p, ip.len);
    crypto_generichash_update(&st, &sep, 1);
    crypto_generichash_update(&st, (const unsigned char *)ua.p, ua.len);
    crypto_generichash_final(&st, h, sizeof h);
    memcpy(out, "cl-", 3);
    sodium_bin2hex(out + 3, 17, h, 8);
}

static int enrich(struct ff_enricher *e, const struct ff_enrich_request *rq, struct ff_event *ev,
                  struct ff_enriched *en);

int ff_enrich_event(struct ff_enricher *e, const struct ff_enrich_request *rq, struct ff_event *ev,
                    struct ff_enriched *en)
{
    if (!e) return 0;
    /* A cookieless visitor id is the event's own: such events are always worked out. */
    int own = rq->visitor_salt && !ev->anonymous_id.len;
    if (!own && en->last_valid && en->last_enricher == e->id && ev->context.len == en->last_context.len &&
        (!ev->context.len || !memcmp(ev->context.p, en->last_context.data, ev->context.len)) &&
        same_request(rq, &en->last_rq)) {
        take_enrichment(ev, &en->last_out, en->last_rewritten);
        return 0;
    }
    en->last_valid = 0;
    ff_buf_reset(&en->last_context);
    if (!own && ff_buf_append(&en->last_context, ev->context.p, ev->context.len)) return -ENOMEM;
    const char *given = ev->context.p;
    int rc = enrich(e, rq, ev, en);
    if (!rc && !own) {
        en->last_rq = *rq;
        en->last_enricher = e->id;
        en->last_rewritten = ev->context.p != given;
        take_enrichment(&en->last_out, ev, 1);
        en->last_valid = 1;
    }
    return rc;
}

static int enrich(struct ff_enricher *e, const struct ff_enrich_request *rq, struct ff_event *ev, struct ff_enriched *en)
{
    struct context_facts f;
    struct ff_json_doc doc;
    int parsed;
    /* Normalisation wrote the context, so it always reads; failing here means no memory for
     * a parser: the request then fails unacknowledged rather than store an address the
     * setting says to drop, or lose the context. */
    if (read_context(ev->context, &f, en, &doc, &parsed)) return -ENOMEM;

    /* The request's User-Agent is the person's where their browser sent it (the pixel, the
     * seed format, or fetch and sendBeacon from a page, which send Origin: the tracker). */
    struct ff_str ua = f.ua.len                                  ? f.ua
                       : rq->browser_sent || rq->header_is_persons ? rq->user_agent
                                                                   : (struct ff_str){"", 0};
    if (e->ua_cache && ua.len) {
        struct ff_ua_brief *u = &en->ua;
        int rc = ff_ua_cache_get(e->ua_cache, ua.p, ua.len, u);
        if (rc) return rc;
        ev->browser = (struct ff_str){u->browser, u->browser_len};
        ev->browser_version = (struct ff_str){u->browser_version, u->browser_version_len};
        ev->os = (struct ff_str){u->os, u->os_len};
        ev->os_version = (struct ff_str){u->os_version, u->os_version_len};
        ev->device_type = (struct ff_str){u->device_type, (uint32_t)strlen(u->device_type)};
        ev->bot = u->bot;
    }

    /* The event's own address when it has an "ip" member (none when that is not a string: the
     * request's address would be someone else's, a proxy's), else the request's where the
     * request speaks for the person. */
    struct ff_str ip = f.has_ip ? f.ip : rq->peer_is_person ? rq->peer_ip : (struct ff_str){"", 0};
    /* Without a user agent (a common-format log line, a client that sends none) the address
     * alone makes the visitor: one id for everyone behind it that day, which counts them as
     * one visitor rather than as nobody. */
    if (rq->visitor_salt && !ev->anonymous_id.len && ip.len) {
        visitor_id(rq->visitor_salt, rq->project, ip, ua, en->visitor);
        ev->anonymous_id = (struct ff_str){en->visitor, 19};
    }
    if (e->geo && ip.len && ff_geoip_lookup_cached(e->geo, ip.p, ip.len, &en->geo)) {
        ev->country = (struct ff_str){en->geo.country, (uint32_t)strlen(en->geo.country)};
        ev->region = (struct ff_str){en->geo.region, (uint32_t)strlen(en->geo.region)};
        ev->city = (struct ff_str){en->geo.city, (uint32_t)strlen(en->geo.city)};
    }

    /* The setting: drop (the default) removes context.ip; truncate stores the address with
     * its host part zeroed, keep as it came (the request's address when the context had none). */
    const char *set = NULL;
    if (e->ip_mode == FF_IP_TRUNCATE && ip.len && !ff_ip_truncate(ip.p, ip.len, en->ip)) set = en->ip;
    else if (e->ip_mode == FF_IP_KEEP && !f.has_ip && ip.len) set_ip_text(en->ip, ip), set = en->ip;
    int change = e->ip_mode == FF_IP_DROP ? f.has_ip : e->ip_mode == FF_IP_TRUNCATE ? f.has_ip || set : set != NULL;
    return change ? rewrite_context(ev->context, &f, &doc, parsed, set, en, ev) : 0;
}
