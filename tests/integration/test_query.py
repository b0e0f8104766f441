"""POST /api/query and `footfall query`, kind "trends" (issue 5): every answer is checked
against a brute-force count in Python over the same generated events, with the hard cases:
a daylight-saving change in the query's zone, events on interval boundaries, identities
merged after the fact, breakdowns folded into "$other", and each filter op."""

import json
import math
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from harness import cli, uid

BERLIN = ZoneInfo("Europe/Berlin")
# 2026-10-25 03:00 CEST is 02:00 CET: that local day has 25 hours
START = datetime(2026, 10, 23, 22, 0, tzinfo=timezone.utc)
PLANS = ["free", "pro", "team", "enterprise", None]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def generate(seed=5):
    """Events over four days, hourly-ish, from 12 devices; devices 0-4 log in as users."""
    rnd = random.Random(seed)
    evs = []
    for i in range(600):
        t = START + timedelta(minutes=rnd.randrange(0, 4 * 24 * 60))
        if i % 50 == 0:  # exactly on a local midnight and an hour boundary
            t = datetime(2026, 10, 24 + (i // 50) % 3, 0, 0, tzinfo=BERLIN).astimezone(timezone.utc)
        dev = rnd.randrange(12)
        kind = rnd.choice(["page", "track", "track"])
        e = {"type": kind, "anonymousId": f"dev{dev}", "timestamp": iso(t), "messageId": uid()}
        plan = rnd.choice(PLANS)
        props = {"amount": rnd.randrange(0, 200)}
        if rnd.random() < 0.6:  # a float column of its own in parts, the thresholds below among its values
            props["price"] = rnd.choice([9.5, 19.99, 20.0, 49.9, 50.0, 150.25])
        if plan:
            props["plan"] = plan
        if kind == "page":
            props["url"] = f"https://shop.test/p/{rnd.randrange(5)}"
            props["path"] = props["url"][len("https://shop.test"):]
        else:
            e["event"] = rnd.choice(["Signed Up", "Product Viewed", "Order Completed"])
        e["properties"] = props
        evs.append(e)
    return evs


IDENTIFIES = [{"type": "identify", "anonymousId": f"dev{d}", "userId": f"user{d % 3}",
               "traits": {"plan": ["free", "pro", "team"][d % 3], "age": 10 * d},
               "timestamp": iso(START + timedelta(days=3)), "messageId": uid()} for d in range(5)]


def person(e):
    d = int(e["anonymousId"][3:])
    return f"user{d % 3}" if d < 5 else e["anonymousId"]


def props(e):
    return e.get("properties", {})


def local_day(e):
    t = datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return t.astimezone(BERLIN).strftime("%Y-%m-%d")


def name(e):
    return {"track": e.get("event"), "page": "$pageview", "identify": "$identify"}[e["type"]]


@pytest.fixture(params=["memory", "parts"])
def loaded(footfall, request):
    """The generated events, read from memory, or (after a restart) from parts, where a query
    decodes only the columns it needs."""
    server = footfall.start(prepare={"write_keys": ["k"], "timezone": "Europe/Berlin"})
    evs = generate()
    for i in range(0, len(evs), 100):
        r = server.post_json("/v1/batch", {"batch": evs[i:i + 100]})
        assert r.status_code == 200, r.text
    for e in IDENTIFIES:
        assert server.post_json("/v1/identify", e).status_code == 200
    if request.param == "parts":
        server.restart()
    return server, evs + IDENTIFIES  # every event the server holds


def query(server, q, status=200):
    r = server.post("/api/query", data=json.dumps(q), headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    return r.json()


RANGE = {"from": "2026-10-24", "to": "2026-10-26"}  # local dates in the project's zone, to inclusive
DAYS = ["2026-10-24", "2026-10-25", "2026-10-26"]


def in_range(e):
    return local_day(e) in DAYS


def series_of(answer):
    return {(s["event"], s.get("breakdown")): s for s in answer["series"]}


def test_counts_and_distinct_persons_per_local_day(loaded):
    server, evs = loaded
    got = query(server, {"kind": "trends", **RANGE})
    assert got["buckets"] == DAYS and got["timezone"] == "Europe/Berlin"
    want = [sum(1 for e in evs if local_day(e) == d) for d in DAYS]
    assert got["series"][0]["data"] == want and got["series"][0]["total"] == sum(want)
    # distinct persons: the anonymous events before the identify count as the user
    got = query(server, {"kind": "trends", "measure": "unique_persons", **RANGE})
    want = [len({person(e) for e in evs if local_day(e) == d}) for d in DAYS]
    assert got["series"][0]["data"] == want
    assert got["series"][0]["total"] == len({person(e) for e in evs if in_range(e)})


def test_hours_across_the_daylight_saving_change(loaded):
    server, evs = loaded
    got = query(server, {"kind": "trends", "interval": "hour", "from": "2026-10-25", "to": "2026-10-25"})
    assert len(got["buckets"]) == 24  # labels are local clock hours; 02:00 happens twice and is one bucket
    counts = defaultdict(int)
    for e in evs:
        t = datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).astimezone(BERLIN)
        if t.strftime("%Y-%m-%d") == "2026-10-25":
            counts[t.strftime("%Y-%m-%dT%H:00")] += 1
    assert dict(zip(got["buckets"], got["series"][0]["data"])) == {b: counts.get(b, 0) for b in got["buckets"]}


def test_series_breakdown_and_other(loaded):
    server, evs = loaded
    got = query(server, {"kind": "trends", "events": ["$pageview", "Signed Up"], "breakdown": "properties.plan",
                         "breakdown_limit": 2, **RANGE})
    for ev in ["$pageview", "Signed Up"]:
        mine = [e for e in evs if in_range(e) and name(e) == ev]
        totals = defaultdict(int)
        for e in mine:
            totals[props(e).get("plan")] += 1
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0] or ""))
        answered = [s for s in got["series"] if s["event"] == ev]
        assert len(answered) == 3, answered  # the top two and $other
        assert sorted(s["total"] for s in answered[:2]) == sorted(v for _, v in ranked[:2])
        assert answered[2]["breakdown"] == "$other"
        assert answered[2]["total"] == sum(v for _, v in ranked[2:])
        for s in answered[:2]:
            per_day = [sum(1 for e in mine if props(e).get("plan") == s["breakdown"] and local_day(e) == d)
                       for d in DAYS]
            assert s["data"] == per_day
    # distinct persons in $other: a person in two small values counts once
    got = query(server, {"kind": "trends", "measure": "unique_persons", "breakdown": "properties.plan",
                         "breakdown_limit": 1, **RANGE})
    top = got["series"][0]["breakdown"]
    other = got["series"][-1]
    assert other["breakdown"] == "$other"
    assert other["total"] == len({person(e) for e in evs if in_range(e) and props(e).get("plan") != top})


