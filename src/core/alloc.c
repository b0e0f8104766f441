/* alloc.c - counting allocation wrappers (see alloc.h). */
#include "alloc.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#include "timeutil.h"

static atomic_llong in_use;
static atomic_llong idle;
static atomic_long fail_countdown;

static int should_fail(void)
{
    long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (n <= 0) return 0;
    return atomic_fetch_sub(&fail_countdown, 1) == 1;
}

void ff_alloc_keep_freed_memory(void)
{
    /* Setting these turns off glibc's sliding thresholds. Blocks up to 32 MiB (glibc's upper
     * bound) come from the heaps, not from a mapping of their own; a heap keeps up to 256 MiB
     * free at its top. The top pad matters most: a thread's arena deletes a secondary heap
     * as soon as it is empty unless the pad says to keep that much room, and the flush and
     * merge threads empty theirs at the end of every part. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_TOP_PAD, 64 << 20);
}

#define HUGE_TUNABLE "glibc.malloc.hugetlb"
#define REEXEC_MARK "FOOTFALL_REEXECUTED"

/* 1 when transparent huge pages can be had through madvise (mode "always" or "madvise"). */
static int thp_available(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return 0;
    char line[128] = "";
    int ok = fgets(line, sizeof line, f) && (strstr(line, "[always]") || strstr(line, "[madvise]"));
    fclose(f);
    return ok;
}

void ff_alloc_prefer_huge_pages(char **argv)
{
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) /* ASan's allocator ignores it */
    if (getenv(REEXEC_MARK)) { /* this is the second run: leave nothing behind for children */
        unsetenv(REEXEC_MARK);
        return;
    }
    const char *off = getenv("FOOTFALL_HUGE_PAGES"), *old = getenv("GLIBC_TUNABLES");
    if ((off && !strcmp(off, "0")) || (old && strstr(old, HUGE_TUNABLE))) return;
    /* under valgrind (its preload), whose allocator replaces glibc's: an exec would leave it
     * and run the rest uninstrumented unless it traces children */
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload")) return;
    int major = 0, minor = 0;
    if (sscanf(gnu_get_libc_version(), "%d.%d", &major, &minor) != 2 || major * 1000 + minor < 2035) return;
    if (!thp_available()) return;
    char tunables[4096];
    int n = snprintf(tunables, sizeof tunables, "%s%s" HUGE_TUNABLE "=1", old ? old : "", old && *old ? ":" : "");
    if (n < 0 || (size_t)n >= sizeof tunables) return;
    char *saved = old ? strdup(old) : NULL;
    if (old && !saved) return;
    /* the binary's own path, not /proc/self/exe: the kernel names the process (ps, top,
     * pkill) after the file exec'd */
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0 || (size_t)len >= sizeof self - 1) {
        free(saved);
        return;
    }
    self[len] = 0;
    if (setenv("GLIBC_TUNABLES", tunables, 1) == 0 && setenv(REEXEC_MARK, "1", 1) == 0) execv(self, argv);
    /* exec failed: carry on as we are, the environment as it was */
    unsetenv(REEXEC_MARK);
    if (saved) setenv("GLIBC_TUNABLES", saved, 1);
    else unsetenv("GLIBC_TUNABLES");
    free(saved);
#else
    (void)argv;
#endif
}

/* Bytes in use are counted per thread and moved into the shared count once a thread's
 * change passes DELTA_MAX either way (and when it exits): one counter updated by every
 * malloc and free bounced its cache line between the cores, 1.2% of the server's CPU under
 * single-event load (perf: the lock'd add in ff_free). ff_mem_in_use is then up to
 * DELTA_MAX per thread away from the bytes allocated, exact for the calling thread's own. */
#define DELTA_MAX (256LL << 10)
static _Thread_local long long delta;
static _Thread_local int delta_registered;
static pthread_key_t delta_key;
static int delta_key_ok;
static pthread_once_t delta_once = PTHREAD_ONCE_INIT;

static void flush_delta(void)
{
    if (delta) atomic_fetch_add_explicit(&in_use, delta, memory_order_relaxed);
    delta = 0;
}

