"""The browser tracker (/t.js): served by footfall, then driven in real headless Chromium
(playwright-core from npm, Debian's chromium) on a test site of another origin; what footfall
stored is checked here."""

import gzip
import http.server
import json
import shutil
import subprocess
import threading

import pytest

from harness import REPO, uid, wait_for

SITE = REPO / "tests" / "browser" / "site"
DRIVER = REPO / "tests" / "browser" / "tracker.mjs"


def test_tracker_is_served_small_cached_and_compressed(server):
    r = server.get("/t.js", headers={"Accept-Encoding": "gzip, deflate, br"}, stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/javascript")
    assert r.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in r.headers["Vary"]
    assert "max-age=" in r.headers["Cache-Control"]
    packed = r.raw.read()
    assert len(packed) < 5 * 1024, f"t.js is {len(packed)} bytes gzipped; the budget is 5 KB"
    plain = gzip.decompress(packed)
    r2 = server.get("/t.js", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in r2.headers
    assert r2.content == plain
    assert b"/v1/batch" in plain and b"sendBeacon" in plain
    etag = r.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    r3 = server.get("/t.js", headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert r3.status_code == 304 and r3.content == b"" and "Content-Length" not in r3.headers
    assert r2.headers["ETag"] != etag, "each encoding has its own validator"
    assert server.get("/t.js", headers={"If-None-Match": r2.headers["ETag"],
                                        "Accept-Encoding": "identity"}).status_code == 304
    assert server.get("/t.js", headers={"If-None-Match": '"other"'}).status_code == 200
    head = server.request("HEAD", "/t.js")
    assert head.status_code == 200 and head.content == b""
    assert server.post("/t.js", data=b"x").status_code == 405
    node = shutil.which("node")
    if node:  # it is JavaScript that parses
        p = subprocess.run([node, "--check", "-"], input=plain, capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr.decode()[-2000:]


class _Site(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _site(ff_base, write_key):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            path = self.path.split("?")[0].split("#")[0]
            if path in ("/", "/app/settings"):
                path = "/index.html" if path == "/" else "/app.html"
            f = SITE / path.lstrip("/")
            if not f.is_file() or SITE not in f.resolve().parents:
                self.send_error(404)
                return
            body = f.read_text().replace("{{FF}}", ff_base).replace("{{KEY}}", write_key).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    s = _Site(("127.0.0.1", 0), Handler)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


@pytest.fixture
def site(server):
    s = _site(server.base, server.write_key)
    yield f"http://127.0.0.1:{s.server_address[1]}"
    s.shutdown()


def _drive(site_base, run):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (scripts/setup installs it)")
    if not (REPO / "node_modules" / "playwright-core").is_dir():
        pytest.fail("playwright-core is not installed: run `make setup` or `npm install`")
    if not shutil.which("chromium"):
        pytest.fail("chromium is not installed: `scripts/setup test` installs Debian's chromium")
    p = subprocess.run([node, str(DRIVER), site_base, run], cwd=REPO, capture_output=True, text=True, timeout=180)
    lines = p.stdout.strip().splitlines()
    assert lines, f"no output from the browser driver; stderr: {p.stderr[-3000:]}"
    out = json.loads(lines[-1])
    assert p.returncode == 0 and not out["errors"], "\n".join(out["errors"]) + p.stderr[-2000:]
    return out


def _named(events, name):
    return [e for e in events if e.get("event") == name]


def _one(events, name, **props):
    found = [e for e in _named(events, name) if all(e.get("properties", {}).get(k) == v for k, v in props.items())]
    assert len(found) == 1, f"expected one stored {name!r} {props}, found {len(found)}: " \
                            f"{[e.get('properties') for e in _named(events, name)]}"
    return found[0]


def test_tracker_in_a_real_browser(server, site):
    run = uid("br")
    out = _drive(site, run)
    events = server.all_events()
    text = json.dumps(events)

    # every event the browser was seen to send is stored (once: footfall's dedup absorbs the
    # tracker's resends after beacons; a beacon as a page closes may go unseen)
    sent = {e["messageId"] for b in out["batches"] for e in b["body"]["batch"]}
    stored = {e["messageId"] for e in events}
    assert sent <= stored, f"sent but not stored: {sorted(sent - stored)[:5]}"
    for b in out["batches"]:
        assert b["body"]["writeKey"] == server.write_key and b["body"]["sentAt"]

    # page views, single-page-app navigations included
    pages = [e for e in events if e["type"] == "page"]
    urls = {e["properties"]["url"].split("127.0.0.1:", 1)[1].split("/", 1)[1] for e in pages}
    for want in ("index.html", "search.html?q=running%20shoes", "app.html", "app/settings", "app/settings#billing",
                 "page2.html", "consent.html"):
        assert want in urls, f"no page view of /{want}; saw {sorted(urls)}"
    home = [e for e in pages if e["properties"]["path"] == "/index.html"][0]
    # the browser's own User-Agent header (fetch and sendBeacon send Origin) is enriched
    assert home["enrichment"]["browser"] == "Chrome" and home["enrichment"]["bot"] is False, home["enrichment"]
    assert home["properties"]["title"] == "Test shop"
    assert home["context"]["library"]["name"] == "footfall.js"
    assert home["context"]["page"]["path"] == "/index.html"
    settings = [e for e in pages if e["properties"]["path"] == "/app/settings"]
    assert any(e["properties"]["referrer"].endswith("/app.html") for e in settings), \
        "an in-app navigation's referrer is the page before it"

    # clicks: text, selector, position, href
    buy = _one(events, "Button Clicked", text="Buy now")
    p = buy["properties"]
    assert p["tag"] == "button" and "button#buy" in p["selector"]
    assert isinstance(p["x"], int) and isinstance(p["y"], int) and p["x"] > 0 and p["y"] > 0
    promo = _one(events, "Signup Started", plan="pro")
    assert promo["properties"]["source_page"] == "home" and promo["properties"]["text"] == "Start your trial"
    out_link = _one(events, "Outbound Link Clicked", href="https://example.org/partner")
    assert out_link["properties"]["text"] == "Our partner"
    _one(events, "File Downloaded", file="report.pdf")

    # forms: what the form is, never what was typed
    contact = _one(events, "Form Submitted", form_id="contact")
    assert contact["properties"]["method"] == "post"
    assert contact["properties"]["fields"] >= 4
    for typed in ("Zebediah", "jane.doe", "secret message"):
        assert typed not in text, f"{typed!r}, typed into a form, was stored"

    # site search, from the search box and from the results page's URL
    _one(events, "Searched", query="running shoes", source="form")
    _one(events, "Searched", query="running shoes", source="url")

    # leaving a page: how far it was scrolled and how long it was engaged with
    left = _one(events, "Page Left", path="/index.html")
    assert left["properties"]["scroll_depth"] >= 90, left["properties"]
    assert left["properties"]["engaged_ms"] > 0, left["properties"]

    # the API: track, the queued-call form, identify and reset
    assert out["thrown"] == [], "a call threw into the page"
    _one(events, "Custom Event", run=run, n=1)
    circular = [e for e in events if e.get("event") == "Circular Event"]
    assert len(circular) == 1 and "not JSON" in circular[0]["properties"]["$error"], circular
    _one(events, "Queued Form Call", run=run)
    ident = [e for e in events if e["type"] == "identify"]
    assert len(ident) == 1 and ident[0]["userId"] == f"user-{run}" and ident[0]["traits"]["plan"] == "pro"
    assert _one(events, "After Identify", run=run)["userId"] == f"user-{run}"
    assert "userId" not in _one(events, "After Reset", run=run)

    # failed requests are retried about 1 s, then 2 s apart (and so on), until one passes
    at = out["phases"]["failed_attempts"]
    assert len(at) == 3 and 600 <= at[1] - at[0] < at[2] - at[1], at
    _one(events, "Retried Event", run=run)

    # offline: kept, then sent once when back online, in the page and across a page load
    assert not out["phases"].get("offline-page"), "nothing is sent while offline"
    _one(events, "Offline Then Online", run=run)
    _one(events, "Offline Across Loads", run=run)

    # consent mode holds events until optIn; after optOut nothing leaves
    assert not out["phases"].get("before-consent"), "nothing is sent before consent"
    assert out["stored_before_consent"] == [], "nothing is stored before consent either"
    _one(events, "Before Consent", run=run)
    assert not _named(events, "After Opt Out")
    assert not any(e.get("event") == "After Opt Out" for b in out["batches"] for e in b["body"]["batch"])

    # no ids in the page: the server gave every anonymous event a cookieless visitor id (one
    # browser, one visitor) and the identify call too, so it links what the visitor did before
    visitors = {e.get("anonymousId") for e in events if "userId" not in e or e["type"] == "identify"}
    assert len(visitors) == 1 and visitors.pop().startswith("cl-"), visitors
    assert "anonymousId" not in _one(events, "After Identify", run=run), "one link per identify, not per event"
    r = server.get(f"/api/persons/user-{run}/events")
    assert r.status_code == 200, r.text
    theirs = {json.loads(line)["messageId"] for line in r.text.splitlines() if line.strip()}
    assert buy["messageId"] in theirs, "the clicks before identify belong to the identified person"


def test_tracker_in_firefox_and_webkit(server, site):
    """Safari's engine and Firefox's: the tracker's clicks, events, in-app navigation, identify
    and leaving the page work there too."""
    node = shutil.which("node")
    for tool in ("firefox-esr", "WebKitWebDriver", "Xvfb"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed: `scripts/setup test` installs firefox-esr, webkit2gtk-driver and xvfb")
    if node is None or not (REPO / "node_modules" / "puppeteer-core").is_dir():
        pytest.fail("node and puppeteer-core are needed: `scripts/setup test` installs them")
    run = uid("eng")
    p = subprocess.run([node, str(REPO / "tests" / "browser" / "engines.mjs"), site, run], cwd=REPO,
                       capture_output=True, text=True, timeout=240)
    lines = p.stdout.strip().splitlines()
    assert lines, f"no output from the engines driver; stderr: {p.stderr[-3000:]}"
    out = json.loads(lines[-1])
    assert not out["errors"], "\n".join(out["errors"])
    browsers = {"firefox": ("Firefox", "Firefox"), "webkit": ("Safari", "AppleWebKit")}
    for engine, (browser, ua_has) in browsers.items():
        info = out["engines"][engine]
        assert ua_has in info["ua"] and info["page_errors"] == [], (engine, info)

        def mine(e, engine=engine):
            page = (e.get("context") or {}).get("page") or {}
            return f"engine={engine}" in page.get("url", "") or (e.get("properties") or {}).get("engine") == engine
        def arrived(mine=mine):
            evs = [e for e in server.all_events() if mine(e)]
            return evs if len(evs) >= 7 else None  # 2 pages, a click, a track, identify, 2 leaves
        events = wait_for(arrived, timeout=15, what=f"{engine}'s events")
        names = [e.get("event") or e["type"] for e in events]
        click = [e for e in events if e.get("event") == "Button Clicked"]
        assert len(click) == 1 and click[0]["properties"]["text"] == "Buy now", (engine, names)
        assert "button#buy" in click[0]["properties"]["selector"]
        assert [e for e in events if e.get("event") == "Engine Check" and e["properties"]["run"] == run], names
        pages = [e["properties"]["path"] for e in events if e["type"] == "page"]
        assert sorted(pages) == ["/app/settings", "/index.html"], pages
        ident = [e for e in events if e["type"] == "identify"]
        assert len(ident) == 1 and ident[0]["userId"] == f"engine-{engine}-{run}", (engine, names)
        left = sorted(e["properties"]["path"] for e in events if e.get("event") == "Page Left")
        assert left == ["/app/settings", "/index.html"], (engine, left)
        assert click[0]["enrichment"]["browser"] == browser, (engine, click[0]["enrichment"])
