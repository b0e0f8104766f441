/* Fuzzes WAL reading (recovery's frame and record parsing) with the input as a segment file:
 * the bytes on disk after a crash are untrusted. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "event/event.h"
#include "store/wal.h"
#include "fuzz_file.h"

static int visit(void *arg, uint64_t seq, const struct ff_record *rec)
{
    (void)seq;
    /* Touch every string so a bad length would be caught by ASan. */
    size_t *sum = arg;
    if (rec->kind == FF_REC_EVENT) {
        for (uint32_t i = 0; i < rec->u.ev.properties.len; i++) *sum += (unsigned char)rec->u.ev.properties.p[i];
    } else {
        for (uint32_t i = 0; i < rec->u.q.raw.len; i++) *sum += (unsigned char)rec->u.q.raw.p[i];
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64], path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/footfall-fuzz-wal-%d", (int)getpid());
        mkdir(dir, 0700);
        snprintf(path, sizeof path, "%s/wal", dir);
        mkdir(path, 0700);
        snprintf(path, sizeof path, "%s/wal/00000000000000000001.wal", dir);
    }
    if (fuzz_write_file(path, data, size)) return 0;
    size_t sum = 0;
    ff_wal_scan(dir, visit, &sum);
    return 0;
}