@pytest.mark.parametrize("flt,keep", [
    ({"field": "properties.plan", "op": "eq", "value": "pro"}, lambda e: props(e).get("plan") == "pro"),
    ({"field": "properties.plan", "op": "neq", "value": "pro"}, lambda e: props(e).get("plan") != "pro"),
    ({"field": "properties.plan", "op": "in", "value": ["team", "free"]},
     lambda e: props(e).get("plan") in ("team", "free")),
    ({"field": "event", "op": "contains", "value": "order"}, lambda e: "order" in name(e).lower()),
    ({"field": "path", "op": "regex", "value": "^/p/[12]$"},
     lambda e: e["type"] == "page" and props(e)["path"] in ("/p/1", "/p/2")),
    ({"field": "properties.amount", "op": "gt", "value": 150}, lambda e: props(e).get("amount", -1) > 150),
    ({"field": "properties.amount", "op": "lt", "value": 20.5}, lambda e: props(e).get("amount", 999) < 20.5),
    ({"field": "properties.price", "op": "gt", "value": 19.99}, lambda e: props(e).get("price", -1) > 19.99),
    ({"field": "properties.price", "op": "lt", "value": 50}, lambda e: props(e).get("price", 999) < 50),
    ({"field": "properties.plan", "op": "exists"}, lambda e: "plan" in props(e)),
    ({"field": "properties.amount", "op": "eq", "value": 7}, lambda e: props(e).get("amount") == 7),
])
def test_filters(loaded, flt, keep):
    server, evs = loaded
    got = query(server, {"kind": "trends", "filters": [flt], **RANGE})
    assert got["series"][0]["data"] == [sum(1 for e in evs if local_day(e) == d and keep(e)) for d in DAYS]


@pytest.mark.parametrize("measure", ["sum", "avg", "min", "max", "p50", "p90", "p99"])
def test_measures_of_a_numeric_property(loaded, measure):
    """Per local day and breakdown value (the top two by their total, the rest as $other)."""
    server, evs = loaded

    def stat(vals):
        if not vals:
            return 0 if measure == "sum" else None
        if measure in ("sum", "avg"):
            return math.fsum(vals) / (1 if measure == "sum" else len(vals))
        if measure in ("min", "max"):
            return min(vals) if measure == "min" else max(vals)
        return nearest_rank(vals, {"p50": 0.5, "p90": 0.9, "p99": 0.99}[measure])

    got = query(server, {"kind": "trends", "measure": measure, "property": "properties.amount",
                         "breakdown": "properties.plan", "breakdown_limit": 2, **RANGE})
    assert got["measure"] == measure and got["property"] == "properties.amount"
    mine = [e for e in evs if in_range(e) and "amount" in props(e)]
    plans = defaultdict(list)
    for e in mine:
        plans[props(e).get("plan")].append(props(e)["amount"])
    ranked = sorted(plans, key=lambda p: (-stat(plans[p]), p or ""))
    assert [s["breakdown"] for s in got["series"]] == ranked[:2] + ["$other"]
    for s in got["series"]:
        if s["breakdown"] == "$other":
            rows = [e for e in mine if props(e).get("plan") not in ranked[:2]]
        else:
            rows = [e for e in mine if props(e).get("plan") == s["breakdown"]]
        want = [stat([props(e)["amount"] for e in rows if local_day(e) == d]) for d in DAYS]
        assert s["data"] == pytest.approx(want, rel=1e-12), s["breakdown"]
        assert s["total"] == pytest.approx(stat([props(e)["amount"] for e in rows]), rel=1e-12)


def test_events_per_person_and_a_formula(loaded):
    server, evs = loaded
    got = query(server, {"kind": "trends", "events": ["Order Completed", "Product Viewed"],
                         "measure": "per_person_avg", "formula": "(A - B) / B * 100", **RANGE})

    def per_person(ev, day=None):
        rows = [e for e in evs if in_range(e) and name(e) == ev and (day is None or local_day(e) == day)]
        persons = {person(e) for e in rows}
        return len(rows) / len(persons) if persons else None

    for s, ev in zip(got["series"], ["Order Completed", "Product Viewed"]):
        assert s["event"] == ev
        assert s["data"] == pytest.approx([per_person(ev, d) for d in DAYS])
        assert s["total"] == pytest.approx(per_person(ev))
    formula = got["series"][2]
    assert formula["formula"] == "(A - B) / B * 100" and len(got["series"]) == 3
    a, b = got["series"][0], got["series"][1]
    for i, d in enumerate(DAYS):
        assert formula["data"][i] == pytest.approx((a["data"][i] - b["data"][i]) / b["data"][i] * 100)
    # counts too, with a breakdown: one formula per value the first series answers
    got = query(server, {"kind": "trends", "events": ["$pageview", "Signed Up"], "formula": "B / A",
                         "breakdown": "properties.plan", "breakdown_limit": 2, **RANGE})
    firsts = [s for s in got["series"] if s.get("event") == "$pageview" and s["breakdown"] != "$other"]
    formulas = [s for s in got["series"] if "formula" in s]
    assert [f["breakdown"] for f in formulas] == [s["breakdown"] for s in firsts]
    for f in formulas:
        for i, d in enumerate(DAYS):
            pv = sum(1 for e in evs if name(e) == "$pageview" and props(e).get("plan") == f["breakdown"] and local_day(e) == d)
            su = sum(1 for e in evs if name(e) == "Signed Up" and props(e).get("plan") == f["breakdown"] and local_day(e) == d)
            assert f["data"][i] == (pytest.approx(su / pv) if pv else None)


def test_unique_sessions_agree_with_the_events(loaded):
    server, evs = loaded
    got = query(server, {"kind": "trends", "measure": "unique_sessions", "interval": "day", **RANGE})
    stored = server.events(limit=100000)
    want = [len({e["sessionId"] for e in stored if e.get("sessionId") and local_day(e) == d}) for d in DAYS]
    assert got["series"][0]["data"] == want and sum(want) > 0