static void delta_thread_exit(void *unused)
{
    (void)unused;
    flush_delta();
    /* Other keys' destructors may run after this one and free (the GeoIP cache, the user-agent
     * matcher): their count() registers again, and the thread runs this destructor once more. */
    delta_registered = 0;
}

static void make_delta_key(void) { delta_key_ok = !pthread_key_create(&delta_key, delta_thread_exit); }

static void count(long long n)
{
    if (!delta_registered) { /* so that what a thread changed last is counted when it exits */
        delta_registered = 1;
        pthread_once(&delta_once, make_delta_key);
        if (delta_key_ok) pthread_setspecific(delta_key, &delta);
    }
    delta += n;
    if (delta >= DELTA_MAX || delta <= -DELTA_MAX) flush_delta();
}

void *ff_malloc(size_t n)
{
    if (should_fail()) return NULL;
    void *p = malloc(n ? n : 1);
    if (p) count((long long)malloc_usable_size(p));
    return p;
}

void *ff_calloc(size_t n, size_t size)
{
    if (should_fail()) return NULL;
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p) count((long long)malloc_usable_size(p));
    return p;
}

void *ff_realloc(void *p, size_t n)
{
    if (!p) return ff_malloc(n);
    if (should_fail()) return NULL;
    size_t old = malloc_usable_size(p);
    void *q = realloc(p, n ? n : 1);
    if (!q) return NULL;
    count((long long)malloc_usable_size(q) - (long long)old);
    return q;
}

void *ff_grow(void *arr, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap) return arr;
    size_t nc = *cap ? *cap : (first ? first : 1);
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / size) return NULL;
        nc *= 2;
    }
    if (nc > SIZE_MAX / size) return NULL;
    void *r = ff_realloc(arr, nc * size);
    if (r) *cap = nc;
    return r;
}

void ff_free(void *p)
{
    if (!p) return;
    count(-(long long)malloc_usable_size(p));
    free(p);
}

/* ---- large blocks kept for reuse ---- */

#define BIG_SLOTS 16
#define BIG_MAX_BYTES ((size_t)1 << 30)

static pthread_mutex_t big_mu = PTHREAD_MUTEX_INITIALIZER;
static struct big {
    void *p;
    size_t size;
    uint64_t since_ns; /* ff_mono_ns when kept */
} bigs[BIG_SLOTS];
static size_t big_bytes;

void ff_big_free(void *p)
{
    if (!p) return;
    size_t size = malloc_usable_size(p);
    if (size >= FF_BIG_MIN) {
        pthread_mutex_lock(&big_mu);
        for (int i = 0; i < BIG_SLOTS; i++)
            if (!bigs[i].p && big_bytes + size <= BIG_MAX_BYTES) {
                bigs[i] = (struct big){p, size, ff_mono_ns()};
                big_bytes += size;
                pthread_mutex_unlock(&big_mu);
                ff_mem_note_idle((long long)size);
                return;
            }
        pthread_mutex_unlock(&big_mu);
    }
    ff_free(p);
}

void *ff_big_take(size_t n)
{
    if (n < FF_BIG_MIN) return NULL;
    pthread_mutex_lock(&big_mu);
    int best = -1;
    for (int i = 0; i < BIG_SLOTS; i++) /* the smallest that holds n */
        if (bigs[i].p && bigs[i].size >= n && (best < 0 || bigs[i].size < bigs[best].size)) best = i;
    void *p = NULL;
    size_t size = 0;
    if (best >= 0) {
        p = bigs[best].p, size = bigs[best].size;
        bigs[best].p = NULL;
        big_bytes -= size;
    }
    pthread_mutex_unlock(&big_mu);
    if (p) ff_mem_note_idle(-(long long)size);
    return p;
}

size_t ff_alloc_size(const void *p) { return p ? malloc_usable_size((void *)p) : 0; }

void *ff_big_alloc(size_t n)
{
    void *p = ff_big_take(n);
    return p ? p : ff_malloc(n);
}

/* ---- chunks kept for reuse ---- */

