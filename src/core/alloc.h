/* alloc.h - allocation wrappers that count the bytes in use and can be told to fail.
 *
 * Every allocation of footfall's own goes through these, so /metrics can report memory in use
 * and tests can make the Nth allocation fail to check the error paths. */
#ifndef FF_ALLOC_H
#define FF_ALLOC_H

#include <stddef.h>

/* Like malloc/calloc/realloc/free; return NULL when out of memory or when a failure was
 * injected. ff_realloc leaves the old block untouched when it returns NULL. */
void *ff_malloc(size_t n);
void *ff_calloc(size_t count, size_t size);
void *ff_realloc(void *p, size_t n);
void ff_free(void *p);
/* An array of `size`-byte elements with room for `need` of them: arr itself when its capacity
 * *cap suffices, else arr reallocated to a capacity doubled from *cap (or from `first`), set
 * in *cap. NULL when out of memory, arr and *cap unchanged. */
void *ff_grow(void *arr, size_t *cap, size_t need, size_t size, size_t first);
/* A copy of a C string (ff_free it), or NULL when out of memory. */
char *ff_strdup(const char *s);
char *ff_strndup(const char *s, size_t n);

/* Asks the kernel to back [p, p+n) with huge pages where it can: for large tables filled in
 * random order, which would otherwise take a page fault per 4 KiB touched. A hint only. */
void ff_advise_huge(void *p, size_t n);

/* Freed memory stays in the process instead of going back to the kernel (main sets it for
 * every command: the server and import-log write parts, queries take large arrays). The merge and flush threads allocate and free tens of MiB per part; returned and
 * faulted in again each time, the page faults cost a third of a merge's CPU. */
void ff_alloc_keep_freed_memory(void);

/* Runs the program again, once, with glibc's malloc told to back its heaps and large blocks
 * with transparent huge pages (GLIBC_TUNABLES glibc.malloc.hugetlb=1, which glibc 2.35+ reads
 * only at start-up). Every fresh 4 KiB page costs a fault; on the virtual machines measured
 * here one costs 10 µs (0.2 µs per 4 KiB in a huge page), and the flush, merge and WAL
 * threads touch fresh memory all the time: 40 faults per 1000 batched events, 200 per 1000
 * single ones, up to a third of the server's CPU. Returns (doing nothing) when the kernel has
 * transparent huge pages off, the C library is not a glibc that knows the tunable, the
 * environment already says what glibc.malloc.hugetlb should be, FOOTFALL_HUGE_PAGES=0, it
 * runs under valgrind or AddressSanitizer (their allocators replace glibc's), or exec fails;
 * and in the process it started. */
void ff_alloc_prefer_huge_pages(char **argv);

/* Blocks of FF_BIG_MIN bytes and more, which glibc maps on their own and unmaps when freed
 * (so that every use has the kernel fault in and zero them afresh: a fifth of a funnel
 * query's CPU for its row arrays), can be kept for reuse instead. ff_big_free keeps such a
 * block (up to 16 of them and 1 GiB, noted idle) or frees it; ff_big_take hands back a
 * kept one of at least n bytes (any ff_ function may then resize or free it), or NULL;
 * ff_big_alloc such a kept one, else a fresh one from ff_malloc (NULL when out of memory);
 * ff_big_trim frees those kept for longer than max_idle_s seconds. */
#define FF_BIG_MIN ((size_t)32 << 20)
void ff_big_free(void *p);
void *ff_big_take(size_t n);
/* The bytes a block from ff_ functions may hold (at least what was asked for). */
size_t ff_alloc_size(const void *p);
void *ff_big_alloc(size_t n);
void ff_big_trim(double max_idle_s);

/* Blocks of FF_CHUNK_BYTES, for structures that grow a piece at a time (a query's distinct
 * pairs): ff_chunk_take hands back a kept one (its pages already faulted in) or a fresh one
 * (NULL when out of memory), ff_chunk_give keeps it for the next (up to FF_CHUNK_KEEP_BYTES,
 * noted idle) or frees it. ff_big_trim also frees the kept ones when none was taken for
 * longer than its max_idle_s. */
#define FF_CHUNK_BYTES ((size_t)16 << 10)
#define FF_CHUNK_KEEP_BYTES ((size_t)512 << 20)
void *ff_chunk_take(void);
void ff_chunk_give(void *p);
/* The same for FF_LARGE_CHUNK_BYTES: a query's rows to walk per person (a funnel's hits), a
 * few hundred of them, which a vector grown by doubling would fault in afresh whenever the
 * threads share them out differently. */
#define FF_LARGE_CHUNK_BYTES ((size_t)1 << 20)
#define FF_LARGE_CHUNK_KEEP_BYTES ((size_t)1 << 30)
void *ff_large_chunk_take(void);
void ff_large_chunk_give(void *p);

/* Bytes currently allocated through these wrappers, less those noted idle: exact for the
 * calling thread's own allocations, within 256 KiB for each other thread's (alloc.c). */
size_t ff_mem_in_use(void);
/* A cache notes the bytes it keeps for reuse (+n) and takes back (-n): kept, they are not
 * "in use" for limits such as --max-memory-bytes. */
void ff_mem_note_idle(long long n);

/* Test hook: make the allocation `n` calls from now fail (1 = the next one); 0 turns it off. */
void ff_alloc_fail_after(long n);

#endif