def test_months_weeks_and_utc(loaded):
    server, evs = loaded
    got = query(server, {"kind": "trends", "interval": "week", "from": "2026-10-20", "to": "2026-11-01"})
    assert got["buckets"] == ["2026-10-19", "2026-10-26"]  # Mondays
    assert sum(got["series"][0]["data"]) == len(evs)
    got = query(server, {"kind": "trends", "interval": "month", "timezone": "UTC", "from": "2026-10-01",
                         "to": "2026-11-30"})
    assert got["buckets"] == ["2026-10", "2026-11"] and got["timezone"] == "UTC"
    assert got["series"][0]["data"] == [sum(1 for e in evs if e["timestamp"].startswith(m)) for m in ("2026-10", "2026-11")]


def test_cli_gives_the_same_answer(loaded):
    server, evs = loaded
    q = {"kind": "trends", "measure": "unique_persons", "breakdown": "properties.plan", **RANGE}
    over_http = query(server, q)
    server.stop_ok()
    offline = json.loads(cli("query", "--data", server.data_dir, json.dumps(q)).stdout)
    assert offline["series"] == over_http["series"] and offline["timezone"] == "Europe/Berlin"
    bad = cli("query", "--data", server.data_dir, '{"kind":"trends","interval":"fortnight"}', check=False)
    assert bad.returncode == 2 and '"field":"interval"' in bad.stderr


@pytest.mark.parametrize("q,field", [
    ({}, "kind"), ({"kind": "nonsense"}, "kind"), ({"kind": "trends", "interval": "fortnight"}, "interval"),
    ({"kind": "trends", "measure": "median"}, "measure"), ({"kind": "trends", "from": "yesterday"}, "from"),
    ({"kind": "trends", "from": "-7x"}, "from"), ({"kind": "trends", "from": "now", "to": "-1d"}, "from"),
    ({"kind": "trends", "timezone": "Mars/Olympus"}, "timezone"),
    ({"kind": "trends", "breakdown": "nonsense"}, "breakdown"),
    ({"kind": "trends", "filters": [{"field": "x.y", "op": "eq", "value": 1}]}, "filters"),
    ({"kind": "trends", "filters": [{"field": "path", "op": "like", "value": 1}]}, "filters"),
    ({"kind": "trends", "filters": [{"field": "path", "op": "regex", "value": "("}]}, "filters"),
    ({"kind": "trends", "filters": [{"field": "path", "op": "gt", "value": "x"}]}, "filters"),
    ({"kind": "trends", "interval": "minute", "from": "-30d"}, "from"),
    ({"kind": "trends", "measure": "sum"}, "property"),
    ({"kind": "trends", "measure": "p90", "property": "nonsense"}, "property"),
    ({"kind": "trends", "formula": "A/"}, "formula"),
    ({"kind": "trends", "formula": "(A"}, "formula"),
    ({"kind": "trends", "events": ["a", "b"], "formula": "A/C"}, "formula"),
    ({"kind": "trends", "formula": "A % 2"}, "formula"),
])
def test_bad_queries_name_their_field(server, q, field):
    r = server.post("/api/query", data=json.dumps(q))
    assert r.status_code == 400 and r.json()["field"] == field, r.text


def test_too_many_intervals_says_the_range(server):
    for kind, interval in (("trends", "minute"), ("retention", "day"), ("stickiness", "minute")):
        q = {"kind": kind, "interval" if kind != "retention" else "period": interval,
             "from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "timezone": "UTC"}
        r = server.post("/api/query", data=json.dumps(q))
        assert r.status_code == 400 and r.json()["field"] == "from", r.text
        assert "from 2020-01-01T00:00:00.000Z to 2026-01-01T00:00:00.000Z is more than" in r.json()["error"]
        assert f"{interval}s:" in r.json()["error"]


def test_query_needs_a_read_key_and_post(server):
    assert server.post("/api/query", data="{}", nokey=True).status_code == 401
    assert server.get("/api/query").status_code == 405
    assert server.post("/api/query", data="not json").json()["field"] == ""
    # relative ranges: the last day holds what was just sent
    assert server.post_json("/v1/track", {"userId": "u", "event": "Now"}).status_code == 200
    got = query(server, {"kind": "trends", "from": "-1d", "interval": "hour", "event": "Now"})
    assert got["series"][0]["total"] == 1 and len(got["buckets"]) in (24, 25)


# ---- sessions and top lists ----

def visits(seed=11):
    """Devices with a few visits each: clusters of events minutes apart, hours between them,
    one visit across local midnight (Berlin); sent in time order, so sessions follow the rules
    alone."""
    rnd = random.Random(seed)
    evs = []
    for dev in range(8):
        t = START + timedelta(hours=rnd.randrange(0, 30))
        for _ in range(rnd.randrange(2, 6)):
            for k in range(rnd.randrange(1, 6)):
                page = rnd.random() < 0.7
                e = {"type": "page" if page else "track", "anonymousId": f"v{dev}", "timestamp": iso(t),
                     "messageId": uid()}
                if page:
                    path = f"/{rnd.choice(['home', 'pricing', 'blog', 'docs'])}"
                    e["properties"] = {"url": "https://shop.test" + path, "path": path}
                else:
                    e["event"] = "Clicked"
                evs.append(e)
                t += timedelta(minutes=rnd.randrange(1, 25))
            t += timedelta(minutes=rnd.randrange(31, 600))
    midnight = datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN).astimezone(timezone.utc)
    for m in (-10, 10):  # 20 minutes apart, but across midnight: two sessions
        evs.append({"type": "page", "anonymousId": "night", "timestamp": iso(midnight + timedelta(minutes=m)),
                    "messageId": uid(), "properties": {"url": "https://shop.test/late", "path": "/late"}})
    return sorted(evs, key=lambda e: e["timestamp"])


def model_sessions(evs):
    """The session rules, by hand: per device in time order, a new session after 30 minutes
    or when the local (Berlin) day changes."""
    by_dev = defaultdict(list)
    for e in evs:
        by_dev[e["anonymousId"]].append(e)
    sessions = []
    for dev, es in by_dev.items():
        cur = None
        for e in es:
            t = datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
            if cur is None or t - cur["end"] > timedelta(minutes=30) or local_day(e) != cur["day"]:
                cur = {"dev": dev, "start": t, "end": t, "day": local_day(e), "events": []}
                sessions.append(cur)
            cur["end"] = t
            cur["events"].append(e)
    return sessions


@pytest.fixture(params=["memory", "parts"])
def visited(footfall, request):
    server = footfall.start(prepare={"write_keys": ["k"], "timezone": "Europe/Berlin"})
    evs = visits()
    r = server.post_json("/v1/batch", {"batch": evs})
    assert r.status_code == 200, r.text
    if request.param == "parts":
        server.restart()
    return server, evs


