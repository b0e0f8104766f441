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
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
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
    # a funnel: four persons view a product, two of them buy
    for i in range(4):
        for j, ev in enumerate(["Product Viewed", "Order Completed"] if i < 2 else ["Product Viewed"]):
            k += 1
            t = now - dt.timedelta(hours=30, minutes=-5 * j)  # one visit: a path from view to order
            items.append({"type": "track", "event": ev, "userId": f"{run}-buyer{i}", "messageId": f"{run}-{k}",
                          "timestamp": t.isoformat().replace("+00:00", "Z"), "properties": {"sku": "A-1"}})
    r = server.post_json("/v1/batch", {"batch": items},
                         headers={"Origin": "https://shop.example", "User-Agent": CHROME_UA})
    assert r.status_code == 200, r.text
    return sum(1 for i in items if i["type"] == "page")


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
    funnel = _api(server, {"kind": "funnel", "from": "-7d", "window": "7d",
                           "steps": [{"event": "Product Viewed"}, {"event": "Order Completed"}]})["steps"]
    retention = _api(server, {"kind": "retention", "start_event": "Product Viewed", "period": "day", "periods": 3})
    paths = _api(server, {"kind": "paths", "from": "-7d", "depth": 3})
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

    # insights: the builder's tables say what the API says
    assert [f["persons"] for f in funnel] == [4, 2]
    assert [[r[0], r[1], r[2]] for r in out["funnel"] if r] == \
        [["1. Product Viewed", "4", "100%"], ["2. Order Completed", "2", "50%"]], out["funnel"]
    assert [r for r in out["trends"] if r] == [["$pageview", str(visitors)]], out["trends"]
    pricing = _api(server, {"kind": "trends", "events": ["$pageview"], "measure": "unique_persons", "from": "-7d",
                            "filters": [{"field": "path", "op": "contains", "value": "PRIC"}]})["series"][0]["total"]
    assert pricing == 4 and [r for r in out["trends_filtered"] if r] == [["$pageview", "4"]], out["trends_filtered"]
    assert out["filter_chips"] == ["path contains PRIC"]
    cohorts = [c for c in retention["cohorts"] if c["persons"]]
    shown = [r for r in out["retention"] if r and r[0] != "Average"]
    assert [[r[0], r[1]] for r in shown if r[1] != "0"] == [[c["cohort"], str(c["persons"])] for c in cohorts], \
        (out["retention"], retention)
    assert out["paths_drawn"] and paths["edges"], paths

    # saved to a board, kept by the server, drawn on the board
    assert "Saved to growth" in out["saved_note"]
    r = server.get("/api/boards/growth")
    assert r.status_code == 200, r.text
    ins = r.json()["definition"]["insights"]
    assert len(ins) == 1 and ins[0]["title"] == "Checkout funnel" and "kind=funnel" in ins[0]["params"]
    assert out["board_titles"] == ["Checkout funnel"] and out["board_funnel"] == out["funnel"]
    # and a link opened elsewhere shows the same insight once the key is given
    assert out["shared_funnel"] == out["funnel"]


def test_boards_api(server):
    board = {"insights": [{"title": "Signups", "params": "kind=trends&events=Signed%20Up"}]}
    r = server.request("PUT", "/api/boards/team-main", data=json.dumps(board))
    assert r.status_code == 200, r.text
    assert server.get("/api/boards/team-main").json()["definition"] == board
    assert [b["name"] for b in server.get("/api/boards").json()["boards"]] == ["team-main"]
    for bad, why in (('[1]', "object"), ('{"insights": 3}', "array"), ('{"insights": [1]}', "object"), ("{", "parse")):
        r = server.request("PUT", "/api/boards/x", data=bad)
        assert r.status_code == 400 and why in r.json()["error"] and r.json()["field"] == "board", (bad, r.text)
    r = server.request("PUT", "/api/boards/x", data=json.dumps({"insights": [{}] * 65}))
    assert r.status_code == 400 and "64" in r.json()["error"]
    assert server.request("PUT", "/api/boards/bad%20name", data="{}").status_code == 400
    assert server.get("/api/boards/none").status_code == 404
    assert server.request("DELETE", "/api/boards/team-main").json() == {"deleted": "team-main"}
    assert server.get("/api/boards").json() == {"boards": []}
    assert server.get("/api/boards", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_project_endpoint_and_empty_state(server):
    r = server.get("/api/project")
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["id"] == "default" and p["timezone"]
    # a write key of this project: one that ingest takes
    ok = server.post_json("/v1/track", {"event": "e", "userId": "u"}, write_key=p["write_key"])
    assert ok.status_code == 200, ok.text
    assert server.get("/api/project", headers={"Authorization": "Bearer nope"}).status_code == 401
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "playwright-core").is_dir() or not shutil.which("chromium"):
        pytest.fail("node, playwright-core and chromium are needed: `scripts/setup test` installs them")
    out = subprocess.run([node, str(DRIVER), server.base, server.read_key, server.write_key, uid("e"), "empty"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert not res["errors"], res["errors"]
    assert f'data-key="{p["write_key"]}"' in res["snippet"] and f"{server.base}/t.js" in res["snippet"]
