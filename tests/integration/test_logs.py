"""Server-side capture: web-server access logs into page events, through POST /api/import-log,
`footfall import-log` (into a stopped server's data directory, or to a running one) and
`footfall tail-log` (following a growing, rotated file)."""

import json
import os
import signal
import subprocess
import time

from harness import BINARY, basic_auth, cli, cli_events, ndjson, wait_for

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


def two_logs_with_bad_lines(tmp_path):
    """Two files of 3 and 4 lines, each with a line that does not parse (the second in a
    directory whose name needs percent-encoding in a URL); what the quarantine is to say of
    them: raw -> (index, reason, field)."""
    a, b = tmp_path / "a.log", tmp_path / "we+ird dir&%20ü" / "b=1.log"
    b.parent.mkdir()
    write_log(a, [line(1, "/a1"), "garbage in a\n", line(3, "/a3")])
    write_log(b, [line(11, "/b1"), line(12, "/b2"), line(13, "/b3"), 'b.example - - [bad time] "GET / HTTP/1.1" 200 1\n'])
    want = {"garbage in a": (2, f"{a}:2: expected the user field (often -)", "user"),
            'b.example - - [bad time] "GET / HTTP/1.1" 200 1': (4, f"{b}:4: time is not dd/Mon/yyyy:hh:mm:ss +zzzz",
                                                                 "time")}
    return a, b, want


def check_named(items, want):
    got = {q["raw"]: (q["index"], q["reason"], q["field"]) for q in items}
    assert got == want, items


