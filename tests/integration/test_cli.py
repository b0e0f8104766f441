"""Command line: --help, --version, SIGTERM/SIGINT, offline `events` and `quarantine`."""

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import socket
import threading

import pytest

from checks import assert_segment_shape
from harness import (BINARY, RawConn, Timeout, basic_auth, build_request, cli, cli_events, fmt_iso, ms,
                     ndjson, now_utc, uid, wait_for)


def test_help():
    p = cli("--help")
    out = p.stdout + p.stderr
    assert "serve" in out and "--listen" in out and "--data" in out, out
    for opt in ("--max-body-bytes", "--max-connections", "--idle-timeout-ms", "--max-header-bytes",
                "--max-import-bytes"):
        assert opt in out, f"--help does not mention {opt}"


def test_version():
    p = cli("--version")
    assert re.fullmatch(r"footfall \d+\.\d+\.\d+\s*", p.stdout), repr(p.stdout)


def test_unknown_option_fails():
    p = cli("serve", "--no-such-option", check=False, timeout=10)
    assert p.returncode != 0
    assert p.stderr.strip(), "an error message on stderr"


def test_out_of_range_options_say_why():
    cases = [("--flush-interval-ms", "100000000", "between 1 and 86400000"),
             ("--threads", "999", "between 0 and 256"),
             ("--max-body-bytes", "10", "at least 1024"),
             ("--retention-days", "2000000", "between 0 and 1000000"),
             ("--flush-bytes", "0", "at least 1"),
             ("--flush-bytes", "lots", "needs a whole number")]
    for opt, value, why in cases:
        p = cli("serve", opt, value, check=False, timeout=10)
        assert p.returncode == 2, (opt, value, p.returncode)
        assert opt in p.stderr and why in p.stderr, (opt, value, p.stderr)


def test_sigterm_exits_zero(server):
    assert server.stop() == 0


def test_sigint_exits_zero(server):
    assert server.stop(sig=signal.SIGINT) == 0


