"""The requirements document's own format: POST /api/track {"event": ..., "data": {...}}."""

import json

import pytest

from checks import assert_received_between, assert_segment_shape
from harness import TEST_WRITE_KEYS, Case, assert_json_ct, basic_auth, now_utc, uid


@pytest.mark.parametrize("name", ["seed_track", "seed_page_view"])
def test_documented_seed_call(footfall, name):
    # The requirements document's calls carry no key: a single-site install takes them.
    server = footfall.start(prepare={"write_keys": TEST_WRITE_KEYS, "accept_keyless": "on"})
    case = Case(name)
    sent = case.json()
    before = now_utc()
    r = case.send(server)
    after = now_utc()
    assert r.status_code == 200, r.text
    assert_json_ct(r)
    assert r.json() == {"status": "success"}
    [ev] = server.events()
    assert_segment_shape(ev)
    assert ev["type"] == "track"
    assert ev["event"] == sent["event"]
    assert ev["properties"] == sent["data"], "data becomes the event's properties"
    assert ev["format"] == "seed"
    assert ev["timestamp"] == ev["receivedAt"]
    assert_received_between(ev, before, after)


def test_seed_without_data_has_empty_properties(server):
    r = server.post_json("/api/track", {"event": "bare"})
    assert r.status_code == 200 and r.json() == {"status": "success"}, r.text
    [ev] = server.events()
    assert ev["event"] == "bare" and ev["properties"] == {}


def test_seed_honours_segment_fields(server):
    body = {"event": "checkout", "data": {"total": 99.5},
            "userId": "user-42", "anonymousId": "anon-7", "messageId": uid(),
            "timestamp": "2024-03-01T08:15:30.123Z",
            "context": {"page": {"path": "/cart"}, "userAgent": "Mozilla/5.0"}}
    r = server.post_json("/api/track", body)
    assert r.status_code == 200 and r.json() == {"status": "success"}, r.text
    ev = server.event_by_mid(body["messageId"])
    assert ev["userId"] == "user-42"
    assert ev["anonymousId"] == "anon-7"
    assert ev["timestamp"] == "2024-03-01T08:15:30.123Z"
    assert ev["originalTimestamp"] == "2024-03-01T08:15:30.123Z"
    assert ev["context"]["page"] == {"path": "/cart"}
    assert ev["context"]["userAgent"] == "Mozilla/5.0"
    assert ev["properties"] == {"total": 99.5}
    assert ev["format"] == "seed"


def test_seed_write_key_from_basic_auth(server):
    mid = uid()
    r = server.post_json("/api/track", {"event": "k", "messageId": mid}, write_key="seedkey")
    assert r.status_code == 200, r.text
    assert server.event_by_mid(mid)["writeKey"] == "seedkey"


@pytest.mark.parametrize("body", [{"data": {"a": 1}}, {"event": 5, "data": {}},
                                  {"event": None}, {"event": ["x"]}, {"event": {"n": 1}}],
                         ids=["missing", "number", "null", "array", "object"])
def test_seed_missing_or_non_string_event_is_400(server, body):
    raw = json.dumps(body)
    r = server.post("/api/track", data=raw.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert_json_ct(r)
    resp = r.json()
    assert resp.get("status") == "error", resp
    assert resp.get("field") == "event", resp
    assert isinstance(resp.get("error"), str) and resp["error"]
    assert server.events() == []
    [q] = server.quarantine()
    assert q["format"] == "seed" and q["field"] == "event" and q["raw"] == raw


def test_seed_not_json_is_400(server):
    r = server.post("/api/track", data=b"event=click", headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert_json_ct(r)
    assert r.json().get("status") == "error"
    assert isinstance(r.json().get("error"), str)
    [q] = server.quarantine()
    assert q["raw"] == "event=click" and q["format"] == "seed"


def test_send_beacon_text_plain_is_accepted(server):
    # navigator.sendBeacon(url, JSON.stringify(...)) sends Content-Type: text/plain;charset=UTF-8
    body = json.dumps({"event": "beacon", "data": {"leave": True}})
    r = server.post("/api/track", data=body.encode(),
                    headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "success"}
    [ev] = server.events()
    assert ev["event"] == "beacon" and ev["properties"] == {"leave": True}


@pytest.mark.parametrize("path,body", [
    ("/v1/track", {"event": "b", "anonymousId": "a"}),
    ("/v1/page", {"name": "b", "anonymousId": "a"}),
    ("/v1/batch", {"batch": [{"type": "track", "event": "b", "anonymousId": "a"}]}),
])
def test_send_beacon_text_plain_on_segment_routes(server, path, body):
    r = server.post(path, data=json.dumps(body).encode(),
                    headers={"Content-Type": "text/plain;charset=UTF-8",
                             "Authorization": basic_auth("k")})
    assert r.status_code == 200, r.text
    assert r.json().get("success") is True
    assert len(server.events()) == 1
