/* zstd_ctx.c - zstd through contexts kept per thread (see zstd_ctx.h). */
#include "core/zstd_ctx.h"

#include <pthread.h>
#include <zstd.h>
#include <zstd_errors.h>

static pthread_key_t dctx_key, cctx_key;
static int keys_ok; /* both keys made: an unmade key's number may be another module's */
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static void free_dctx(void *p) { ZSTD_freeDCtx(p); }
static void free_cctx(void *p) { ZSTD_freeCCtx(p); }

static void make_keys(void)
{
    keys_ok = !pthread_key_create(&dctx_key, free_dctx) && !pthread_key_create(&cctx_key, free_cctx);
}

static void *make_dctx(void) { return ZSTD_createDCtx(); }
static void *make_cctx(void) { return ZSTD_createCCtx(); }

/* The calling thread's context under *key, made on first use; NULL when out of memory or
 * out of thread keys. */
static void *thread_ctx(pthread_key_t *key, void *(*make)(void), void (*drop)(void *))
{
    pthread_once(&keys_once, make_keys);
    if (!keys_ok) return NULL;
    void *c = pthread_getspecific(*key);
    if (!c && (c = make()) && pthread_setspecific(*key, c)) {
        drop(c);
        c = NULL;
    }
    return c;
}

/* The error code zstd itself returns when it cannot allocate. */
static size_t no_memory(void) { return (size_t)-(int)ZSTD_error_memory_allocation; }

size_t ff_zstd_decompress(void *dst, size_t cap, const void *src, size_t n)
{
    ZSTD_DCtx *d = thread_ctx(&dctx_key, make_dctx, free_dctx);
    return d ? ZSTD_decompressDCtx(d, dst, cap, src, n) : no_memory();
}

size_t ff_zstd_compress(void *dst, size_t cap, const void *src, size_t n, int level)
{
    ZSTD_CCtx *c = thread_ctx(&cctx_key, make_cctx, free_cctx);
    return c ? ZSTD_compressCCtx(c, dst, cap, src, n, level) : no_memory();
}
