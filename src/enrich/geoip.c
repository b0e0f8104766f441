/* geoip.c - MaxMind DB lookups and IP truncation (see geoip.h). */
#include "enrich/geoip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/errors.h"

/* Where a file keeps the country: MaxMind's layout (country.iso_code, and subdivisions and
 * city in City files) or a top-level country_code (ip-location-db). Learnt from the first
 * lookup that finds one, so later lookups ask only for what is there. */
enum layout { LAYOUT_UNKNOWN, LAYOUT_MAXMIND, LAYOUT_CODE };

struct ff_geoip {
    MMDB_s db;
    atomic_int layout;
    int city;    /* its database_type does not rule out subdivisions and cities */
    uint64_t id; /* unique in the process, for caches of lookups */
};

static atomic_uint_fast64_t next_id = 1;
uint64_t ff_geoip_id(const struct ff_geoip *g) { return g->id; }

int ff_geoip_open(struct ff_geoip **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    struct ff_geoip *g = ff_calloc(1, sizeof *g);
    if (!g) return -ENOMEM;
    errno = 0;
    int st = MMDB_open(path, MMDB_MODE_MMAP, &g->db);
    if (st != MMDB_SUCCESS) {
        int sys = (st == MMDB_FILE_OPEN_ERROR || st == MMDB_IO_ERROR) && errno ? errno : 0;
        snprintf(err, errlen, "%s: %s%s%s", path, MMDB_strerror(st), sys ? ": " : "", sys ? strerror(sys) : "");
        ff_free(g);
        return sys ? -sys : FF_EINVAL;
    }
    const char *type = g->db.metadata.database_type ? g->db.metadata.database_type : "";
    g->city = !strstr(type, "ountry") && !strstr(type, "ASN"); /* "GeoLite2-Country", "country" */
    atomic_init(&g->layout, LAYOUT_UNKNOWN);
    g->id = atomic_fetch_add(&next_id, 1);
    *out = g;
    return 0;
}

void ff_geoip_close(struct ff_geoip *g)
{
    if (!g) return;
    MMDB_close(&g->db);
    ff_free(g);
}

/* A string or an unsigned code at `path` of the entry into out; 1 when found. */
static int get(MMDB_entry_s *e, const char *const *path, char out[FF_GEO_FIELD])
{
    MMDB_entry_data_s d;
    if (MMDB_aget_value(e, &d, path) != MMDB_SUCCESS || !d.has_data || d.type != MMDB_DATA_TYPE_UTF8_STRING)
        return 0;
    size_t n = d.data_size < FF_GEO_FIELD - 1 ? d.data_size : FF_GEO_FIELD - 1;
    while (n && n < d.data_size && ((unsigned char)d.utf8_string[n] & 0xC0) == 0x80) n--; /* whole characters */
    memcpy(out, d.utf8_string, n);
    out[n] = 0;
    return n > 0;
}

/* Parses an IPv4 or IPv6 address (no port, no brackets, no zone) into *ss. */
static int parse_ip(const char *ip, size_t len, struct sockaddr_storage *ss)
{
    char buf[FF_IP_TEXT];
    if (!len || len >= sizeof buf || memchr(ip, 0, len)) return -1;
    memcpy(buf, ip, len);
    buf[len] = 0;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, buf, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, &v6->sin6_addr) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) { /* ::ffff:a.b.c.d, an IPv4 client of a dual-stack socket */
            struct in_addr a;
            memcpy(&a, v6->sin6_addr.s6_addr + 12, 4);
            memset(ss, 0, sizeof *ss);
            v4->sin_family = AF_INET;
            v4->sin_addr = a;
            return 0;
        }
        v6->sin6_family = AF_INET6;
        return 0;
    }
    return -1;
}

