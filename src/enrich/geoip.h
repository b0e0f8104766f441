/* geoip.h - an IP address → country, region and city, from a MaxMind DB file (libmaxminddb):
 * MaxMind's GeoLite2/GeoIP2 Country and City files (country.iso_code,
 * subdivisions.0.iso_code, city.names.en) and the free, CC0 geo-whois-asn-country file from
 * npm (@ip-location-db/geo-whois-asn-country-mmdb: a top-level country_code) alike.
 *
 * And what footfall does with an address once it has served for geo (R15): drop it, keep it,
 * or keep a truncated form (IPv4 /24, IPv6 /48, the anonymisation Google Analytics used). */
#ifndef FF_GEOIP_H
#define FF_GEOIP_H

#include <stddef.h>
#include <stdint.h>

#define FF_GEO_FIELD 64
#define FF_IP_TEXT 46 /* INET6_ADDRSTRLEN */

struct ff_geo {
    char country[FF_GEO_FIELD]; /* ISO 3166-1 alpha-2, "" when unknown */
    char region[FF_GEO_FIELD];  /* ISO 3166-2 subdivision code, else its English name */
    char city[FF_GEO_FIELD];    /* English name */
};

struct ff_geoip;
/* Opens a .mmdb file; an error names the file and what is wrong with it. */
int ff_geoip_open(struct ff_geoip **out, const char *path, char *err, size_t errlen);
void ff_geoip_close(struct ff_geoip *g);
/* A number no other database opened by this process has: what a cache of lookups keys on. */
uint64_t ff_geoip_id(const struct ff_geoip *g);
/* Looks an address (text, any bytes) up. 1 with *out filled, 0 when the text is not an
 * address or the file does not know it (out is then all ""). Thread-safe. */
int ff_geoip_lookup(const struct ff_geoip *g, const char *ip, size_t len, struct ff_geo *out);
/* The same, through the calling thread's cache of recent addresses (FF_GEO_CACHE, direct
 * mapped): a visitor's events come from one address, and each lookup in the file costs
 * about 300 ns. */
#define FF_GEO_CACHE 1024
int ff_geoip_lookup_cached(const struct ff_geoip *g, const char *ip, size_t len, struct ff_geo *out);

enum ff_ip_mode { FF_IP_DROP, FF_IP_TRUNCATE, FF_IP_KEEP };
/* "drop", "truncate", "keep" → the mode; -1 otherwise. */
int ff_ip_mode_parse(const char *s);
/* The address in `ip` with its host part zeroed, as text into out[FF_IP_TEXT]. 0, or -1 when
 * `ip` is not an address. */
int ff_ip_truncate(const char *ip, size_t len, char out[FF_IP_TEXT]);

#endif
