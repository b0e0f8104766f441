/* tx_text.c - see tx_text.h. Items are numbered as they come, then renumbered in name order. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/tx_text.h"
#include "core/alloc.h"
#include "core/errors.h"
#include "core/strmap.h"

/* Room for one more element in *v (n held, *cap allocated): 0 or -ENOMEM. */
static int room(void **v, size_t n, size_t *cap, size_t elem, size_t first)
{
    if (n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : first;
    void *nv = ff_realloc(*v, nc * elem);
    if (!nv) return -ENOMEM;
    *v = nv, *cap = nc;
    return 0;
}

static int by_name(const void *a, const void *b, void *arg)
{
    char **names = arg;
    return strcmp(names[*(const uint32_t *)a], names[*(const uint32_t *)b]);
}

static int by_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int ff_tx_text_parse(const char *buf, size_t len, struct ff_txset *t, char ***names_out, struct ff_buf *text, char *err,
                     size_t errlen)
{
    memset(t, 0, sizeof *t);
    *names_out = NULL;
    struct ff_strmap ids;
    ff_strmap_init(&ids);
    size_t *offs = NULL, noffs = 0, capo = 0, nitems = 0, capi = 0, ntx = 0, capt = 0, line = 0;
    uint32_t *items = NULL;
    size_t *toff = NULL;
    int rc = 0;
    for (size_t at = 0; !rc && at < len;) {
        const char *s = buf + at, *nl = memchr(s, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - s) : len - at;
        at += ll + (nl != NULL);
        line++;
        if (ll && s[ll - 1] == '\r') ll--;
        size_t blank = 0;
        while (blank < ll && (s[blank] == ' ' || s[blank] == '\t')) blank++;
        if (blank == ll) continue;
        rc = room((void **)&toff, ntx + 1, &capt, sizeof *toff, 1024); /* one more for the end */
        if (!rc) toff[ntx++] = nitems;
        for (size_t i = 0, start = 0; !rc && i <= ll; i++) {
            if (i < ll && s[i] != ',') continue;
            const char *f = s + start;
            size_t fl = i - start;
            start = i + 1;
            while (fl && (*f == ' ' || *f == '\t')) f++, fl--;
            while (fl && (f[fl - 1] == ' ' || f[fl - 1] == '\t')) fl--;
            if (!fl || fl > 255 || memchr(f, '\0', fl)) {
                snprintf(err, errlen, "line %zu: %s", line,
                         !fl ? "an empty item" : fl > 255 ? "an item is longer than 255 bytes" : "an item holds a NUL byte");
                rc = FF_EINVAL;
                break;
            }
            /* keys point into the input, which outlives the map (the text buffer may move) */
            int found;
            uint32_t *v = ff_strmap_put(&ids, f, fl, (uint32_t)noffs, &found), id = v ? *v : 0;
            if (!v) {
                rc = -ENOMEM;
                break;
            }
            if (!found) {
                if ((rc = room((void **)&offs, noffs, &capo, sizeof *offs, 256))) break;
                offs[noffs++] = text->len;
                if ((rc = ff_buf_append(text, f, fl)) || (rc = ff_buf_putc(text, '\0'))) break;
            }
            if ((rc = room((void **)&items, nitems, &capi, sizeof *items, 4096))) break;
            items[nitems++] = id;
        }
    }
    char **names = rc ? NULL : ff_malloc((noffs + 1) * sizeof *names);
    uint32_t *order = rc ? NULL : ff_malloc((noffs + 1) * sizeof *order), *id = rc ? NULL : ff_malloc((noffs + 1) * sizeof *id);
    if (!rc && (!names || !order || !id || (!toff && !(toff = ff_malloc(sizeof *toff))))) rc = -ENOMEM;
    if (!rc) {
        for (size_t i = 0; i < noffs; i++) names[i] = text->data + offs[i], order[i] = (uint32_t)i;
        qsort_r(order, noffs, sizeof *order, by_name, names);
        for (size_t r = 0; r < noffs; r++) id[order[r]] = (uint32_t)r;
        for (size_t i = 0; i < noffs; i++) names[i] = text->data + offs[order[i]];
        toff[ntx] = nitems;
        /* renumber, sort and drop repeats within each transaction */
        size_t w = 0;
        for (size_t tx = 0; tx < ntx; tx++) {
            size_t lo = toff[tx], hi = toff[tx + 1];
            for (size_t i = lo; i < hi; i++) items[i] = id[items[i]];
            qsort(items + lo, hi - lo, sizeof *items, by_u32);
            toff[tx] = w;
            for (size_t i = lo; i < hi; i++)
                if (i == lo || items[i] != items[i - 1]) items[w++] = items[i];
        }
        toff[ntx] = w;
        t->ntx = ntx, t->nitems = noffs, t->off = toff, t->items = items ? items : ff_malloc(sizeof *items);
        if (!t->items) rc = -ENOMEM;
        *names_out = names;
        toff = NULL, items = NULL, names = NULL;
    }
    ff_free(order);
    ff_free(id);
    ff_free(names);
    ff_free(offs);
    ff_free(items);
    ff_free(toff);
    ff_strmap_free(&ids);
    if (rc) ff_tx_text_free(t, *names_out, NULL), *names_out = NULL;
    return rc;
}

void ff_tx_text_free(struct ff_txset *t, char **names, struct ff_buf *text)
{
    ff_free(t->off);
    ff_free(t->items);
    memset(t, 0, sizeof *t);
    ff_free(names);
    if (text) ff_buf_free(text);
}
