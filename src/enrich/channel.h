/* channel.h - where a visit came from: its source (utm_source, else the referring site's host)
 * and its channel (paid, email, social, search, referral, internal, direct, other), by rules
 * like the channel groupings of Google Analytics and Plausible: UTM tags first, then click
 * ids, then the referrer's host against lists of search engines, social networks and webmail.
 * Pure functions of an event's page URL, referrer and campaign fields; the store derives them
 * when it writes parts (schema.c), as it does the UTM columns. */
#ifndef FF_CHANNEL_H
#define FF_CHANNEL_H

#include "core/buf.h"

/* The host of an absolute URL ("https://www.Google.com:443/x" → "google.com": lower case,
 * without "www." and port), into out[cap]; its length, 0 when the URL has none. */
size_t ff_url_host(struct ff_str url, char *out, size_t cap);

/* The click-id parameter of a page URL's query that ads add (gclid, gbraid, wbraid, msclkid,
 * fbclid, ttclid, li_fat_id, twclid), as "name=value" into *out (reset first). 1 when found. */
int ff_click_id(struct ff_str page_url, struct ff_buf *out);

/* The channel name (static; "" for an event with no page, referrer or campaign, such as a
 * server's) and the source (into source[cap], its length in *source_len). */
const char *ff_channel(struct ff_str page_url, struct ff_str referrer, struct ff_str utm_source,
                       struct ff_str utm_medium, struct ff_str click_id, char *source, size_t cap,
                       size_t *source_len);

#endif
