"""Segment HTTP Tracking API: the documentation's literal payloads, validation, batch, clock skew."""

import datetime as dt
import json

import pytest

from checks import assert_received_between, assert_roundtrip, assert_segment_shape, norm_ts
from harness import Case, assert_json_ct, basic_auth, fmt_iso, now_utc, uid

SINGLE_CASES = [
    ("segment_identify", "identify"),
    ("segment_track", "track"),
    ("segment_page", "page"),
    ("segment_screen", "screen"),
    ("segment_group", "group"),
    ("segment_alias", "alias"),
    ("segment_identify_integrations", "identify"),
]


def assert_success(r):
    assert r.status_code == 200, f"{r.status_code} {r.text[:500]}"
    assert_json_ct(r)
    body = r.json()
    assert body.get("success") is True, body
    assert not body.get("failed"), body
    return body


@pytest.mark.parametrize("name,type_", SINGLE_CASES)
def test_documented_single_call_is_stored_in_segment_shape(server, name, type_):
    case = Case(name)
    sent = case.json()
    before = now_utc()
    r = case.send(server)
    after = now_utc()
    assert r.json() == {"success": True}, r.text
    assert_success(r)
    events = server.events()
    assert len(events) == 1, events
    ev = events[0]
    assert_roundtrip(sent, ev, type_=type_, write_key="YOUR_WRITE_KEY")
    assert_received_between(ev, before, after)
    # none of the documented single calls carries sentAt: the timestamp is the client's
    assert ev["timestamp"] == sent["timestamp"]


def test_documented_track_with_write_key_in_body(server):
    case = Case("segment_track_writekey_auth")
    assert_success(case.send(server))
    [ev] = server.events()
    assert_roundtrip(case.json(), ev, type_="track", write_key="DmBXIN4JnwqBnTqXccTF0wBnLXNQmFtk")
    assert ev["event"] == "happy-path-a3ef8a6f-0482-4694-bc4d-4afba03a0eab"
    assert ev["userId"] == "123"


def test_documented_track_with_bearer_token_and_message_id(server):
    case = Case("segment_track_oauth_bearer")
    assert_success(case.send(server))
    [ev] = server.events()
    assert_roundtrip(case.json(), ev, type_="track", write_key="DmBXIN4JnwqBnTqXccTF0wBnLXNQmFtk")
    assert ev["messageId"] == "58524f3a-3b76-4eac-aa97-d88bccdf4f77"


def test_documented_basic_auth_write_key(server):
    case = Case("segment_track_basic_auth")
    assert case.headers["Authorization"] == "Basic YWJjMTIzOg=="
    assert_success(case.send(server))
    [ev] = server.events()
    assert_roundtrip(case.json(), ev, type_="track", write_key="abc123")


def test_documented_batch_is_stored_item_by_item(server):
    case = Case("segment_batch")
    sent = case.json()
    before = now_utc()
    r = case.send(server)
    after = now_utc()
    assert_success(r)
    events = server.events()
    assert len(events) == 4, [e.get("type") for e in events]
    def key(x):
        return (x["type"], x["userId"], x.get("event"))
    by_key = {key(e): e for e in events}
    assert len(by_key) == 4
    stored = [by_key[key(item)] for item in sent["batch"]]
    for item, ev in zip(sent["batch"], stored):
        assert_roundtrip(item, ev, type_=item["type"], write_key="YOUR_WRITE_KEY",
                         batch_context=sent["context"])
        assert_received_between(ev, before, after)
    # the documentation's own "2015-2-02T00:30:08.276Z" is read as 2 February 2015
    assert stored[2]["timestamp"] == "2015-02-02T00:30:08.276Z"
    assert stored[3]["timestamp"] == "2015-02-02T00:30:12.984Z"
    # batch-level context is merged into every item
    for ev in stored:
        assert ev["context"].get("device") == {"type": "phone", "name": "Apple iPhone 6"}
    assert len({ev["messageId"] for ev in stored}) == 4, "each item gets its own messageId"


