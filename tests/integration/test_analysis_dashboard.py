"""The dashboard's Analysis page (issue 7) in a real headless Chromium: segments (sizes and
centroid profiles, saved as segments), association rules (a table sorted by a click) and a
forecast (its chart and anomalies), each checked against the analysis API."""

import json
import random
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from harness import REPO, fmt_iso, send_daily_counts, uid

DRIVER = REPO / "tests" / "browser" / "analysis.mjs"
FIRST = datetime(2026, 8, 3, tzinfo=timezone.utc)
RANGE = {"from": "2026-08-03", "to": "2026-09-13"}


def baskets(server):
    """Shopping sessions in the same range: views, often adding to the cart, sometimes buying."""
    rnd = random.Random(5)
    evs = []
    for s in range(300):
        t = FIRST + timedelta(days=rnd.randrange(40), hours=rnd.randrange(20))
        names = ["Product Viewed"]
        if rnd.random() < 0.6:
            names.append("Product Added")
            if rnd.random() < 0.5:
                names.append("Order Completed")
        elif rnd.random() < 0.3:
            names.append("Post Liked")
        for i, n in enumerate(names):
            evs.append({"type": "track", "event": n, "userId": f"shopper{s % 60}", "messageId": uid(),
                        "timestamp": fmt_iso(t + timedelta(minutes=i)), "properties": {"revenue": 20} if n == "Order Completed" else {}})
    assert server.post_json("/v1/batch", {"batch": evs}, write_key="k").status_code == 200


def api(server, what, body):
    r = server.post(f"/api/analysis/{what}", data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()


def test_analysis_page_in_a_real_browser(footfall):
    server = footfall.start(prepare={"write_keys": ["k"]})
    send_daily_counts(server, FIRST, days=42, base=30, weekday_extra=10, spike_day=30, spike_factor=8, users=7, seed=11)
    baskets(server)
    seg = api(server, "segments", {**RANGE, "k": 3, "persons": 5})
    rules = api(server, "rules", {**RANGE, "min_support": 0.01, "min_confidence": 0.5, "limit": 200})
    fc = api(server, "forecast", {**RANGE, "interval": "day", "events": ["Signed In"]})
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "playwright-core").is_dir() or not shutil.which("chromium"):
        pytest.fail("node, playwright-core and chromium are needed: `scripts/setup test` installs them")
    q = f"range=custom&from={RANGE['from']}&to={RANGE['to']}"
    p = subprocess.run([node, str(DRIVER), server.base, server.read_key, q], cwd=REPO, capture_output=True, text=True,
                       timeout=240)
    lines = p.stdout.strip().splitlines()
    assert lines, f"no output from the browser driver; stderr: {p.stderr[-3000:]}"
    out = json.loads(lines[-1])
    assert p.returncode == 0 and not out["errors"], "\n".join(out["errors"]) + p.stderr[-2000:]

    s = out["segments"]
    assert s["head"] == ["Feature"] + [f"Segment {x['segment']} ({x['size']})" for x in seg["segments"]]
    assert f"{seg['persons']} persons in 3 segments" in s["summary"]
    assert [r[0] for r in s["rows"]] == seg["columns"]
    events_row = s["rows"][seg["columns"].index("events")]
    assert [float(v.replace(",", "")) for v in events_row[1:]] == \
        [pytest.approx(x["centroid"]["events"], abs=0.006) for x in seg["segments"]]
    assert "dash-0, dash-1, dash-2" in out["saved"]
    saved = server.get("/api/segments").json()["segments"]
    assert sorted(x["name"] for x in saved) == ["dash-0", "dash-1", "dash-2"]

    r = out["rules"]
    assert f"{rules['rules_found']} rules" in r["summary"] and len(r["rows"]) == min(rules["rules_found"], 200)
    top = max(rules["rules"], key=lambda x: x["lift"])
    assert r["rows"][0][:2] == [" + ".join(top["if"]), " + ".join(top["then"])]
    confs = [float(c) for c in r["by_confidence"]]
    assert confs == sorted(confs, reverse=True)

    f = out["forecast"]
    series = fc["series"][0]
    assert "event=Signed+In" in f["hash"] or "event=Signed%20In" in f["hash"]
    assert f["anomalies"] == [x["bucket"] for x in series["anomalies"]]
    assert (FIRST + timedelta(days=30)).strftime("%Y-%m-%d") in f["anomalies"]
    assert f["canvas"] >= 1 and f"{len(series['anomalies'])} anomal" in f["summary"]
