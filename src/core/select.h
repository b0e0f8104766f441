/* select.h - the k-th smallest of an array without sorting it (quickselect). */
#ifndef FF_SELECT_H
#define FF_SELECT_H

#include <stddef.h>
#include <stdint.h>

/* Puts into v[k] what sorting v[n] would (k < n), the smaller ones before it and the others
 * after, and returns it: linear on average, where a sort of millions of values would not be. */
static inline int64_t ff_select_i64(int64_t *v, size_t n, size_t k)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, want = (ptrdiff_t)k;
    while (hi > lo) {
        ptrdiff_t mid = lo + (hi - lo) / 2;
        int64_t a = v[lo], b = v[mid], c = v[hi]; /* median of three */
        int64_t pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
        ptrdiff_t i = lo, j = hi;
        while (i <= j) { /* Hoare: [lo, j] at most the pivot, [i, hi] at least */
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                int64_t t = v[i];
                v[i++] = v[j], v[j--] = t;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else break; /* between j and i: all equal to the pivot */
    }
    return v[k];
}

#endif
