"""Assertions on stored events shared by several test files."""

import datetime as dt

from harness import ISO_MS_RE, ms, now_utc, parse_iso

STRING_FIELDS = ("event", "name", "userId", "anonymousId", "groupId", "previousId")


def is_subset(small, big):
    """True when every key of `small` is in `big` with an equal (recursively subset) value."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and is_subset(v, big[k])
                                             for k, v in small.items())
    return small == big


def norm_ts(s):
    """Normalise a client timestamp the way a lenient ISO 8601 reader would (to UTC, ms)."""
    import re
    m = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})T(\d{1,2}):(\d{2}):(\d{2})(\.\d+)?"
                 r"(Z|[+-]\d{2}:?\d{2})$", s)
    assert m, f"test bug: cannot normalise {s!r}"
    y, mo, d, h, mi, sec, frac, tz = m.groups()
    micro = int(((frac or ".0")[1:] + "000000")[:6])
    t = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec), micro,
                    tzinfo=dt.timezone.utc)
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        hh, mm = int(tz[1:3]), int(tz[-2:])
        t -= sign * dt.timedelta(hours=hh, minutes=mm)
    t = t.replace(microsecond=(t.microsecond // 1000) * 1000)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def assert_segment_shape(ev):
    """Fields every stored event has, whatever its wire format."""
    assert isinstance(ev, dict), ev
    assert ev.get("type") in ("track", "page", "screen", "identify", "group", "alias"), ev
    assert isinstance(ev.get("messageId"), str) and ev["messageId"], \
        f"messageId must be a non-empty string: {ev!r}"
    for k in ("timestamp", "receivedAt"):
        assert isinstance(ev.get(k), str) and ISO_MS_RE.match(ev[k]), \
            f"{k} must be ISO 8601 UTC with ms, got {ev.get(k)!r} in {ev!r}"
    for k in ("properties", "traits", "context"):
        assert isinstance(ev.get(k), dict), f"{k} must be an object ({{}} when absent): {ev!r}"
    assert "format" in ev, ev
    for k in ("originalTimestamp", "sentAt"):
        if ev.get(k) is not None:
            assert isinstance(ev[k], str) and ISO_MS_RE.match(ev[k]), \
                f"{k} must be ISO 8601 UTC with ms when present: {ev!r}"
    if ev["type"] == "track":
        assert isinstance(ev.get("event"), str), ev


def assert_received_between(ev, before, after, slack_s=1.0):
    r = parse_iso(ev["receivedAt"])
    assert before - dt.timedelta(seconds=slack_s) <= r <= after + dt.timedelta(seconds=slack_s), \
        f"receivedAt {ev['receivedAt']} outside [{before}, {after}]"


def assert_roundtrip(sent, ev, *, type_, write_key, fmt="segment", batch_context=None,
                     sent_at=None):
    """A Segment message `sent` was stored as `ev` (Segment shape) with its fields intact."""
    assert_segment_shape(ev)
    assert ev["type"] == type_, (ev["type"], type_)
    assert ev["format"] == fmt, ev["format"]
    assert ev.get("writeKey") == write_key, f"writeKey {ev.get('writeKey')!r} != {write_key!r}"
    for k in STRING_FIELDS:
        if k in sent:
            assert ev.get(k) == sent[k], f"{k}: stored {ev.get(k)!r}, sent {sent[k]!r}"
    if "messageId" in sent:
        assert ev["messageId"] == sent["messageId"]
    if type_ in ("track", "page", "screen"):
        assert ev["properties"] == sent.get("properties", {}), \
            f"properties: stored {ev['properties']!r}, sent {sent.get('properties')!r}"
    if type_ in ("identify", "group"):
        assert ev["traits"] == sent.get("traits", {}), \
            f"traits: stored {ev['traits']!r}, sent {sent.get('traits')!r}"
    expect_ctx = dict(batch_context or {})
    expect_ctx.update(sent.get("context", {}))
    # the IP address serves GeoIP and is then dropped (serve --ip drop, the default)
    expect_ctx.pop("ip", None)
    assert "ip" not in ev["context"], f"context.ip stored: {ev['context']!r}"
    assert is_subset(expect_ctx, ev["context"]), \
        f"context: stored {ev['context']!r} lacks sent {expect_ctx!r}"
    sent_at = sent.get("sentAt", sent_at)
    if "timestamp" in sent:
        orig = norm_ts(sent["timestamp"])
        assert ev.get("originalTimestamp") in (sent["timestamp"], orig), \
            f"originalTimestamp {ev.get('originalTimestamp')!r} != client's {sent['timestamp']!r}"
        if sent_at is None:
            assert ev["timestamp"] == orig, \
                f"timestamp {ev['timestamp']} != client timestamp {orig} (no sentAt, no skew)"
        else:
            assert_skew_corrected(ev, sent["timestamp"], sent_at)
    else:
        assert ev["timestamp"] == ev["receivedAt"], \
            f"no client timestamp: timestamp {ev['timestamp']} must equal receivedAt " \
            f"{ev['receivedAt']}"


def assert_skew_corrected(ev, client_ts, sent_at):
    """timestamp = receivedAt − (sentAt − originalTimestamp), exact to the millisecond."""
    received = ms(parse_iso(ev["receivedAt"]))
    want = received - (ms(parse_iso(norm_ts(sent_at))) - ms(parse_iso(norm_ts(client_ts))))
    got = ms(parse_iso(ev["timestamp"]))
    assert got == want, (f"clock-skew correction: timestamp {ev['timestamp']} is {got - want} ms "
                         f"off receivedAt {ev['receivedAt']} − (sentAt {sent_at} − "
                         f"timestamp {client_ts})")


__all__ = ["is_subset", "norm_ts", "assert_segment_shape", "assert_roundtrip",
           "assert_received_between", "assert_skew_corrected", "now_utc"]
