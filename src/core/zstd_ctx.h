/* zstd_ctx.h - zstd through contexts kept per thread.
 *
 * zstd's one-shot calls (ZSTD_decompress, ZSTD_compress) make a context for every call, and
 * making one runs CPUID twice to pick its code paths. On these virtual machines CPUID is an
 * instruction the hypervisor emulates: 6.5 µs each, so 13 µs a call, eight times what
 * decompressing a 512-byte chunk costs (a quarter of a merge's time went there). A context
 * made once per thread and reused pays that once. */
#ifndef FF_ZSTD_CTX_H
#define FF_ZSTD_CTX_H
#include <stddef.h>

/* Like ZSTD_decompress and ZSTD_compress (check the result with ZSTD_isError), through the
 * calling thread's context; a context that cannot be made is an error (memory_allocation). */
size_t ff_zstd_decompress(void *dst, size_t cap, const void *src, size_t n);
size_t ff_zstd_compress(void *dst, size_t cap, const void *src, size_t n, int level);

#endif
