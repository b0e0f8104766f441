/* matrix_csv.c - see matrix_csv.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/matrix_csv.h"
#include "core/alloc.h"
#include "core/errors.h"

#define MAX_COLS 64

/* One field as a finite number: 1, else 0. */
static int field_number(const char *p, size_t len, double *out)
{
    while (len && (*p == ' ' || *p == '\t')) p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
    char tmp[64], *end;
    if (!len || len >= sizeof tmp) return 0;
    memcpy(tmp, p, len);
    tmp[len] = '\0';
    *out = strtod(tmp, &end);
    return *end == '\0' && isfinite(*out);
}

int ff_matrix_parse_csv(const char *buf, size_t len, double **x, size_t *n, size_t *d, char *err, size_t errlen)
{
    *x = NULL, *n = 0, *d = 0;
    size_t cap = 0, rows = 0, width = 0, line = 0;
    double *m = NULL;
    size_t at = 0;
    while (at < len) {
        const char *s = buf + at, *nl = memchr(s, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - s) : len - at;
        at += ll + (nl != NULL);
        line++;
        if (ll && s[ll - 1] == '\r') ll--;
        if (!ll) continue;
        double v[MAX_COLS];
        size_t cols = 0, start = 0;
        int numeric = 1;
        size_t bad_col = 0;
        for (size_t i = 0; i <= ll; i++) {
            if (i < ll && s[i] != ',') continue;
            if (cols == MAX_COLS) {
                snprintf(err, errlen, "line %zu: more than %d columns", line, MAX_COLS);
                ff_free(m);
                return FF_EINVAL;
            }
            if (!field_number(s + start, i - start, &v[cols]) && numeric) numeric = 0, bad_col = cols + 1;
            cols++;
            start = i + 1;
        }
        if (!numeric) {
            if (!rows && !width) { /* a header line: it sets the width */
                width = cols;
                continue;
            }
            snprintf(err, errlen, "line %zu, column %zu: not a number", line, bad_col);
            ff_free(m);
            return FF_EINVAL;
        }
        if (!width) width = cols;
        if (cols != width) {
            snprintf(err, errlen, "line %zu: %zu columns where the first line has %zu", line, cols, width);
            ff_free(m);
            return FF_EINVAL;
        }
        if (rows == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            double *nm = ff_realloc(m, nc * width * sizeof *nm);
            if (!nm) {
                ff_free(m);
                return -ENOMEM;
            }
            m = nm, cap = nc;
        }
        memcpy(m + rows * width, v, width * sizeof *v);
        rows++;
    }
    if (!rows) {
        snprintf(err, errlen, "no rows of numbers");
        ff_free(m);
        return FF_EINVAL;
    }
    *x = m, *n = rows, *d = width;
    return 0;
}
