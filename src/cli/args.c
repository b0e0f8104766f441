/* args.c - option values shared by footfall's commands: sizes and times, with a clear error
 * naming the option when a value is wrong. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

int ff_cli_size(const char *opt, const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || !*v || v[0] == '-') {
        fprintf(stderr, "footfall: %s needs a whole number, not '%s'\n", opt, v);
        return -1;
    }
    *out = n;
    return 0;
}

int ff_cli_time(const char *opt, const char *v, int64_t *us)
{
    if (ff_time_parse_any(v, strlen(v), us) == 0) return 0;
    fprintf(stderr, "footfall: %s needs an ISO 8601 date-time or epoch milliseconds, not '%s'\n", opt, v);
    return -1;
}
