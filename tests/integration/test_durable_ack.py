"""A 2xx only after a durable write: the server's system calls, traced with strace, show for
every response to an ingest request a durable write of the write-ahead log between reading
that request and writing its response.

Durable means: pwritev2 with RWF_DSYNC (or RWF_SYNC) on a WAL segment (the direct-I/O path,
src/store/wal_io.c), or fdatasync/fsync on it (the buffered path). No other test fails if the
sync is dropped: the data still reaches the page cache and survives kill -9, only not a power
cut.
"""

import json
import os
import re
import shutil
import signal
import stat

import harness
from harness import build_request, uid, wait_for

N = 20
TRACED = "pwritev2,pwritev,pwrite64,fdatasync,fsync,write,writev,sendto,sendmsg,read,readv,recvfrom,recvmsg"

# strace -f -ttt -yy lines: "PID SECONDS.MICROS REST"
LINE_RE = re.compile(r"^(\d+)\s+\d+\.\d+\s+(.*)$")
CALL_RE = re.compile(r"^([a-z_0-9]+)\((.*)$", re.S)
RESUMED_RE = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>(.*)$", re.S)
RET_RE = re.compile(r"\)\s+=\s+(-?\d+|\?)(?:\s+[^\"]*)?$")
UNFINISHED = " <unfinished ...>"
READS = ("read", "readv", "recvfrom", "recvmsg")
WRITES = ("write", "writev", "sendto", "sendmsg")


def parse_strace(text):
    """System calls of an `strace -f -ttt -yy` log, in the order strace saw them: dicts with
    pid, name, args (the text between the parentheses and the result), ret (int or None),
    entry and exit (line numbers of the call's start and its end). A call another thread's
    line interrupted is printed as "<unfinished ...>" and then "<... NAME resumed>": the two
    halves are joined per thread."""
    calls, open_calls = [], {}
    for n, line in enumerate(text.splitlines()):
        m = LINE_RE.match(line)
        if not m:
            continue
        pid, rest = int(m.group(1)), m.group(2)
        if rest.startswith(("---", "+++")):  # signals, exits
            continue
        r = RESUMED_RE.match(rest)
        if r:
            call = open_calls.pop(pid, None)
            assert call is not None and call["name"] == r.group(1), \
                f"trace line {n + 1}: a resumed {r.group(1)} that thread {pid} did not start: {line!r}"
            call["args"] += r.group(2)
            call["exit"] = n
        else:
            c = CALL_RE.match(rest)
            if not c:
                continue
            call = {"pid": pid, "name": c.group(1), "args": c.group(2), "entry": n, "exit": n}
            if rest.endswith(UNFINISHED):
                assert pid not in open_calls, f"trace line {n + 1}: thread {pid} starts a call inside another"
                call["args"] = call["args"][:-len(UNFINISHED)]
                open_calls[pid] = call
                calls.append(call)
                continue
            calls.append(call)
        ret = RET_RE.search(call["args"])
        call["ret"] = None if not ret or ret.group(1) == "?" else int(ret.group(1))
    return calls


def first_fd(call):
    """The path or socket strace -yy printed for the call's first argument ("8</x/y.wal>")."""
    m = re.match(r"\d+<(.*?)>(?:,|\)| )", call["args"])
    return m.group(1) if m else ""


def is_durable_wal_write(call, wal_dir):
    if not first_fd(call).startswith(wal_dir + "/") or not first_fd(call).endswith(".wal"):
        return False
    if call["name"] in ("fdatasync", "fsync"):
        return call["ret"] == 0
    if call["name"] == "pwritev2":
        flags = call["args"].rsplit(",", 1)[-1]
        return re.search(r"\bRWF_D?SYNC\b", flags) is not None and (call["ret"] or 0) > 0
    return False


