"""Dedup, quarantine, /api/events filters and ordering, /api/stats."""

import datetime as dt
import json
import time
import os

import pytest
from pathlib import Path

from harness import assert_json_ct, basic_auth, cli, fmt_iso, parse_iso, parse_prometheus, uid, wait_for


def track(server, event="E", mid=None, key="k", **extra):
    body = {"event": event, "userId": "u"}
    if mid is not None:
        body["messageId"] = mid
    body.update(extra)
    r = server.post_json("/v1/track", body, write_key=key)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True}
    return r


# ---------------------------------------------------------------------------------------------
# dedup

def test_same_message_id_is_acknowledged_but_stored_once(server):
    mid = uid()
    for _ in range(3):
        track(server, "dup", mid)
    evs = server.all_events()
    assert [e["messageId"] for e in evs] == [mid]
    s = server.stats()
    assert s["stored"] == 1 and s["deduplicated"] == 2, s
    assert s["by_format"]["segment"]["deduplicated"] == 2


def test_dedup_is_per_project(server):
    mid = uid()
    # two keys of one project: a retry with either is the same event
    track(server, "a", mid, key="key-1")
    track(server, "a", mid, key="key-2")
    assert [e["writeKey"] for e in server.all_events()] == ["key-1"]
    # another project may use the same messageId for an event of its own
    shop = json.loads(cli("project", "create", "shop", "--data", server.data_dir, "--json").stdout)

    def shop_event():  # the new key works within a second
        r = server.post_json("/v1/track", {"event": "a", "userId": "u", "messageId": mid}, write_key=shop["write_key"])
        if r.status_code != 200:
            return None
        evs = server.get("/api/events", headers={"Authorization": "Bearer " + shop["read_key"]}).json()["events"]
        return [e for e in evs if e["messageId"] == mid]
    got = wait_for(shop_event, timeout=10, what="the other project's event")
    assert len(got) == 1
    assert got[0]["project"] == "shop"


def test_dedup_across_wire_formats_same_key(server):
    mid = uid()
    track(server, "x", mid, key="k")
    r = server.post_json("/v1/batch", {"batch": [{"type": "track", "event": "x", "userId": "u",
                                                  "messageId": mid}]}, write_key="k")
    assert r.status_code == 200 and r.json().get("success") is True
    r = server.get(f"/p.gif?e=x&uid=u&mid={mid}&k=k")
    assert r.status_code == 200
    r = server.post("/api/import", data=json.dumps({"event": "x", "userId": "u",
                                                     "messageId": mid}).encode(),
                    headers={"Authorization": basic_auth("k")})
    assert r.status_code == 200 and r.json()["duplicates"] == 1, r.text
    assert len(server.all_events()) == 1


def test_dedup_within_one_batch(server):
    mid = uid()
    items = [{"type": "track", "event": "b", "userId": "u", "messageId": mid} for _ in range(3)]
    r = server.post_json("/v1/batch", {"batch": items}, write_key="k")
    assert r.status_code == 200 and r.json().get("success") is True, r.text
    assert len(server.all_events()) == 1


def test_dedup_survives_restart(server):
    mids = [uid() for _ in range(10)]
    for m in mids:
        track(server, "r", m)
    server.restart()
    for m in mids:
        track(server, "r", m)
    evs = server.all_events()
    assert sorted(e["messageId"] for e in evs) == sorted(mids)
    assert server.stats()["deduplicated"] == 10