def test_sessions_kind_against_the_rules(visited):
    server, evs = visited
    got = query(server, {"kind": "sessions", "from": "2026-10-20", "to": "2026-10-30", "limit": 3})
    want = model_sessions(evs)
    pages = [[e for e in s["events"] if e["type"] == "page"] for s in want]
    assert got["sessions"] == len(want)
    assert got["visitors"] == len({s["dev"] for s in want})
    assert got["avg_duration_seconds"] == pytest.approx(
        sum((s["end"] - s["start"]).total_seconds() for s in want) / len(want), abs=1e-3)
    assert got["pages_per_session"] == pytest.approx(sum(map(len, pages)) / len(want), abs=1e-3)
    bounces = sum(1 for s, p in zip(want, pages) if len(p) == 1 and len(s["events"]) == 1)
    assert got["bounce_rate"] == pytest.approx(bounces / len(want), abs=1e-4)
    for key, pick in (("entry_pages", 0), ("exit_pages", -1)):
        rows = defaultdict(lambda: [set(), 0])
        for s, p in zip(want, pages):
            if p:
                rows[p[pick]["properties"]["path"]][0].add(s["dev"])
                rows[p[pick]["properties"]["path"]][1] += 1
        ranked = sorted(((k, len(v[0]), v[1]) for k, v in rows.items()), key=lambda r: (-r[1], -r[2], r[0]))
        assert [(r["value"], r["visitors"], r["visits"]) for r in got[key]] == ranked[:3]
    # a filter keeps the sessions with an event that passes it, whole
    got = query(server, {"kind": "sessions", "from": "2026-10-20", "to": "2026-10-30",
                         "filters": [{"field": "path", "op": "eq", "value": "/late"}]})
    assert got["sessions"] == 2 and got["bounce_rate"] == 1.0  # the two halves of the night visit


def test_top_pages_and_entry_pages(visited):
    server, evs = visited
    rng = {"from": "2026-10-20", "to": "2026-10-30"}
    got = query(server, {"kind": "top", "dimension": "path", "limit": 10, **rng})
    views, people = defaultdict(int), defaultdict(set)
    for e in evs:
        if e["type"] == "page":
            views[e["properties"]["path"]] += 1
            people[e["properties"]["path"]].add(e["anonymousId"])
    want = sorted(((p, len(people[p]), views[p]) for p in views), key=lambda r: (-r[1], -r[2], r[0]))
    assert [(r["value"], r["visitors"], r["views"]) for r in got["results"]] == want
    got = query(server, {"kind": "top", "dimension": "entry_page", **rng})
    entries = defaultdict(lambda: [set(), 0])
    for s in model_sessions(evs):
        p = [e for e in s["events"] if e["type"] == "page"]
        if p:
            entries[p[0]["properties"]["path"]][0].add(s["dev"])
            entries[p[0]["properties"]["path"]][1] += 1
    want = sorted(((p, len(v[0]), v[1]) for p, v in entries.items()), key=lambda r: (-r[1], -r[2], r[0]))
    assert [(r["value"], r["visitors"], r["visits"]) for r in got["results"]] == want
    bad = server.post("/api/query", data=json.dumps({"kind": "top"}))
    assert bad.status_code == 400 and bad.json()["field"] == "dimension"


# ---- funnels ----

def ts(e):
    return datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def person_any(e):
    return e["userId"] if e["type"] == "identify" else person(e)


def model_funnel(evs, steps, window, strict=False, breakdown=None):
    """The funnel by hand: per person in time (then arrival) order, each step-1 event starts
    an attempt that takes the next steps greedily within the window; the deepest attempt
    counts, the first to get there gives the times and the breakdown value."""
    per = defaultdict(list)
    for i, e in enumerate(evs):
        if in_range(e):
            per[person_any(e)].append((ts(e), i, e))
    groups = defaultdict(lambda: {"reached": [0] * len(steps), "gaps": [[] for _ in steps], "who": []})
    for who, es in per.items():
        es.sort(key=lambda x: (x[0], x[1]))
        best, best_at, best_val = 0, [], None
        for k, (t0, _, e0) in enumerate(es):
            if not steps[0](e0):
                continue
            at = [t0]
            for t, _, e in es[k + 1:]:
                if len(at) == len(steps) or t - t0 > window:
                    break
                if steps[len(at)](e):
                    at.append(t)
                elif strict:
                    break
            if len(at) > best:
                best, best_at, best_val = len(at), at, (breakdown(e0) if breakdown else None)
        g = groups[best_val]
        for s in range(best):
            g["reached"][s] += 1
            if s:
                g["gaps"][s].append((best_at[s] - best_at[s - 1]).total_seconds())
        if best:
            g["who"].append((best, who))
    return groups


def nearest_rank(v, q):
    v = sorted(v)
    import math
    return v[max(math.ceil(q * len(v)), 1) - 1]


def is_event(n):
    return lambda e: name(e) == n


def check_steps(got_steps, g):
    assert [s["persons"] for s in got_steps] == g["reached"]
    for s, st in enumerate(got_steps):
        if s and g["reached"][s]:
            assert st["median_seconds"] == pytest.approx(nearest_rank(g["gaps"][s], 0.5))
            assert st["p90_seconds"] == pytest.approx(nearest_rank(g["gaps"][s], 0.9))
        if g["reached"][0]:
            assert st["conversion_rate"] == pytest.approx(g["reached"][s] / g["reached"][0], abs=1e-4)


@pytest.mark.parametrize("order,window", [("loose", "1d"), ("loose", "2h"), ("strict", "1d")])
def test_funnel_against_the_definition(loaded, order, window):
    server, evs = loaded
    steps = [{"event": "Product Viewed"}, {"event": "Signed Up"},
             {"event": "Order Completed", "filters": [{"field": "properties.amount", "op": "gt", "value": 50}]}]
    got = query(server, {"kind": "funnel", "steps": steps, "window": window, "order": order, **RANGE})
    w = timedelta(days=1) if window == "1d" else timedelta(hours=2)
    model = model_funnel(evs, [is_event("Product Viewed"), is_event("Signed Up"),
                               lambda e: name(e) == "Order Completed" and props(e).get("amount", 0) > 50],
                         w, strict=order == "strict")
    assert got["order"] == order and got["steps"][0]["persons"] > 0
    check_steps(got["steps"], model[None])
    if order == "loose" and window == "1d":
        assert got["steps"][2]["persons"] > 0, "the data should exercise a full conversion"