def test_batch_item_context_merges_with_batch_context(server):
    body = {"batch": [{"type": "track", "event": "E", "userId": "u", "messageId": uid(),
                       "context": {"ip": "10.0.0.1", "device": {"name": "override"}}}],
            "context": {"device": {"type": "phone"}, "locale": "en-US"}}
    assert_success(server.post_json("/v1/batch", body, write_key="k"))
    [ev] = server.events()
    assert "ip" not in ev["context"]  # used for GeoIP, then dropped (the default)
    assert ev["context"]["locale"] == "en-US"
    assert "device" in ev["context"]


# ---------------------------------------------------------------------------------------------
# clock skew

def test_clock_skew_single_call_exact_to_the_ms(server):
    # the client's clock runs 1 h 23 min 45.678 s ahead; the event happened 5.123 s before
    # the request was sent
    skew = dt.timedelta(hours=1, minutes=23, seconds=45.678)
    sent_at = now_utc() + skew
    ts = sent_at - dt.timedelta(seconds=5.123)
    msg = {"type": "track", "event": "Skewed", "userId": "u1", "messageId": uid(),
           "timestamp": fmt_iso(ts), "sentAt": fmt_iso(sent_at)}
    assert_success(server.post_json("/v1/track", msg, write_key="k"))
    ev = server.event_by_mid(msg["messageId"])
    assert_roundtrip(msg, ev, type_="track", write_key="k")
    assert ev["originalTimestamp"] == msg["timestamp"]
    assert ev["sentAt"] == msg["sentAt"]


def test_clock_skew_batch_level_sent_at_applies_to_items(server):
    sent_at = now_utc() - dt.timedelta(days=2, milliseconds=321)  # client clock behind
    items = []
    for i, back_ms in enumerate([0, 1, 999, 60_000, 86_400_001]):
        items.append({"type": "track", "event": f"E{i}", "anonymousId": "a1", "messageId": uid(),
                      "timestamp": fmt_iso(sent_at - dt.timedelta(milliseconds=back_ms))})
    items.append({"type": "page", "name": "NoTimestamp", "anonymousId": "a1",
                  "messageId": uid()})
    body = {"batch": items, "sentAt": fmt_iso(sent_at)}
    assert_success(server.post_json("/v1/batch", body, write_key="k"))
    for item in items:
        ev = server.event_by_mid(item["messageId"])
        assert_roundtrip(item, ev, type_=item["type"], write_key="k", sent_at=body["sentAt"])


def test_timestamp_with_offset_and_without_ms_is_normalised_to_utc_ms(server):
    a = {"event": "Off", "userId": "u", "messageId": uid(),
         "timestamp": "2021-06-01T12:00:00.250+02:00"}
    b = {"event": "NoMs", "userId": "u", "messageId": uid(), "timestamp": "2021-06-01T12:00:00Z"}
    assert_success(server.post_json("/v1/track", a, write_key="k"))
    assert_success(server.post_json("/v1/track", b, write_key="k"))
    assert server.event_by_mid(a["messageId"])["timestamp"] == "2021-06-01T10:00:00.250Z"
    assert server.event_by_mid(b["messageId"])["timestamp"] == "2021-06-01T12:00:00.000Z"
    assert norm_ts(a["timestamp"]) == "2021-06-01T10:00:00.250Z"


def test_no_timestamp_means_received_at(server):
    msg = {"event": "Now", "userId": "u", "messageId": uid()}
    before = now_utc()
    assert_success(server.post_json("/v1/track", msg, write_key="k"))
    after = now_utc()
    ev = server.event_by_mid(msg["messageId"])
    assert ev["timestamp"] == ev["receivedAt"]
    assert_received_between(ev, before, after)


# ---------------------------------------------------------------------------------------------
# write key

def test_write_key_from_basic_auth_user_name(server):
    msg = {"event": "K", "userId": "u", "messageId": uid()}
    assert_success(server.post_json("/v1/track", msg, write_key="wk_live_123"))
    assert server.event_by_mid(msg["messageId"])["writeKey"] == "wk_live_123"


