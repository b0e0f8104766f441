/* timeutil.c - time in µs and ISO 8601 parsing/formatting, without the locale or TZ
 * dependence of strptime/mktime. */
#include "timeutil.h"

#include <stdio.h>
#include <time.h>

#include "errors.h"

int64_t ff_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ff_mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

uint64_t ff_thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

/* The civil-calendar day count: shift the year to start in March so the leap day is last,
 * then count 400-year eras (146097 days each). */
int64_t ff_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void ff_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, size_t len, size_t *i, int n, int *out)
{
    int v = 0;
    for (int k = 0; k < n; k++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9') return -1;
        v = v * 10 + (s[(*i)++] - '0');
    }
    *out = v;
    return 0;
}

/* One or two digits: Segment's own documentation sends dates like 2015-2-02. */
static int digits_1or2(const char *s, size_t len, size_t *i, int *out)
{
    if (digits(s, len, i, 1, out)) return -1;
    int second;
    if (*i < len && s[*i] >= '0' && s[*i] <= '9' && !digits(s, len, i, 1, &second)) *out = *out * 10 + second;
    return 0;
}

static unsigned days_in_month(int y, int m)
{
    static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28u + (unsigned)leap : dm[m - 1];
}

int ff_time_parse_iso(const char *s, size_t len, int64_t *us)
{
    size_t i = 0;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int64_t frac_us = 0;
    if (digits(s, len, &i, 4, &y) || i >= len || s[i++] != '-' || digits_1or2(s, len, &i, &mo) ||
        i >= len || s[i++] != '-' || digits_1or2(s, len, &i, &d))
        return FF_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || (unsigned)d > days_in_month(y, mo)) return FF_EINVAL;
    int64_t offset_s = 0;
    if (i < len) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return FF_EINVAL;
        i++;
        if (digits(s, len, &i, 2, &h) || i >= len || s[i++] != ':' || digits(s, len, &i, 2, &mi))
            return FF_EINVAL;
        if (i < len && s[i] == ':') {
            i++;
            if (digits(s, len, &i, 2, &sec)) return FF_EINVAL;
            if (i < len && (s[i] == '.' || s[i] == ',')) {
                i++;
                int nd = 0;
                int64_t scale = 100000;
                while (i < len && s[i] >= '0' && s[i] <= '9') {
                    if (nd < 6) frac_us += (s[i] - '0') * scale, scale /= 10;
                    nd++, i++;
                }
                if (nd == 0) return FF_EINVAL;
            }
        }
        if (h > 23 || mi > 59 || sec > 60) return FF_EINVAL;
        if (i < len) {
            if (s[i] == 'Z' || s[i] == 'z') {
                i++;
            } else if (s[i] == '+' || s[i] == '-') {
                int sign = s[i++] == '-' ? -1 : 1, oh, om = 0;
                if (digits(s, len, &i, 2, &oh)) return FF_EINVAL;
                /* +08, +0800 or +08:00: a colon must be followed by the minutes. */
                if (i < len && s[i] == ':') {
                    i++;
                    if (digits(s, len, &i, 2, &om)) return FF_EINVAL;
                } else if (i < len && digits(s, len, &i, 2, &om)) {
                    return FF_EINVAL;
                }
                if (oh > 23 || om > 59) return FF_EINVAL;
                offset_s = sign * (oh * 3600 + om * 60);
            } else {
                return FF_EINVAL;
            }
        }
        if (i != len) return FF_EINVAL;
    }
    int64_t days = ff_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    *us = secs * 1000000 + frac_us;
    return 0;
}

int ff_time_from_ms(int64_t ms, int64_t *us)
{
    if (ms <= -1000000000000000LL || ms >= 1000000000000000LL) return FF_EINVAL;
    *us = ms * 1000;
    return 0;
}

int ff_time_parse_any(const char *s, size_t len, int64_t *us)
{
    if (ff_time_parse_iso(s, len, us) == 0) return 0;
    size_t i = s && len && s[0] == '-' ? 1 : 0;
    if (i == len || len - i > 16) return FF_EINVAL;
    int64_t ms = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return FF_EINVAL;
        ms = ms * 10 + (s[i] - '0');
    }
    return ff_time_from_ms(s[0] == '-' ? -ms : ms, us);
}

int ff_time_format_iso(int64_t us, char *out)
{
    int64_t secs = us / 1000000, rem = us % 1000000;
    if (rem < 0) rem += 1000000, secs--;
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) sod += 86400, days--;
    int64_t y;
    unsigned m, d;
    ff_civil_from_days(days, &y, &m, &d);
    return snprintf(out, 32, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
                    (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)(rem / 1000));
}
