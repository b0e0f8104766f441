"""User-agent enrichment at ingest (issue 4): browser, OS, device type and bot flag from the
uap-core regexes, for every wire format, kept through the WAL, the parts, merges, a restart
and CSV export; and a clear error for a regexes file that is not one. GeoIP: country from the
free country file, and country, region and city from a MaxMind City file (written by the test
itself, tests/integration/mmdb_writer.py)."""

import csv
import io
import json

from harness import cli, uid, wait_for
from mmdb_writer import Writer, city_record, names

CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.6099.109 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.1 Mobile/15E148 Safari/604.1")
IPAD = ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/16.6 Mobile/15E148 Safari/604.1")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
HEADLESS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/119.0.6045.105 "
            "Safari/537.36")


def track(srv, ua=None, header_ua=None, path="/v1/track", ip="10.0.0.9", **extra):
    mid = uid()
    body = {"event": "Viewed", "userId": "u-" + mid[:8], "messageId": mid, **extra}
    if ua is not None:
        body["context"] = {"userAgent": ua, "ip": ip}
    headers = {"User-Agent": header_ua} if header_ua else {}
    r = srv.post_json(path, body, write_key="k", headers=headers)
    assert r.status_code == 200, r.text
    return mid


def test_segment_context_user_agent(server):
    want = {
        track(server, CHROME_WIN): {"browser": "Chrome", "browserVersion": "120.0.6099", "os": "Windows",
                                    "osVersion": "10", "deviceType": "desktop", "bot": False},
        track(server, IPHONE): {"browser": "Mobile Safari", "browserVersion": "17.1", "os": "iOS",
                                "osVersion": "17.1", "deviceType": "mobile", "bot": False},
        track(server, IPAD): {"browser": "Mobile Safari", "os": "iOS", "deviceType": "tablet", "bot": False},
        track(server, GOOGLEBOT): {"browser": "Googlebot", "deviceType": "bot", "bot": True},
        track(server, HEADLESS): {"browser": "HeadlessChrome", "os": "Linux", "deviceType": "bot", "bot": True},
    }
    for mid, fields in want.items():
        got = server.event_by_mid(mid)["enrichment"]
        for k, v in fields.items():
            assert got[k] == v, (mid, k, got)


def test_server_side_sdk_is_not_described_by_its_own_user_agent(server):
    """A Segment call from a server SDK carries the SDK's User-Agent header, not the person's:
    without context.userAgent the event stays unenriched."""
    mid = track(server, None, header_ua="analytics-node-next/2.1.2")
    assert "enrichment" not in server.event_by_mid(mid)


def test_browser_formats_use_the_request_header(server):
    """The pixel and /api/track are sent by the browser itself: its User-Agent header is the person's."""
    r = server.get("/p.gif", params={"e": "Email Opened", "uid": "reader-1"}, headers={"User-Agent": IPHONE})
    assert r.status_code == 200
    r = server.post_json("/api/track", {"event": "Signed Up", "data": {"plan": "pro"}},
                         headers={"User-Agent": CHROME_WIN})
    assert r.status_code == 200, r.text
    events = {e["event"]: e for e in server.all_events()}
    assert events["Email Opened"]["enrichment"]["deviceType"] == "mobile"
    assert events["Signed Up"]["enrichment"]["browser"] == "Chrome"
    assert events["Signed Up"]["enrichment"]["os"] == "Windows"


def test_escaped_user_agent_in_context(server):
    """A userAgent whose stored JSON needs escapes (a quote, a backslash, a tab) is read as its text."""
    ua = CHROME_WIN + ' "Build\\42"\t(x)'
    mid = track(server, ua)
    e = server.event_by_mid(mid)
    assert e["context"]["userAgent"] == ua
    assert e["enrichment"]["browser"] == "Chrome" and e["enrichment"]["os"] == "Windows"
    assert e["enrichment"]["browserVersion"] == "120.0.6099"


