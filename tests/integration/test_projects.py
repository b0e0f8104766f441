"""Projects and keys: write keys for ingest, read keys for reads, projects kept apart, keys
rotated and settings changed with the CLI while the server runs, CORS origins, rate limits
and Do Not Track per project."""

import json
import re
import time

import pytest

from harness import basic_auth, cli, uid, wait_for

JSON = {"Content-Type": "application/json"}


def track(server, key, event="e", user="u", headers=None, **kw):
    mid = uid()
    h = dict(JSON, **(headers or {}))
    if key is not None:
        h["Authorization"] = basic_auth(key)
    r = server.post("/v1/track", data=json.dumps({"event": event, "userId": user, "messageId": mid}),
                    headers=h, nokey=key is None, **kw)
    return r, mid


def read(server, key, path="/api/events?limit=1000"):
    return server.get(path, headers={"Authorization": f"Bearer {key}"})


def events_of(server, key):
    r = read(server, key)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def create(server, pid, *extra):
    out = cli("project", "create", pid, "--data", server.data_dir, "--json", *extra).stdout
    return json.loads(out)


def accepted_soon(server, key, what):
    """The server re-reads the catalog within a second of a change: wait until `key` works."""
    return wait_for(lambda: track(server, key, event="probe")[0].status_code == 200, timeout=10,
                    what=what)


def test_first_start_creates_default_project_and_prints_its_keys(footfall):
    server = footfall.start(prepare=False)
    assert re.fullmatch(r"ffw_[0-9A-Za-z]{22}", server.write_key), server.write_key
    assert re.fullmatch(r"ffr_[0-9A-Za-z]{32}", server.read_key), server.read_key
    listed = json.loads(cli("project", "list", "--data", server.data_dir, "--json").stdout)
    [p] = listed["projects"]
    assert p["id"] == "default"
    keys = {k["kind"]: k["key"] for k in p["keys"]}
    assert keys["write"] == server.write_key
    # the secret read key is kept only as a digest: the list shows its first characters
    assert keys["read"].startswith(server.read_key[:10]) and server.read_key not in keys["read"]
    r, mid = track(server, server.write_key)
    assert r.status_code == 200, r.text
    [ev] = events_of(server, server.read_key)
    assert ev["messageId"] == mid and ev["project"] == "default"
    # a restart keeps the project and prints no new keys
    keys = (server.write_key, server.read_key)
    server.write_key = server.read_key = None
    server.restart()
    assert (server.write_key, server.read_key) == (None, None), "a restart printed keys again"
    server.write_key, server.read_key = keys
    assert events_of(server, server.read_key)[0]["messageId"] == mid
    assert len(json.loads(cli("project", "list", "--data", server.data_dir, "--json").stdout)["projects"]) == 1


def test_ingest_without_or_with_an_unknown_key_is_401_and_keeps_nothing(server):
    r, _ = track(server, None)
    assert r.status_code == 401, r.text
    assert "missing write key" in r.json()["error"] and r.json()["field"] == "writeKey"
    r, _ = track(server, "no-such-key")
    assert r.status_code == 401 and "unknown write key" in r.json()["error"], r.text
    r = server.get("/p.gif?e=x&uid=u", nokey=True)
    assert r.status_code == 401 and r.content.startswith(b"GIF89a")
    # a batch whose items carry different keys: the bad ones are listed, the rest stored
    r = server.post("/v1/batch", nokey=True, headers=JSON, data=json.dumps({"writeKey": "k", "batch": [
        {"type": "track", "event": "ok", "userId": "u"},
        {"type": "track", "event": "bad", "userId": "u", "writeKey": "stolen"}]}))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1 and r.json()["failed"][0]["index"] == 1
    assert "unknown write key" in r.json()["failed"][0]["error"]
    assert [e["event"] for e in server.all_events()] == ["ok"]
    assert server.quarantine() == [], "refused input must not be kept"


