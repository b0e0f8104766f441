/* Fuzzes reading DATA/SESSIONS (bytes from a disk are untrusted): a load either fails
 * cleanly or gives open sessions that events can join, that can be forgotten and saved,
 * without reading out of bounds, whatever spans, counts and keys a forged file claims. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/sessions.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64], path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/footfall-fuzz-sessions-%d", (int)getpid());
        mkdir(dir, 0700);
        snprintf(path, sizeof path, "%s/SESSIONS", dir);
    }
    if (fuzz_write_file(path, data, size)) return 0;
    struct ff_sessions *ss;
    char err[512];
    if (ff_sessions_open(dir, &ss, err, sizeof err)) return 0;
    struct ff_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = FF_EV_PAGE;
    ev.anonymous_id = (struct ff_str){"a", 1};
    ev.project = (struct ff_str){"p", 1};
    char id[FF_SESSION_ID_LEN];
    static const int64_t at[] = {0, 1, -1, 1700000000000000LL, INT64_MIN / 2, INT64_MAX / 2};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        ev.timestamp_us = ev.received_at_us = at[i];
        ff_sessions_assign(ss, &ev, NULL, id);
    }
    ff_sessions_forget(ss, "p", (struct ff_str){"a", 1});
    ff_sessions_save(ss, dir, 1700000000000000LL);
    ff_sessions_free(ss);
    return 0;
}