def test_batch_context_and_kept_through_parts_merges_restart_and_csv(footfall):
    srv = footfall.start("--flush-interval-ms", "30")
    # a /v1/batch whose items take the batch-level context's userAgent
    batch = [{"type": "track", "event": f"b{i}", "userId": "p", "messageId": f"b-{i}"} for i in range(20)]
    r = srv.post_json("/v1/batch", {"batch": batch, "context": {"userAgent": IPHONE}}, write_key="k")
    assert r.status_code == 200, r.text
    mids = [track(srv, CHROME_WIN) for _ in range(30)]
    wait_for(lambda: len(list((srv.data_dir / "parts").glob("*.part"))) >= 1, timeout=10, what="parts")
    srv.restart()
    for i in (0, 19):
        assert srv.event_by_mid(f"b-{i}")["enrichment"]["os"] == "iOS"
    assert srv.event_by_mid(mids[-1])["enrichment"]["browser"] == "Chrome"
    srv.stop_ok()
    rows = list(csv.DictReader(io.StringIO(cli("export", "--data", srv.data_dir, "--format", "csv").stdout,
                                           newline="")))
    by_mid = {r["messageId"]: r for r in rows}
    assert by_mid["b-3"]["os"] == "iOS" and by_mid["b-3"]["deviceType"] == "mobile"
    assert by_mid["b-3"]["bot"] == "false"
    assert by_mid[mids[0]]["browserVersion"] == "120.0.6099"


def test_bad_regexes_file_is_a_clear_startup_error(tmp_path):
    bad = tmp_path / "regexes.yaml"
    bad.write_text("user_agent_parsers:\n  - regex: '(Chrome/(\\d+)'\n")
    p = cli("serve", "--listen", "127.0.0.1:0", "--data", tmp_path / "d2", "--ua-regexes", bad, check=False,
            timeout=10)
    assert p.returncode == 1
    assert "regexes.yaml:2: regex does not compile" in p.stderr
    p = cli("serve", "--listen", "127.0.0.1:0", "--data", tmp_path / "d3", "--ua-regexes", tmp_path / "none.yaml",
            check=False, timeout=10)
    assert p.returncode == 1 and "none.yaml" in p.stderr


def test_geoip_country_and_ip_dropped_by_default(server):
    """context.ip serves GeoIP (the free country database the set-up installs), then is dropped."""
    mid = track(server, CHROME_WIN)  # context.ip 10.0.0.9: private, no country
    e = server.event_by_mid(mid)
    assert "ip" not in e["context"] and "country" not in e["enrichment"]
    r = server.post_json("/v1/track", {"event": "E", "userId": "g", "messageId": "geo-1",
                                       "context": {"ip": "8.8.8.8", "locale": "en-US"}}, write_key="k")
    assert r.status_code == 200
    e = server.event_by_mid("geo-1")
    assert e["enrichment"]["country"] == "US"
    assert e["context"] == {"locale": "en-US"}


def test_ip_truncate_and_keep(footfall):
    srv = footfall.start("--ip", "truncate")
    r = srv.post_json("/v1/track", {"event": "E", "userId": "g", "messageId": "t-1",
                                    "context": {"ip": "8.8.8.8"}}, write_key="k")
    assert r.status_code == 200
    e = srv.event_by_mid("t-1")
    assert e["context"]["ip"] == "8.8.8.0" and e["enrichment"]["country"] == "US"
    srv.stop_ok()
    srv = footfall.start("--ip", "keep")
    for mid, ctx in (("k-1", {"ip": "2001:4860:4860::8888"}), ("k-2", {})):
        r = srv.post_json("/v1/track", {"event": "E", "userId": "g", "messageId": mid, "context": ctx}, write_key="k")
        assert r.status_code == 200
    assert srv.event_by_mid("k-1")["context"]["ip"] == "2001:4860:4860::8888"
    assert srv.event_by_mid("k-1")["enrichment"]["country"] == "US"
    # without context.ip, the address the request came from (loopback: no country)
    assert srv.event_by_mid("k-2")["context"]["ip"] == "127.0.0.1"
    assert "enrichment" not in srv.event_by_mid("k-2")


