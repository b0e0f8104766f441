/* channel.c - source and channel of a visit (see channel.h). */
#include "enrich/channel.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "core/textcodec.h"

size_t ff_url_host(struct ff_str url, char *out, size_t cap)
{
    const char *p = url.p, *end = url.p + url.len;
    const char *scheme = url.len ? memchr(p, ':', url.len) : NULL;
    if (!scheme || scheme + 3 > end || scheme[1] != '/' || scheme[2] != '/' || !cap) return 0;
    p = scheme + 3;
    const char *at = p;
    while (at < end && *at != '/' && *at != '?' && *at != '#') at++;
    const char *cred = memchr(p, '@', (size_t)(at - p)); /* user:pass@host */
    if (cred) p = cred + 1;
    const char *h = p;
    if (h < at && *h == '[') { /* [IPv6]:port */
        const char *close = memchr(h, ']', (size_t)(at - h));
        at = close ? close + 1 : at;
    } else {
        const char *colon = memchr(h, ':', (size_t)(at - h));
        if (colon) at = colon;
    }
    if ((size_t)(at - h) > 4 && !strncasecmp(h, "www.", 4)) h += 4;
    size_t n = 0;
    for (; h < at && n + 1 < cap; h++) out[n++] = (char)tolower((unsigned char)*h);
    while (n && out[n - 1] == '.') n--; /* "example.com." */
    out[n] = 0;
    return n;
}

int ff_click_id(struct ff_str url, struct ff_buf *out)
{
    static const char *const names[] = {"gclid", "gbraid", "wbraid", "msclkid", "fbclid", "ttclid", "li_fat_id",
                                        "twclid"};
    ff_buf_reset(out);
    const char *q = url.len ? memchr(url.p, '?', url.len) : NULL;
    if (!q) return 0;
    q++;
    const char *hash = memchr(q, '#', (size_t)(url.p + url.len - q));
    size_t qlen = (size_t)((hash ? hash : url.p + url.len) - q);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        ff_buf_reset(out);
        if (ff_buf_append_str(out, names[i]) || ff_buf_putc(out, '=')) return 0;
        if (ff_query_get(q, qlen, names[i], out) == 1 && out->len > strlen(names[i]) + 1) return 1;
    }
    ff_buf_reset(out);
    return 0;
}

/* host is `domain` or a subdomain of it */
static int under(const char *host, size_t n, const char *domain)
{
    size_t d = strlen(domain);
    return n >= d && !memcmp(host + n - d, domain, d) && (n == d || host[n - d - 1] == '.');
}

/* host has `label` as a label ("google" in "google.co.uk", "news.google.com") */
static int has_label(const char *host, size_t n, const char *label)
{
    size_t l = strlen(label);
    for (size_t i = 0; i + l <= n; i++)
        if ((i == 0 || host[i - 1] == '.') && !memcmp(host + i, label, l) && (i + l == n || host[i + l] == '.'))
            return 1;
    return 0;
}

static int in_list(const char *host, size_t n, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (list[i][0] == '=' ? has_label(host, n, list[i] + 1) : under(host, n, list[i])) return 1;
    return 0;
}

/* "=label" matches any host with that label (every country's Google), else the domain and
 * its subdomains. */
static const char *const search_hosts[] = {
    "=google", "bing.com", "duckduckgo.com", "=yahoo", "baidu.com", "=yandex", "ecosia.org", "search.brave.com",
    "startpage.com", "ask.com", "naver.com", "seznam.cz", "qwant.com", "sogou.com", "so.com", "kagi.com", NULL};
static const char *const social_hosts[] = {
    "facebook.com", "fb.com", "instagram.com", "t.co", "twitter.com", "x.com", "linkedin.com", "lnkd.in",
    "reddit.com", "=pinterest", "youtube.com", "youtu.be", "tiktok.com", "vk.com", "weibo.com", "threads.net",
    "bsky.app", "mastodon.social", "discord.com", "t.me", "telegram.org", "whatsapp.com", "snapchat.com",
    "quora.com", "tumblr.com", "news.ycombinator.com", NULL};
