#!/usr/bin/python3
"""Writes a realistic combined-format access log: N lines over 7 days, in time order, from
~40,000 client addresses, ~120 user agents (browsers, phones, crawlers, tools), ~3,000 paths
with query strings, search and social referrers, and the status mix of a real site.
Usage: gen_access_log.py N OUT [SEED]. Deterministic for a seed."""
import random
import sys
import time

n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)

browsers = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{v} Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel {v}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_{v} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
]
bots = ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "curl/8.4.0", "python-requests/2.31.0", "Go-http-client/1.1",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"]
uas = [b.format(v=rng.randint(100, 121) if "Chrome" in b or "Firefox" in b else rng.randint(1, 9))
       for b in browsers for _ in range(16)] + bots
ua_weights = [10] * (len(uas) - len(bots)) + [6] * len(bots)
sections = ["", "blog", "docs", "products", "pricing", "about", "api/v1/items", "static/js", "static/css", "images"]
paths = []
for i in range(3000):
    s = rng.choice(sections)
    if s.startswith("static"):
        paths.append(f"/{s}/app.{i:04x}.{'js' if 'js' in s else 'css'}")
    elif s == "images":
        paths.append(f"/images/p{i}.webp")
    else:
        paths.append(f"/{s}/{'item-%d' % i if s else ''}".rstrip("/") or "/")
queries = ["", "", "", "?utm_source=newsletter&utm_medium=email&utm_campaign=nov", "?q=shoes", "?page=2",
           "?gclid=Cj0KCQiA", "?ref=twitter"]
referrers = ["-", "-", "-", "https://www.google.com/", "https://www.bing.com/search?q=footfall",
             "https://t.co/abc", "https://www.facebook.com/", "https://news.ycombinator.com/",
             "https://example.org/blog/post"]
ips = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(40000)]
statuses = [200] * 80 + [304] * 8 + [301] * 3 + [404] * 6 + [500] * 1 + [206] * 2
methods = ["GET"] * 92 + ["POST"] * 6 + ["HEAD"] * 2
months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
start = 1764000000  # 2025-11-24
span = 7 * 86400
with open(out, "w", buffering=1 << 20) as f:
    for i in range(n):
        t = start + span * i // n
        tm = time.gmtime(t)
        ts = f"{tm.tm_mday:02d}/{months[tm.tm_mon - 1]}/{tm.tm_year}:{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} +0000"
        ua = rng.choices(uas, ua_weights)[0]
        path = rng.choice(paths) + rng.choice(queries)
        st = rng.choice(statuses)
        size = 0 if st in (304, 301) else rng.randint(200, 90000)
        user = "-" if rng.random() > 0.02 else f"user{rng.randint(1, 500)}"
        f.write(f'{rng.choice(ips)} - {user} [{ts}] "{rng.choice(methods)} {path} HTTP/1.1" {st} {size} '
                f'"{rng.choice(referrers)}" "{ua}"\n')
