/* log.h - one-line log messages to stderr with a UTC timestamp and a level. */
#ifndef FF_LOG_H
#define FF_LOG_H

enum ff_log_level { FF_LOG_DEBUG, FF_LOG_INFO, FF_LOG_WARN, FF_LOG_ERROR };

void ff_log(enum ff_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ff_info(...) ff_log(FF_LOG_INFO, __VA_ARGS__)
#define ff_warn(...) ff_log(FF_LOG_WARN, __VA_ARGS__)
#define ff_error(...) ff_log(FF_LOG_ERROR, __VA_ARGS__)

#endif