def test_reads_need_a_valid_read_key(server):
    for path in ["/api/events", "/api/quarantine", "/api/stats", "/api/persons/u/events"]:
        r = server.get(path, nokey=True)
        assert r.status_code == 401, (path, r.text)
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert "read key" in r.json()["error"]
        r = server.get(path, headers={"Authorization": "Bearer ffr_wrong"})
        assert r.status_code == 401 and "unknown read key" in r.json()["error"], (path, r.text)
        # a write key opens no reads
        r = server.get(path, headers={"Authorization": f"Bearer {server.write_key}"})
        assert r.status_code == 401, (path, r.text)
    r = server.request("DELETE", "/api/persons/u", nokey=True)
    assert r.status_code == 401
    # curl -u KEY: works as well as Bearer
    assert server.get("/api/events", headers={"Authorization": basic_auth(server.read_key)}).status_code == 200
    # the operator's endpoints stay open
    assert server.get("/healthz", nokey=True).status_code == 200
    assert server.get("/metrics", nokey=True).status_code == 200


def test_projects_are_kept_apart(server):
    shop = create(server, "shop", "--name", "The shop")
    accepted_soon(server, shop["write_key"], "the new project's write key to be accepted")
    r, mid_shop = track(server, shop["write_key"], event="bought", user="alice")
    assert r.status_code == 200
    r, mid_default = track(server, server.write_key, event="viewed", user="alice")
    assert r.status_code == 200
    # invalid input is quarantined under its project
    r = server.post("/v1/track", data=b'{"userId": "alice"}', headers=dict(JSON, Authorization=basic_auth(shop["write_key"])))
    assert r.status_code == 400
    shop_events = events_of(server, shop["read_key"])
    assert {e["messageId"] for e in shop_events if e["event"] == "bought"} == {mid_shop}
    assert all(e["project"] == "shop" for e in shop_events)
    assert mid_default not in {e["messageId"] for e in shop_events}
    assert mid_shop not in {e["messageId"] for e in events_of(server, server.read_key)}
    q_shop = read(server, shop["read_key"], "/api/quarantine").json()["items"]
    assert len(q_shop) == 1 and read(server, server.read_key, "/api/quarantine").json()["items"] == []
    # a person's export and erasure stay inside the key's project
    exp = read(server, shop["read_key"], "/api/persons/alice/events")
    assert [json.loads(l)["event"] for l in exp.text.splitlines() if json.loads(l)["event"] != "probe"] == ["bought"]
    r = server.request("DELETE", "/api/persons/alice", headers={"Authorization": f"Bearer {shop['read_key']}"})
    assert r.status_code == 200 and r.json()["erased"] >= 1
    assert [e for e in events_of(server, shop["read_key"]) if e["userId"] == "alice"] == []
    assert mid_default in {e["messageId"] for e in events_of(server, server.read_key)}
    # the offline CLI can be told one project
    offline = [json.loads(l) for l in cli("events", "--data", server.data_dir, "--project", "default").stdout.splitlines() if l]
    assert offline and all(e["project"] == "default" for e in offline)


def test_rotated_write_key_stops_working_and_grace_keeps_the_old_one_a_while(server):
    old = server.write_key
    out = json.loads(cli("project", "rotate-key", "default", "--write", "--grace", "3600", "--data",
                         server.data_dir, "--json").stdout)
    new = out["write_key"]
    accepted_soon(server, new, "the rotated-in key to be accepted")
    assert track(server, old)[0].status_code == 200, "the grace period keeps the old key working"
    cli("project", "rotate-key", "default", "--write", "--data", server.data_dir)
    wait_for(lambda: track(server, new)[0].status_code == 401, timeout=10, what="the rotated-away key to be refused")
    assert track(server, old)[0].status_code == 401


