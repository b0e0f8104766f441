/* Fuzzes the CSV matrix reader (analysis/matrix_csv.h): `footfall analysis kmeans --input`
 * reads files a user hands it. A parse either fails naming the line, or gives n × d finite
 * numbers, at most 64 columns. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/matrix_csv.h"
#include "core/alloc.h"
#include "core/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    double *x;
    size_t n, d;
    char err[256] = "";
    int rc = ff_matrix_parse_csv((const char *)data, size, &x, &n, &d, err, sizeof err);
    if (rc == FF_EINVAL && !err[0]) abort();
    if (!rc) {
        if (!n || !d || d > 64) abort();
        for (size_t i = 0; i < n * d; i++)
            if (!isfinite(x[i])) abort();
        ff_free(x);
    }
    return 0;
}
