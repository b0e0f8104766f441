/* assets.c - the embedded files (see assets.h). */
#include "web/assets.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

/* Embeds FILE (a path from the repository root, where make runs the compiler) as the bytes
 * SYM[0..SYM_end), followed by a NUL that is not part of it. */
#define EMBED(sym, file)                                                                                 \
    __asm__(".section .rodata\n.balign 16\n" #sym ":\n.incbin \"" file "\"\n" #sym "_end:\n.byte 0\n" \
            ".previous\n");                                                                              \
    extern const unsigned char sym[], sym##_end[]

EMBED(tracker_js, "build/web/t.js");
EMBED(tracker_js_gz, "build/web/t.js.gz");
EMBED(index_html, "build/web/index.html");
EMBED(index_html_gz, "build/web/index.html.gz");
EMBED(app_js, "build/web/app.js");
EMBED(app_js_gz, "build/web/app.js.gz");
EMBED(app_css, "build/web/app.css");
EMBED(app_css_gz, "build/web/app.css.gz");
EMBED(demo_html, "build/web/demo.html");
EMBED(demo_html_gz, "build/web/demo.html.gz");
EMBED(echarts_js, "build/web/echarts.min.js");
EMBED(echarts_js_gz, "build/web/echarts.min.js.gz");

/* The tracker: an hour in caches, then revalidated by ETag (a new tracker reaches every site
 * within the hour, and a revalidation costs a 304). The dashboard: revalidated on every load,
 * so a new binary's dashboard shows at once. */
#define SCRIPT_CACHE "public, max-age=3600"
#define DASHBOARD_CACHE "no-cache"
#define JS "text/javascript; charset=utf-8"
/* The dashboard's page may run only its own scripts and talk only to footfall, and no other
 * site may frame it: the read key sits in its localStorage. (Style attributes are allowed:
 * the page sets bar widths and heat-map colours with them.) */
#define DASHBOARD_CSP                                                                                     \
    "Content-Security-Policy: default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'\r\n"                  \
    "X-Content-Type-Options: nosniff\r\n"
#define ASSET(path, type, cache, sym) {path, type, cache, sym, sym##_end, sym##_gz, sym##_gz_end, ""}
#define PAGE(path, sym) {path, "text/html; charset=utf-8", DASHBOARD_CACHE, sym, sym##_end, sym##_gz, sym##_gz_end, DASHBOARD_CSP}

static const struct {
    const char *path, *content_type, *cache_control;
    const unsigned char *start, *end, *gz_start, *gz_end;
    const char *headers;
} files[] = {
    ASSET("/t.js", JS, SCRIPT_CACHE, tracker_js),
    PAGE("/", index_html),
    PAGE("/index.html", index_html),
    ASSET("/assets/app.js", JS, DASHBOARD_CACHE, app_js),
    ASSET("/assets/app.css", "text/css; charset=utf-8", DASHBOARD_CACHE, app_css),
    ASSET("/assets/echarts.min.js", JS, DASHBOARD_CACHE, echarts_js),
    /* a template: the routes fill in the write key (and serve it only with --demo on) */
    ASSET("/demo", "text/html; charset=utf-8", DASHBOARD_CACHE, demo_html),
};
#define NFILES (sizeof files / sizeof files[0])

static struct ff_asset assets[NFILES];
static char etags[NFILES][17];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
    for (size_t i = 0; i < NFILES; i++) {
        size_t len = (size_t)(files[i].end - files[i].start);
        snprintf(etags[i], sizeof etags[i], "%016llx", (unsigned long long)XXH3_64bits(files[i].start, len));
        assets[i] = (struct ff_asset){files[i].path,     files[i].content_type,
                                      files[i].cache_control, files[i].start, len, files[i].gz_start,
                                      (size_t)(files[i].gz_end - files[i].gz_start), etags[i], files[i].headers};
    }
}

const struct ff_asset *ff_asset_find(const char *path, size_t len)
{
    pthread_once(&once, init);
    for (size_t i = 0; i < NFILES; i++)
        if (strlen(assets[i].path) == len && memcmp(assets[i].path, path, len) == 0) return &assets[i];
    return NULL;
}
