"""Command line: --help, --version, SIGTERM/SIGINT, offline `events` and `quarantine`."""

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
from harness import (BINARY, RawConn, basic_auth, build_request, cli, cli_events, ndjson, uid,
                     wait_for)


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
