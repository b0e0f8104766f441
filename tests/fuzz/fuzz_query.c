/* Fuzzes query parsing (query/query.h): a request body is untrusted. A parse either fails
 * with a message naming a field, or gives a query that frees cleanly; relative times,
 * filters (regexes included) and breakdowns are all reached from the corpus. The same bytes
 * go through the checks of saved segments and boards (PUT /api/segments|boards/NAME), which
 * refuse with a message or accept, and through the analysis engine's requests (features,
 * segments, rules, recommend, forecast: the same common fields and options of their own). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "core/errors.h"
#include "project/segments.h"
#include "query/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ff_query q;
    char err[1024];
    const char *field = NULL;
    int rc = ff_query_parse((const char *)data, size, 1795946400000000LL, "Europe/Berlin", &q, err, sizeof err, &field);
    if (rc == FF_EINVAL && (!field || !err[0])) abort(); /* a refusal always says what and where */
    if (!rc) {
        if (q.from_us >= q.to_us) abort();
        ff_query_free(&q);
    }
    err[0] = '\0';
    if (ff_segment_check((const char *)data, size, err, sizeof err) && !err[0]) abort();
    static const char *const whats[] = {"features", "segments", "rules", "recommend", "forecast"};
    for (int w = 0; w < 5; w++) {
        err[0] = '\0';
        field = NULL;
        rc = ff_analysis_check(whats[w], (const char *)data, size, err, sizeof err, &field);
        if (rc == FF_EINVAL && (!field || !err[0])) abort();
    }
    err[0] = '\0';
    if (ff_board_check((const char *)data, size, err, sizeof err) && !err[0]) abort();
    return 0;
}