def test_geoip_options_are_checked(tmp_path):
    bad = tmp_path / "x.mmdb"
    bad.write_bytes(b"not a maxmind database")
    p = cli("serve", "--listen", "127.0.0.1:0", "--data", tmp_path / "d", "--geoip", bad, check=False, timeout=10)
    assert p.returncode == 1 and "x.mmdb" in p.stderr
    p = cli("serve", "--listen", "127.0.0.1:0", "--data", tmp_path / "d", "--ip", "hash", check=False, timeout=10)
    assert p.returncode == 2 and "--ip must be drop, truncate or keep" in p.stderr


def city_database(path, database_type="GeoIP2-City", record_size=None):
    """A MaxMind City file (MaxMind's layout, written by tests/integration/mmdb_writer.py) whose
    networks say where each of CITY_CASES' addresses is."""
    w = Writer(database_type=database_type, record_size=record_size, languages=["en", "de", "fr"])
    gb = ("GB", "United Kingdom")
    # a wide network, then a narrower one inside it: the tree splits the wider one around it
    w.insert("81.2.69.0/24", city_record(gb, subdivisions=[("ENG", "England")]))
    # two subdivisions, the largest first, as MaxMind lists them: the first is the region
    w.insert("81.2.69.160/27", city_record(gb, names("London", de="London", fr="Londres"), postal="EC1A",
                                           subdivisions=[("ENG", "England"), ("WBK", "West Berkshire")]))
    w.insert("89.160.20.112/28", city_record(("SE", "Sweden"), "Linköping", subdivisions=[("E", "Östergötland")],
                                             eu=True))
    # a subdivision without its code: its English name; the city's names with others before "en"
    w.insert("198.51.100.0/24", city_record(("NZ", "New Zealand"), names("Wellington", mi="Te Whanganui-a-Tara"),
                                            subdivisions=[(None, "Wellington Region")], continent=("OC", "Oceania")))
    w.insert("203.0.113.0/24", city_record(("AU", "Australia"), continent=("OC", "Oceania")))  # country only
    # a city name longer than the field footfall keeps (63 bytes): cut at a whole character
    w.insert("192.0.2.128/25", city_record(("FI", "Finland"), "Ä" * 40, subdivisions=[("18", "Uusimaa")]))
    w.insert("2001:db8:85a3::/48", city_record(("DE", "Germany"), {"de": "München", "en": "Munich", "fr": "Munich"},
                                               subdivisions=[("BY", "Bavaria")]))
    return str(w.write(path))


# address -> (country, region, city) that footfall should store; None: absent
CITY_CASES = {
    "81.2.69.170": ("GB", "GB-ENG", "London"),
    "::ffff:81.2.69.171": ("GB", "GB-ENG", "London"),  # an IPv4 client of a dual-stack socket
    "81.2.69.10": ("GB", "GB-ENG", None),
    "89.160.20.115": ("SE", "SE-E", "Linköping"),
    "198.51.100.7": ("NZ", "Wellington Region", "Wellington"),
    "203.0.113.9": ("AU", None, None),
    "192.0.2.200": ("FI", "FI-18", "Ä" * 31),
    "2001:db8:85a3::8a2e:370:7334": ("DE", "DE-BY", "Munich"),
    "192.0.2.1": (None, None, None),  # not in the file
    "2001:db8:ffff::1": (None, None, None),
}


def geo(event):
    return tuple(event.get("enrichment", {}).get(k) for k in ("country", "region", "city"))


