"""Server-side sessions (issue 4): each event's sessionId, and GET /api/sessions summing a
session's span, pages, bounce and source from its events. A session ends after the project's
inactivity timeout, at midnight in the project's time zone, and on a new campaign; ids stay
the same through a kill -9 and a restart; bots are left out unless asked for."""

import json

from harness import cli, uid, wait_for

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
DAY = "2026-11-20"


def at(hhmm, day=DAY):
    return f"{day}T{hhmm}:00Z"


def page(server, anon, when, path, query="", referrer=None, **extra):
    mid = uid()
    props = {"url": f"https://shop.test{path}{query}", "path": path}
    if referrer:
        props["referrer"] = referrer
    body = {"anonymousId": anon, "messageId": mid, "timestamp": when, "properties": props, **extra}
    r = server.post_json("/v1/page", body)
    assert r.status_code == 200, r.text
    return mid


def track(server, anon, when, event="Clicked", **extra):
    mid = uid()
    r = server.post_json("/v1/track", {"anonymousId": anon, "event": event, "messageId": mid, "timestamp": when,
                                       **extra})
    assert r.status_code == 200, r.text
    return mid


def sid(server, mid):
    return server.event_by_mid(mid).get("sessionId")


def sessions(server, **params):
    r = server.get("/api/sessions", params=params)
    assert r.status_code == 200, r.text
    return r.json()["sessions"]


def test_sessions_split_and_summaries(footfall):
    server = footfall.start()
    a = [page(server, "v1", at("10:00"), "/home", referrer="https://www.google.com/search?q=shoes"),
         page(server, "v1", at("10:05"), "/pricing"),
         track(server, "v1", at("10:06"), "Signed Up")]
    b = page(server, "v1", at("10:50"), "/blog")                       # 44 minutes later
    c = [page(server, "v1", at("10:55"), "/", "?utm_source=news&utm_medium=email&utm_campaign=winter"),
         track(server, "v1", at("10:57"))]                             # a new campaign, 5 minutes later
    other = page(server, "v2", at("10:01"), "/home")
    ids = [sid(server, m) for m in a]
    assert len(ids[0]) == 16 and ids == [ids[0]] * 3, ids
    assert sid(server, b) not in ids
    assert sid(server, c[0]) == sid(server, c[1]) and sid(server, c[0]) not in (ids[0], sid(server, b))
    assert sid(server, other) not in (ids[0], sid(server, b), sid(server, c[0]))

    got = {s["id"]: s for s in sessions(server, **{"from": at("00:00"), "to": at("23:59")})}
    assert len(got) == 4, got
    first = got[ids[0]]
    assert (first["start"], first["end"]) == ("2026-11-20T10:00:00.000Z", "2026-11-20T10:06:00.000Z")
    assert first["durationSeconds"] == 360
    assert (first["events"], first["pageviews"], first["bounce"]) == (3, 2, False)
    assert (first["entryPage"], first["exitPage"]) == ("/home", "/pricing")
    assert (first["source"], first["channel"]) == ("google.com", "search")
    assert first["deviceId"] == "v1" and first["personId"] == "v1"
    blog = got[sid(server, b)]
    assert (blog["pageviews"], blog["bounce"], blog["entryPage"], blog["exitPage"]) == (1, True, "/blog", "/blog")
    camp = got[sid(server, c[0])]
    assert (camp["utmSource"], camp["utmMedium"], camp["utmCampaign"], camp["channel"]) == \
        ("news", "email", "winter", "email")
    assert camp["bounce"] is False, "a pageview and a track: not a bounce"
    # newest first, limit, and the range is by start
    listed = sessions(server, **{"from": at("00:00"), "to": at("23:59")})
    assert [s["start"] for s in listed] == sorted((s["start"] for s in listed), reverse=True)
    assert len(sessions(server, **{"from": at("00:00"), "to": at("23:59"), "limit": 2})) == 2
    assert {s["id"] for s in sessions(server, **{"from": at("10:30"), "to": at("23:59")})} == \
        {sid(server, b), sid(server, c[0])}
    # the default range is the last day: these are older
    assert sessions(server) == []


def test_late_events_join_their_session(footfall):
    server = footfall.start()
    s = [page(server, "late", at("12:00"), "/a"), page(server, "late", at("12:20"), "/c")]
    # an offline batch arrives afterwards: one inside the span, one just before it
    late = [track(server, "late", at("12:10")), page(server, "late", at("11:45"), "/start")]
    assert {sid(server, m) for m in s + late} == {sid(server, s[0])}
    one = sessions(server, **{"from": at("00:00"), "to": at("23:59")})
    assert len(one) == 1 and one[0]["start"].startswith(f"{DAY}T11:45") and one[0]["entryPage"] == "/start"
    assert one[0]["exitPage"] == "/c" and one[0]["events"] == 4


