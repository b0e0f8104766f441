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

/* An hour in caches, then revalidated by ETag: a new tracker reaches every site within the
 * hour, and a revalidation costs a 304. */
#define SCRIPT_CACHE "public, max-age=3600"

static const struct {
    const char *path, *content_type, *cache_control;
    const unsigned char *start, *end, *gz_start, *gz_end;
} files[] = {
    {"/t.js", "text/javascript; charset=utf-8", SCRIPT_CACHE, tracker_js, tracker_js_end, tracker_js_gz,
     tracker_js_gz_end},
};
#define NFILES (sizeof files / sizeof files[0])

static struct ff_asset assets[NFILES];
static char etags[NFILES][24];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
    for (size_t i = 0; i < NFILES; i++) {
        size_t len = (size_t)(files[i].end - files[i].start);
        snprintf(etags[i], sizeof etags[i], "\"%016llx\"", (unsigned long long)XXH3_64bits(files[i].start, len));
        assets[i] = (struct ff_asset){files[i].path, files[i].content_type, files[i].cache_control, files[i].start, len,
                                      files[i].gz_start, (size_t)(files[i].gz_end - files[i].gz_start), etags[i]};
    }
}

const struct ff_asset *ff_asset_find(const char *path, size_t len)
{
    pthread_once(&once, init);
    for (size_t i = 0; i < NFILES; i++)
        if (strlen(assets[i].path) == len && memcmp(assets[i].path, path, len) == 0) return &assets[i];
    return NULL;
}
