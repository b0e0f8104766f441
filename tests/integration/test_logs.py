"""Server-side capture: web-server access logs into page events, through POST /api/import-log,
`footfall import-log` (into a stopped server's data directory, or to a running one) and
`footfall tail-log` (following a growing, rotated file)."""

import json
import os
import signal
import subprocess
import time

from harness import BINARY, basic_auth, cli, ndjson, wait_for

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"


def line(n, path="/", status=200, ip="203.0.113.9", ua=CHROME, day="29/Nov/2026", ref="-"):
    return (f'{ip} - - [{day}:10:00:{n % 60:02d} +0000] "GET {path} HTTP/1.1" {status} {100 + n} '
            f'"{ref}" "{ua}"\n')


def page_events(server, **params):
    return [e for e in server.all_events() if e.get("format") == "log"]


def test_import_log_endpoint(server):
    body = line(1, "/pricing?plan=pro", ref="https://www.google.com/") + "garbage\n" + line(3, "/docs")
    r = server.post("/api/import-log?format=combined&line=41", data=body.encode())
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 2
    assert out["failed"] == [{"line": 42, "error": "expected the client address, then a space", "field": "host"}]
    evs = sorted(page_events(server), key=lambda e: e["name"])
    assert [e["name"] for e in evs] == ["/docs", "/pricing"]
    p = evs[1]
    assert p["type"] == "page" and p["properties"]["status"] == 200 and p["properties"]["search"] == "?plan=pro"
    assert p["context"]["page"]["referrer"] == "https://www.google.com/" and p["context"]["log"] == {"line": 41}
    assert "ip" not in p["context"], "the address is used for geo, then dropped"
    assert p["enrichment"]["browser"] == "Chrome" and p["anonymousId"].startswith("cl-")
    [q] = server.quarantine()
    assert q["index"] == 42 and q["raw"] == "garbage" and q["format"] == "log"
    # the key opens the project, as for any ingest; the format is required
    assert server.post("/api/import-log?format=combined", data=body.encode(), nokey=True).status_code == 401
    r = server.post("/api/import-log?format=apache", data=body.encode())
    assert r.status_code == 400 and r.json()["field"] == "format"


def write_log(path, lines):
    with open(path, "a") as f:
        f.write("".join(lines))


def test_import_log_into_a_data_directory(tmp_path, footfall):
    log = tmp_path / "access.log"
    write_log(log, [line(i, f"/p{i % 7}") for i in range(1, 301)] + ["not a log line\n"] + [line(302, "/last")])
    data = tmp_path / "data"
    p = cli("import-log", "--format", "combined", "--data", data, log)
    assert "302 lines from 1 file(s): 301 events stored, 0 duplicates, 1 quarantined" in p.stderr, p.stderr
    evs = ndjson(cli("events", "--data", data, "--limit", "1000").stdout)
    assert len(evs) == 301 and all(e["format"] == "log" and e["project"] == "default" for e in evs)
    assert {e["name"] for e in evs} == {f"/p{i}" for i in range(7)} | {"/last"}
    [q] = ndjson(cli("quarantine", "--data", data).stdout)
    assert q["index"] == 301 and q["raw"] == "not a log line"
    # importing the file again stores nothing twice
    p = cli("import-log", "--format", "combined", "--data", data, log)
    assert "0 events stored, 301 duplicates" in p.stderr, p.stderr
    # a server on the directory: the offline import refuses and says what to do instead
    server = footfall.start(data_dir=data, prepare=False)
    p = cli("import-log", "--format", "combined", "--data", data, log, check=False)
    assert p.returncode == 1 and "--url" in p.stderr, p.stderr
    # ... and the same file sent to it over HTTP is the same events
    key = json.loads(cli("project", "list", "--data", data, "--json").stdout)["projects"][0]["keys"][0]["key"]
    p = cli("import-log", "--format", "combined", "--url", server.base, "--key", key, log)
    assert "0 events stored, 301 duplicates, 1 quarantined" in p.stderr, p.stderr


def test_import_log_errors(tmp_path):
    log = tmp_path / "a.log"
    write_log(log, [line(1)])
    for args, msg in [((), "--format"), (("--format", "nginx"), "combined, common or json"),
                      (("--format", "combined", log), "either --data"),
                      (("--format", "combined", "--url", "http://127.0.0.1:1", log), "either --data"),
                      (("--format", "combined", "--data", tmp_path / "d"), "log file")]:
        p = cli("import-log", *args, check=False)
        assert p.returncode == 2 and msg in p.stderr, (args, p.stderr)
    p = cli("import-log", "--format", "combined", "--data", tmp_path / "d", tmp_path / "missing.log", check=False)
    assert p.returncode == 1 and "missing.log" in p.stderr


def test_tail_log_follows_appends_rotation_and_truncation(tmp_path, server):
    log = tmp_path / "access.log"
    write_log(log, [line(i, "/old") for i in range(5)])  # before the tail starts: not sent
    proc = subprocess.Popen([str(BINARY), "tail-log", "--format", "combined", "--url", server.base,
                             "--key", server.write_key, str(log)], stderr=subprocess.PIPE, text=True)
    try:
        def names():
            return sorted(e["name"] for e in page_events(server))
        time.sleep(0.5)  # let it reach the end of the file
        write_log(log, [line(10, "/a"), line(11, "/b")])
        wait_for(lambda: names() == ["/a", "/b"], timeout=10, what="appended lines to arrive")
        evs = {e["name"]: e for e in page_events(server)}
        assert evs["/a"]["context"]["log"]["line"] == 6, "lines are numbered as the file has them"
        # rotation: the file is renamed and a new one starts
        os.rename(log, tmp_path / "access.log.1")
        write_log(log, [line(20, "/rotated")])
        wait_for(lambda: "/rotated" in names(), timeout=10, what="the rotated file's line to arrive")
        # truncation (copytruncate): it starts over at line 1
        write_log(log, [line(21, "/more")])
        wait_for(lambda: "/more" in names(), timeout=10, what="a line after rotation")
        with open(log, "w"):
            pass
        time.sleep(0.5)
        write_log(log, [line(22, "/after-truncate")])
        wait_for(lambda: "/after-truncate" in names(), timeout=10, what="a line after truncation")
        assert [e for e in page_events(server) if e["name"] == "/after-truncate"][0]["context"]["log"]["line"] == 1
        assert "/old" not in names()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "following" in err


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tail_log_waits_for_the_server(tmp_path, footfall):
    """Lines written while the server is down are sent once it is back: none is dropped."""
    server = footfall.start("--listen", f"127.0.0.1:{free_port()}")
    log = tmp_path / "access.log"
    log.write_text("")
    proc = subprocess.Popen([str(BINARY), "tail-log", "--format", "combined", "--url", server.base,
                             "--key", server.write_key, str(log)], stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        server.stop_ok()
        write_log(log, [line(i, f"/down{i}") for i in range(3)])
        time.sleep(1.0)
        server.start()
        wait_for(lambda: len([e for e in page_events(server) if e["name"].startswith("/down")]) == 3,
                 timeout=20, what="the lines written while the server was down")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert "retrying" in err, err
