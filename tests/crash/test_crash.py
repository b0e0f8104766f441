"""Crash tests: kill -9 under concurrent load; every acknowledged event survives, exactly once.

The load mixes every wire format (single Segment calls, batches, the seed format, pixels and
NDJSON imports), each message with a unique messageId. A request counts as acknowledged only
when its 2xx response was fully received. After each SIGKILL the server is restarted on the
same data directory. At the end:
  * every acknowledged messageId is stored exactly once, with the content that was sent;
  * nothing is stored twice, and nothing is stored that was never sent;
  * re-sending everything (acknowledged or not) stores nothing twice, and the events whose
    requests were cut off by the kill are stored exactly once after the retry;
  * the same holds after one more kill -9 and restart, and offline through `footfall events`.
The "merging" configuration puts every event on a past day, where a merge starts once 4 parts
of the day exist (merge.c: MERGE_MIN_PARTS; today's parts wait for 64), and flushes every
20 ms, so merges run all the time and the kills land before, during and between them.
"""

import base64
import datetime as dt
import json
import os
import random
import re
import struct
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from harness import Server, basic_auth, cli_events, fmt_iso, wait_for

WRITE_KEY = "crash-key"
AUTH = {"Authorization": basic_auth(WRITE_KEY)}
JSON_H = {"Content-Type": "application/json", **AUTH}
BIG_LIMIT = 100_000_000
TIME_BUDGET_S = 45.0


def make_msg(mid, worker, i, day=None):
    m = {"type": "track", "event": f"crash-{worker % 3}", "userId": f"u{worker}",
         "messageId": mid, "properties": {"w": worker, "i": i, "pad": "p" * (i % 50)}}
    if day is not None:  # a time on that day (a datetime at midnight UTC)
        m["timestamp"] = fmt_iso(day + dt.timedelta(milliseconds=(worker * 1_000_003 + i * 997) % 86_400_000))
    return m


def send(session, base, kind, msgs):
    """Send msgs as one request of the given kind; return True on a 2xx."""
    if kind == "track":
        r = session.post(base + "/v1/track", data=json.dumps(msgs[0]), headers=JSON_H, timeout=10)
    elif kind == "batch":
        r = session.post(base + "/v1/batch", data=json.dumps({"batch": msgs}), headers=JSON_H,
                         timeout=10)
    elif kind == "seed":
        m = msgs[0]
        body = {"event": m["event"], "data": m["properties"], "userId": m["userId"],
                "messageId": m["messageId"]}
        if "timestamp" in m:
            body["timestamp"] = m["timestamp"]
        r = session.post(base + "/api/track", data=json.dumps(body), headers=JSON_H, timeout=10)
    elif kind == "pixel":
        m = dict(msgs[0], writeKey=WRITE_KEY)
        data = base64.urlsafe_b64encode(json.dumps(m).encode()).decode()
        r = session.get(base + "/p.gif?data=" + urllib.parse.quote(data), timeout=10)
    elif kind == "import":
        body = "".join(json.dumps(m) + "\n" for m in msgs)
        r = session.post(base + "/api/import", data=body, headers=AUTH, timeout=10)
    else:
        raise ValueError(kind)
    if 200 <= r.status_code < 300:
        if kind == "import":
            j = r.json()
            assert j["failed"] == [], j
        return True
    raise AssertionError(f"{kind}: unexpected {r.status_code} {r.text[:300]}")


KINDS = ["track", "batch", "batch", "seed", "pixel", "import"]


