/* tz.h - time zones of the tz database: the UTC offset of an IANA zone at a given instant,
 * and so the local calendar day, without touching the process-wide TZ (localtime_r cannot
 * answer for two zones at once, and footfall's projects each have their own).
 *
 * Zones are read from the TZif files of /usr/share/zoneinfo (Debian package tzdata, RFC
 * 8536): the table of transitions, and past its end the POSIX TZ rule in the file's footer
 * (so daylight saving time is right after 2037 too). */
#ifndef FF_TZ_H
#define FF_TZ_H

#include <stddef.h>
#include <stdint.h>

struct ff_tz;

/* Loads zone `name` ("UTC", "Europe/Berlin"). 0, FF_EINVAL for a name that is not a zone
 * file (a path, "..", missing, or not TZif), or another negative error. */
int ff_tz_load(const char *name, struct ff_tz **out);
/* Parses TZif bytes (a file's contents; untrusted). 0 or FF_EINVAL. */
int ff_tz_parse(const unsigned char *data, size_t len, struct ff_tz **out);
void ff_tz_free(struct ff_tz *tz);

/* Seconds east of UTC in zone `tz` at `t` (seconds since the epoch, UTC). NULL is UTC. */
int32_t ff_tz_offset(const struct ff_tz *tz, int64_t t);
/* Days since 1970-01-01 of the local date in `tz` at `t_us` (µs since the epoch). */
int32_t ff_tz_local_day(const struct ff_tz *tz, int64_t t_us);

#endif