/* A pool of blocks of one size: a list through each block's first word. */
struct pool {
    pthread_mutex_t mu;
    size_t bytes, keep_bytes; /* each block's size; how many bytes it keeps at most */
    void *free;
    size_t kept;
    uint64_t taken_ns; /* ff_mono_ns of the last take */
};
static struct pool chunks = {PTHREAD_MUTEX_INITIALIZER, FF_CHUNK_BYTES, FF_CHUNK_KEEP_BYTES, NULL, 0, 0};
static struct pool large_chunks = {PTHREAD_MUTEX_INITIALIZER, FF_LARGE_CHUNK_BYTES, FF_LARGE_CHUNK_KEEP_BYTES, NULL, 0, 0};

static void *pool_take(struct pool *pl)
{
    pthread_mutex_lock(&pl->mu);
    void *p = pl->free;
    if (p) pl->free = *(void **)p, pl->kept--;
    pl->taken_ns = ff_mono_ns();
    pthread_mutex_unlock(&pl->mu);
    if (p) ff_mem_note_idle(-(long long)pl->bytes);
    return p ? p : ff_malloc(pl->bytes);
}

static void pool_give(struct pool *pl, void *p)
{
    if (!p) return;
    pthread_mutex_lock(&pl->mu);
    int keep = (pl->kept + 1) * pl->bytes <= pl->keep_bytes;
    if (keep) *(void **)p = pl->free, pl->free = p, pl->kept++;
    pthread_mutex_unlock(&pl->mu);
    if (keep) ff_mem_note_idle((long long)pl->bytes);
    else ff_free(p);
}

static void pool_trim(struct pool *pl, uint64_t now, double max_idle_s)
{
    pthread_mutex_lock(&pl->mu);
    void *list = NULL;
    size_t n = 0;
    if ((double)(now - pl->taken_ns) >= max_idle_s * 1e9) list = pl->free, n = pl->kept, pl->free = NULL, pl->kept = 0;
    pthread_mutex_unlock(&pl->mu);
    if (n) ff_mem_note_idle(-(long long)(n * pl->bytes));
    while (list) {
        void *next = *(void **)list;
        ff_free(list);
        list = next;
    }
}

void *ff_chunk_take(void) { return pool_take(&chunks); }
void ff_chunk_give(void *p) { pool_give(&chunks, p); }
void *ff_large_chunk_take(void) { return pool_take(&large_chunks); }
void ff_large_chunk_give(void *p) { pool_give(&large_chunks, p); }

void ff_big_trim(double max_idle_s)
{
    uint64_t now = ff_mono_ns();
    pool_trim(&chunks, now, max_idle_s);
    pool_trim(&large_chunks, now, max_idle_s);
    for (;;) {
        void *p = NULL;
        size_t size = 0;
        pthread_mutex_lock(&big_mu);
        for (int i = 0; i < BIG_SLOTS && !p; i++)
            if (bigs[i].p && (double)(now - bigs[i].since_ns) >= max_idle_s * 1e9) {
                p = bigs[i].p, size = bigs[i].size;
                bigs[i].p = NULL;
                big_bytes -= size;
            }
        pthread_mutex_unlock(&big_mu);
        if (!p) return;
        ff_mem_note_idle(-(long long)size);
        ff_free(p);
    }
}

char *ff_strndup(const char *s, size_t n)
{
    char *d = ff_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void ff_advise_huge(void *p, size_t n)
{
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1), hi = ((uintptr_t)p + n) & ~(huge - 1);
    if (p && hi > lo) (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

size_t ff_mem_in_use(void)
{
    long long u = atomic_load_explicit(&in_use, memory_order_relaxed) + delta;
    long long i = atomic_load_explicit(&idle, memory_order_relaxed);
    if (u < 0) u = 0; /* other threads' frees counted before their allocations */
    return (size_t)(i > 0 && i < u ? u - i : u);
}

void ff_mem_note_idle(long long n) { atomic_fetch_add_explicit(&idle, n, memory_order_relaxed); }

void ff_alloc_fail_after(long n) { atomic_store(&fail_countdown, n); }

char *ff_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ff_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}
