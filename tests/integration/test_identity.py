"""Identity: an anonymousId merges into a userId on identify (and any event carrying both)
and alias, back to the anonymous events before it; the map survives restarts and kill -9."""

from harness import uid, wait_for


def send(server, **fields):
    fields.setdefault("messageId", uid())
    typ = fields.pop("type", "track")
    if typ == "track":
        fields.setdefault("event", "e")
    r = server.post_json(f"/v1/{typ}", fields)
    assert r.status_code == 200, r.text
    return fields["messageId"]


def person_of(server, mid):
    return server.event_by_mid(mid).get("personId")


def test_identify_merges_the_anonymous_past(footfall):
    server = footfall.start()
    before = [send(server, anonymousId="dev-1", event="viewed") for _ in range(3)]
    assert person_of(server, before[0]) == "dev-1", "an unidentified visitor is their own person"
    send(server, type="identify", anonymousId="dev-1", userId="ann", traits={"plan": "pro"})
    after = send(server, userId="ann", event="bought")
    wait_for(lambda: all(person_of(server, m) == "ann" for m in before), timeout=5, what="the merge")
    assert person_of(server, after) == "ann"
    # a second device of the same person, identified later
    other = send(server, anonymousId="dev-2")
    send(server, anonymousId="dev-2", userId="ann")  # any call with both ids links them
    wait_for(lambda: person_of(server, other) == "ann", timeout=5, what="the second device")
    # the first link wins: a shared device stays with its first user
    send(server, type="identify", anonymousId="dev-1", userId="bob")
    assert person_of(server, before[0]) == "ann"
    # alias: an old user id becomes the new one
    old = send(server, userId="carol-old")
    send(server, type="alias", previousId="carol-old", userId="carol")
    wait_for(lambda: person_of(server, old) == "carol", timeout=5, what="the alias")
    # export by the person covers every id they had
    got = server.get("/api/persons/ann/events").text.splitlines()
    # dev-1 ×3, the identify, bought, dev-2 ×2 (bob's identify of dev-1 is bob's: its userId says so)
    assert len(got) == 3 + 1 + 1 + 2, got
    # durable: a kill -9 and a restart keep the map (from the WAL), and so does a clean one
    server.kill9()
    server.start()
    assert person_of(server, before[1]) == "ann" and person_of(server, old) == "carol"
    server.restart()
    assert person_of(server, before[2]) == "ann"
    assert (server.data_dir / "IDENTITY").exists()


def test_identity_is_per_project(footfall):
    import json

    from harness import cli
    server = footfall.start()
    shop = json.loads(cli("project", "create", "shop", "--data", server.data_dir, "--json").stdout)
    send(server, type="identify", anonymousId="dev-9", userId="dan")
    mid = uid()

    def shop_send():
        r = server.post_json("/v1/track", {"event": "e", "anonymousId": "dev-9", "messageId": mid},
                             write_key=shop["write_key"])
        return r.status_code == 200
    wait_for(shop_send, timeout=10, what="the shop's key")
    evs = server.get("/api/events", headers={"Authorization": "Bearer " + shop["read_key"]}).json()["events"]
    assert [e.get("personId") for e in evs if e["messageId"] == mid] == ["dev-9"], "another project's link does not apply"


def seed(server, **fields):
    """POST /api/track (the requirements document's format): Segment's ids in the same body."""
    fields.setdefault("messageId", uid())
    fields.setdefault("event", "e")
    r = server.post_json("/api/track", fields)
    assert r.status_code == 200, r.text
    return fields["messageId"]


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def pixel(server, ua=FIREFOX, **params):
    """GET /p.gif with the pixel's parameters (short names e, uid, aid, mid or long ones)."""
    mid = params.setdefault("mid", uid())
    r = server.get("/p.gif", params=params, headers={"User-Agent": ua})
    assert r.status_code == 200, r.text
    return mid


def test_user_fields_of_the_pixel_and_api_track_merge(footfall):
    """The other wire formats' user fields link an anonymousId to a userId as identify does:
    /api/track's userId and anonymousId, the pixel's uid and aid (and their long names), and
    the pixel's identify with a uid only (a browser without ids: its cookieless visitor id)."""
    server = footfall.start()
    # /api/track
    before = [seed(server, anonymousId="web-1", event="viewed", data={"page": i}) for i in range(2)]
    assert person_of(server, before[0]) == "web-1"
    signup = seed(server, anonymousId="web-1", userId="zoe", event="signed_up")
    wait_for(lambda: all(person_of(server, m) == "zoe" for m in before), timeout=5, what="/api/track's merge")
    assert person_of(server, signup) == "zoe"
    # the pixel, short names: an e-mail opened anonymously, then a click that knows the reader
    opens = [pixel(server, e="email_open", aid="mail-1", campaign="nov") for _ in range(2)]
    assert person_of(server, opens[0]) == "mail-1"
    pixel(server, e="email_click", aid="mail-1", uid="yan")
    wait_for(lambda: all(person_of(server, m) == "yan" for m in opens), timeout=5, what="the pixel's merge")
    # ... and long names
    kiosk = pixel(server, event="viewed", anonymousId="kiosk-1")
    pixel(server, event="signed_in", anonymousId="kiosk-1", userId="yan")
    wait_for(lambda: person_of(server, kiosk) == "yan", timeout=5, what="the pixel's merge (long names)")
    # no ids at all: a cookieless visitor, whose identify (a uid only) links it
    visits = [pixel(server, e="viewed") for _ in range(2)]
    visitor = server.event_by_mid(visits[0])["anonymousId"]
    assert visitor.startswith("cl-") and person_of(server, visits[1]) == visitor
    pixel(server, type="identify", uid="xia")
    wait_for(lambda: all(person_of(server, m) == "xia" for m in visits), timeout=5, what="the cookieless merge")
    # the person's events cover every id they had; others' are not theirs
    assert len(server.get("/api/persons/yan/events").text.splitlines()) == 2 + 1 + 1 + 1
    assert len(server.get("/api/persons/zoe/events").text.splitlines()) == 2 + 1
    # durable, as identify's links are
    server.restart()
    assert person_of(server, before[1]) == "zoe" and person_of(server, opens[1]) == "yan"
    assert person_of(server, visits[1]) == "xia"
