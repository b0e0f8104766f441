"""A 2xx only after a durable write: the server's system calls, traced with strace, show for
every response to an ingest request a durable write of the write-ahead log between reading
that request and writing its response.

Durable means: pwritev2 with RWF_DSYNC (or RWF_SYNC) on a WAL segment (the direct-I/O path,
src/store/wal_io.c), or fdatasync/fsync on it (the buffered path). No other test fails if the
sync is dropped: the data still reaches the page cache and survives kill -9, only not a power
cut.
"""

import json
import re

from harness import build_request, uid
from strace_trace import first_fd, parse_strace, traced_server

N = 20
TRACED = "pwritev2,pwritev,pwrite64,fdatasync,fsync,write,writev,sendto,sendmsg,read,readv,recvfrom,recvmsg"
READS = ("read", "readv", "recvfrom", "recvmsg")
WRITES = ("write", "writev", "sendto", "sendmsg")


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
    # `serve` runs under strace (strace_trace.py), the project set-up before it untraced
    with traced_server(footfall, tmp_path, monkeypatch, TRACED) as traced:
        server = traced.server
        client_port = _send_one_at_a_time(server, [uid("dur") for _ in range(N)])

    calls = traced.calls()
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
