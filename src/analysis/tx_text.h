/* tx_text.h - transactions from text (the input of `footfall analysis itemsets`, so that the
 * same baskets can go to other tools): one transaction per line, its items separated by
 * commas (spaces around them ignored, repeats counted once), blank lines skipped. */
#ifndef FF_TX_TEXT_H
#define FF_TX_TEXT_H

#include <stddef.h>

#include "analysis/itemsets.h"
#include "core/buf.h"

/* On success 0: *t (ff_tx_text_free) and the item names, id i being names[i] (NUL-ended,
 * in *text), ids in the names' order. FF_EINVAL with err naming the line (an empty item, an
 * item over 255 bytes or holding a NUL byte); -ENOMEM. */
int ff_tx_text_parse(const char *buf, size_t len, struct ff_txset *t, char ***names, struct ff_buf *text, char *err,
                     size_t errlen);
void ff_tx_text_free(struct ff_txset *t, char **names, struct ff_buf *text);

#endif