def test_rotated_read_key(server):
    old = server.read_key
    new = json.loads(cli("project", "rotate-key", "default", "--read", "--data", server.data_dir, "--json").stdout)["read_key"]
    wait_for(lambda: read(server, new).status_code == 200, timeout=10, what="the new read key to work")
    assert read(server, old).status_code == 401
    extra = json.loads(cli("project", "add-key", "default", "--read", "--data", server.data_dir, "--json").stdout)["read_key"]
    wait_for(lambda: read(server, extra).status_code == 200, timeout=10, what="an added read key to work")
    assert read(server, new).status_code == 200, "adding a read key keeps the others"


def test_single_site_setting_takes_keyless_events(server):
    assert track(server, None)[0].status_code == 401
    cli("project", "set", "default", "accept-keyless", "on", "--data", server.data_dir)
    body = wait_for(lambda: (lambda r: r.json() if r.status_code == 200 else None)(track(server, None, event="keyless")[0]),
                    timeout=10, what="keyless ingest to be accepted")
    assert body == {"success": True}
    assert [e["project"] for e in server.all_events() if e["event"] == "keyless"][:1] == ["default"]
    # a key that opens nothing is still refused
    assert track(server, "no-such-key")[0].status_code == 401


def test_cors_origins_per_project(server):
    good, bad = "https://shop.example", "https://evil.example"
    r, _ = track(server, server.write_key, headers={"Origin": bad})
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == bad  # any origin by default
    cli("project", "set", "default", "cors-origins", f"{good} http://localhost:3000", "--data", server.data_dir)
    wait_for(lambda: track(server, server.write_key, headers={"Origin": bad})[0].status_code == 403, timeout=10,
             what="the origin list to apply")
    r, mid = track(server, server.write_key, headers={"Origin": bad})
    assert r.status_code == 403 and "origin" in r.json()["error"] and r.json()["field"] == "Origin"
    assert "Access-Control-Allow-Origin" not in r.headers
    r2, mid2 = track(server, server.write_key, headers={"Origin": good})
    assert r2.status_code == 200 and r2.headers["Access-Control-Allow-Origin"] == good
    mids = {e["messageId"] for e in server.all_events()}
    assert mid2 in mids and mid not in mids


def test_rate_limit_per_key_answers_429_with_retry_after(server):
    cli("project", "set", "default", "key-rate", "5", "--data", server.data_dir)
    statuses, stored_mids, limited = [], set(), None
    deadline = time.monotonic() + 15
    while limited is None and time.monotonic() < deadline:
        r, mid = track(server, server.write_key)
        statuses.append(r.status_code)
        if r.status_code == 200:
            stored_mids.add(mid)
        elif r.status_code == 429:
            limited = (r, mid)
    assert limited is not None, f"no 429 in {len(statuses)} requests"
    r, mid = limited
    assert int(r.headers["Retry-After"]) >= 1
    assert "5 events per second" in r.json()["error"]
    got = {e["messageId"] for e in server.all_events()}
    assert mid not in got and stored_mids <= got
    cli("project", "set", "default", "key-rate", "0", "--data", server.data_dir)
    wait_for(lambda: track(server, server.write_key)[0].status_code == 200, timeout=10, what="the limit to lift")


def test_rate_limit_per_ip(server):
    cli("project", "set", "default", "ip-rate", "3", "--data", server.data_dir)

    def limited():
        r = server.post("/v1/batch", headers=JSON, data=json.dumps({"batch": [
            {"type": "track", "event": "b", "userId": "u"} for _ in range(10)]}))
        return (r.json(), r.headers) if r.status_code == 429 else None  # (a Response is falsy on 4xx)
    body, headers = wait_for(limited, timeout=10, what="a 429 for this address")
    assert "client address" in body["error"] and int(headers["Retry-After"]) >= 1


@pytest.mark.parametrize("header", ["DNT", "Sec-GPC"])
def test_do_not_track_when_the_project_honours_it(server, header):
    r, kept = track(server, server.write_key, headers={header: "1"})
    assert r.status_code == 200
    assert kept in {e["messageId"] for e in server.all_events()}, "off by default: the event is kept"
    cli("project", "set", "default", "dnt", "on", "--data", server.data_dir)

    def dropped():
        r, mid = track(server, server.write_key, headers={header: "1"})
        return mid if r.status_code == 200 and mid not in {e["messageId"] for e in server.all_events()} else None
    wait_for(dropped, timeout=10, what="DNT to be honoured")
    r, mid = track(server, server.write_key, headers={header: "0"})
    assert mid in {e["messageId"] for e in server.all_events()}