def test_write_key_from_batch_body(server):
    body = {"writeKey": "body-key", "batch": [{"type": "identify", "userId": "u",
                                               "messageId": uid()}]}
    assert_success(server.post_json("/v1/batch", body, nokey=True))
    assert server.event_by_mid(body["batch"][0]["messageId"])["writeKey"] == "body-key"


# ---------------------------------------------------------------------------------------------
# validation of single calls

INVALID_SINGLE = [
    ("track", {"userId": "u"}, "event"),
    ("track", {"userId": "u", "event": 42}, "event"),
    ("track", {"userId": "u", "event": None}, "event"),
    ("track", {"event": "NoIdentity"}, "identity"),
    ("page", {"name": "Home"}, "identity"),
    ("screen", {"name": "Home"}, "identity"),
    ("identify", {"traits": {"a": 1}}, "identity"),
    ("group", {"userId": "u", "traits": {"a": 1}}, "groupId"),
    ("group", {"groupId": "g"}, "identity"),
    ("alias", {"userId": "u"}, "previousId"),
    ("alias", {"previousId": "p"}, "userId"),
]


@pytest.mark.parametrize("type_,body,field", INVALID_SINGLE,
                         ids=[f"{t}-{f}-{i}" for i, (t, _, f) in enumerate(INVALID_SINGLE)])
def test_invalid_single_call_is_400_naming_the_field_and_quarantined(server, type_, body, field):
    raw = json.dumps(body).encode()
    r = server.post(f"/v1/{type_}", data=raw,
                    headers={"Content-Type": "application/json", "Authorization": basic_auth("k")})
    assert r.status_code == 400, f"{r.status_code} {r.text}"
    assert_json_ct(r)
    resp = r.json()
    assert resp.get("success") is False, resp
    assert isinstance(resp.get("error"), str) and resp["error"], resp
    if field == "identity":
        assert resp.get("field") in ("userId", "anonymousId"), resp
    else:
        assert resp.get("field") == field, resp
    assert server.events() == [], "an invalid event must not be stored"
    [q] = server.quarantine()
    assert q["format"] == "segment"
    assert q["raw"] == raw.decode()
    assert q["field"] == resp["field"]
    assert isinstance(q["reason"], str) and q["reason"]


@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch", "/v1/identify"])
@pytest.mark.parametrize("body", [b"{\"batch\": [", b"not json at all", b"\xff\xfe{}",
                                  b"[1,2,3]", b"\"a string\"", b""],
                         ids=["truncated", "text", "bad-utf8", "array", "string", "empty"])
def test_body_that_is_not_a_json_object_is_400(server, path, body):
    r = server.post(path, data=body, headers={"Content-Type": "application/json",
                                              "Authorization": basic_auth("k")})
    assert r.status_code == 400, f"{r.status_code} {r.text}"
    assert_json_ct(r)
    resp = r.json()
    assert resp.get("success") is False
    assert isinstance(resp.get("error"), str) and resp["error"], resp
    assert server.events() == []


