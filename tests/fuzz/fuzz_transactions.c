/* Fuzzes the transactions reader (analysis/tx_text.h) behind `footfall analysis itemsets
 * --input`, and the miners on what it reads: a parse fails naming the line, or gives
 * transactions of sorted distinct item ids, on which FP-growth and Apriori find the same
 * itemsets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/itemsets.h"
#include "analysis/tx_text.h"
#include "core/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ff_txset t;
    char **names, err[256] = "";
    struct ff_buf text;
    ff_buf_init(&text, (size_t)1 << 24);
    int rc = ff_tx_text_parse((const char *)data, size, &t, &names, &text, err, sizeof err);
    if (rc == FF_EINVAL && !err[0]) abort();
    if (rc) {
        ff_buf_free(&text);
        return 0;
    }
    for (size_t tx = 0; tx < t.ntx; tx++)
        for (size_t i = t.off[tx]; i < t.off[tx + 1]; i++)
            if (t.items[i] >= t.nitems || (i > t.off[tx] && t.items[i] <= t.items[i - 1])) abort();
    for (size_t i = 1; i < t.nitems; i++)
        if (strcmp(names[i - 1], names[i]) >= 0) abort();
    struct ff_itemsets a, b;
    if (!ff_fpgrowth(&t, 2, 3, &a)) {
        if (!ff_apriori(&t, 2, 3, &b)) {
            if (a.n != b.n) abort();
            for (size_t i = 0; i < a.n; i++)
                if (a.v[i].n != b.v[i].n || a.v[i].count != b.v[i].count ||
                    memcmp(a.pool + a.v[i].at, b.pool + b.v[i].at, a.v[i].n * sizeof *a.pool))
                    abort();
            ff_itemsets_free(&b);
        }
        ff_itemsets_free(&a);
    }
    ff_tx_text_free(&t, names, &text);
    return 0;
}
