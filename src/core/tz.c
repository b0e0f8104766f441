/* tz.c - TZif (RFC 8536) zones and their POSIX TZ footer rules (see tz.h). */
#include "core/tz.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/errors.h"
#include "core/fileio.h"
#include "core/timeutil.h"

#define MAX_TRANSITIONS 100000 /* real zones have a few hundred */
#define MAX_TYPES 256

/* A date of a POSIX rule: Jn (1..365, no Feb 29), n (0..365), or Mm.w.d. */
struct rule_date {
    char kind; /* 'J', 'n' or 'M' */
    int n, m, w, d;
    int32_t secs; /* local time of day of the change, may be negative or past 24 h */
};

struct ff_tz {
    int64_t *trans;   /* transition times, ascending */
    uint8_t *idx;     /* the type in force from each transition */
    int32_t *utoff;   /* each type's offset */
    uint32_t ntrans, ntypes;
    int has_rule;     /* the footer: what holds after the last transition */
    int has_dst;
    int32_t std_off, dst_off;
    struct rule_date start, end;
};

void ff_tz_free(struct ff_tz *tz)
{
    if (!tz) return;
    ff_free(tz->trans);
    ff_free(tz->idx);
    ff_free(tz->utoff);
    ff_free(tz);
}

static uint32_t be32(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static int64_t be64(const unsigned char *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

/* ---- the POSIX TZ string of the footer ---- */

struct cursor {
    const char *p, *end;
};

static int peek(const struct cursor *c) { return c->p < c->end ? (unsigned char)*c->p : -1; }

static int parse_name(struct cursor *c)
{
    const char *start = c->p;
    if (peek(c) == '<') {
        while (c->p < c->end && *c->p != '>') c->p++;
        if (peek(c) != '>') return -1;
        c->p++;
        return 0;
    }
    while (c->p < c->end && ((*c->p >= 'A' && *c->p <= 'Z') || (*c->p >= 'a' && *c->p <= 'z'))) c->p++;
    return c->p - start >= 3 ? 0 : -1;
}

static int parse_num(struct cursor *c, int max, int *out)
{
    int v = 0, digits = 0;
    while (peek(c) >= '0' && peek(c) <= '9') {
        v = v * 10 + (*c->p++ - '0');
        if (++digits > 3 || v > max) return -1;
    }
    *out = v;
    return digits ? 0 : -1;
}

/* [+-]hh[:mm[:ss]], hours up to 167 (RFC 8536's extension); seconds into *out. */
static int parse_hms(struct cursor *c, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (peek(c) == '+' || peek(c) == '-') sign = *c->p++ == '-' ? -1 : 1;
    if (parse_num(c, 167, &h)) return -1;
    if (peek(c) == ':') {
        c->p++;
        if (parse_num(c, 59, &m)) return -1;
        if (peek(c) == ':') {
            c->p++;
            if (parse_num(c, 59, &s)) return -1;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return 0;
}

static int parse_date(struct cursor *c, struct rule_date *r)
{
    memset(r, 0, sizeof *r);
    if (peek(c) == 'J') {
        c->p++;
        r->kind = 'J';
        if (parse_num(c, 365, &r->n) || r->n < 1) return -1;
    } else if (peek(c) == 'M') {
        c->p++;
        r->kind = 'M';
        if (parse_num(c, 12, &r->m) || r->m < 1 || peek(c) != '.') return -1;
        c->p++;
        if (parse_num(c, 5, &r->w) || r->w < 1 || peek(c) != '.') return -1;
        c->p++;
        if (parse_num(c, 6, &r->d)) return -1;
    } else {
        r->kind = 'n';
        if (parse_num(c, 365, &r->n)) return -1;
    }
    r->secs = 2 * 3600;
    if (peek(c) == '/') {
        c->p++;
        if (parse_hms(c, &r->secs)) return -1;
    }
    return 0;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3": POSIX offsets are west of UTC, ours east. An empty footer
 * (a zone with no rule after its table) leaves has_rule 0. */
static int parse_rule(struct ff_tz *tz, const char *s, size_t len)
{
    struct cursor c = {s, s + len};
    if (!len) return 0;
    int32_t off;
    if (parse_name(&c) || parse_hms(&c, &off)) return -1;
    tz->std_off = -off;
    tz->has_rule = 1;
    if (peek(&c) < 0) return 0;
    if (parse_name(&c)) return -1;
    tz->dst_off = tz->std_off + 3600;
    if (peek(&c) != ',' && peek(&c) >= 0) {
        if (parse_hms(&c, &off)) return -1;
        tz->dst_off = -off;
    }
    if (peek(&c) < 0) return 0; /* DST named but no rule: none in effect */
    if (peek(&c) != ',') return -1;
    c.p++;
    if (parse_date(&c, &tz->start) || peek(&c) != ',') return -1;
    c.p++;
    if (parse_date(&c, &tz->end) || peek(&c) >= 0) return -1;
    tz->has_dst = 1;
    return 0;
}

/* ---- TZif ---- */

struct counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static void read_counts(const unsigned char *h, struct counts *n)
{
    n->isut = be32(h + 20), n->isstd = be32(h + 24), n->leap = be32(h + 28);
    n->time = be32(h + 32), n->type = be32(h + 36), n->chars = be32(h + 40);
}

/* Bytes of a data block whose times are `w` bytes wide; 0 when the counts are not sane. */
static size_t block_size(const struct counts *n, size_t w)
{
    if (n->time > MAX_TRANSITIONS || n->type < 1 || n->type > MAX_TYPES || n->chars > 65536 || n->leap > 65536 ||
        (n->isstd && n->isstd != n->type) || (n->isut && n->isut != n->type))
        return 0;
    return (size_t)n->time * (w + 1) + (size_t)n->type * 6 + n->chars + (size_t)n->leap * (w + 4) + n->isstd + n->isut;
}

int ff_tz_parse(const unsigned char *data, size_t len, struct ff_tz **out)
{
    *out = NULL;
    if (len < 44 || memcmp(data, "TZif", 4)) return FF_EINVAL;
    int version = data[4];
    struct counts n;
    read_counts(data, &n);
    size_t size = block_size(&n, 4), w = 4;
    if (!size || size > len - 44) return FF_EINVAL;
    const unsigned char *b = data + 44, *end = data + len;
    if (version >= '2') { /* the second header and its 64-bit block supersede the first */
        const unsigned char *h = b + size;
        if (end - h < 44 || memcmp(h, "TZif", 4)) return FF_EINVAL;
        read_counts(h, &n);
        w = 8;
        size = block_size(&n, 8);
        b = h + 44;
        if (!size || size > (size_t)(end - b)) return FF_EINVAL;
    }
    struct ff_tz *tz = ff_calloc(1, sizeof *tz);
    if (!tz) return -ENOMEM;
    tz->ntrans = n.time;
    tz->ntypes = n.type;
    tz->trans = ff_malloc((n.time ? n.time : 1) * sizeof *tz->trans);
    tz->idx = ff_malloc(n.time ? n.time : 1);
    tz->utoff = ff_malloc(n.type * sizeof *tz->utoff);
    if (!tz->trans || !tz->idx || !tz->utoff) {
        ff_tz_free(tz);
        return -ENOMEM;
    }
    int rc = 0;
    for (uint32_t i = 0; i < n.time; i++) {
        tz->trans[i] = w == 8 ? be64(b + (size_t)i * 8) : (int64_t)(int32_t)be32(b + (size_t)i * 4);
        if (i && tz->trans[i] <= tz->trans[i - 1]) rc = FF_EINVAL;
    }
    const unsigned char *ix = b + (size_t)n.time * w, *types = ix + n.time;
    for (uint32_t i = 0; i < n.time; i++)
        if ((tz->idx[i] = ix[i]) >= n.type) rc = FF_EINVAL;
    for (uint32_t i = 0; i < n.type; i++) {
        int32_t off = (int32_t)be32(types + (size_t)i * 6);
        if (off < -25 * 3600 || off > 26 * 3600) rc = FF_EINVAL; /* RFC 8536: within ±24:59:59 */
        tz->utoff[i] = off;
    }
    if (!rc && version >= '2') { /* the footer: "\n" rule "\n" */
        const unsigned char *f = b + size;
        const unsigned char *nl = f < end && *f == '\n' ? memchr(f + 1, '\n', (size_t)(end - f - 1)) : NULL;
        if (!nl || parse_rule(tz, (const char *)f + 1, (size_t)(nl - f - 1))) rc = FF_EINVAL;
    }
    if (rc) {
        ff_tz_free(tz);
        return rc;
    }
    *out = tz;
    return 0;
}

int ff_tz_load(const char *name, struct ff_tz **out)
{
    *out = NULL;
    if (strcmp(name, "UTC") == 0) {
        /* the UTC of old catalogs and of a machine without tzdata: no file needed */
        struct ff_tz *tz = ff_calloc(1, sizeof *tz);
        if (!tz || !(tz->utoff = ff_calloc(1, sizeof *tz->utoff))) {
            ff_free(tz);
            return -ENOMEM;
        }
        tz->ntypes = 1;
        *out = tz;
        return 0;
    }
    if (!*name || name[0] == '/' || strstr(name, "..") || strlen(name) > 255) return FF_EINVAL;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
    struct ff_buf b;
    ff_buf_init(&b, (size_t)1 << 20);
    int rc = ff_io_read_file(path, &b);
    if (rc == -ENOENT || rc == -EISDIR || rc == -ENOTDIR) rc = FF_EINVAL;
    if (!rc) rc = ff_tz_parse((const unsigned char *)b.data, b.len, out);
    ff_buf_free(&b);
    return rc;
}

/* ---- offsets ---- */

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* The day (since the epoch) a rule date falls on in year y. */
static int64_t rule_day(const struct rule_date *r, int64_t y)
{
    int64_t jan1 = ff_days_from_civil(y, 1, 1);
    if (r->kind == 'J') return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60);
    if (r->kind == 'n') return jan1 + r->n;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t first = ff_days_from_civil(y, (unsigned)r->m, 1);
    int len = mdays[r->m - 1] + (r->m == 2 && is_leap(y));
    int wd = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    int64_t day = first + (r->d - wd + 7) % 7 + 7 * (r->w - 1);
    while (day >= first + len) day -= 7;
    return day;
}

static int32_t rule_offset(const struct ff_tz *tz, int64_t t)
{
    if (!tz->has_dst) return tz->std_off;
    int64_t y;
    unsigned m, d;
    ff_civil_from_days(floor_div(t + tz->std_off, 86400), &y, &m, &d);
    /* the change to DST happens at a standard-time wall clock, the change back at a DST one */
    int64_t start = rule_day(&tz->start, y) * 86400 + tz->start.secs - tz->std_off;
    int64_t end = rule_day(&tz->end, y) * 86400 + tz->end.secs - tz->dst_off;
    int dst = start < end ? t >= start && t < end : !(t >= end && t < start);
    return dst ? tz->dst_off : tz->std_off;
}

int32_t ff_tz_offset(const struct ff_tz *tz, int64_t t)
{
    if (!tz) return 0;
    if (tz->ntrans == 0 || t >= tz->trans[tz->ntrans - 1]) {
        if (tz->has_rule) return rule_offset(tz, t);
        return tz->ntrans ? tz->utoff[tz->idx[tz->ntrans - 1]] : tz->utoff[0];
    }
    if (t < tz->trans[0]) return tz->utoff[0];
    uint32_t lo = 0, hi = tz->ntrans - 1; /* trans[lo] <= t < trans[hi] */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t) lo = mid;
        else hi = mid;
    }
    return tz->utoff[tz->idx[lo]];
}

int32_t ff_tz_local_day(const struct ff_tz *tz, int64_t t_us)
{
    int64_t t = floor_div(t_us, 1000000);
    return (int32_t)floor_div(t + ff_tz_offset(tz, t), 86400);
}