def test_funnel_breakdown_and_persons(loaded):
    server, evs = loaded
    steps = [{"event": "$pageview"}, {"event": "Order Completed"}]
    got = query(server, {"kind": "funnel", "steps": steps, "window": "12h", "breakdown": "properties.plan", **RANGE})
    model = model_funnel(evs, [is_event("$pageview"), is_event("Order Completed")], timedelta(hours=12),
                         breakdown=lambda e: props(e).get("plan"))
    assert len(got["breakdown"]) == min(10, len(model))
    for b in got["breakdown"]:
        check_steps(b["steps"], model[b["value"]])
    got = query(server, {"kind": "funnel", "steps": steps, "window": "12h", "persons_at_step": 2, "limit": 1000,
                         **RANGE})
    model = model_funnel(evs, [is_event("$pageview"), is_event("Order Completed")], timedelta(hours=12))
    assert got["persons"] == sorted(who for level, who in model[None]["who"] if level >= 2)
    for q, field in (({"steps": [{"event": "A"}]}, "steps"), ({"steps": steps, "window": "1y"}, "window"),
                     ({"steps": steps, "order": "any"}, "order"), ({"steps": steps, "persons_at_step": 3}, "persons_at_step")):
        r = server.post("/api/query", data=json.dumps({"kind": "funnel", **q}))
        assert r.status_code == 400 and r.json()["field"] == field, r.text


def test_funnel_of_many_persons_walked_on_two_threads(footfall):
    """Enough persons that their hits are walked on two threads, each counting its own half
    of them: the steps, times, breakdown and persons at a step come out as one count."""
    server = footfall.start()
    rnd = random.Random(5)
    base = datetime(2026, 6, 1, 8, tzinfo=timezone.utc)
    evs, want = [], defaultdict(lambda: {"reached": [0, 0], "gaps": [[], []], "who": []})
    for i in range(12000):
        who, plan, t0 = f"u{i:05d}", rnd.choice(["free", "pro", "team"]), base + timedelta(seconds=rnd.randrange(86400))
        evs.append({"type": "track", "event": "A", "userId": who, "properties": {"plan": plan},
                    "timestamp": t0.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "messageId": uid()})
        g = want[plan]
        g["reached"][0] += 1
        if rnd.random() < 0.6:
            gap = rnd.randrange(1, 3600)
            evs.append({"type": "track", "event": "B", "userId": who,
                        "timestamp": (t0 + timedelta(seconds=gap)).strftime("%Y-%m-%dT%H:%M:%S.000Z"), "messageId": uid()})
            g["reached"][1] += 1
            g["gaps"][1].append(gap)
            g["who"].append(who)
    rnd.shuffle(evs)
    for i in range(0, len(evs), 1000):
        assert server.post_json("/v1/batch", {"batch": evs[i:i + 1000]}).status_code == 200
    server.restart()  # into parts: a run of hits per person
    rng = {"from": "2026-06-01", "to": "2026-06-02", "timezone": "UTC"}
    steps = [{"event": "A"}, {"event": "B"}]
    got = query(server, {"kind": "funnel", "steps": steps, "window": "1d", "breakdown": "properties.plan", **rng})
    assert sorted(b["value"] for b in got["breakdown"]) == ["free", "pro", "team"]
    for b in got["breakdown"]:
        check_steps(b["steps"], want[b["value"]])
    everyone = {"reached": [sum(g["reached"][s] for g in want.values()) for s in range(2)],
                "gaps": [[], [x for g in want.values() for x in g["gaps"][1]]]}
    got = query(server, {"kind": "funnel", "steps": steps, "window": "1d", "persons_at_step": 2, "limit": 1000, **rng})
    check_steps(got["steps"], everyone)
    assert got["persons"] == sorted(w for g in want.values() for w in g["who"])[:1000]


def test_newest_events_from_parts_that_overlap(footfall):
    """The newest events are read part by part, the part with the latest event first, until
    the rest hold only older ones: parts of one day written apart (and memory) interleave in
    time, and each gives its share of a page."""
    server = footfall.start()
    sent = []

    def send(minutes):
        batch = [{"type": "track", "event": "Tick", "userId": f"u{m % 7}", "messageId": uid(),
                  "timestamp": f"2026-07-01T{m // 60:02d}:{m % 60:02d}:00.000Z"} for m in minutes]
        assert server.post_json("/v1/batch", {"batch": batch}).status_code == 200
        sent.extend(batch)

    send(range(0, 1440, 3))
    server.restart()  # a part
    send(range(1, 1440, 3))
    server.restart()  # another part of the same day
    send(range(2, 1440, 3))  # and memory
    want = [e["messageId"] for e in sorted(sent, key=lambda e: e["timestamp"], reverse=True)]
    rng = {"from": "2026-07-01", "to": "2026-07-01", "timezone": "UTC"}
    pages, before = [], None
    while len(pages) < 60:
        page = query(server, {"kind": "events", "event": "Tick", "limit": 10, **rng, **({"before": before} if before else {})})
        pages += [e["messageId"] for e in page["events"]]
        before = page["next"]
    assert pages == want[:60]


# ---- retention ----

def model_retention(evs, start, back, days, periods):
    first, returns = {}, defaultdict(set)
    for e in evs:
        if not in_range(e):
            continue
        d = days.index(local_day(e))
        who = person_any(e)
        if start(e):
            first[who] = min(first.get(who, d), d)
        if back(e):
            returns[who].add(d)
    rows = [[0] * (periods + 1) for _ in days]
    for who, c in first.items():
        for k in range(periods + 1):
            if c + k < len(days) and (k == 0 or c + k in returns[who]):
                rows[c][k] += 1
    return [r[:len(days) - c] for c, r in enumerate(rows)]


@pytest.mark.parametrize("start,back", [("Signed Up", "any"), ("any", "Order Completed"), ("$pageview", "$pageview")])
def test_retention_against_the_definition(loaded, start, back):
    server, evs = loaded
    got = query(server, {"kind": "retention", "period": "day", "periods": 2, "start_event": start,
                         "return_event": back, **RANGE})
    match = lambda n: (lambda e: True) if n == "any" else is_event(n)  # noqa: E731
    want = model_retention(evs, match(start), match(back), DAYS, 2)
    assert [c["cohort"] for c in got["cohorts"]] == DAYS
    assert [c["returned"] for c in got["cohorts"]] == want
    assert [c["persons"] for c in got["cohorts"]] == [r[0] for r in want]
    for k, avg in enumerate(got["average"]):
        size = sum(r[0] for r in want if len(r) > k)
        assert avg == pytest.approx(sum(r[k] for r in want if len(r) > k) / size if size else 0, abs=1e-4)
    assert sum(r[0] for r in want) > 0


