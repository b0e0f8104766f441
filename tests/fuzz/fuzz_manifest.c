/* Fuzzes manifest reading with the input as DATA/MANIFEST: a damaged disk makes its bytes
 * untrusted, and a store must refuse them cleanly rather than read past them. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/manifest.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64], path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/footfall-fuzz-manifest-%d", (int)getpid());
        mkdir(dir, 0700);
        snprintf(path, sizeof path, "%s/MANIFEST", dir);
    }
    if (fuzz_write_file(path, data, size)) return 0;
    struct ff_manifest m;
    char err[512];
    if (ff_manifest_load(dir, &m, err, sizeof err) == 0) {
        for (size_t i = 0; i < m.nparts; i++)
            if (ff_manifest_find(&m, m.parts[i].name) < 0) __builtin_trap(); /* names stay findable */
        ff_manifest_free(&m);
    }
    return 0;
}
