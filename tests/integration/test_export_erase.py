"""Export (a person's events, a time range as NDJSON or CSV) and GDPR erasure (API and CLI):
erased events leave the API, the parts, the WAL's bytes and the CLI, and stay gone after a
flush, a merge and a restart."""

import csv
import datetime as dt
import io
import json
import re
import urllib.parse

from harness import cli, fmt_iso, ndjson, uid, wait_for

DAY = dt.datetime(2026, 5, 4, tzinfo=dt.timezone.utc)


def send(srv, user, anon, i, marker=""):
    body = {"event": f"ev{i % 3}", "messageId": uid(), "anonymousId": anon,
            "timestamp": fmt_iso(DAY + dt.timedelta(minutes=7 * i)),
            "properties": {"i": i, "note": marker or "plain, with \"quotes\"\nand a newline"}}
    if user:
        body["userId"] = user
    r = srv.post_json("/v1/track", body, write_key="k")
    assert r.status_code == 200, r.text
    return body["messageId"]


def person_events(srv, pid):
    r = srv.get("/api/persons/" + urllib.parse.quote(pid, safe="") + "/events")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/x-ndjson")
    return ndjson(r.text)


def populate(srv):
    """alice (user id, and an anonymous id before she signed in), bob, and an anonymous visitor."""
    mids = {"alice": [], "bob": [], "anon-3": []}
    for i in range(30):
        who = ["alice", "bob", "anon-3"][i % 3]
        if who == "alice":
            user, anon = ("alice" if i > 6 else None), "anon-1"
        elif who == "bob":
            user, anon = "bob", "anon-2"
        else:
            user, anon = None, "anon-3"
        mids[who].append(send(srv, user, anon, i, marker=f"SECRET-{who}-{i}"))
    return mids


def test_person_export_api_and_cli(footfall):
    srv = footfall.start("--flush-interval-ms", "50")
    mids = populate(srv)
    # alice: her user id covers the anonymous events before she signed in (identity merge),
    # oldest first, and so does her anonymous id
    got = person_events(srv, "alice")
    assert [e["messageId"] for e in got] == mids["alice"], "the person's events, anonymous ones included"
    assert all(e["personId"] == "alice" for e in got)
    got_anon = person_events(srv, "anon-1")
    assert [e["messageId"] for e in got_anon] == mids["alice"], "anonymous id: before and after sign-in"
    assert [e["messageId"] for e in person_events(srv, "anon-3")] == mids["anon-3"]
    assert person_events(srv, "nobody") == []
    # same answer once the events are in parts
    wait_for(lambda: list((srv.data_dir / "parts").glob("*.part")), timeout=10, what="parts")
    assert [e["messageId"] for e in person_events(srv, "alice")] == mids["alice"]
    srv.stop_ok()
    # offline too: the identity map is on disk (DATA/IDENTITY)
    assert (srv.data_dir / "IDENTITY").exists()
    out = cli("export", "--data", srv.data_dir, "--person", "alice")
    assert [e["messageId"] for e in ndjson(out.stdout)] == mids["alice"]
    assert "10 events" in out.stderr


