/* Fuzzes what enrichment does with an untrusted address (context.ip): the GeoIP lookup in the
 * free country database the set-up installs, and the truncation of --ip truncate, checking
 * that a truncated address is an address again and looks up to the same country. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich/enrich.h"
#include "enrich/geoip.h"

static struct ff_geoip *geo;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!geo) {
        char path[PATH_MAX], err[512];
        if (ff_enrich_default_geoip(path, sizeof path) || ff_geoip_open(&geo, path, err, sizeof err)) {
            fprintf(stderr, "no GeoIP database (scripts/setup installs it)\n");
            abort();
        }
    }
    const char *ip = (const char *)data;
    struct ff_geo g, t;
    int found = ff_geoip_lookup(geo, ip, size, &g);
    if (strnlen(g.country, FF_GEO_FIELD) >= FF_GEO_FIELD || strnlen(g.city, FF_GEO_FIELD) >= FF_GEO_FIELD) abort();
    if (!found && (g.country[0] || g.region[0] || g.city[0])) abort();
    char out[FF_IP_TEXT];
    if (ff_ip_truncate(ip, size, out) == 0) {
        char again[FF_IP_TEXT];
        /* truncating twice changes nothing */
        if (ff_ip_truncate(out, strlen(out), again) || strcmp(out, again)) abort();
        (void)ff_geoip_lookup(geo, out, strlen(out), &t);
    }
    return 0;
}