int ff_geoip_lookup(const struct ff_geoip *g, const char *ip, size_t len, struct ff_geo *out)
{
    memset(out, 0, sizeof *out);
    struct sockaddr_storage ss;
    if (!g || parse_ip(ip, len, &ss)) return 0;
    int err = 0;
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&g->db, (const struct sockaddr *)&ss, &err);
    if (err != MMDB_SUCCESS || !r.found_entry) return 0;
    static const char *const iso[] = {"country", "iso_code", NULL}, *const code[] = {"country_code", NULL},
                             *const sub_iso[] = {"subdivisions", "0", "iso_code", NULL},
                             *const sub_name[] = {"subdivisions", "0", "names", "en", NULL},
                             *const city[] = {"city", "names", "en", NULL};
    struct ff_geoip *learn = (struct ff_geoip *)g; /* the layout is a cache; the file stays read-only */
    int layout = atomic_load_explicit(&learn->layout, memory_order_relaxed);
    if (layout != LAYOUT_CODE && get(&r.entry, iso, out->country)) layout = LAYOUT_MAXMIND;
    else if (layout != LAYOUT_MAXMIND && get(&r.entry, code, out->country)) layout = LAYOUT_CODE;
    if (out->country[0]) atomic_store_explicit(&learn->layout, layout, memory_order_relaxed);
    if (g->city && layout != LAYOUT_CODE) {
        char sub[FF_GEO_FIELD];
        /* MaxMind keeps the part of an ISO 3166-2 code after the dash ("CA" for California as
         * for Cádiz): the country goes in front so that regions of different countries differ */
        if (get(&r.entry, sub_iso, sub)) {
            size_t c = strlen(out->country), n = strlen(sub);
            if (c && c + 1 + n < sizeof out->region) {
                memcpy(out->region, out->country, c);
                out->region[c] = '-';
                memcpy(out->region + c + 1, sub, n + 1);
            } else {
                memcpy(out->region, sub, n + 1);
            }
        } else
            get(&r.entry, sub_name, out->region);
        get(&r.entry, city, out->city);
    }
    return out->country[0] || out->region[0] || out->city[0];
}

struct geo_slot {
    uint64_t db; /* ff_geoip_id; 0: empty */
    uint32_t len;
    int found;
    char ip[FF_IP_TEXT];
    struct ff_geo geo;
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static void cache_free(void *p) { ff_free(p); }
static void cache_init(void) { pthread_key_create(&cache_key, cache_free); }

int ff_geoip_lookup_cached(const struct ff_geoip *g, const char *ip, size_t len, struct ff_geo *out)
{
    if (!g || len >= FF_IP_TEXT) return ff_geoip_lookup(g, ip, len, out);
    pthread_once(&cache_once, cache_init);
    struct geo_slot *cache = pthread_getspecific(cache_key);
    if (!cache && (cache = ff_calloc(FF_GEO_CACHE, sizeof *cache))) pthread_setspecific(cache_key, cache);
    if (!cache) return ff_geoip_lookup(g, ip, len, out);
    struct geo_slot *s = &cache[XXH3_64bits(ip, len) & (FF_GEO_CACHE - 1)];
    if (s->db == g->id && s->len == len && !memcmp(s->ip, ip, len)) {
        *out = s->geo;
        return s->found;
    }
    int found = ff_geoip_lookup(g, ip, len, out);
    s->db = g->id;
    s->len = (uint32_t)len;
    memcpy(s->ip, ip, len);
    s->found = found;
    s->geo = *out;
    return found;
}

int ff_ip_mode_parse(const char *s)
{
    return !strcmp(s, "drop") ? FF_IP_DROP : !strcmp(s, "truncate") ? FF_IP_TRUNCATE : !strcmp(s, "keep") ? FF_IP_KEEP : -1;
}

int ff_ip_truncate(const char *ip, size_t len, char out[FF_IP_TEXT])
{
    struct sockaddr_storage ss;
    if (parse_ip(ip, len, &ss)) return -1;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
        v4->sin_addr.s_addr &= htonl(0xFFFFFF00u);
        return inet_ntop(AF_INET, &v4->sin_addr, out, FF_IP_TEXT) ? 0 : -1;
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    memset(v6->sin6_addr.s6_addr + 6, 0, 10);
    return inet_ntop(AF_INET6, &v6->sin6_addr, out, FF_IP_TEXT) ? 0 : -1;
}
