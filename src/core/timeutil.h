/* timeutil.h - wall-clock time in microseconds and ISO 8601 conversion. */
#ifndef FF_TIMEUTIL_H
#define FF_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define FF_TIME_NONE INT64_MIN /* "no time given" */

int64_t ff_now_us(void);      /* CLOCK_REALTIME, µs since the Unix epoch */
uint64_t ff_mono_ns(void);    /* CLOCK_MONOTONIC, ns */
uint64_t ff_thread_cpu_ns(void); /* CLOCK_THREAD_CPUTIME_ID: the calling thread's CPU time, ns */

/* Parses an ISO 8601 / RFC 3339 date-time such as 2015-02-23T22:28:55.111Z,
 * 2015-02-23T22:28:55+08:00, 2015-02-23 22:28:55.1234+0800 or a bare date 2015-02-23
 * (midnight UTC); a time without an offset is taken as UTC. Month and day may have one
 * digit (2015-2-02), as in Segment's own examples. Returns 0 and sets *us, or
 * FF_EINVAL leaving *us untouched. */
int ff_time_parse_iso(const char *s, size_t len, int64_t *us);

/* Milliseconds since the epoch to µs: 0, or FF_EINVAL when beyond ±31,000 years (which
 * would overflow). */
int ff_time_from_ms(int64_t ms, int64_t *us);
/* ISO 8601 as above, or a whole number of milliseconds since the epoch. */
int ff_time_parse_any(const char *s, size_t len, int64_t *us);

/* Writes e.g. 2026-11-29T13:02:11.123Z (millisecond precision, UTC) and a NUL; returns
 * the length (24). `out` must hold 32 bytes. */
int ff_time_format_iso(int64_t us, char *out);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t ff_days_from_civil(int64_t y, unsigned m, unsigned d);
void ff_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

#endif