def test_project_timezone_and_timeout(footfall):
    server = footfall.start(prepare={"write_keys": ["k"], "timezone": "Asia/Tokyo", "session_timeout": "5"})
    # 14:50Z and 15:10Z are 23:50 and 00:10 in Tokyo: midnight between them
    x = [page(server, "tz", at("14:50"), "/"), page(server, "tz", at("15:10"), "/")]
    assert sid(server, x[0]) != sid(server, x[1])
    # UTC midnight is mid-morning in Tokyo: no split there (4 minutes apart, under the timeout)
    y = [page(server, "tz2", at("23:58"), "/"), page(server, "tz2", "2026-11-21T00:02:00Z", "/")]
    assert sid(server, y[0]) == sid(server, y[1])
    # the project's 5-minute timeout
    z = [page(server, "to", at("09:00"), "/"), page(server, "to", at("09:04"), "/"), page(server, "to", at("09:10"), "/")]
    assert sid(server, z[0]) == sid(server, z[1]) != sid(server, z[2])
    # changed while the server runs: applies within a couple of seconds
    cli("project", "set", "default", "session-timeout", "60", "--data", server.data_dir)
    listed = json.loads(cli("project", "list", "--json", "--data", server.data_dir).stdout)["projects"]
    assert listed[0]["session_timeout"] == 60

    def joined():
        anon = uid("w")
        m = [page(server, anon, at("08:00"), "/"), page(server, anon, at("08:40"), "/")]
        return sid(server, m[0]) == sid(server, m[1])
    wait_for(joined, timeout=10, what="the new timeout")
    bad = cli("project", "set", "default", "session-timeout", "0", "--data", server.data_dir, check=False)
    assert bad.returncode != 0 and "1 to 1440" in bad.stderr


def test_session_ids_survive_kill9_and_restart(footfall):
    server = footfall.start()
    m = [page(server, "dur", at("10:00"), "/"), page(server, "dur", at("10:10"), "/x")]
    before = sid(server, m[0])
    server.kill9()
    server.start()
    assert [sid(server, x) for x in m] == [before, before], "replayed from the WAL with the same ids"
    # the open session goes on after the crash
    assert sid(server, page(server, "dur", at("10:30"), "/y")) == before
    server.restart()  # a clean stop flushes: the ids come from the parts now, the state from DATA/SESSIONS
    assert (server.data_dir / "SESSIONS").exists()
    assert sid(server, m[1]) == before
    assert sid(server, page(server, "dur", at("10:50"), "/z")) == before
    assert sid(server, page(server, "dur", at("11:30"), "/z")) != before
    got = sessions(server, **{"from": at("00:00"), "to": at("23:59")})
    assert [(s["events"], s["exitPage"]) for s in got if s["id"] == before] == [(4, "/z")]


def test_bots_person_filter_and_errors(footfall):
    server = footfall.start()
    page(server, "crawler", at("10:00"), "/", context={"userAgent": GOOGLEBOT})
    human = page(server, "anon-7", at("10:00"), "/")
    r = server.post_json("/v1/identify", {"anonymousId": "anon-7", "userId": "ann", "timestamp": at("10:01")})
    assert r.status_code == 200
    rng = {"from": at("00:00"), "to": at("23:59")}
    assert [s["deviceId"] for s in sessions(server, **rng)] == ["anon-7"], "bots are left out by default"
    both = sessions(server, bots="include", **rng)
    assert sorted(s["deviceId"] for s in both) == ["anon-7", "crawler"]
    assert [s["bot"] for s in both if s["deviceId"] == "crawler"] == [True]
    assert server.event_by_mid(human).get("sessionId")
    wait_for(lambda: [s["personId"] for s in sessions(server, person="ann", **rng)] == ["ann"], timeout=5,
             what="the person's sessions")
    assert sessions(server, person="nobody", **rng) == []
    for q, field in (("limit=-1", "limit"), ("from=yesterday", "from"), ("bots=maybe", "bots")):
        r = server.get("/api/sessions?" + q)
        assert r.status_code == 400 and r.json()["field"] == field, r.text
    assert server.get("/api/sessions", nokey=True).status_code == 401


def test_sessions_cli_reads_the_store(footfall):
    server = footfall.start()
    m = [page(server, "cli", at("10:00"), "/a"), page(server, "cli", at("10:03"), "/b"),
         page(server, "bot", at("10:00"), "/", context={"userAgent": GOOGLEBOT})]
    want = sid(server, m[0])
    server.stop_ok()
    rng = ["--from", at("00:00"), "--to", at("23:59")]
    rows = [json.loads(line) for line in cli("sessions", "--data", server.data_dir, *rng).stdout.splitlines()]
    assert [(r["id"], r["entryPage"], r["exitPage"], r["pageviews"]) for r in rows] == [(want, "/a", "/b", 2)]
    rows = cli("sessions", "--data", server.data_dir, "--bots", "include", *rng).stdout.splitlines()
    assert len(rows) == 2
    bad = cli("sessions", "--data", server.data_dir, "--bots", "maybe", check=False)
    assert bad.returncode == 2 and "include or exclude" in bad.stderr
