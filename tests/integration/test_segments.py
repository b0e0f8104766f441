"""Segments (issue 5): the persons a query counts, given inline or saved per project with
PUT /api/segments/NAME (and `footfall segment`), checked against the brute-force models of
test_query.py on the same generated events, merged identities included."""

import json
from collections import Counter, defaultdict

import pytest

from harness import cli
from test_query import DAYS, RANGE, in_range, local_day, loaded, name, person, query  # noqa: F401 (fixture)

def buyers(evs):
    """A segment of the persons with the most orders: a min_count that leaves some out."""
    n = Counter(person(e) for e in evs if in_range(e) and name(e) == "Order Completed")
    k = sorted(n.values())[len(n) // 2]
    return {"event": "Order Completed", "min_count": k}, {p for p, c in n.items() if c >= k}


def members(evs, event=None, min_count=1, where=lambda e: True):
    n = Counter(person(e) for e in evs if in_range(e) and e["type"] != "identify"
                and (event is None or name(e) == event) and where(e))
    return {p for p, k in n.items() if k >= min_count}


def viewed_per_day(evs, who):
    want = defaultdict(int)
    for e in evs:
        if in_range(e) and name(e) == "Product Viewed" and person(e) in who:
            want[local_day(e)] += 1
    return [want[d] for d in DAYS]


def trends(server, segment, measure="count"):
    q = {"kind": "trends", "event": "Product Viewed", "measure": measure, "segment": segment, **RANGE}
    return query(server, q)["series"][0]


def test_inline_segments_against_the_model(loaded):  # noqa: F811
    server, evs = loaded
    BUYERS, who = buyers(evs)
    assert who and who != members(evs)  # the segment leaves some persons out
    assert trends(server, BUYERS)["data"] == viewed_per_day(evs, who)
    # filters inside the segment: persons with a page view of /p/1
    paged = members(evs, "$pageview", 1, lambda e: e.get("properties", {}).get("path") == "/p/1")
    seg = {"event": "$pageview", "filters": [{"field": "path", "op": "eq", "value": "/p/1"}]}
    assert trends(server, seg)["data"] == viewed_per_day(evs, paged)
    # a list of ids: an anonymous id leads to the user it was merged into
    got = trends(server, {"persons": ["dev1", "dev7"]}, "unique_persons")
    assert got["total"] == len({"user1", "dev7"} & members(evs, "Product Viewed"))
    assert trends(server, {"persons": ["dev1"]})["data"] == viewed_per_day(evs, {"user1"})
    # other kinds take it too
    fun = query(server, {"kind": "funnel", "steps": [{"event": "Product Viewed"}, {"event": "Order Completed"}],
                         "segment": BUYERS, "window": "7d", **RANGE})
    assert fun["steps"][1]["persons"] <= fun["steps"][0]["persons"] <= len(who)
    rows = query(server, {"kind": "persons", "segment": BUYERS, "limit": 1000, **RANGE})
    assert {p["person"] for p in rows["persons"]} == who


def test_saved_segments(loaded):  # noqa: F811
    server, evs = loaded
    BUYERS, who = buyers(evs)
    r = server.request("PUT", "/api/segments/buyers", data=json.dumps(BUYERS))
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "buyers", "definition": BUYERS}
    listed = server.get("/api/segments").json()["segments"]
    assert [(s["name"], s["definition"]) for s in listed] == [("buyers", BUYERS)]
    by_name = trends(server, "buyers")
    assert by_name == trends(server, BUYERS) and by_name["data"] == viewed_per_day(evs, who)
    # replaced in place
    r = server.request("PUT", "/api/segments/buyers", data=json.dumps({"event": "Order Completed"}))
    assert r.status_code == 200
    assert trends(server, "buyers")["data"] == viewed_per_day(evs, members(evs, "Order Completed"))
    # the command line reads and writes the same catalog, and its queries know saved segments
    cli("segment", "save", "viewers", json.dumps({"event": "Product Viewed", "min_count": 3}),
        "--data", server.data_dir)
    names = [s["name"] for s in server.get("/api/segments").json()["segments"]]
    assert names == ["buyers", "viewers"]
    over_http = trends(server, "viewers")
    server.stop_ok()
    q = {"kind": "trends", "event": "Product Viewed", "segment": "viewers", **RANGE}
    offline = json.loads(cli("query", "--data", server.data_dir, json.dumps(q)).stdout)
    assert offline["series"][0] == over_http
    assert json.loads(cli("segment", "list", "--data", server.data_dir).stdout)["segments"][1]["name"] == "viewers"
    cli("segment", "delete", "viewers", "--data", server.data_dir)
    gone = cli("segment", "delete", "viewers", "--data", server.data_dir, check=False)
    assert gone.returncode == 1 and "no segment 'viewers'" in gone.stderr


@pytest.mark.parametrize("body,why", [
    ({"min_count": 0}, "min_count"), ({"persons": []}, "persons"), ({"persons": ["a"], "event": "x"}, "either"),
    ({"event": ""}, "event"), ({"filters": [{"field": "nonsense", "op": "eq", "value": 1}]}, "unknown field"),
    ({"from": "yesterday"}, "from and to"), ({"from": "now", "to": "-1d"}, "before"), ([1, 2], "definition"),
])
def test_bad_definitions_name_the_segment(loaded, body, why):  # noqa: F811
    server, _ = loaded
    r = server.request("PUT", "/api/segments/bad", data=json.dumps(body))
    assert r.status_code == 400 and r.json()["field"] == "segment" and why in r.json()["error"], r.text
    q = {"kind": "trends", "segment": body, **RANGE}
    r = server.post("/api/query", data=json.dumps(q))
    assert r.status_code == 400 and r.json()["field"] == "segment", r.text


def test_segment_names_methods_and_keys(loaded):  # noqa: F811
    server, _ = loaded
    assert server.request("PUT", "/api/segments/a%20b", data="{}").status_code == 400
    assert server.request("PUT", "/api/segments/ok", data="{}", nokey=True).status_code == 401
    assert server.request("POST", "/api/segments/ok", data="{}").status_code == 405
    assert server.request("DELETE", "/api/segments/none").status_code == 404
    r = server.post("/api/query", data=json.dumps({"kind": "trends", "segment": "none", **RANGE}))
    assert r.status_code == 400 and r.json()["field"] == "segment" and "no segment 'none'" in r.json()["error"]
    assert server.request("PUT", "/api/segments/ok", data="{}").status_code == 200  # any event, the query's range
    assert server.request("DELETE", "/api/segments/ok").json() == {"deleted": "ok"}