class Load:
    def __init__(self, base, round_no, nthreads=6, day=None):
        self.base = base
        self.round = round_no
        self.day = day
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent = {}          # mid -> (kind, group of msgs)
        self.acked = set()
        self.errors = []
        self.threads = [threading.Thread(target=self.worker, args=(w,), daemon=True)
                        for w in range(nthreads)]

    def worker(self, w):
        rnd = random.Random(f"{self.round}-{w}")
        session = requests.Session()
        i = 0
        while not self.stop.is_set():
            kind = rnd.choice(KINDS)
            n = rnd.randint(2, 40) if kind in ("batch", "import") else 1
            msgs = []
            for _ in range(n):
                mid = f"r{self.round}-w{w}-{i}"
                msgs.append(make_msg(mid, w, i, self.day))
                i += 1
            with self.lock:
                for m in msgs:
                    self.sent[m["messageId"]] = (kind, msgs)
            try:
                ok = send(session, self.base, kind, msgs)
            except (requests.RequestException, ConnectionError):
                session = requests.Session()
                if self.stop.is_set():
                    return
                continue  # server killed: outcome unknown
            except Exception as e:  # noqa: BLE001 - recorded and asserted on
                self.errors.append(repr(e))
                continue
            if ok:
                with self.lock:
                    self.acked.update(m["messageId"] for m in msgs)

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
            assert not t.is_alive(), "load thread stuck"


def resend(base, groups, nthreads=8):
    local = threading.local()

    def one(g):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        return send(local.s, base, *g)

    with ThreadPoolExecutor(nthreads) as ex:
        assert all(ex.map(one, groups))


def stored_mids(events):
    mids = [e["messageId"] for e in events]
    seen, dups = set(), set()
    for m in mids:
        (dups if m in seen else seen).add(m)
    return seen, dups


def check_store(events, sent, acked, what):
    seen, dups = stored_mids(events)
    assert not dups, f"{what}: {len(dups)} messageIds stored more than once, e.g. {sorted(dups)[:5]}"
    lost = acked - seen
    assert not lost, f"{what}: {len(lost)} acknowledged events lost, e.g. {sorted(lost)[:5]}"
    phantom = seen - set(sent)
    assert not phantom, f"{what}: stored events that were never sent: {sorted(phantom)[:5]}"
    for e in events:
        kind, msgs = sent[e["messageId"]]
        [m] = [x for x in msgs if x["messageId"] == e["messageId"]]
        assert e["writeKey"] == WRITE_KEY, e
        assert e["event"] == m["event"] and e["userId"] == m["userId"], (e, m)
        assert e["properties"] == m["properties"], \
            f"{what}: content of {e['messageId']} changed: {e['properties']} != {m['properties']}"
    return seen


# The second configuration flushes the memtable to parts every few milliseconds, so that the
# kills land during flushes: a part half written, written but not in the manifest, in the
# manifest with its WAL segments still there.
# The third also starts a WAL segment every 16 KiB: finished segments leave keys files and
# are deleted once flushed, so after a restart retries are recognised from the keys files.
# The fourth ("merging") flushes as often, in smaller parts, and dates every event on a past
# day (PAST_DAY_CONFIGS), whose parts merge as soon as 4 are there: each round waits until
# the server has logged a merge, and each kill comes at a random moment after it, when the
# merge thread is at work if it is within a second (merge_thread_busy).
CONFIGS = {
    "default": ([], TIME_BUDGET_S),
    "flushing": (["--flush-interval-ms", "20", "--flush-bytes", "65536"], 30.0),
    "rotating": (["--flush-interval-ms", "20", "--flush-bytes", "65536", "--wal-segment-bytes", "16384"], 30.0),
    "merging": (["--flush-interval-ms", "20", "--flush-bytes", "16384"], 20.0),
}
PAST_DAY_CONFIGS = {"merging"}
MERGED_RE = re.compile(r"store: merged (\d+) parts of day (\d+) into (\S+) ")
ORPHAN_RE = re.compile(r"store: removed \S+/([^/\s]+): not in the manifest")


def log_size(srv):
    try:
        return srv.log_path.stat().st_size
    except FileNotFoundError:
        return 0


