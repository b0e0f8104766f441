"""`footfall generate` (realistic history through the batch API) and the demo shop at /demo."""

import datetime as dt
import json
import shutil
import subprocess

import pytest

from harness import BINARY, REPO, TEST_WRITE_KEYS, wait_for


def _api(server, q):
    r = server.post("/api/query", data=json.dumps(q).encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()


def test_generate_loads_realistic_history(server):
    p = subprocess.run([str(BINARY), "generate", "--url", server.base, "--data", str(server.data_dir),
                        "--events", "20000", "--days", "14", "--seed", "7"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("generated "), p.stdout
    sent = int(p.stdout.split()[1])
    assert 20000 <= sent < 20100
    stats = server.stats()
    assert stats["stored"] == sent and stats["deduplicated"] == 0
    # two weeks ending now, with the shop's funnel, people from several countries and browsers
    trend = _api(server, {"kind": "trends", "from": "-15d", "interval": "day"})
    days = [v for v in trend["series"][0]["data"] if v]
    assert len(days) >= 13 and sum(days) == sent
    now = dt.datetime.now(dt.timezone.utc)
    newest = server.events(limit=1)[0]
    assert dt.datetime.fromisoformat(newest["timestamp"].replace("Z", "+00:00")) <= now
    funnel = _api(server, {"kind": "funnel", "from": "-15d", "steps": [
        {"event": "Product Viewed"}, {"event": "Product Added"}, {"event": "Order Completed"}]})["steps"]
    persons = [s["persons"] for s in funnel]
    assert persons[0] > persons[1] > persons[2] > 0, persons
    for dim, least in (("country", 5), ("browser", 3), ("deviceType", 2), ("source", 4)):
        values = [r["value"] for r in _api(server, {"kind": "top", "dimension": dim, "from": "-15d"})["results"]]
        assert len([v for v in values if v]) >= least, (dim, values)
    # the same seed sends the same events: all of them are duplicates the second time
    p = subprocess.run([str(BINARY), "generate", "--url", server.base, "--key", server.write_key,
                        "--events", "2000", "--days", "14", "--seed", "7"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    # not quite the first 2000 (--events bounds the total): the count of new events is small
    assert server.stats()["deduplicated"] >= 1900


def test_generate_one_day_is_the_last_24_hours(server):
    """--days 1 is the 24 hours ending now at any time of day, not the hours since midnight."""
    p = subprocess.run([str(BINARY), "generate", "--url", server.base, "--key", server.write_key,
                        "--events", "3000", "--days", "1", "--seed", "3"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    sent = int(p.stdout.split()[1])
    sessions = int(p.stdout.split()[4])
    assert 3000 <= sent < 3100
    # sessions of later hours that have not happened yet are dropped; a day ending now drops few
    assert sessions < sent, p.stdout
    trend = _api(server, {"kind": "trends", "from": "-2d", "interval": "hour"})
    hours = [v for v in trend["series"][0]["data"] if v]
    assert sum(hours) == sent
    assert len(hours) >= 20, hours  # every hour of the day has visits (the quietest ~1% of them)
    now = dt.datetime.now(dt.timezone.utc)
    oldest = min(dt.datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in server.events(limit=5000))
    assert now - dt.timedelta(hours=24, minutes=5) <= oldest <= now - dt.timedelta(hours=20)


def test_generate_over_several_connections(server):
    """--connections N posts batches over N connections at once; every event arrives once."""
    args = [str(BINARY), "generate", "--url", server.base, "--key", server.write_key,
            "--events", "6000", "--days", "2", "--seed", "11"]
    p = subprocess.run(args + ["--connections", "4"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    sent = int(p.stdout.split()[1])
    assert 6000 <= sent < 6100
    stats = server.stats()
    assert stats["stored"] == sent and stats["deduplicated"] == 0
    # the same seed over one connection sends the same events: all of them duplicates now
    p = subprocess.run(args + ["--connections", "1"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert int(p.stdout.split()[1]) == sent
    stats = server.stats()
    assert stats["stored"] == sent and stats["deduplicated"] == sent


def test_generate_errors_are_clear(server, tmp_path):
    p = subprocess.run([str(BINARY), "generate", "--url", server.base, "--data", str(tmp_path / "none")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "no --key" in p.stderr
    p = subprocess.run([str(BINARY), "generate", "--url", server.base, "--key", "ffw_wrong", "--events", "10"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "401" in p.stderr
    p = subprocess.run([str(BINARY), "generate", "--days", "0"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--days" in p.stderr
    for n in ("0", "65", "x"):
        p = subprocess.run([str(BINARY), "generate", "--connections", n], capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and "--connections" in p.stderr, (n, p.stderr)
    # a refused key stops every connection; the answer is said once
    p = subprocess.run([str(BINARY), "generate", "--url", server.base, "--key", "ffw_wrong", "--events", "5000",
                        "--connections", "4"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and p.stderr.count("401") == 1, p.stderr


def test_demo_is_off_unless_asked(server):
    r = server.get("/demo")
    assert r.status_code == 404 and "--demo on" in r.json()["error"]


def test_demo_shop_sends_its_visits(footfall):
    server = footfall.start("--demo", "on")
    r = server.get("/demo/p/rain-jacket")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "{{WRITE_KEY}}" not in r.text
    keys = TEST_WRITE_KEYS + [server.write_key]  # any of the default project's write keys
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "playwright-core").is_dir() or not shutil.which("chromium"):
        pytest.fail("node, playwright-core and chromium are needed: `scripts/setup test` installs them")
    p = subprocess.run([node, str(REPO / "tests" / "browser" / "demo.mjs"), server.base], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert not out["errors"], out["errors"]
    assert out["key"] in keys and f'data-key="{out["key"]}"' in r.text

    def stored():
        names = [e.get("event") for e in server.all_events()]
        return "Order Completed" in names and "Product Added" in names and names
    names = wait_for(stored, timeout=10, what="the demo visit's events")
    assert "Product Viewed" in names and "Checkout Started" in names
    order = [e for e in server.all_events() if e.get("event") == "Order Completed"][0]
    assert order["properties"]["revenue"] == 129 and order["anonymousId"].startswith("cl-")
    viewed = lambda: [e for e in server.all_events()  # noqa: E731
                      if e.get("event") == "Product Viewed" and e["properties"]["product_id"] == "head-lamp"]
    assert wait_for(viewed, timeout=10, what="the Product Viewed of a page opened directly")
    pages = {e["properties"]["path"] for e in server.all_events() if e["type"] == "page"}
    assert {"/demo", "/demo/p/rain-jacket", "/demo/cart", "/demo/thanks"} <= pages, pages
