"""The dashboard (served at /) in a real headless Chromium (playwright-core from npm, Debian's
chromium): its numbers against the query API, filtering by a click, and the live page."""

import datetime as dt
import json
import shutil
import subprocess

import pytest

from harness import REPO, uid

DRIVER = REPO / "tests" / "browser" / "dashboard.mjs"
CHROME_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def test_dashboard_assets_are_served(server):
    r = server.get("/", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"]
    assert b"/assets/app.js" in r.content and b"/assets/echarts.min.js" in r.content
    for path, kind in (("/assets/app.js", "text/javascript"), ("/assets/app.css", "text/css"),
                       ("/assets/echarts.min.js", "text/javascript")):
        a = server.get(path, headers={"Accept-Encoding": "gzip"})
        assert a.status_code == 200 and a.headers["Content-Type"].startswith(kind), path
        assert a.headers["Content-Encoding"] == "gzip" and len(a.content) > 100, path
        assert server.get(path, headers={"If-None-Match": a.headers["ETag"]}).status_code == 304
    assert b"echarts" in server.get("/assets/echarts.min.js").content[:2000]
    assert server.get("/assets/nothing.js").status_code == 404


def _seed(server, run):
    """Page views of the last days: / (12 views, 6 visitors), /pricing (5, 4), /blog (3, 2)."""
    now = dt.datetime.now(dt.timezone.utc)
    items = []
    plan = [("/", 6, 2), ("/pricing", 4, 1), ("/blog", 2, 1)]
    k = 0
    for path, visitors, extra in plan:
        for v in range(visitors):
            for rep in range(1 + (extra if v == 0 else 0) + (1 if path == "/" else 0)):
                k += 1
                t = now - dt.timedelta(hours=2 + k)
                items.append({"type": "page", "name": path, "anonymousId": f"{run}-v{v}",
                              "messageId": f"{run}-{k}", "timestamp": t.isoformat().replace("+00:00", "Z"),
                              "properties": {"path": path, "url": f"https://shop.example{path}"},
                              "context": {"page": {"path": path, "url": f"https://shop.example{path}",
                                                   "referrer": "https://www.google.com/"}}})
    r = server.post_json("/v1/batch", {"batch": items},
                         headers={"Origin": "https://shop.example", "User-Agent": CHROME_UA})
    assert r.status_code == 200, r.text
    return len(items)


def _api(server, q):
    r = server.post("/api/query", data=json.dumps(q).encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()


def test_dashboard_in_a_real_browser(server):
    run = uid("db")
    n = _seed(server, run)
    # what the API answers before the browser comes (the live page adds an event later)
    views = _api(server, {"kind": "trends", "events": ["$pageview"], "from": "-7d"})["series"][0]["total"]
    visitors = _api(server, {"kind": "trends", "events": ["$pageview"], "measure": "unique_persons",
                             "from": "-7d"})["series"][0]["total"]
    sessions = _api(server, {"kind": "sessions", "from": "-7d"})
    top = _api(server, {"kind": "top", "dimension": "path", "from": "-7d"})["results"]
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "playwright-core").is_dir() or not shutil.which("chromium"):
        pytest.fail("node, playwright-core and chromium are needed: `scripts/setup test` installs them")
    p = subprocess.run([node, str(DRIVER), server.base, server.read_key, server.write_key, run], cwd=REPO,
                       capture_output=True, text=True, timeout=180)
    lines = p.stdout.strip().splitlines()
    assert lines, f"no output from the browser driver; stderr: {p.stderr[-3000:]}"
    out = json.loads(lines[-1])
    assert p.returncode == 0 and not out["errors"], "\n".join(out["errors"]) + p.stderr[-2000:]

    assert "refused" in out["bad_key_error"]

    assert views == n and visitors == 6
    assert out["kpis"]["Pageviews"] == str(views) and out["kpis"]["Unique visitors"] == str(visitors), out["kpis"]
    assert out["kpis"]["Visits"] == str(sessions["sessions"]), (out["kpis"], sessions)

    assert [[r["value"], str(r["visitors"]), str(r["views"])] for r in top] == out["top_pages"], \
        (top, out["top_pages"])

    # the click on /pricing filtered every number on the page
    assert "f=path:/pricing" in out["hash"] and out["chips"] == ["path is /pricing"]
    only = _api(server, {"kind": "trends", "events": ["$pageview"], "from": "-7d",
                         "filters": [{"field": "path", "op": "eq", "value": "/pricing"}]})["series"][0]["total"]
    assert only == 5 and out["filtered"]["Pageviews"] == str(only), out["filtered"]

    # the live page showed the new event within a second of its acknowledgement
    assert any(f"Live {run}" in row for row in out["live_rows"])
    assert out["live_ms"] <= 1000, f"the live page took {out['live_ms']} ms to show an event"
    assert int(out["active_now"]) >= 1
