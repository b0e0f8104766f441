"""Bulk NDJSON import: POST /api/import."""

import json

from checks import assert_roundtrip, assert_segment_shape
from harness import assert_json_ct, basic_auth, gz, uid


def post_import(server, body, **headers):
    h = {"Content-Type": "application/x-ndjson", "Authorization": basic_auth("ik")}
    h.update(headers)
    return server.post("/api/import", data=body, headers=h)


def test_import_mixed_lines(server):
    m1, m2 = uid(), uid()
    lines = [
        json.dumps({"type": "track", "event": "Order Completed", "userId": "u1", "messageId": m1,
                    "properties": {"revenue": 10}, "timestamp": "2020-01-01T00:00:00.000Z"}),
        json.dumps({"event": "add_to_cart", "data": {"sku": "s1"}, "messageId": m2,
                    "timestamp": "2020-01-02T00:00:00.000Z"}),
        "this is not json",
        json.dumps({"type": "identify", "userId": "u2", "traits": {"plan": "pro"},
                    "timestamp": "2020-01-03T00:00:00.000Z"}),
        json.dumps({"type": "track", "userId": "u3"}),
        json.dumps({"type": "track", "event": "Order Completed", "userId": "u1", "messageId": m1}),
        json.dumps({"event": "Defaulted Type", "anonymousId": "a9"}),
    ]
    body = ("\n".join(lines) + "\n").encode()
    r = post_import(server, body)
    assert r.status_code == 200, r.text
    assert_json_ct(r)
    resp = r.json()
    assert resp.get("success") is True
    # accepted: every valid line (a duplicate is valid and acknowledged); duplicates: those of
    # them already stored, so not stored again
    assert resp.get("accepted") == 5, resp
    assert resp.get("duplicates") == 1, resp
    failed = resp.get("failed")
    assert [f["line"] for f in failed] == [3, 5], failed
    assert failed[1]["field"] == "event"
    assert all(isinstance(f["error"], str) and f["error"] for f in failed)

    events = server.all_events()
    assert len(events) == 4
    for ev in events:
        assert_segment_shape(ev)
        assert ev["format"] == "import"
        assert ev["writeKey"] == "ik"
    e1 = server.event_by_mid(m1)
    assert_roundtrip(json.loads(lines[0]), e1, type_="track", write_key="ik", fmt="import")
    e2 = server.event_by_mid(m2)
    assert e2["type"] == "track" and e2["event"] == "add_to_cart"
    assert e2["properties"] == {"sku": "s1"}
    assert e2["timestamp"] == "2020-01-02T00:00:00.000Z"
    [e3] = [e for e in events if e["type"] == "identify"]
    assert e3["traits"] == {"plan": "pro"} and e3["userId"] == "u2"
    [e4] = [e for e in events if e.get("event") == "Defaulted Type"]
    assert e4["type"] == "track", "type defaults to track"

    q = server.quarantine()
    assert len(q) == 2
    assert {x["raw"] for x in q} == {lines[2], lines[4]}
    assert all(x["format"] == "import" for x in q)


def test_import_without_trailing_newline_and_crlf(server):
    body = (json.dumps({"event": "a", "userId": "u"}) + "\r\n"
            + json.dumps({"event": "b", "userId": "u"})).encode()
    r = post_import(server, body)
    assert r.status_code == 200, r.text
    resp = r.json()
    assert resp["accepted"] == 2 and resp["failed"] == [], resp
    assert sorted(e["event"] for e in server.all_events()) == ["a", "b"]


def test_import_gzip(server):
    n = 500
    body = "".join(json.dumps({"event": f"g{i}", "userId": "u", "messageId": f"gz-{i}"}) + "\n"
                   for i in range(n))
    r = post_import(server, gz(body), **{"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == n
    assert len(server.all_events()) == n


def test_import_bigger_than_max_body_but_within_max_import(footfall):
    server = footfall.start("--max-body-bytes", "4096", "--max-import-bytes", "1000000")
    line = json.dumps({"event": "big", "userId": "u", "properties": {"pad": "x" * 200}})
    body = "".join(line[:-1] + f', "messageId": "imp-{i}"}}' + "\n" for i in range(100))
    assert 4096 < len(body) < 1_000_000
    r = post_import(server, body.encode())
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 100
    # …and the import limit itself is enforced
    r = post_import(server, b"x" * 1_000_001)
    assert r.status_code == 413, r.text
    assert_json_ct(r)
    assert isinstance(r.json().get("error"), str)


def test_import_repeated_is_all_duplicates(server):
    body = "".join(json.dumps({"event": "r", "userId": "u", "messageId": f"rep-{i}"}) + "\n"
                   for i in range(20)).encode()
    assert post_import(server, body).json()["accepted"] == 20
    r = post_import(server, body)
    assert r.status_code == 200
    assert r.json()["accepted"] == 20 and r.json()["duplicates"] == 20, r.json()
    assert len(server.all_events()) == 20