def test_range_export_ndjson_and_csv(footfall):
    srv = footfall.start()
    mids = populate(srv)
    srv.stop_ok()
    everything = ndjson(cli("export", "--data", srv.data_dir).stdout)
    assert sorted(e["messageId"] for e in everything) == sorted(sum(mids.values(), []))
    frm, to = DAY + dt.timedelta(minutes=7 * 10), DAY + dt.timedelta(minutes=7 * 20)
    part = ndjson(cli("export", "--data", srv.data_dir, "--from", fmt_iso(frm), "--to", fmt_iso(to)).stdout)
    assert len(part) == 10 and all(frm.isoformat()[:16] <= e["timestamp"][:16] for e in part)
    text = cli("export", "--data", srv.data_dir, "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 30
    by_mid = {r["messageId"]: r for r in rows}
    e = everything[0]
    r = by_mid[e["messageId"]]
    assert r["event"] == e["event"] and r["anonymousId"] == e["anonymousId"]
    assert json.loads(r["properties"]) == e["properties"], "quotes and newlines survive CSV"
    bad = cli("export", "--data", srv.data_dir, "--format", "xml", check=False)
    assert bad.returncode == 2 and "ndjson or csv" in bad.stderr
    bad = cli("export", "--data", srv.data_dir, "--person", "x", "--from", "2026-01-01T00:00:00Z", check=False)
    assert bad.returncode == 2 and "--person" in bad.stderr
    missing = cli("export", "--data", srv.data_dir / "nope", check=False)
    assert missing.returncode == 1 and "not a data directory" in missing.stderr


def wal_bytes(data_dir):
    return b"".join(p.read_bytes() for p in sorted((data_dir / "wal").glob("*.wal")))


def part_files(data_dir):
    return {p.name for p in (data_dir / "parts").glob("*.part")}


def log_size(srv):
    return srv.log_path.stat().st_size


def log_since(srv, offset):
    with open(srv.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def test_erasure_api_removes_everywhere_and_for_good(footfall):
    srv = footfall.start("--flush-interval-ms", "30")
    mids = populate(srv)
    # some of alice's events are in parts already, some only in memory and the WAL
    wait_for(lambda: list((srv.data_dir / "parts").glob("*.part")), timeout=10, what="parts")
    late = send(srv, "alice", "anon-1", 99, marker="SECRET-alice-late")
    assert b"SECRET-alice" in wal_bytes(srv.data_dir)
    held = srv.stats()["held"]
    assert held == 31, srv.stats()
    parts_before = part_files(srv.data_dir)
    r = srv.request("DELETE", "/api/persons/alice")
    assert r.status_code == 200, r.text
    log_at = log_size(srv)
    # the parts the erasure wrote (her parts rewritten without her; a flush or merge that
    # published meanwhile may add some)
    written = part_files(srv.data_dir) - parts_before
    assert written, "the erasure rewrote no part"
    # her anonymous events before she signed in are hers: they go too
    assert r.json() == {"erased": len(mids["alice"]) + 1}
    r = srv.request("DELETE", "/api/persons/anon-1")
    assert r.json() == {"erased": 0}
    gone = set(mids["alice"]) | {late}
    st = srv.stats()
    assert st["held"] == held - len(gone) and st["stored"] == 31, st  # stored: what came in
    metrics = srv.get("/metrics").text
    assert f"footfall_events_held {held - len(gone)}\n" in metrics, metrics

    def check(what):
        ids = {e["messageId"] for e in srv.events(limit=1000)}
        assert not ids & gone, f"{what}: erased events are back"
        assert ids == set(mids["bob"]) | set(mids["anon-3"]), what
        assert person_events(srv, "alice") == [] and person_events(srv, "anon-1") == []

    check("right after")
    assert b"SECRET-alice" not in wal_bytes(srv.data_dir), "the WAL still holds her events"
    # (bob's events may have left the WAL: once in parts, a finished segment is deleted and
    # only its keys file stays; check() above read them all back)
    # more flushes of the same day (one event each, a flush every 30 ms) until merges of the
    # day have run since the erasure and one took in a part the erasure wrote (a merged part
    # leaves parts/; nothing else removes one here): what it wrote must not hold her events
    day_no = (DAY - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).days
    merged_re = re.compile(rf"store: merged \d+ parts of day {day_no} into ")

    def merged_after_erasure():
        mids["bob"].append(send(srv, "bob", "anon-2", 200 + len(mids["bob"]) % 6))
        return merged_re.search(log_since(srv, log_at)) and written - part_files(srv.data_dir)

    wait_for(merged_after_erasure, timeout=30, interval=0.05,
             what="a merge, since the erasure, of a part the erasure wrote")
    wait_for(lambda: {e["messageId"] for e in srv.events(limit=1000)} ==
             set(mids["bob"]) | set(mids["anon-3"]), timeout=10, what="the new events")
    check("after merges")
    srv.restart()
    check("after a restart")
    srv.kill9()
    srv.start()
    check("after kill -9")
    r = srv.request("DELETE", "/api/persons/nobody")
    assert r.json() == {"erased": 0}
    assert srv.request("GET", "/api/persons/alice").status_code == 405
    assert srv.request("DELETE", "/api/persons/alice/events").status_code == 405
    assert srv.request("DELETE", "/api/persons/").status_code == 404


def test_erasure_cli_offline(footfall):
    srv = footfall.start()
    mids = populate(srv)
    locked = cli("erase", "--data", srv.data_dir, "--person", "bob", check=False)
    assert locked.returncode == 1 and "in use by another footfall" in locked.stderr
    srv.stop_ok()
    out = cli("erase", "--data", srv.data_dir, "--person", "bob")
    assert json.loads(out.stdout) == {"erased": len(mids["bob"])}
    assert b"SECRET-bob" not in wal_bytes(srv.data_dir)
    srv.start()
    ids = {e["messageId"] for e in srv.events(limit=1000)}
    assert ids == set(mids["alice"]) | set(mids["anon-3"])
