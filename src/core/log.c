/* log.c - stderr logging (see log.h). One write(2) per line so threads do not interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "timeutil.h"

static const enum ff_log_level min_level = FF_LOG_INFO;

void ff_log(enum ff_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < min_level) return;
    char line[2048];
    char ts[40];
    ff_time_format_iso(ff_now_us(), ts);
    int n = snprintf(line, sizeof line, "%s %s ", ts, names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