def test_dedup_memory_budget_keeps_the_newest_ids(footfall):
    """A messageId set at its memory budget lets its oldest ids go instead of growing with the
    ingest rate (until every request was 503): ingest goes on, the newest ids are still
    recognised, the oldest are stored again, and the log and /metrics say so."""
    server = footfall.start("--dedup-max-bytes", "65536")  # 4096 slots: the newest 1700 to 3000 ids
    run = uid("budget")
    mids = [f"{run}-{i}" for i in range(6000)]
    for k in range(0, len(mids), 500):
        items = [{"type": "track", "event": "b", "userId": "u", "messageId": m} for m in mids[k:k + 500]]
        r = server.post_json("/v1/batch", {"batch": items}, write_key="k")
        assert r.status_code == 200, r.text
    retries = [{"type": "track", "event": "b", "userId": "u", "messageId": m} for m in mids[-200:] + mids[:200]]
    r = server.post_json("/v1/batch", {"batch": retries}, write_key="k")
    assert r.status_code == 200, r.text
    s = server.stats()
    assert s["deduplicated"] == 200, s  # the newest 200 recognised
    assert s["stored"] == 6200, s       # the oldest 200 stored again
    samples = parse_prometheus(server.metrics())[1]
    evictions = [v for name, labels, v in samples if name == "footfall_dedup_evictions_total"]
    window = [v for name, labels, v in samples if name == "footfall_dedup_window_seconds"]
    assert evictions and evictions[0] >= 1, evictions
    assert window and window[0] < 24 * 3600, window
    assert "reached its memory budget" in server.log_tail(100000)


def _keys_files_after_backdating(server, run):
    """Posts 6000 new ids in batches (small WAL segments, each leaving a keys file), makes
    every keys file look two hours old, posts one more event and stops the server (its last
    flush trims the WAL). Returns the keys files that were backdated."""
    for k in range(0, 6000, 500):
        items = [{"type": "track", "event": "b", "userId": "u", "messageId": f"{run}-{i}"} for i in range(k, k + 500)]
        r = server.post_json("/v1/batch", {"batch": items}, write_key="k")
        assert r.status_code == 200, r.text
    old = time.time() - 7200
    files = sorted((Path(server.data_dir) / "wal").glob("*.dedup"))
    assert len(files) >= 5, files
    for f in files:
        os.utime(f, (old, old))
    r = server.post_json("/v1/batch", {"batch": [{"type": "track", "event": "b", "userId": "u",
                                                   "messageId": f"{run}-last"}]}, write_key="k")
    assert r.status_code == 200, r.text
    server.stop()
    return files


def test_keys_files_of_forgotten_ids_are_deleted(footfall):
    """Keys files let a restarted server recognise retries for the dedup window. Once the id
    set has let ids go for room, their keys files go too (at full rate a day of them is 800 GB);
    without a budget they stay for the whole window."""
    opts = ("--wal-segment-bytes", "4096", "--flush-interval-ms", "50")
    files = _keys_files_after_backdating(footfall.start("--dedup-max-bytes", "65536", *opts), uid("fkeys"))
    assert not any(f.exists() for f in files), [f.name for f in files if f.exists()]
    files = _keys_files_after_backdating(footfall.start(*opts), uid("fkeys"))
    assert all(f.exists() for f in files), [f.name for f in files if not f.exists()]

def test_dedup_survives_kill_9(server):
    mids = [uid() for _ in range(10)]
    for m in mids:
        track(server, "r9", m)
    server.kill9()
    server.start()
    for m in mids:
        track(server, "r9", m)
    assert sorted(e["messageId"] for e in server.all_events()) == sorted(mids)


def test_missing_message_id_is_generated_and_unique(server):
    for _ in range(3):
        track(server, "nomid")
    evs = server.all_events()
    assert len(evs) == 3, "identical events without messageId are distinct events"
    ids = [e["messageId"] for e in evs]
    assert all(isinstance(i, str) and i for i in ids)
    assert len(set(ids)) == 3
    r = server.post_json("/api/track", {"event": "seed-nomid"})
    assert r.status_code == 200
    r = server.get("/p.gif?e=pix-nomid&aid=a")
    assert r.status_code == 200
    ids = [e["messageId"] for e in server.all_events()]
    assert len(ids) == 5 and len(set(ids)) == 5 and all(ids)


# ---------------------------------------------------------------------------------------------
# quarantine

