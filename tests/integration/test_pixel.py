"""Tracking pixel: GET /p.gif?e=… and Segment's /v1/pixel/track?data=<base64>."""

import base64
import json
import urllib.parse

import pytest

from checks import assert_received_between, assert_segment_shape
from harness import Case, assert_gif_1x1, now_utc, uid


def test_documented_segment_pixel_email_opened(server):
    case = Case("pixel_email_opened")
    before = now_utc()
    r = case.send(server)
    after = now_utc()
    assert r.status_code == 200, r.text
    assert_gif_1x1(r)
    [ev] = server.events()
    assert_segment_shape(ev)
    assert ev["type"] == "track"
    assert ev["event"] == "Email Opened"
    assert ev["userId"] == "025pikachu025"
    assert ev["writeKey"] == "YOUR_WRITE_KEY"
    # the e-mail address is masked before storage (scrub-pii, on by default)
    assert ev["properties"] == {"subject": "The Electric Daily", "email": "[email]"}
    assert ev["format"] == "pixel"
    assert ev["timestamp"] == ev["receivedAt"]
    assert_received_between(ev, before, after)


def test_p_gif_with_query_parameters(server):
    mid = uid()
    q = urllib.parse.urlencode({"e": "Email Opened", "uid": "u-1", "aid": "a-1", "mid": mid,
                                "k": "wk", "campaign": "spring sale", "city": "Zürich",
                                "n": "42"}, quote_via=urllib.parse.quote)
    r = server.get("/p.gif?" + q)
    assert r.status_code == 200, r.text
    assert_gif_1x1(r)
    ev = server.event_by_mid(mid)
    assert_segment_shape(ev)
    assert ev["type"] == "track"
    assert ev["event"] == "Email Opened"
    assert ev["userId"] == "u-1"
    assert ev["anonymousId"] == "a-1"
    assert ev["writeKey"] == "wk"
    assert ev["format"] == "pixel"
    # every other parameter is a string property, percent-decoded
    assert ev["properties"] == {"campaign": "spring sale", "city": "Zürich", "n": "42"}


def test_p_gif_data_param_standard_and_url_safe_base64(server):
    # properties chosen so that the standard alphabet needs '+' and '/'
    msg = {"event": "Seen>>?", "anonymousId": "anon", "messageId": uid(),
           "properties": {"s": "~~~???>>>"}, "writeKey": "pk"}
    raw = json.dumps(msg).encode()
    std = base64.b64encode(raw).decode()
    assert "+" in std or "/" in std
    r = server.get("/p.gif?data=" + urllib.parse.quote(std, safe=""))
    assert r.status_code == 200, r.text
    assert_gif_1x1(r)
    ev = server.event_by_mid(msg["messageId"])
    assert ev["event"] == "Seen>>?" and ev["properties"] == msg["properties"]
    assert ev["writeKey"] == "pk" and ev["anonymousId"] == "anon"

    msg2 = dict(msg, messageId=uid())
    safe = base64.urlsafe_b64encode(json.dumps(msg2).encode()).decode().rstrip("=")
    r = server.get("/v1/pixel/track?data=" + safe)
    assert r.status_code == 200, r.text
    assert_gif_1x1(r)
    assert server.event_by_mid(msg2["messageId"])["properties"] == msg["properties"]


@pytest.mark.parametrize("query", [
    "",                                                   # nothing at all
    "uid=u1&k=wk",                                        # no event
    "data=!!!not-base64!!!",
    "data=" + base64.b64encode(b"{not json").decode(),
    "data=" + base64.b64encode(json.dumps({"userId": "u"}).encode()).decode(),  # no event
], ids=["empty", "no-event", "bad-base64", "bad-json", "data-no-event"])
def test_invalid_pixel_is_400_with_a_gif_and_quarantined(server, query):
    r = server.get("/p.gif" + ("?" + query if query else ""))
    assert r.status_code == 400, r.text
    assert_gif_1x1(r)
    assert server.events() == []
    [q] = server.quarantine()
    assert q["format"] == "pixel"
    assert isinstance(q["reason"], str) and q["reason"]
    if query.startswith("data="):
        # the raw bytes kept are either the query or, once base64-decoded, the payload itself
        try:
            decoded = base64.b64decode(query[5:], validate=True).decode()
        except ValueError:
            decoded = None
        assert query in q["raw"] or (decoded is not None and q["raw"] == decoded), \
            f"quarantine raw {q['raw']!r} holds neither the query {query!r} nor its payload"
    elif query:
        assert query in q["raw"] or urllib.parse.unquote(query) in q["raw"], \
            f"quarantine raw {q['raw']!r} does not hold the request's query {query!r}"


def test_pixel_is_not_cached(server):
    r = server.get("/p.gif?e=x&aid=a")
    assert r.status_code == 200
    cc = r.headers.get("Cache-Control", "").lower()
    assert "no-store" in cc or "no-cache" in cc, \
        f"a pixel must not be cached or repeat opens are lost; Cache-Control={cc!r}"
