/* mem_cost - what memory new to a process costs on this machine: the CPU time of touching
 * SIZE MiB of fresh anonymous memory (huge pages advised, as footfall's large tables are),
 * then of doing it again right after giving it back. On a virtual machine whose host backs
 * guest memory lazily and takes freed memory back a few seconds later (free page reporting),
 * the first figure is the host's price and can be thirty times the second; a third pass,
 * PAUSE seconds after the second, shows memory given back and taken again later paying it
 * again. Every table footfall grows, and every buffer it frees and allocates again after a
 * few seconds, pays it. The benchmark prints all three beside footfall's page faults.
 *
 *   mem_cost [SIZE_MIB [PAUSE_S]]      (256 MiB, 5 s) */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* CPU ms per MiB to map, touch (one byte per 4 KiB page) and unmap size bytes; -1 on failure. */
static double touch(size_t size)
{
    double t0 = cpu_ms();
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
    (void)madvise(p, size, MADV_HUGEPAGE);
    for (size_t i = 0; i < size; i += 4096) p[i] = 1;
    munmap(p, size);
    return (cpu_ms() - t0) / (double)(size >> 20);
}

int main(int argc, char **argv)
{
    long mib = argc > 1 ? atol(argv[1]) : 256, pause = argc > 2 ? atol(argv[2]) : 5;
    if (mib < 1 || pause < 0) {
        fprintf(stderr, "usage: mem_cost [SIZE_MIB [PAUSE_S]]\n");
        return 2;
    }
    size_t size = (size_t)mib << 20;
    double first = touch(size), again = touch(size);
    sleep((unsigned)pause);
    double later = touch(size);
    if (first < 0 || again < 0 || later < 0) {
        fprintf(stderr, "mem_cost: cannot map %ld MiB\n", mib);
        return 1;
    }
    printf("MEMCOST mib=%ld first_ms_per_mib=%.3f again_ms_per_mib=%.3f pause_s=%ld later_ms_per_mib=%.3f\n", mib,
           first, again, pause, later);
    return 0;
}