def test_import_log_quarantine_names_the_file_and_line(tmp_path, footfall):
    """Lines are numbered per file: with several files, each quarantined line says which file
    it came from (its reason starts "FILE:LINE: "), offline and through the server's API."""
    a, b, want = two_logs_with_bad_lines(tmp_path)
    data = tmp_path / "data"
    keys = json.loads(cli("project", "create", "default", "--data", data, "--json").stdout)
    p = cli("import-log", "--format", "combined", "--data", data, a, b)
    assert "7 lines from 2 file(s): 5 events stored, 0 duplicates, 2 quarantined" in p.stderr, p.stderr
    check_named(ndjson(cli("quarantine", "--data", data).stdout), want)
    assert {e["name"] for e in cli_events(data)} == {"/a1", "/a3", "/b1", "/b2", "/b3"}
    server = footfall.start(data_dir=data, prepare=False)
    server.read_key = keys["read_key"]
    check_named(server.quarantine(), want)
    # a file read from stdin is "stdin"
    server.stop_ok()
    p = subprocess.run([str(BINARY), "import-log", "--format", "common", "--data", str(data), "-"], input="oops\n",
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    q = ndjson(cli("quarantine", "--data", data, "--limit", "1").stdout)[0]
    assert q["raw"] == "oops" and q["reason"] == "stdin:1: expected the client address, then a space", q


def test_import_log_url_quarantine_names_the_file_and_line(tmp_path, server):
    """Sent to a running server (--url), the quarantine names file and line just the same: the
    command sends the file's name as file= and the server puts it before each reason."""
    a, b, want = two_logs_with_bad_lines(tmp_path)
    p = cli("import-log", "--format", "combined", "--url", server.base, "--key", server.write_key, a, b)
    assert "7 lines from 2 file(s): 5 events stored, 0 duplicates, 2 quarantined" in p.stderr, p.stderr
    check_named(server.quarantine(), want)
    # the answer lists the lines as before; only the quarantine's reason names the file
    r = server.post("/api/import-log?format=combined&line=7&file=x%2Fy.log", data=b"nope\n")
    assert r.status_code == 400 and r.json()["failed"] == [
        {"line": 7, "error": "expected the client address, then a space", "field": "host"}], r.text
    # stdin is "stdin"; a name too long for the request keeps its end
    p = subprocess.run([str(BINARY), "import-log", "--format", "common", "--url", server.base, "--key",
                        server.write_key, "-"], input="oops\n", capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    deep = tmp_path / ("d" * 200) / ("e" * 200) / ("f" * 200) / "deep.log"
    deep.parent.mkdir(parents=True)
    write_log(deep, ["deep-garbage\n"])
    cli("import-log", "--format", "common", "--url", server.base, "--key", server.write_key, deep)
    got = {q["raw"]: q["reason"] for q in server.quarantine()}
    assert got["oops"] == "stdin:1: expected the client address, then a space", got
    assert got["nope"] == "x/y.log:7: expected the client address, then a space", got
    long_reason = got["deep-garbage"]
    assert long_reason.startswith("...") and long_reason.endswith(f"/deep.log:1: expected the client address, "
                                                                  "then a space"), long_reason
    assert str(deep).endswith(long_reason.split(":1: ")[0][3:]) and len(long_reason) < len(str(deep)) + 50
    # file= is at most 1024 bytes (decoded)
    r = server.post("/api/import-log?format=combined&file=" + "n" * 2000, data=line(1).encode())
    assert r.status_code == 400 and r.json()["field"] == "file" and "file" in r.json()["error"], r.text
    r = server.post("/api/import-log?format=combined&file=" + "%41" * 1024, data=line(1).encode())
    assert r.status_code == 200, r.text
    # the command's own view of the quarantine, from the data directory
    server.stop_ok()
    items = ndjson(cli("quarantine", "--data", server.data_dir, "--limit", "100").stdout)
    check_named([q for q in items if q["raw"] in want], want)


def test_import_log_common_format(tmp_path):
    """--format common: host ident user [time] "request" status bytes, into page events (the
    time's offset applied, the user the userId, no referrer or user agent); a combined line is
    not taken for a common one."""
    log = tmp_path / "common.log"
    write_log(log, [
        '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1&y=2 HTTP/1.0" 200 2326\n',
        '198.51.100.20 - - [29/Nov/2026:23:59:59 +0130] "POST /api/cart HTTP/1.1" 302 -\n',
        '198.51.100.21 - - [29/Nov/2026:10:00:00 +0000] "-" 408 0\n',
        line(4, "/combined"),
    ])
    data = tmp_path / "data"
    p = cli("import-log", "--format", "common", "--data", data, log)
    assert "4 lines from 1 file(s): 3 events stored, 0 duplicates, 1 quarantined" in p.stderr, p.stderr
    evs = {e["context"]["log"]["line"]: e for e in cli_events(data)}
    assert sorted(evs) == [1, 2, 3]
    e = evs[1]
    assert (e["type"], e["name"], e["format"], e["userId"]) == ("page", "/apache_pb.gif", "log", "frank")
    assert e["timestamp"] == "2000-10-10T20:55:36.000Z"
    assert e["properties"] == {"path": "/apache_pb.gif", "url": "/apache_pb.gif?x=1&y=2", "search": "?x=1&y=2",
                               "method": "GET", "status": 200, "bytes": 2326, "protocol": "HTTP/1.0"}
    assert e["context"]["page"] == {"path": "/apache_pb.gif", "url": "/apache_pb.gif?x=1&y=2", "search": "?x=1&y=2"}
    assert "userAgent" not in e["context"] and "ip" not in e["context"]
    e = evs[2]
    assert e["timestamp"] == "2026-11-29T22:29:59.000Z" and e["name"] == "/api/cart"
    assert e["properties"] == {"path": "/api/cart", "url": "/api/cart", "method": "POST", "status": 302, "bytes": 0,
                               "protocol": "HTTP/1.1"}
    assert "userId" not in e
    assert evs[3]["properties"] == {"status": 408, "bytes": 0} and "name" not in evs[3]  # no request line
    # no user agent: the address alone makes the day's cookieless visitor, one per address
    ids = [evs[i].get("anonymousId", "") for i in (2, 3)]
    assert all(a.startswith("cl-") for a in ids) and len(set(ids)) == 2, ids
    again = tmp_path / "again.log"
    write_log(again, ['198.51.100.20 - - [29/Nov/2026:23:59:59 +0130] "GET /cart HTTP/1.1" 200 1\n'])
    cli("import-log", "--format", "common", "--data", data, again)
    [e2] = [e for e in cli_events(data) if e.get("name") == "/cart"]
    assert e2["anonymousId"] == evs[2]["anonymousId"]
    [q] = ndjson(cli("quarantine", "--data", data).stdout)
    assert q["index"] == 4 and "is it --format combined?" in q["reason"] and q["reason"].startswith(f"{log}:4: ")


def test_import_log_json_format(tmp_path, server):
    """--format json sent to a running server: nginx's escape=json names and Caddy's
    structured access log, each into the same page event fields; lines that are not JSON, or
    lack a time, are quarantined with their numbers."""
    log = tmp_path / "access.json"
    nginx = {"remote_addr": "198.51.100.4", "remote_user": "", "time_iso8601": "2026-11-29T10:00:05+01:00",
             "request": "GET /shop/item?id=7 HTTP/2.0", "status": "404", "body_bytes_sent": "512",
             "http_referer": "https://www.google.com/", "http_user_agent": CHROME}
    caddy = {"level": "info", "ts": 1764410405.25, "logger": "http.log.access", "msg": "handled request",
             "request": {"remote_ip": "203.0.113.7", "proto": "HTTP/2.0", "method": "POST", "host": "shop.example",
                         "uri": "/api/cart?add=9",
                         "headers": {"User-Agent": [CHROME], "Referer": ["https://t.co/abc"]}},
             "user_id": "u-77", "duration": 0.0012, "size": 42, "status": 201}
    split = {"remote_addr": "198.51.100.5", "time_local": "29/Nov/2026:11:00:00 +0000", "request_method": "HEAD",
             "request_uri": "/health", "status": 200}
    write_log(log, [json.dumps(nginx) + "\n", "{not json\n", json.dumps(caddy) + "\n",
                    json.dumps({"remote_addr": "198.51.100.6", "status": 200}) + "\n", json.dumps(split) + "\n"])
    p = cli("import-log", "--format", "json", "--url", server.base, "--key", server.write_key, log)
    assert "5 lines from 1 file(s): 3 events stored, 0 duplicates, 2 quarantined" in p.stderr, p.stderr
    evs = {e["context"]["log"]["line"]: e for e in page_events(server)}
    assert sorted(evs) == [1, 3, 5]
    e = evs[1]
    assert (e["name"], e["timestamp"]) == ("/shop/item", "2026-11-29T09:00:05.000Z")
    assert e["properties"] == {"path": "/shop/item", "url": "/shop/item?id=7", "search": "?id=7", "method": "GET",
                               "status": 404, "bytes": 512, "protocol": "HTTP/2.0",
                               "referrer": "https://www.google.com/"}
    assert e["context"]["userAgent"] == CHROME and e["context"]["page"]["referrer"] == "https://www.google.com/"
    assert e["enrichment"]["browser"] == "Chrome" and "userId" not in e and e["anonymousId"].startswith("cl-")
    e = evs[3]
    assert (e["name"], e["timestamp"], e["userId"]) == ("/api/cart", "2025-11-29T10:00:05.250Z", "u-77")
    assert e["properties"] == {"path": "/api/cart", "url": "/api/cart?add=9", "search": "?add=9", "method": "POST",
                               "status": 201, "bytes": 42, "protocol": "HTTP/2.0", "referrer": "https://t.co/abc"}
    assert e["context"]["userAgent"] == CHROME
    e = evs[5]
    assert (e["name"], e["timestamp"]) == ("/health", "2026-11-29T11:00:00.000Z")
    assert e["properties"] == {"path": "/health", "url": "/health", "method": "HEAD", "status": 200, "bytes": 0}
    got = {q["index"]: q["reason"] for q in server.quarantine()}
    assert got == {2: f"{log}:2: line is not valid JSON",
                   4: f"{log}:4: no time (time_iso8601, time_local, timestamp or ts)"}, got