def test_quarantine_newest_first_with_limit_and_fields(server):
    bodies = [json.dumps({"n": i, "userId": "u"}) for i in range(5)]  # no event: invalid track
    for b in bodies:
        r = server.post("/v1/track", data=b.encode(), headers={"Content-Type": "application/json"})
        assert r.status_code == 400
    items = server.quarantine(limit=100)
    assert [i["raw"] for i in items] == list(reversed(bodies))
    for i in items:
        assert set(i) >= {"receivedAt", "format", "reason", "field", "raw"}, i
        parse_iso(i["receivedAt"])
        assert i["format"] == "segment" and i["field"] == "event"
    assert [i["raw"] for i in server.quarantine(limit=2)] == list(reversed(bodies))[:2]


def test_quarantine_keeps_non_utf8_raw_bytes(server):
    raw = b'{"event": "\xff\xfe bad utf8", "userId": "u"'
    r = server.post("/v1/track", data=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    [q] = server.quarantine()
    assert isinstance(q["raw"], str) and q["raw"].startswith('{"event": "')
    assert "bad utf8" in q["raw"]


def test_quarantine_survives_restart(server):
    r = server.post_json("/api/track", {"data": {"no": "event"}})
    assert r.status_code == 400
    server.restart()
    [q] = server.quarantine()
    assert q["format"] == "seed" and q["field"] == "event"


def test_quarantine_formats(server):
    server.post_json("/api/track", {"nope": 1})
    server.post_json("/v1/track", {"userId": "u"})
    server.get("/p.gif?uid=u")
    server.post("/api/import", data=b"not json\n")
    fmts = [q["format"] for q in server.quarantine()]
    assert fmts == ["import", "pixel", "segment", "seed"]


# ---------------------------------------------------------------------------------------------
# /api/events

def test_events_newest_first_and_limit(server):
    mids = [uid() for _ in range(150)]
    for i in range(0, 150, 50):
        items = [{"type": "track", "event": f"n{j}", "userId": "u", "messageId": mids[j]}
                 for j in range(i, i + 50)]
        assert server.post_json("/v1/batch", {"batch": items}, write_key="k").status_code == 200
    default = server.events()
    assert len(default) == 100, "default limit is 100"
    assert [e["messageId"] for e in server.events(limit=150)] == list(reversed(mids))
    assert [e["messageId"] for e in server.events(limit=3)] == list(reversed(mids))[:3]
    recv = [parse_iso(e["receivedAt"]) for e in server.events(limit=150)]
    assert recv == sorted(recv, reverse=True)


def test_events_filter_by_name(server):
    for name in ["Signed Up", "Order Completed", "Signed Up", "signed up"]:
        track(server, name, uid())
    got = server.events(event="Signed Up")
    assert len(got) == 2 and all(e["event"] == "Signed Up" for e in got)
    assert server.events(event="Nothing") == []


def test_events_filter_by_time_range_on_timestamp(server):
    base = dt.datetime(2023, 5, 10, 12, 0, 0, tzinfo=dt.timezone.utc)
    mids = {}
    for h in range(6):
        m = uid()
        mids[h] = m
        track(server, "timed", m, timestamp=fmt_iso(base + dt.timedelta(hours=h)))
    got = server.events(**{"from": fmt_iso(base + dt.timedelta(hours=1, minutes=30)),
                           "to": fmt_iso(base + dt.timedelta(hours=4, minutes=30))})
    assert sorted(e["messageId"] for e in got) == sorted(mids[h] for h in (2, 3, 4))
    got = server.events(**{"from": fmt_iso(base + dt.timedelta(hours=4, minutes=1))})
    assert sorted(e["messageId"] for e in got) == sorted([mids[5]])
    got = server.events(to=fmt_iso(base + dt.timedelta(minutes=59)))
    assert [e["messageId"] for e in got] == [mids[0]]
    got = server.events(event="timed", limit=2, **{"from": fmt_iso(base)})
    assert len(got) == 2


@pytest.mark.parametrize("params", [{"limit": "abc"}, {"limit": "-1"}, {"from": "yesterday"},
                                    {"to": "2020-13-45T99:00:00Z"}])
def test_events_bad_parameters_are_400(server, params):
    r = server.get("/api/events", params=params)
    assert r.status_code == 400, (params, r.status_code, r.text)
    assert_json_ct(r)
    assert isinstance(r.json().get("error"), str)


def test_events_survive_graceful_restart(server):
    mids = [uid() for _ in range(20)]
    for m in mids:
        track(server, "persist", m)
    before = server.all_events()
    server.restart()
    assert server.all_events() == before


# ---------------------------------------------------------------------------------------------
# /api/stats

def test_stats_counts_by_format(server):
    empty = server.stats()
    assert empty["stored"] == 0 and empty["deduplicated"] == 0 and empty["quarantined"] == 0
    for f in ("seed", "segment", "pixel", "import"):
        assert empty["by_format"][f] == {"stored": 0, "deduplicated": 0, "quarantined": 0}

    server.post_json("/api/track", {"event": "s1", "messageId": "seed-1"})
    server.post_json("/api/track", {"event": "s1", "messageId": "seed-1"})     # dup
    server.post_json("/api/track", {"data": {}})                               # invalid
    server.post_json("/v1/batch", {"batch": [
        {"type": "track", "event": "a", "userId": "u", "messageId": "sg-1"},
        {"type": "track", "event": "b", "userId": "u", "messageId": "sg-2"},
        {"type": "track", "userId": "u"},                                      # invalid
    ]}, write_key="k")
    server.get("/p.gif?e=p&aid=a&mid=px-1")
    server.get("/p.gif?e=p&aid=a&mid=px-1")                                    # dup
    server.get("/p.gif?aid=a")                                                 # invalid
    server.post("/api/import", data=b'{"event":"i","userId":"u","messageId":"im-1"}\n'
                                    b'{"event":"i","userId":"u","messageId":"im-2"}\nxx\n',
                headers={"Authorization": basic_auth("k")})

    s = server.stats()
    assert s["by_format"]["seed"] == {"stored": 1, "deduplicated": 1, "quarantined": 1}, s
    assert s["by_format"]["segment"] == {"stored": 2, "deduplicated": 0, "quarantined": 1}, s
    assert s["by_format"]["pixel"] == {"stored": 1, "deduplicated": 1, "quarantined": 1}, s
    assert s["by_format"]["import"] == {"stored": 2, "deduplicated": 0, "quarantined": 1}, s
    assert s["stored"] == 6 and s["deduplicated"] == 2 and s["quarantined"] == 4, s
    server.restart()
    s2 = server.stats()
    assert s2["stored"] == 6 and s2["quarantined"] == 4, \
        f"stored/quarantined counts must survive a restart: {s2}"


def test_quarantine_listing_cuts_huge_raw_inputs(server):
    """A listing shows at most 64 KiB of each quarantined input and says how long it was,
    so a few huge invalid bodies cannot make a listing take gigabytes."""
    import gzip
    big = b"x" * (4 << 20)  # not JSON, 4 MiB once decoded
    r = server.post("/v1/track", data=gzip.compress(big),
                    headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 400, r.text
    items = server.quarantine(limit=5)
    item = next(i for i in items if i.get("rawBytes") == len(big))
    assert item["rawTruncated"] is True
    assert len(item["raw"]) == 64 << 10


# ---------------------------------------------------------------------------------------------
# the columnar store: memtable, flushes to parts, restarts

def manifest_parts(data_dir):
    return sorted(p.name for p in (data_dir / "parts").glob("*.part"))


def test_events_move_to_parts_and_read_the_same(footfall):
    from harness import cli_events, wait_for
    srv = footfall.start("--flush-interval-ms", "100")
    mids = [uid() for _ in range(120)]
    day = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    for i in range(0, 120, 40):
        items = [{"type": "page" if j % 5 == 0 else "track", "event": f"e{j % 3}", "name": "Home",
                  "userId": f"u{j % 4}", "messageId": mids[j],
                  "timestamp": fmt_iso(day + dt.timedelta(hours=j)),
                  "properties": {"j": j, "url": f"https://shop.example/p/{j}?utm_source=mail"},
                  "context": {"campaign": {"medium": "email"}}}
                 for j in range(i, i + 40)]
        assert srv.post_json("/v1/batch", {"batch": items}, write_key="k").status_code == 200
    r = srv.post_json("/v1/batch", {"batch": [{"type": "track", "userId": "u"}]}, write_key="k")
    assert r.status_code == 400  # its only item is quarantined
    before = srv.events(limit=1000)
    assert [e["messageId"] for e in before] == list(reversed(mids)), "readable at once, newest first"
    # within a flush interval or so, the memtable is written out: one part per day + quarantine
    # part files are renamed into place before the manifest that lists them is published
    wait_for(lambda: len(manifest_parts(srv.data_dir)) >= 6 and (srv.data_dir / "MANIFEST").exists(), timeout=10,
             what="parts written and published")
    parts = manifest_parts(srv.data_dir)
    assert sum(p.startswith("q-") for p in parts) == 1, parts
    assert (srv.data_dir / "MANIFEST").exists()
    assert srv.events(limit=1000) == before, "the same events, the same order, from parts"
    assert [e["messageId"] for e in srv.events(event="e1", limit=1000)] == \
        [m for j, m in reversed(list(enumerate(mids))) if j % 3 == 1 and j % 5 != 0]  # pages have no event
    frm, to = day + dt.timedelta(hours=30), day + dt.timedelta(hours=50)
    got = srv.events(**{"from": fmt_iso(frm), "to": fmt_iso(to), "limit": 1000})
    assert [e["messageId"] for e in got] == [mids[j] for j in range(49, 29, -1)]
    assert len(srv.get("/api/quarantine").json()["items"]) == 1
    stats = srv.stats()
    assert stats["stored"] == 120 and stats["quarantined"] == 1, stats
    # a restart reads parts (nothing to replay), the CLI reads the same offline
    srv.restart()
    assert srv.events(limit=1000) == before
    assert srv.stats()["stored"] == 120
    srv.stop_ok()
    assert cli_events(srv.data_dir, "--limit", "1000") == before


def test_new_events_after_a_flush_come_first(footfall):
    from harness import wait_for
    srv = footfall.start("--flush-interval-ms", "50")
    first = [uid() for _ in range(5)]
    for m in first:
        track(srv, "x", m)
    wait_for(lambda: manifest_parts(srv.data_dir), timeout=10, what="a part")
    second = [uid() for _ in range(5)]
    for m in second:
        track(srv, "x", m)
    assert [e["messageId"] for e in srv.events(limit=7)] == list(reversed(first + second))[:7]
    # a retry of an event already in a part is still a duplicate
    track(srv, "x", first[0])
    assert srv.stats()["stored"] == 10


def test_retention_drops_whole_days_older_than_n(footfall):
    from harness import now_utc, wait_for
    srv = footfall.start("--flush-interval-ms", "50", "--retention-days", "30")
    old = [uid() for _ in range(5)]
    new = [uid() for _ in range(5)]
    now = now_utc()
    for i, m in enumerate(old):
        track(srv, "old", m, timestamp=fmt_iso(now - dt.timedelta(days=400 + i)))
    for i, m in enumerate(new):
        track(srv, "new", m, timestamp=fmt_iso(now - dt.timedelta(days=i)))
    wait_for(lambda: {e["messageId"] for e in srv.events(limit=100)} == set(new), timeout=15,
             what="events older than 30 days dropped, the rest kept")
    st = srv.stats()
    assert st["stored"] == 10 and st["held"] == 5, st  # stored counts what came; held what is kept
    srv.restart()
    assert {e["messageId"] for e in srv.events(limit=100)} == set(new)
    st = srv.stats()
    assert st["stored"] == 10 and st["held"] == 5, st