def test_every_ack_follows_a_durable_wal_write(footfall, tmp_path, monkeypatch):
    strace = shutil.which("strace")
    assert strace, "strace is not installed: scripts/setup test installs it (Debian package strace)"
    trace = tmp_path / "strace.log"
    # Run `serve` under strace (the project set-up before it runs untraced). strace passes
    # stdout through, so the harness sees "listening on"; the server is strace's child.
    wrapper = tmp_path / "footfall-strace"
    wrapper.write_text("#!/bin/sh\n"
                       f'[ "$1" = serve ] || exec "{harness.BINARY}" "$@"\n'
                       f'exec "{strace}" -f -ttt -yy -s 48 -o "{trace}" -e trace={TRACED} '
                       f'"{harness.BINARY}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(harness, "BINARY", wrapper)
    server = footfall.start()
    pid = wait_for(lambda: _traced_child(server.proc.pid), timeout=5, what="the traced server process")
    try:
        client_port = _send_one_at_a_time(server, [uid("dur") for _ in range(N)])
    finally:
        # strace does not pass SIGTERM on while it runs a command: stop the server itself,
        # and strace ends with the server's exit code
        os.kill(pid, signal.SIGTERM)
        server.stop_ok()

    calls = parse_strace(trace.read_text(errors="replace"))
    wal_dir = str(server.data_dir.resolve() / "wal")
    sock_re = re.compile(r"^TCP:\[[^\]]*->127\.0\.0\.1:%d\]$" % client_port)
    # Requests and responses alternate on the connection: each run of reads with data is a
    # request, the run of writes after it its response.
    exchanges = []
    for c in calls:
        if not sock_re.match(first_fd(c)) or not c["ret"] or c["ret"] < 0:
            continue  # not the client's connection; EAGAIN; the end of the connection
        if c["name"] in READS:
            if not exchanges or exchanges[-1]["write"] is not None:
                exchanges.append({"read": c, "write": None})
            exchanges[-1]["read"] = c  # the last read of the request
        elif c["name"] in WRITES and exchanges and exchanges[-1]["write"] is None:
            assert '"HTTP/1.1 200 ' in c["args"], f"not a 200 response: {c['args'][:160]!r}"
            exchanges[-1]["write"] = c
    assert len(exchanges) == N and all(e["write"] for e in exchanges), \
        f"expected {N} requests and responses on the client's connection in the trace, found " \
        f"{[(e['read']['entry'], e['write'] and e['write']['entry']) for e in exchanges]}"

    durable = [c for c in calls if is_durable_wal_write(c, wal_dir)]
    wal_calls = sorted({c["name"] for c in calls if first_fd(c).startswith(wal_dir + "/")})
    for i, e in enumerate(exchanges):
        after_read, before_write = e["read"]["exit"], e["write"]["entry"]
        ok = [d for d in durable if after_read < d["entry"] and d["exit"] < before_write]
        assert ok, (f"response {i + 1} of {N} (trace line {before_write + 1}) was written with no durable "
                    f"write of the WAL (pwritev2 with RWF_DSYNC, or fdatasync) since its request was "
                    f"read (line {after_read + 1}); system calls on the WAL in the trace: {wal_calls}")


def _traced_child(tracer):
    with open(f"/proc/{tracer}/task/{tracer}/children") as f:
        kids = f.read().split()
    assert len(kids) <= 1, kids
    return int(kids[0]) if kids else None


def _send_one_at_a_time(server, mids):
    """Send each event in its own request over one keep-alive connection, waiting for each
    answer before the next request; returns the client's port."""
    with server.raw() as c:
        port = c.sock.getsockname()[1]
        for mid in mids:
            c.send(build_request("POST", "/v1/track",
                                 json.dumps({"event": "Durable", "userId": "u", "messageId": mid}),
                                 {"Content-Type": "application/json",
                                  "Authorization": server.auth_header("/v1/track")}))
            status, _, body = c.read_response()
            assert status == 200, body
    stored = {e["messageId"] for e in server.events(limit=1000)}
    assert stored >= set(mids), "every acknowledged event is stored"
    return port


def test_strace_parser_joins_unfinished_calls():
    # What strace -f prints when threads interleave: the halves of a call are joined per
    # thread, and the order of entries and exits is kept.
    log = "\n".join([
        '7 1.000001 read(9<TCP:[127.0.0.1:80->127.0.0.1:5000]>,  <unfinished ...>',
        '8 1.000002 pwritev2(5</d/wal/1.wal>, [{iov_base="FFWAL", iov_len=4096}], 1, 0, RWF_DSYNC <unfinished ...>',
        '7 1.000003 <... read resumed>"POST / HTTP/1.1\\r\\n"..., 65536) = 144',
        '8 1.000004 <... pwritev2 resumed>) = 4096',
        '8 1.000005 fdatasync(5</d/wal/1.wal>) = -1 EIO (Input/output error)',
        '7 1.000006 --- SIGTERM {si_signo=SIGTERM} ---',
        '7 1.000007 write(9<TCP:[127.0.0.1:80->127.0.0.1:5000]>, "HTTP/1.1 200 OK"..., 119) = 119',
        '8 1.000008 +++ exited with 0 +++',
    ])
    read, pw, sync, write = parse_strace(log)
    assert (read["name"], read["entry"], read["exit"], read["ret"]) == ("read", 0, 2, 144)
    assert first_fd(read) == "TCP:[127.0.0.1:80->127.0.0.1:5000]"
    assert (pw["name"], pw["entry"], pw["exit"], pw["ret"]) == ("pwritev2", 1, 3, 4096)
    assert is_durable_wal_write(pw, "/d/wal")
    assert not is_durable_wal_write(pw, "/other/wal")
    assert sync["ret"] == -1 and not is_durable_wal_write(sync, "/d/wal")
    assert (write["entry"], write["ret"]) == (6, 119)
    no_flag = parse_strace('8 1.0 pwritev2(5</d/wal/1.wal>, [{iov_base="x", iov_len=4096}], 1, 0, 0) = 4096')
    assert not is_durable_wal_write(no_flag[0], "/d/wal")