def test_geoip_city_database_gives_region_and_city(footfall, tmp_path):
    """--geoip FILE with a MaxMind City file: country, region (the first subdivision's ISO 3166-2
    code, the country's code in front of MaxMind's part of it, else its English name) and the city's English name, for IPv4 and IPv6 addresses, kept
    through a restart, parts and CSV export; the address itself is then dropped."""
    db = city_database(tmp_path / "GeoIP2-City-Test.mmdb")
    srv = footfall.start("--geoip", db, "--flush-interval-ms", "30")
    batch = [{"type": "track", "event": "Viewed", "userId": f"geo-{i}", "messageId": f"city-{i}",
              "context": {"ip": ip, "locale": "en-GB"}} for i, ip in enumerate(CITY_CASES)]
    r = srv.post_json("/v1/batch", {"batch": batch}, write_key="k")
    assert r.status_code == 200, r.text

    def check(get):
        for i, (ip, want) in enumerate(CITY_CASES.items()):
            e = get(f"city-{i}")
            assert geo(e) == want, (ip, e)
            assert e["context"] == {"locale": "en-GB"}, (ip, e["context"])  # --ip drop (the default)

    check(srv.event_by_mid)
    wait_for(lambda: list((srv.data_dir / "parts").glob("*.part")), timeout=10, what="a part")
    srv.restart()
    check(srv.event_by_mid)
    srv.stop_ok()
    rows = {r["messageId"]: r for r in csv.DictReader(io.StringIO(
        cli("export", "--data", srv.data_dir, "--format", "csv").stdout, newline=""))}
    check(lambda mid: {"context": json.loads(rows[mid]["context"]),
                       "enrichment": {k: rows[mid][k] or None for k in ("country", "region", "city")}})


def test_geoip_record_sizes_and_country_files(footfall, tmp_path):
    """The same answers from 28- and 32-bit search trees; a file whose database_type says
    Country is not asked for subdivisions or cities, even when its records have them."""
    for size in (28, 32):
        srv = footfall.start("--geoip", city_database(tmp_path / f"city{size}.mmdb", record_size=size))
        for mid, ip in ((f"r{size}-4", "81.2.69.170"), (f"r{size}-6", "2001:db8:85a3::1")):
            r = srv.post_json("/v1/track", {"event": "E", "userId": "g", "messageId": mid, "context": {"ip": ip}},
                              write_key="k")
            assert r.status_code == 200, r.text
        assert geo(srv.event_by_mid(f"r{size}-4")) == ("GB", "GB-ENG", "London")
        assert geo(srv.event_by_mid(f"r{size}-6")) == ("DE", "DE-BY", "Munich")
        srv.stop_ok()
    srv = footfall.start("--geoip", city_database(tmp_path / "country.mmdb", database_type="GeoLite2-Country"))
    r = srv.post_json("/v1/track", {"event": "E", "userId": "g", "messageId": "c-1", "context": {"ip": "81.2.69.170"}},
                      write_key="k")
    assert r.status_code == 200, r.text
    assert geo(srv.event_by_mid("c-1")) == ("GB", None, None)


def test_import_does_not_take_the_uploaders_address(footfall):
    """A back-fill through /api/import: its events are not placed where the uploader is."""
    srv = footfall.start("--ip", "keep")
    lines = "\n".join('{"event":"old","userId":"u","messageId":"imp-%d","context":{"locale":"en"}}' % i
                      for i in range(3))
    r = srv.post("/api/import", data=lines.encode(), headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    for i in range(3):
        e = srv.event_by_mid(f"imp-{i}")
        assert e["context"] == {"locale": "en"}, e
        assert "enrichment" not in e


def test_user_agent_cache_counters_in_metrics(server):
    # three contexts (an event with the same context as the one before takes its answer
    # without a lookup), one user agent
    for i in range(3):
        track(server, IPAD, ip=f"10.0.0.{i + 1}")
    text = server.get("/metrics").text
    counts = {}
    for line in text.splitlines():
        if line.startswith("footfall_useragent_lookups_total{"):
            counts[line.split('"')[1]] = int(line.rsplit(" ", 1)[1])
    assert counts["miss"] == 1, text  # parsed once
    assert counts["hit"] == 2, text