def test_retention_defaults_and_errors(server):
    assert server.post_json("/v1/track", {"userId": "u", "event": "Start"}).status_code == 200
    got = query(server, {"kind": "retention", "start_event": "Start"})
    assert got["period"] == "week" and got["periods"] == 8 and len(got["cohorts"]) in (9, 10)
    assert got["cohorts"][-1]["persons"] == 1
    for q, field in (({"period": "hour"}, "period"), ({"periods": 0}, "periods"), ({"start_event": ""}, "start_event")):
        r = server.post("/api/query", data=json.dumps({"kind": "retention", **q}))
        assert r.status_code == 400 and r.json()["field"] == field, r.text


# ---- paths ----

def model_paths(evs, start=None, back=False, depth=4):
    edges, nodes, sessions = defaultdict(int), defaultdict(int), 0
    for s in model_sessions(evs):
        items = []
        for e in s["events"]:
            it = e["properties"]["path"] if e["type"] == "page" else e["event"]
            if not items or items[-1] != it:
                items.append(it)
        if start is not None:
            if start not in items:
                continue
            i = items.index(start)
            path = items[i::-1] if back else items[i:]
        else:
            path = items
        path = path[:depth]
        sessions += 1
        for k, it in enumerate(path):
            nodes[f"{k + 1}_{it}"] += 1
            if k:
                edges[(f"{k}_{path[k - 1]}", f"{k + 1}_{it}")] += 1
    return sessions, nodes, edges


@pytest.mark.parametrize("q", [{}, {"start": "/home"}, {"start": "/pricing", "direction": "previous", "depth": 3}])
def test_paths_against_the_definition(visited, q):
    server, evs = visited
    got = query(server, {"kind": "paths", "from": "2026-10-20", "to": "2026-10-30", "limit": 1000, **q})
    sessions, nodes, edges = model_paths(evs, q.get("start"), q.get("direction") == "previous", q.get("depth", 4))
    assert got["sessions"] == sessions > 0
    assert {(e["source"], e["target"]): e["sessions"] for e in got["edges"]} == dict(edges)
    assert {n["name"]: n["sessions"] for n in got["nodes"]} == {k: v for k, v in nodes.items()
                                                                if any(k in pair for pair in edges) or k.startswith("1_")
                                                                and q.get("start")}
    values = [e["sessions"] for e in got["edges"]]
    assert values == sorted(values, reverse=True)
    top = query(server, {"kind": "paths", "from": "2026-10-20", "to": "2026-10-30", "limit": 2, **q})
    assert [e["sessions"] for e in top["edges"]] == values[:2]


# ---- stickiness and lifecycle ----

def active_days(evs, event=None):
    act = defaultdict(set)
    for e in evs:
        if event and name(e) != event:
            continue
        act[person_any(e)].add(local_day(e))
    return act


@pytest.mark.parametrize("event", [None, "Order Completed"])
def test_stickiness_against_the_definition(loaded, event):
    server, evs = loaded
    got = query(server, {"kind": "stickiness", **({"event": event} if event else {}), **RANGE})
    act = active_days([e for e in evs if in_range(e)], event)
    want = [sum(1 for days in act.values() if len(days) == k) for k in range(1, 4)]
    assert got["intervals"] == 3 and [d["persons"] for d in got["data"]] == want and sum(want) > 0


def test_lifecycle_against_the_definition(loaded):
    server, evs = loaded
    got = query(server, {"kind": "lifecycle", "event": "Product Viewed", **RANGE})
    act = active_days(evs, "Product Viewed")  # every day stored: "new" means never before
    want = {"new": [], "returning": [], "resurrecting": [], "dormant": []}
    for d in DAYS:
        p = (datetime.strptime(d, "%Y-%m-%d") - timedelta(days=1)).strftime("%Y-%m-%d")
        n = r = s = z = 0
        for days in act.values():
            if d in days:
                if min(days) == d:
                    n += 1
                elif p in days:
                    r += 1
                else:
                    s += 1
            elif p in days:
                z -= 1
        for k, v in zip(want, (n, r, s, z)):
            want[k].append(v)
    assert got["buckets"] == DAYS and got["series"] == want
    assert any(want["returning"]) and any(want["dormant"])
    bad = server.post("/api/query", data=json.dumps({"kind": "lifecycle", "interval": "year"}))
    assert bad.status_code == 400 and bad.json()["field"] == "interval"


# ---- rows: events, persons, live ----