def test_cli_says_what_is_wrong(server):
    d = server.data_dir
    for args, msg in [
        (("create", "Bad Id"), "invalid project id"),
        (("create", "default"), "exists already"),
        (("set", "default", "timezone", "Mars/Olympus"), "not a time zone"),
        (("set", "default", "colour", "red"), "unknown setting"),
        (("set", "default", "dnt", "maybe"), "on or off"),
        (("set", "default", "cors-origins", "shop.example"), "origins"),
        (("set", "nope", "dnt", "on"), "no project 'nope'"),
        (("rotate-key", "default"), "usage"),
        (("add-key", "default", "--read", "chosen"), "cannot be chosen"),
        (("add-key", "default", "--write", "bad key!"), "invalid write key"),
    ]:
        p = cli("project", *args, "--data", d, check=False)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert msg in p.stderr, (args, p.stderr)
    cli("project", "set", "default", "timezone", "Europe/Berlin", "--data", d)
    text = cli("project", "list", "--data", d).stdout
    assert "Europe/Berlin" in text and server.write_key in text


def test_personal_data_is_masked_unless_the_project_keeps_it(server):
    page = {"url": "https://shop.example/thanks?email=ann%40example.com&ref=x",
            "referrer": "https://mail.example/?to=ann@example.com"}

    def send(event):
        mid = uid()
        r = server.post_json("/v1/track", {"event": event, "userId": "u", "messageId": mid, "context": {"page": page},
                                           "properties": {"email": "ann@example.com", "phone": "+44 20 7946 0958",
                                                          "card": "4111 1111 1111 1111", "order": "1234567890123",
                                                          "note": "call (555) 123-4567"}})
        assert r.status_code == 200, r.text
        return server.event_by_mid(mid)

    ev = send("masked")
    assert ev["properties"] == {"email": "[email]", "phone": "[phone]", "card": "[card]", "order": "1234567890123",
                                "note": "call [phone]"}
    assert ev["context"]["page"]["url"] == "https://shop.example/thanks?email=[email]&ref=x"
    assert ev["context"]["page"]["referrer"] == "https://mail.example/?to=[email]"
    assert ev["userId"] == "u"
    # the derived page columns come from the masked context (read back from parts)
    exported = cli("export", "--data", server.data_dir, "--format", "csv", check=True).stdout
    assert "ann@example.com" not in exported and "ann%40example.com" not in exported

    cli("project", "set", "default", "pii-keep", "properties.email context.page", "--data", server.data_dir)
    ev = wait_for(lambda: (lambda e: e if e["properties"]["email"] != "[email]" else None)(send("kept")),
                  timeout=10, what="pii-keep to apply")
    assert ev["properties"]["email"] == "ann@example.com" and ev["properties"]["phone"] == "[phone]"
    assert ev["context"]["page"] == page
    cli("project", "set", "default", "scrub-pii", "off", "--data", server.data_dir)
    ev = wait_for(lambda: (lambda e: e if e["properties"]["phone"] != "[phone]" else None)(send("off")),
                  timeout=10, what="scrub-pii off to apply")
    assert ev["properties"]["card"] == "4111 1111 1111 1111"