def test_unparseable_body_is_quarantined_with_its_raw_bytes(server):
    body = '{"event": "Broken", "userId": "u",'
    r = server.post("/v1/track", data=body.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    [q] = server.quarantine()
    assert q["raw"] == body
    assert q["format"] == "segment"


# ---------------------------------------------------------------------------------------------
# batch partial failure

def test_batch_partial_failure_keeps_valid_items_and_lists_failed_ones(server):
    items = [
        {"type": "track", "event": "Ok1", "userId": "u", "messageId": uid()},
        {"type": "track", "userId": "u", "messageId": uid()},                  # no event
        {"event": "NoType", "userId": "u", "messageId": uid()},                # no type
        {"type": "identify", "anonymousId": "a", "traits": {"x": 1}, "messageId": uid()},
        {"type": "group", "userId": "u", "messageId": uid()},                  # no groupId
        {"type": "bogus", "userId": "u", "messageId": uid()},                  # unknown type
        {"type": "alias", "userId": "u", "previousId": "p", "messageId": uid()},
    ]
    raw = json.dumps({"batch": items, "writeKey": "bk"}, separators=(",", ":"))
    r = server.post("/v1/batch", data=raw.encode(), headers={"Content-Type": "application/json"}, nokey=True)
    assert r.status_code == 200, r.text
    assert_json_ct(r)
    resp = r.json()
    assert resp.get("success") is True
    assert resp.get("accepted") == 3, resp
    failed = resp.get("failed")
    assert [f["index"] for f in failed] == [1, 2, 4, 5], failed
    assert [f["field"] for f in failed] == ["event", "type", "groupId", "type"], failed
    for f in failed:
        assert isinstance(f["error"], str) and f["error"]
    stored = {e["messageId"]: e for e in server.events()}
    assert set(stored) == {items[0]["messageId"], items[3]["messageId"], items[6]["messageId"]}
    for i in (0, 3, 6):
        assert_roundtrip(items[i], stored[items[i]["messageId"]], type_=items[i]["type"],
                         write_key="bk")
    q = server.quarantine()
    assert len(q) == 4, q
    # newest first; each holds the raw bytes of its item
    by_raw = {json.dumps(json.loads(x["raw"]), sort_keys=True): x for x in q}
    for i, field in ((1, "event"), (2, "type"), (4, "groupId"), (5, "type")):
        key = json.dumps(items[i], sort_keys=True)
        assert key in by_raw, f"item {i} not in quarantine: {[x['raw'] for x in q]}"
        assert by_raw[key]["field"] == field
        assert by_raw[key]["format"] == "segment"
        assert by_raw[key]["raw"] == json.dumps(items[i], separators=(",", ":")), \
            "quarantine must keep the item's raw bytes"


def test_batch_with_only_invalid_items_is_400_with_failed_list(server):
    items = [{"type": "track", "userId": "u"}, {"userId": "u", "event": "x"}]
    r = server.post_json("/v1/batch", {"batch": items}, write_key="k")
    assert r.status_code == 400, r.text
    assert_json_ct(r)
    resp = r.json()
    assert resp.get("success") is False
    assert [(f["index"], f["field"]) for f in resp["failed"]] == [(0, "event"), (1, "type")]
    assert server.events() == []
    assert len(server.quarantine()) == 2


@pytest.mark.parametrize("body", [{"batch": "nope"}, {"batch": {"type": "track"}}, {"events": []}])
def test_batch_without_a_batch_array_is_400(server, body):
    r = server.post_json("/v1/batch", body, write_key="k")
    assert r.status_code == 400, r.text
    resp = r.json()
    assert resp.get("success") is False and resp.get("error")


def test_every_type_via_batch_round_trips(server):
    items = [
        {"type": "track", "event": "T", "userId": "u", "properties": {"a": [1, 2, {"b": None}]}},
        {"type": "page", "name": "P", "anonymousId": "a", "properties": {"url": "https://x/y?z=1"}},
        {"type": "screen", "name": "S", "userId": "u", "properties": {"n": 1.5}},
        {"type": "identify", "userId": "u", "traits": {"email": "ü@example.com", "n": True}},
        {"type": "group", "groupId": "g1", "anonymousId": "a", "traits": {"plan": "pro"}},
        {"type": "alias", "userId": "u", "previousId": "a"},
    ]
    for it in items:
        it["messageId"] = uid()
    assert_success(server.post_json("/v1/batch", {"batch": items}, write_key="kk"))
    for it in items:
        ev = server.event_by_mid(it["messageId"])
        assert_roundtrip(it, ev, type_=it["type"], write_key="kk")
        assert_segment_shape(ev)


def test_unicode_and_escapes_round_trip(server):
    props = {"quote": "he said \"hi\"\n\ttab", "emoji": "😀", "cjk": "用户行为", "nul": "a\u0000b",
             "neg": -0.5, "exp": 1e-7, "nested": {"deep": [[[]]]}}
    msg = {"event": "Uni", "userId": "u", "messageId": uid(), "properties": props}
    assert_success(server.post_json("/v1/track", msg, write_key="k"))
    ev = server.event_by_mid(msg["messageId"])
    assert ev["properties"] == props