def test_events_and_persons_rows(loaded):
    server, evs = loaded
    mine = [(ts(e), i, e) for i, e in enumerate(evs) if in_range(e) and name(e) == "Signed Up"]
    mine.sort(key=lambda x: (x[0], x[1]), reverse=True)
    want = [e["messageId"] for _, _, e in mine]
    got = query(server, {"kind": "events", "event": "Signed Up", "limit": 7, "offset": 3, **RANGE})
    assert [e["messageId"] for e in got["events"]] == want[3:10] and got["offset"] == 3
    assert all(e["event"] == "Signed Up" and e.get("sessionId") for e in got["events"])
    # paging with no depth limit: each full page says where the next begins
    pages, before = [], None
    while True:
        q = {"kind": "events", "event": "Signed Up", "limit": 4, **RANGE, **({"before": before} if before else {})}
        page = query(server, q)
        pages += [e["messageId"] for e in page["events"]]
        if "next" not in page:
            break
        before = page["next"]
    assert pages == want and len(want) > 8
    bad = server.post("/api/query", data=json.dumps({"kind": "events", "before": "yesterday"}))
    assert bad.status_code == 400 and bad.json()["field"] == "before"
    got = query(server, {"kind": "persons", "event": "Signed Up", "limit": 1000, **RANGE})
    counts = defaultdict(list)
    for t, _, e in mine:
        counts[person_any(e)].append(t)
    ranked = sorted(counts.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    assert got["total"] == len(counts)
    assert query(server, {"kind": "persons", "offset": 500000, **RANGE})["persons"] == []
    assert [(p["person"], p["events"], p["first"], p["last"]) for p in got["persons"]] == \
        [(who, len(t), iso(min(t)), iso(max(t))) for who, t in ranked]


def test_live(server):
    sent = []
    for i in range(12):
        mid = uid()
        r = server.post_json("/v1/track", {"userId": f"live{i % 4}", "event": "Tick", "messageId": mid})
        assert r.status_code == 200
        sent.append(mid)
    got = query(server, {"kind": "live", "limit": 5})
    assert got["active_persons"] == 4
    assert sum(got["per_second"]) == 12 and sum(got["per_minute"]) == 12
    assert len(got["per_second"]) == 60 and len(got["per_minute"]) == 30
    assert [e["messageId"] for e in got["latest"]] == sent[::-1][:5]
    assert query(server, {"kind": "live", "event": "Other"})["active_persons"] == 0


def test_compare_with_the_period_before(loaded):
    server, evs = loaded
    got = query(server, {"kind": "trends", "from": "2026-10-25", "to": "2026-10-26", "compare": True})
    before = query(server, {"kind": "trends", "from": "2026-10-23", "to": "2026-10-24"})
    assert got["previous"]["series"] == before["series"] and got["previous"]["buckets"] == before["buckets"]
    assert got["series"][0]["data"] == [sum(1 for e in evs if local_day(e) == d) for d in ("2026-10-25", "2026-10-26")]
    given = query(server, {"kind": "top", "dimension": "path", "from": "2026-10-26", "to": "2026-10-26",
                           "compare": {"from": "2026-10-24", "to": "2026-10-24"}})
    assert given["previous"]["results"] == query(server, {"kind": "top", "dimension": "path", "from": "2026-10-24",
                                                          "to": "2026-10-24"})["results"]
    bad = server.post("/api/query", data=json.dumps({"kind": "trends", "compare": {"from": "x"}}))
    assert bad.status_code == 400 and bad.json()["field"] == "compare"


def test_time_budget(server):
    lines = "\n".join(json.dumps({"type": "track", "event": "Bulk", "userId": f"u{i % 50}", "messageId": uid(),
                                  "properties": {"n": i}}) for i in range(30000))
    r = server.post("/api/import", data=lines, headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    slow = {"kind": "trends", "measure": "unique_persons", "breakdown": "properties.n", "from": "-1d"}
    r = server.post("/api/query", data=json.dumps({**slow, "timeout_ms": 1}))
    assert r.status_code == 408 and r.json()["field"] == "timeout_ms", r.text
    assert query(server, slow)["series"][0]["total"] >= 1
    r = server.post("/api/query", data=json.dumps({**slow, "timeout_ms": 0}))
    assert r.status_code == 400 and r.json()["field"] == "timeout_ms"
    # the kinds that read sessions stop too
    for kind in ({"kind": "sessions"}, {"kind": "top", "dimension": "entry_page"}):
        r = server.post("/api/query", data=json.dumps({**kind, "from": "-1d", "timeout_ms": 1}))
        assert r.status_code == 408 and r.json()["field"] == "timeout_ms", r.text
        assert query(server, {**kind, "from": "-1d"})["kind"] == kind["kind"]


def read_events(resp, n):
    """The first n server-sent events of a streaming response, parsed."""
    got = []
    for line in resp.iter_lines(decode_unicode=True):
        if line.startswith("data: "):
            got.append(json.loads(line[6:]))
            if len(got) == n:
                return got
    return got


def test_live_stream(server):
    import time

    import requests
    for i in range(3):
        assert server.post_json("/v1/track", {"userId": f"s{i}", "event": "Tick"}).status_code == 200
    auth = {"Authorization": f"Bearer {server.read_key}"}
    t0 = time.monotonic()
    with requests.get(server.url("/api/live"), headers=auth, stream=True, timeout=10) as r:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        assert "Content-Length" not in r.headers
        first, second = read_events(r, 2)
    assert first["kind"] == "live" and first["active_persons"] == 3 and second["now"] > first["now"]
    assert time.monotonic() - t0 < 5, "one every second"
    with requests.get(server.url("/api/live?event=Other"), headers=auth, stream=True, timeout=10) as r:
        assert read_events(r, 1)[0]["active_persons"] == 0
    assert requests.get(server.url("/api/live"), timeout=5).status_code == 401
    # a stream open while the server stops ends with it
    r = requests.get(server.url("/api/live"), headers=auth, stream=True, timeout=10)
    read_events(r, 1)
    t0 = time.monotonic()
    assert server.stop() == 0 and time.monotonic() - t0 < 5
    r.close()


def test_person_traits(loaded):
    server, evs = loaded

    def traits_of(who):  # the latest identify wins (same time here: the later one sent)
        for e in reversed(IDENTIFIES):
            if e["userId"] == who:
                return e["traits"]
        return {}
    got = query(server, {"kind": "trends", "breakdown": "person.plan", "breakdown_limit": 10, **RANGE})
    totals = defaultdict(int)
    for e in evs:
        if in_range(e):
            totals[traits_of(person_any(e)).get("plan")] += 1
    assert {s["breakdown"]: s["total"] for s in got["series"]} == dict(totals)
    got = query(server, {"kind": "trends", "filters": [{"field": "person.age", "op": "gt", "value": 15}], **RANGE})
    assert got["series"][0]["total"] == sum(1 for e in evs if in_range(e) and traits_of(person_any(e)).get("age", 0) > 15)
    assert got["series"][0]["total"] > 0
    got = query(server, {"kind": "sessions", "filters": [{"field": "person.plan", "op": "eq", "value": "team"}], **RANGE})
    assert got["visitors"] == 1  # user2


def test_kept_persons_follow_later_merges(footfall):
    """The store keeps each stored block's persons resolved between queries (person_runs.h);
    an identify or alias made after that must still move the stored events to their person,
    for a single link and for more links than a kept block is checked against one by one."""
    server = footfall.start()
    day = "2026-03-02"
    evs = [{"type": "track", "event": "Viewed", "anonymousId": a, "timestamp": f"{day}T10:{i:02d}:00.000Z",
            "messageId": uid()} for i, a in enumerate(["devA", "devA", "devB", "devC", "devD"])]
    evs.append({"type": "track", "event": "Viewed", "userId": "carol", "timestamp": f"{day}T11:00:00.000Z",
                "messageId": uid()})
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    evs.append({"type": "track", "event": "Viewed", "anonymousId": "crawler", "context": {"userAgent": bot},
                "timestamp": f"{day}T12:00:00.000Z", "messageId": uid()})
    assert server.post_json("/v1/batch", {"batch": evs}).status_code == 200
    server.restart()  # into parts, where persons are kept per block
    q = {"kind": "trends", "measure": "unique_persons", "interval": "day", "from": day, "to": day, "timezone": "UTC"}
    top = {"kind": "top", "dimension": "event", "from": day, "to": day, "timezone": "UTC"}

    def persons():
        total = query(server, q)["series"][0]["total"]
        visitors = {r["value"]: r["visitors"] for r in query(server, top)["results"]}
        assert visitors["Viewed"] == total, (visitors, total)
        return total

    assert persons() == 5  # devA, devB, devC, devD, carol; not the crawler
    assert persons() == 5  # again, from what the store kept
    kept = [l for l in server.get("/metrics").text.splitlines() if l.startswith("footfall_query_person_runs_bytes ")]
    assert kept and int(kept[0].split()[1]) >= 16 * 5, kept  # at least a run per person, 16 bytes each
    assert query(server, {**q, "bots": True})["series"][0]["total"] == 6
    events = {"kind": "trends", "interval": "day", "from": day, "to": day, "timezone": "UTC"}
    assert query(server, events)["series"][0]["total"] == 6
    assert query(server, {**events, "bots": True})["series"][0]["total"] == 7
    # one link: devA's stored events become carol's
    ident = {"anonymousId": "devA", "userId": "carol", "timestamp": "2026-03-09T00:00:00.000Z"}
    assert server.post_json("/v1/identify", ident).status_code == 200
    assert persons() == 4
    # many links at once, most of ids never stored, two of them stored: devB and devC
    for i in range(100):
        a = {40: "devB", 70: "devC"}.get(i, f"other{i}")
        ident = {"anonymousId": a, "userId": "carol", "timestamp": "2026-03-09T00:00:00.000Z"}
        assert server.post_json("/v1/identify", ident).status_code == 200
    assert persons() == 2  # carol and devD
    # an alias moves the whole person on: carol's events (and devA's, devB's, devC's) become dana's
    alias = {"previousId": "carol", "userId": "dana", "timestamp": "2026-03-09T00:00:00.000Z"}
    assert server.post_json("/v1/alias", alias).status_code == 200
    assert persons() == 2
    busy = {**q, "segment": {"event": "Viewed", "min_count": 5}}
    assert query(server, busy)["series"][0]["total"] == 1
    got = query(server, {"kind": "persons", "from": day, "to": day, "timezone": "UTC"})["persons"]
    assert [(p["person"], p["events"]) for p in got] == [("dana", 5), ("devD", 1)]


@pytest.mark.parametrize("dimension,nvalues", [("event", 90), ("utm_source", 6), ("utm_source", 80)])
def test_top_lists_count_a_visitor_once_across_parts(footfall, dimension, nvalues):
    """A person's rows come a run at a time (one per day's part, and more in memory); a top
    list counts a visitor once per value over all of them: for the values a run hands over
    as a set of bits (below 64) as well as those past them, few cells or many."""
    server = footfall.start()
    rnd = random.Random(nvalues)
    days = ["2026-05-04", "2026-05-05", "2026-05-06"]
    evs = []

    # each day's part has its own share of the values, so that one part's few values may be
    # numbered past 63 by the time it is read
    shares = [(0, nvalues // 2), (nvalues // 2, nvalues), (nvalues // 4, 3 * nvalues // 4)]

    def send(n, whole=False):
        batch = []
        for _ in range(n):
            d = rnd.randrange(len(days))
            lo, hi = (0, nvalues) if whole else shares[d]
            kind, value = rnd.choice(["track", "track", "page"]), f"v{rnd.randrange(lo, hi):02d}"
            e = {"type": kind, "anonymousId": f"p{rnd.randrange(25)}", "messageId": uid(),
                 "timestamp": f"{days[d]}T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:00.000Z"}
            if kind == "track":
                e["event"] = value
            if dimension == "utm_source":
                e["context"] = {"campaign": {"source": value}}
            batch.append(e)
        assert server.post_json("/v1/batch", {"batch": batch}).status_code == 200
        evs.extend(batch)

    send(900)
    server.restart()  # into parts, a part a day
    send(300, whole=True)  # and in memory, the same persons
    got = query(server, {"kind": "top", "dimension": dimension, "limit": 1000, "from": days[0], "to": days[-1],
                         "timezone": "UTC"})
    people, views = defaultdict(set), defaultdict(int)
    for e in evs:
        name = e["context"]["campaign"]["source"] if dimension == "utm_source" else e.get("event", "$pageview")
        people[name].add(e["anonymousId"])
        views[name] += e["type"] == "page"
    want = sorted(((n, len(people[n]), views[n]) for n in people), key=lambda r: (-r[1], -r[2], r[0]))
    assert [(r["value"], r["visitors"], r["views"]) for r in got["results"]] == want


@pytest.mark.parametrize("where", ["memory", "parts"])
def test_top_events_count_pageviews_and_screens_as_views(footfall, where):
    """Top events by visitors: every event makes a visitor, pageviews and screens are views;
    from parts a block with no bot and no filter is counted without a selection pass."""
    server = footfall.start()
    day = "2026-04-07"
    rnd = random.Random(3)
    evs = []
    for i in range(400):
        kind = rnd.choice(["page", "screen", "track", "track"])
        e = {"type": kind, "anonymousId": f"d{rnd.randrange(30)}", "messageId": uid(),
             "timestamp": f"{day}T{i // 60 % 24:02d}:{i % 60:02d}:00.000Z"}
        if kind == "track":
            e["event"] = rnd.choice(["Signed Up", "Product Viewed"])
        elif kind == "screen":
            e["name"] = rnd.choice(["Home", "Cart"])
        else:
            e["properties"] = {"path": "/"}
        evs.append(e)
    assert server.post_json("/v1/batch", {"batch": evs}).status_code == 200
    if where == "parts":
        server.restart()
    got = query(server, {"kind": "top", "dimension": "event", "from": day, "to": day, "timezone": "UTC"})
    label = {"page": lambda e: "$pageview", "screen": lambda e: "$screen", "track": lambda e: e["event"]}
    people, views = defaultdict(set), defaultdict(int)
    for e in evs:
        name = label[e["type"]](e)
        people[name].add(e["anonymousId"])
        views[name] += e["type"] != "track"
    want = sorted(((n, len(people[n]), views[n]) for n in people), key=lambda r: (-r[1], -r[2], r[0]))
    assert [(r["value"], r["visitors"], r["views"]) for r in got["results"]] == want