def log_since(srv, offset):
    with open(srv.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def merge_thread_stat(pid):
    """The /proc stat file of the server's merge thread (named "ff-merge", merge.c)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() == "ff-merge":
                    return f"/proc/{pid}/task/{tid}/stat"
        except OSError:
            pass
    raise AssertionError(f"no ff-merge thread in /proc/{pid}/task")


def merge_thread_busy(stat_path):
    """Whether the merge thread is working now: running or in a disk wait. Idle, it sleeps on
    its condition variable (state S); so does it, briefly, when it waits for a flush to publish."""
    with open(stat_path) as f:
        return f.read().rsplit(")", 1)[1].split()[0] in ("R", "D")


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_kill9_under_load_loses_no_acknowledged_event(tmp_path, config):
    args, budget = CONFIGS[config]
    srv = Server(tmp_path / "data", args=args, log_dir=tmp_path).prepare(write_keys=[WRITE_KEY])
    merging = config in PAST_DAY_CONFIGS
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    past_day = today - dt.timedelta(days=10) if merging else None
    sent, acked = {}, set()
    errors = []
    t_end = time.monotonic() + budget
    rounds = 0
    rnd = random.Random(1234)
    merges_per_round, busy_kills = [], 0
    try:
        while rounds < 6 and (rounds < 3 or time.monotonic() < t_end):
            rounds += 1
            log_at = log_size(srv)
            srv.start()
            load = Load(srv.base, rounds, day=past_day)
            load.start()
            # let some requests be acknowledged, then kill at a random moment of the load
            wait_for(lambda: len(load.acked) >= 20, timeout=20,
                     what=f"round {rounds}: 20 acknowledged events")
            if merging:  # merges have begun in this run of the server
                wait_for(lambda: MERGED_RE.search(log_since(srv, log_at)), timeout=15,
                         what=f"round {rounds}: a merge in the server's log")
            time.sleep(rnd.uniform(0.0, 1.5))  # the random moment of the kill (not a wait)
            if merging:  # and within a second, while the merge thread is at work
                stat = merge_thread_stat(srv.proc.pid)
                deadline = time.monotonic() + 1.0
                busy = merge_thread_busy(stat)
                while not busy and time.monotonic() < deadline:
                    time.sleep(0.0002)
                    busy = merge_thread_busy(stat)
                busy_kills += busy  # (its state changes often: seen a moment before the kill)
            srv.kill9()
            load.finish()
            if merging:
                merges_per_round.append(len(MERGED_RE.findall(log_since(srv, log_at))))
            sent.update(load.sent)
            acked |= load.acked
            errors += load.errors
        assert not errors, f"unexpected responses under load: {errors[:5]}"
        assert len(acked) > 100, f"too little load to mean anything: {len(acked)} acks"
        if config != "default":
            parts = list((srv.data_dir / "parts").glob("*.part"))
            assert parts and (srv.data_dir / "MANIFEST").exists(), "the flushing load wrote no parts"
        if merging:
            # every round's kill came after merges of the past day had run in that round
            # (each is logged once published), several a round on average, and at least one
            # kill came while the merge thread was working
            assert all(n >= 1 for n in merges_per_round), merges_per_round
            assert sum(merges_per_round) >= 3 * rounds, merges_per_round
            assert busy_kills >= 1, f"no kill landed while the merge thread was working ({rounds} rounds)"
            day_no = (past_day - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).days
            day_parts = list((srv.data_dir / "parts").glob(f"{day_no:08d}-*.part"))
            assert day_parts, "no part of the past day"
        if config == "rotating":
            wal = srv.data_dir / "wal"
            keys = {p.stem for p in wal.glob("*.dedup")}
            segs = {p.stem for p in wal.glob("*.wal")}
            assert len(keys) >= 3, f"too few finished segments to mean anything: {sorted(keys)}"
            assert keys - segs, "no flushed segment was deleted: its keys file would be the only record left"

        srv.start()
        events = srv.all_events()
        seen = check_store(events, sent, acked, "after kill -9 and restart")
        if merging:
            assert all(e["timestamp"].startswith(past_day.strftime("%Y-%m-%d")) for e in events), \
                "events were not kept on the past day: no merge of non-hot parts was exercised"
        # files a crashed flush or merge left, removed at the restarts (reported)
        orphans = ORPHAN_RE.findall(log_since(srv, 0))
        unacked_stored = seen - acked
        unacked_lost = set(sent) - seen

        # retry everything: acked and unacked, in the kind of request first used
        groups = {}
        for mid, (kind, msgs) in sent.items():
            groups[id(msgs)] = (kind, msgs)
        resend(srv.base, list(groups.values()))
        events = srv.all_events()
        seen2 = check_store(events, sent, set(sent), "after re-sending everything")
        assert seen2 == set(sent)
        st = srv.stats()
        assert st["stored"] == len(sent), st

        # one more crash: dedup state and events both survive
        srv.kill9()
        srv.start()
        resend(srv.base, list(groups.values())[:200])
        check_store(srv.all_events(), sent, set(sent), "after a second kill -9")
        srv.stop_ok()
        offline = cli_events(srv.data_dir, "--limit", str(BIG_LIMIT))
        check_store(offline, sent, set(sent), "offline `footfall events`")
        print(f"rounds={rounds} sent={len(sent)} acked={len(acked)} "
              f"unacked-but-stored={len(unacked_stored)} unacked-lost={len(unacked_lost)}"
              + (f" merges-per-round={merges_per_round} kills-while-merging={busy_kills}/{rounds}"
                 f" unlisted-files-removed-at-restarts={len(orphans)}" if merging else ""))
    finally:
        srv.kill9()


GARBAGE = {
    "random-bytes": lambda rnd: bytes(rnd.getrandbits(8) for _ in range(777)),
    "zeros": lambda rnd: b"\0" * 4096,
    "frame-header-huge-length": lambda rnd: struct.pack("<IIQII", 0x4d415246, 0xFFFFFFF0,
                                                        10 ** 12, 5, 0) + b"\x01" * 8 + b"x" * 100,
    "frame-bad-checksum": lambda rnd: struct.pack("<IIQII", 0x4d415246, 64, 10 ** 6, 1, 0)
    + b"\x00" * 8 + bytes(rnd.getrandbits(8) for _ in range(64)),
    "half-frame-header": lambda rnd: struct.pack("<II", 0x4d415246, 64),
}


@pytest.mark.parametrize("garbage", sorted(GARBAGE))
def test_torn_tail_is_truncated_and_reported(tmp_path, garbage):
    srv = Server(tmp_path / "data", log_dir=tmp_path).prepare(write_keys=[WRITE_KEY])
    try:
        srv.start()
        s = requests.Session()
        acked = set()
        sent = {}
        for i in range(30):
            msgs = [make_msg(f"t-{i}-{j}", 1, i * 10 + j) for j in range(5)]
            for m in msgs:
                sent[m["messageId"]] = ("batch", msgs)
            assert send(s, srv.base, "batch", msgs)
            acked |= {m["messageId"] for m in msgs}
        srv.kill9()
        wal = sorted((srv.data_dir / "wal").glob("*.wal"))
        assert wal, f"no WAL segment under {srv.data_dir / 'wal'}: {os.listdir(srv.data_dir)}"
        with open(wal[-1], "ab") as f:
            f.write(GARBAGE[garbage](random.Random(garbage)))
        log_before = srv.log_path.read_bytes()
        srv.start()
        check_store(srv.all_events(), sent, acked, f"after a torn tail ({garbage})")
        new_log = srv.log_path.read_bytes()[len(log_before):].decode("utf-8", "replace")
        assert "torn" in new_log.lower(), f"torn tail not reported in the log:\n{new_log[-2000:]}"
        # writes after the truncated tail are readable after another crash
        more = [make_msg(f"after-{j}", 2, j) for j in range(10)]
        for m in more:
            sent[m["messageId"]] = ("batch", more)
        assert send(s, srv.base, "batch", more)
        srv.kill9()
        srv.start()
        check_store(srv.all_events(), sent, acked | {m["messageId"] for m in more},
                    "after writing past a truncated tail")
        srv.stop_ok()
    finally:
        srv.kill9()