def test_masking_in_a_batch_that_repeats_its_context(server):
    """Events of one batch with the same context take the last one's finding (nothing to
    mask); a different context of the same length, or the same context with an address in
    it, is masked as if alone."""
    clean = {"page": {"url": "https://x.example/?q=aaaaaaaaaa"}}
    dirty = {"page": {"url": "https://x.example/?q=ann@ex.com"}}
    contexts = [clean, clean, dirty, dirty, clean]
    mids = [uid() for _ in contexts]
    items = [{"type": "track", "event": "e", "userId": "u", "messageId": m, "context": c}
             for m, c in zip(mids, contexts)]
    r = server.post_json("/v1/batch", {"batch": items})
    assert r.status_code == 200, r.text
    urls = [server.event_by_mid(m)["context"]["page"]["url"] for m in mids]
    assert urls == ["https://x.example/?q=aaaaaaaaaa"] * 2 + ["https://x.example/?q=[email]"] * 2 + \
        ["https://x.example/?q=aaaaaaaaaa"]


def test_cookieless_visitor_ids(server):
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"

    def pixel(ua, key=None):
        mid = uid()
        r = server.get(f"/p.gif?e=open&mid={mid}&k={key or server.write_key}", headers={"User-Agent": ua}, nokey=True)
        return r.status_code, mid

    def visitor(mid, read_key=None):
        evs = events_of(server, read_key or server.read_key)
        return [e for e in evs if e["messageId"] == mid][0].get("anonymousId")

    s1, m1 = pixel(chrome)
    s2, m2 = pixel(chrome)
    s3, m3 = pixel(firefox)
    assert (s1, s2, s3) == (200, 200, 200)
    v1, v2, v3 = visitor(m1), visitor(m2), visitor(m3)
    assert re.fullmatch(r"cl-[0-9a-f]{16}", v1), v1
    assert v1 == v2, "the same browser on the same day is one visitor"
    assert v3 != v1, "another user agent is another visitor"
    # a browser's POST (it sends Origin) without ids gets one; a server's (no Origin) does not
    r = server.post_json("/v1/track", {"event": "e", "messageId": (m4 := uid())},
                         headers={"Origin": "https://shop.example", "User-Agent": chrome})
    assert r.status_code == 200, r.text
    assert visitor(m4) == v1
    r = server.post_json("/v1/track", {"event": "e"}, headers={"User-Agent": chrome})
    assert r.status_code == 400 and r.json()["field"] == "userId"
    # ids the event has are kept
    r = server.post_json("/v1/track", {"event": "e", "anonymousId": "cookie-1", "messageId": (m5 := uid())},
                         headers={"Origin": "https://shop.example", "User-Agent": chrome})
    assert visitor(m5) == "cookie-1"
    # another project: another visitor id for the same person
    shop = create(server, "shop")
    accepted_soon(server, shop["write_key"], "the new project's key")
    s, m6 = pixel(chrome, shop["write_key"])
    v6 = visitor(m6, shop["read_key"])
    assert v6.startswith("cl-") and v6 != v1
    # only today's salt (and yesterday's) is kept; older ones go
    import datetime as dt
    import sqlite3
    today = (dt.datetime.now(dt.timezone.utc).date() - dt.date(1970, 1, 1)).days
    with sqlite3.connect(server.data_dir / "projects.db") as db:
        days = [d for (d,) in db.execute("SELECT day FROM visitor_salt")]
        assert days and all(today - 1 <= d <= today for d in days), days
        db.execute("INSERT INTO visitor_salt(day, salt) VALUES (?, ?)", (today - 5, b"\0" * 32))
    server.restart()
    with sqlite3.connect(server.data_dir / "projects.db") as db:
        assert [d for (d,) in db.execute("SELECT day FROM visitor_salt WHERE day < ?", (today - 1,))] == []
    # the salt survives a restart: the same visitor today
    s, m7 = pixel(chrome)
    assert visitor(m7) == v1
    # a project can turn it off: then a browser's POST needs ids of its own, and a pixel (whose
    # ids are optional) is stored without one
    cli("project", "set", "default", "cookieless", "off", "--data", server.data_dir)
    wait_for(lambda: visitor(pixel(chrome)[1]) is None, timeout=10, what="cookieless off to apply")
    r = server.post_json("/v1/track", {"event": "e"}, headers={"Origin": "https://shop.example", "User-Agent": chrome})
    assert r.status_code == 400 and r.json()["field"] == "userId"