/* Android apps refer as android-app://PACKAGE/. */
static const char *const mail_apps[] = {"com.google.android.gm", "com.microsoft.office.outlook", "com.yahoo.mobile.client.android.mail", NULL};
static const char *const search_apps[] = {"com.google.android.googlequicksearchbox", NULL};
static const char *const social_apps[] = {"com.facebook.katana", "com.facebook.orca", "com.instagram.android",
                                          "com.twitter.android", "com.linkedin.android", "com.reddit.frontpage",
                                          "com.pinterest", "com.zhiliaoapp.musically", "org.telegram.messenger",
                                          "com.whatsapp", "com.discord", NULL};
static const char *const mail_hosts[] = {"mail.google.com", "outlook.live.com", "outlook.office.com",
                                         "mail.yahoo.com", "mail.proton.me", "mail.aol.com", NULL};

static int has_word(struct ff_str s, const char *const *words)
{
    for (int i = 0; words[i]; i++)
        if (ff_str_contains_ci(s, words[i])) return 1;
    return 0;
}

static int is_exactly(struct ff_str s, const char *const *words)
{
    for (int i = 0; words[i]; i++)
        if (s.len == strlen(words[i]) && !strncasecmp(s.p, words[i], s.len)) return 1;
    return 0;
}

const char *ff_channel(struct ff_str page_url, struct ff_str referrer, struct ff_str utm_source,
                       struct ff_str utm_medium, struct ff_str click_id, char *source, size_t cap,
                       size_t *source_len)
{
    *source_len = 0;
    if (cap) source[0] = 0;
    if (!page_url.len && !referrer.len && !utm_source.len && !utm_medium.len && !click_id.len)
        return ""; /* nothing of a visit (a server's event): no channel, rather than "direct" */
    char ref[256], page[256];
    size_t rn = ff_url_host(referrer, ref, sizeof ref), pn = ff_url_host(page_url, page, sizeof page);
    int internal = rn && pn && rn == pn && !memcmp(ref, page, rn);
    /* the source: the campaign's name for it, else the referring site */
    size_t n = 0;
    if (utm_source.len) {
        n = utm_source.len < cap - 1 ? utm_source.len : cap - 1;
        memcpy(source, utm_source.p, n);
    } else if (rn && !internal) {
        n = rn < cap - 1 ? rn : cap - 1;
        memcpy(source, ref, n);
    }
    source[n] = 0;
    *source_len = n;

    static const char *const paid_media[] = {"cpc", "ppc", "paid", "cpm", "cpv", "cpa", "display", "banner",
                                             "retargeting", "remarketing", NULL};
    static const char *const email_words[] = {"email", "e-mail", "e_mail", "newsletter", NULL};
    static const char *const social_media[] = {"social", "social-network", "social_network", "social-media",
                                               "social_media", "sm", NULL};
    static const char *const organic_media[] = {"organic", NULL};
    static const char *const paid_clicks[] = {"gclid=", "gbraid=", "wbraid=", "msclkid=", NULL};
    int paid_click = 0;
    for (int i = 0; paid_clicks[i]; i++)
        paid_click |= click_id.len > strlen(paid_clicks[i]) && !memcmp(click_id.p, paid_clicks[i], strlen(paid_clicks[i]));

    int app = referrer.len > 14 && !strncasecmp(referrer.p, "android-app://", 14);
    if (has_word(utm_medium, paid_media) || paid_click) return "paid";
    if (has_word(utm_medium, email_words) || has_word(utm_source, email_words) ||
        (rn && in_list(ref, rn, app ? mail_apps : mail_hosts)))
        return "email";
    if (is_exactly(utm_medium, social_media) || (rn && !internal && in_list(ref, rn, app ? social_apps : social_hosts)))
        return "social";
    if (is_exactly(utm_medium, organic_media) || (rn && !internal && in_list(ref, rn, app ? search_apps : search_hosts)))
        return "search";
    if (rn && !internal) return "referral";
    if (utm_source.len || utm_medium.len) return "other"; /* tagged, but nothing says how */
    return internal ? "internal" : "direct";
}
