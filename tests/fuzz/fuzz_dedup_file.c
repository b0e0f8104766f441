/* Fuzzes reading a WAL segment's keys file (dedup_file.h): its bytes come from disk, which
 * may be damaged, and start-up must refuse them cleanly rather than read past them. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "store/dedup_file.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[128];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/footfall-fuzz-dedup-%d.dedup", (int)getpid());
    if (fuzz_write_file(path, data, size)) return 0;
    char err[512];
    uint64_t checked = 0, loaded = 0;
    int rc = ff_dedup_file_check(path, &checked, err, sizeof err);
    struct ff_dedup d;
    if (ff_dedup_init(&d, FF_DEDUP_WINDOW_US)) return 0;
    /* "now" inside the window of small timestamps, so entries are really inserted */
    int rc2 = ff_dedup_file_load(path, &d, 1000, &loaded, err, sizeof err);
    if (rc != rc2 || (!rc && checked != loaded)) __builtin_trap(); /* check and load agree */
    ff_dedup_free(&d);
    return 0;
}
