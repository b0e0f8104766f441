/* pii.h - masking personal data before it is stored: e-mail addresses, phone numbers and
 * card numbers found in the string values of an event's properties and context (page URLs,
 * referrers, search strings included) become "[email]", "[phone]" and "[card]".
 *
 * What counts:
 *   e-mail  local@domain.tld, also with the '@' percent-encoded ("%40") as in query strings;
 *   card    13 to 19 digits, alone or in groups split by spaces or dashes, that pass the Luhn
 *           check (so order numbers and timestamps rarely do);
 *   phone   9 to 15 digits in groups split by spaces, dashes or parentheses, starting with '+'
 *           or having at least two separators ("+44 20 7946 0958", "(555) 123-4567",
 *           "+14155552671"). Dots do not separate phone groups, so IP addresses, versions and
 *           decimals are left alone, and neither are bare runs of digits (ids, timestamps).
 *
 * A project can leave fields unmasked (`pii-keep`): a listed path such as "properties.email"
 * keeps that value and everything under it. */
#ifndef FF_PII_H
#define FF_PII_H

#include <stddef.h>

#include "core/buf.h"

/* Appends to `out` the JSON text `json` (an object, as stored: properties or context) with
 * matches masked in its string values, when there are any; sets *changed. `root` names the
 * object in paths ("properties"); `keep` is the space-separated list of paths left as they
 * are (NULL or "" for none). A value that is not well-formed JSON is copied unchanged.
 * 0, or -ENOMEM. */
int ff_pii_scrub_json(const char *json, size_t len, const char *root, const char *keep, struct ff_buf *out,
                      int *changed);

/* 0 when nothing in s[0, len) can be masked, read as JSON or as text: no e-mail address and
 * no run of digit groups long enough; 1 when something may be. The quick look that lets
 * most texts through without the careful scan. */
int ff_pii_may_match(const char *s, size_t len);
/* ff_pii_scrub_json without the quick look (for tests: the look must pass whatever the walk
 * masks). */
int ff_pii_scrub_json_walk(const char *json, size_t len, const char *root, const char *keep, struct ff_buf *out,
                           int *changed);

/* Masks matches in one plain string (no JSON escapes considered); for tests and tools. */
int ff_pii_scrub_text(const char *s, size_t len, struct ff_buf *out, int *changed);

#endif
