/* splitmix.h - the splitmix64 generator: one 64-bit word of state, every output well mixed
 * even from consecutive seeds. Seeds other generators (analysis/parallel.c), samples slots
 * (store/dedup.c) and gives each generated session its own stream (gen/generator.c). */
#ifndef FF_SPLITMIX_H
#define FF_SPLITMIX_H

#include <stdint.h>

static inline uint64_t ff_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#endif