def test_sigterm_finishes_in_flight_request(server):
    body = json.dumps({"event": "inflight", "userId": "u", "messageId": uid()}).encode()
    head = (b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: {server.auth_header('/v1/track')}\r\n".encode()
            + f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
    with RawConn(server.port) as c:
        # a full exchange first, so the connection is certainly accepted by the server
        c.send(build_request("GET", "/healthz"))
        assert c.read_response()[0] == 200
        # request under way: headers sent, body not yet. "Expect: 100-continue" makes the
        # server's reading of the headers observable; a server that does not send 100 has had
        # the 1 s that curl waits for it.
        c.send(head)
        c.sock.settimeout(1.0)
        try:
            assert c.read_response()[0] == 100
        except socket.timeout:
            pass
        c.sock.settimeout(10)
        server.send_signal(signal.SIGTERM)

        def refusing():  # the server has acted on SIGTERM: it no longer accepts connections
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                return False
            except OSError:
                return True
        wait_for(refusing, timeout=10, what="the server to stop accepting after SIGTERM")
        c.send(body)
        status, _, resp = c.read_response()
        assert status == 200, resp
        assert json.loads(resp) == {"success": True}
    rc = server.proc.wait(timeout=15)
    assert rc == 0
    server.start()
    assert [e["event"] for e in server.events()] == ["inflight"]


def test_sigterm_under_load_every_ack_is_kept(server):
    acked, errors = [], []
    stop = threading.Event()
    port = server.port

    def worker(n):
        import requests
        s = requests.Session()
        i = 0
        while not stop.is_set():
            mid = f"load-{n}-{i}"
            i += 1
            try:
                r = s.post(f"http://127.0.0.1:{port}/v1/track",
                           data=json.dumps({"event": "l", "userId": "u", "messageId": mid}),
                           headers={"Content-Type": "application/json",
                                    "Authorization": basic_auth("k")}, timeout=10)
            except Exception:  # noqa: BLE001 - connection refused/reset after shutdown
                return
            if 200 <= r.status_code < 300:
                acked.append(mid)
            elif r.status_code != 503:
                errors.append((mid, r.status_code, r.text))

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in ts:
        t.start()
    try:
        wait_for(lambda: len(acked) >= 50, timeout=20, what="50 acknowledged events")
        assert server.stop() == 0
    finally:
        stop.set()
        for t in ts:
            t.join(timeout=30)
    assert not errors, errors[:5]
    stored = cli_events(server.data_dir, "--limit", "100000000")
    ids = [e["messageId"] for e in stored]
    missing = set(acked) - set(ids)
    assert not missing, f"{len(missing)} acknowledged events lost on SIGTERM: {sorted(missing)[:5]}"
    assert len(ids) == len(set(ids)), "an event stored twice"


def test_events_cli_offline(server):
    mids = []
    for name in ["a", "b", "a", "c"]:
        m = uid()
        mids.append(m)
        r = server.post_json("/v1/track", {"event": name, "userId": "u", "messageId": m},
                             write_key="ck")
        assert r.status_code == 200
    api = server.events()
    server.stop_ok()
    out = cli_events(server.data_dir)
    assert out == api, "CLI prints the same objects as the API, newest first"
    assert [e["messageId"] for e in out] == list(reversed(mids))
    for e in out:
        assert_segment_shape(e)
    only_a = cli_events(server.data_dir, "--event", "a")
    assert [e["messageId"] for e in only_a] == [mids[2], mids[0]]
    assert [e["messageId"] for e in cli_events(server.data_dir, "--limit", "1")] == [mids[3]]


def test_events_cli_offline_time_range(server):
    # `footfall events --from --to` selects by event time, [from, to), exactly as
    # GET /api/events?from=&to= does: over events in parts (flushed by a clean stop) and
    # events only in the WAL (after kill -9), sent out of time order.
    base = (now_utc() - dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    times = [base + dt.timedelta(hours=h, milliseconds=250) for h in range(6)]
    mids = [uid(f"t{h}") for h in range(6)]

    def send(hours):
        for h in hours:
            r = server.post_json("/v1/track", {"event": f"e{h % 2}", "userId": "u", "messageId": mids[h],
                                               "timestamp": fmt_iso(times[h])}, write_key="ck")
            assert r.status_code == 200, r.text

    send([4, 0, 2])
    server.restart()  # these three are in parts now
    send([5, 1, 3])
    t = [fmt_iso(x) for x in times]
    ranges = [  # (API and CLI bounds, the hours expected)
        ({"from": t[1], "to": t[4]}, [1, 2, 3]),  # from is inclusive, to exclusive
        ({"from": t[4]}, [4, 5]),
        ({"to": t[1]}, [0]),
        ({"from": fmt_iso(times[2] + dt.timedelta(milliseconds=1)), "to": t[3]}, []),
        ({"from": str(ms(times[2])), "to": str(ms(times[5]) + 1)}, [2, 3, 4, 5]),  # epoch milliseconds
        ({"from": t[0], "to": fmt_iso(times[5] + dt.timedelta(milliseconds=1))}, [0, 1, 2, 3, 4, 5]),
    ]
    api = [server.events(limit=100, **bounds) for bounds, _ in ranges]
    for (bounds, hours), got in zip(ranges, api):
        assert sorted(e["messageId"] for e in got) == sorted(mids[h] for h in hours), (bounds, got)
    server.kill9()  # the last three are only in the WAL
    for (bounds, hours), want in zip(ranges, api):
        args = [a for k, v in bounds.items() for a in (f"--{k}", v)]
        out = cli_events(server.data_dir, *args)
        assert out == want, f"events {' '.join(args)} differs from /api/events: " \
                            f"{[e['messageId'] for e in out]} != {[e['messageId'] for e in want]}"
    # with --event too
    out = cli_events(server.data_dir, "--from", t[1], "--to", t[5], "--event", "e1")
    assert [e["messageId"] for e in out] == [mids[3], mids[1]]

def test_quarantine_cli_offline(server):
    bodies = ['{"userId": "u"}', "garbage", '{"event": 7, "userId": "u"}']
    for b in bodies:
        r = server.post("/v1/track", data=b.encode(), headers={"Content-Type": "application/json"})
        assert r.status_code == 400
    api = server.quarantine()
    server.stop_ok()
    p = cli("quarantine", "--data", server.data_dir)
    out = ndjson(p.stdout)
    assert out == api
    assert [q["raw"] for q in out] == list(reversed(bodies))


def test_cli_on_empty_data_dir(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    assert cli("events", "--data", d).stdout.strip() == ""
    assert cli("quarantine", "--data", d).stdout.strip() == ""


def _second_instance_refused(args):
    """Run a second `footfall serve` and expect it to exit non-zero instead of serving."""
    from harness import BINARY
    p = subprocess.Popen([str(BINARY), "serve", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        rc = p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"second instance kept running: stdout={out!r} stderr={err[-500:]!r}")
    out, err = p.communicate()
    assert "listening on" not in out, f"second instance served: {out!r}"
    assert rc != 0, f"second instance exited {rc}"
    assert err.strip(), "second instance must say why it refused"


def test_port_in_use_is_an_error(server, tmp_path):
    # Beyond the written contract: a second server told to listen on a port already in use
    # must fail, not share the port (SO_REUSEPORT across processes would silently split the
    # traffic between two servers with different data directories).
    _second_instance_refused(["--listen", f"127.0.0.1:{server.port}", "--data",
                              str(tmp_path / "other")])
    assert server.get("/healthz").status_code == 200


def test_data_dir_in_use_is_an_error(server):
    # Beyond the written contract: two processes appending to one write-ahead log corrupt it,
    # so a second server on the same data directory must refuse to start.
    _second_instance_refused(["--listen", "127.0.0.1:0", "--data", str(server.data_dir)])
    assert server.get("/healthz").status_code == 200


def _event_loops(server):
    """(event-loop threads, listening sockets on the server's port) of a running server.

    Loop 0 is the main thread (named like the process); the others are named ff-loop. Each
    loop has its own SO_REUSEPORT listening socket, found as the process's socket inodes
    that /proc/net/tcp lists in state LISTEN (0A) on the port."""
    pid = server.proc.pid
    names = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                names[int(tid)] = f.read().strip()
        except FileNotFoundError:  # a short-lived helper thread that just ended
            pass
    assert names.get(pid) == "footfall", names
    loops = 1 + sum(1 for n in names.values() if n == "ff-loop")
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            continue
        if m:
            inodes.add(m.group(1))
    listening = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == server.port and cols[9] in inodes:
                listening += 1
    return loops, listening


def _wait_loops(server, want):
    """Wait until the server runs `want` event loops (each thread names itself once it runs)."""
    seen = []
    try:
        wait_for(lambda: seen.append(_event_loops(server)) or seen[-1] == (want, want), timeout=5)
    except Timeout:
        raise AssertionError(f"expected {want} event-loop threads and {want} listening sockets, "
                             f"found {seen[-1] if seen else None} (threads, sockets)") from None


def test_serve_runs_one_event_loop_per_core(footfall):
    # Issue 2: "It uses every core (for example one event loop per core on a shared port)".
    n = os.cpu_count()
    s = footfall.start()
    _wait_loops(s, n)
    wait_for(lambda: f"serving with {n} event loop(s)" in s.log_path.read_text(errors="replace"),
             timeout=5, what=f"the log line 'serving with {n} event loop(s)'")
    s.stop_ok()
    for want in (1, 3):  # an explicit --threads is honoured, more than the cores too
        s = footfall.start("--threads", str(want))
        _wait_loops(s, want)
        assert s.get("/healthz").status_code == 200
        s.stop_ok()


def _thp_mode():
    """The kernel's transparent huge page mode (always, madvise, never), or None."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            m = re.search(r"\[(\w+)\]", f.read())
    except OSError:
        return None
    return m.group(1) if m else None


def _huge_kb(footfall):
    """kB of the serving process's anonymous memory in transparent huge pages, once it
    answers (after its re-exec, if any: the same process, as exec keeps the pid)."""
    s = footfall.start()
    assert s.get("/healthz").status_code == 200
    with open(f"/proc/{s.proc.pid}/smaps_rollup") as f:
        kb = int(re.search(r"^AnonHugePages:\s+(\d+) kB", f.read(), re.M).group(1))
    with open(f"/proc/{s.proc.pid}/comm") as f:  # what ps, top and pkill go by
        assert f.read().strip() == "footfall"
    s.stop()
    return kb


def test_serve_backs_malloc_with_huge_pages(footfall, monkeypatch):
    # Beyond the written contract: a fresh 4 KiB page costs ~10 µs to fault in on the virtual
    # machines measured here, so footfall runs itself again with glibc's malloc told to use
    # transparent huge pages (GLIBC_TUNABLES glibc.malloc.hugetlb=1), keeping the caller's
    # own tunables.
    if _thp_mode() not in ("always", "madvise"):
        pytest.skip("transparent huge pages are off on this machine")
    if b"__asan_init" in BINARY.read_bytes():
        pytest.skip("AddressSanitizer's allocator replaces glibc's malloc (make asan)")
    monkeypatch.delenv("FOOTFALL_HUGE_PAGES", raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    assert _huge_kb(footfall) > 0
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=7")
    assert _huge_kb(footfall) > 0


def test_huge_pages_can_be_declined(footfall, monkeypatch):
    if _thp_mode() != "madvise":
        pytest.skip("only with transparent huge pages on request (madvise) does it show")
    monkeypatch.setenv("FOOTFALL_HUGE_PAGES", "0")
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    assert _huge_kb(footfall) == 0
    # and a caller's own choice of the tunable is left as it is
    monkeypatch.delenv("FOOTFALL_HUGE_PAGES")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0")
    assert _huge_kb(footfall) == 0


def test_valgrind_keeps_following_footfall(tmp_path):
    # The huge-page re-exec would carry footfall out of valgrind (which follows an exec only
    # when told to trace children) and run the rest uninstrumented: under valgrind there is
    # no re-exec, and valgrind sees the command to its end.
    if not shutil.which("valgrind"):
        pytest.skip("valgrind is not installed")
    if b"__asan_init" in BINARY.read_bytes():
        pytest.skip("an AddressSanitizer build does not run under valgrind")
    p = subprocess.run(["valgrind", "--trace-children=no", str(BINARY), "project", "list", "--data",
                        str(tmp_path / "none")], capture_output=True, text=True, timeout=120,
                       env={k: v for k, v in os.environ.items() if k != "FOOTFALL_HUGE_PAGES"})
    assert "no project catalog here" in p.stderr, p.stderr
    assert "ERROR SUMMARY" in p.stderr, p.stderr  # printed when the program it runs ends
