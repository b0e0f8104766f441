"""/healthz and Prometheus /metrics."""

import concurrent.futures
import json
import shutil
import subprocess

import requests

from harness import assert_json_ct, basic_auth, parse_prometheus, uid, wait_for


def test_healthz(server):
    r = server.get("/healthz")
    assert r.status_code == 200
    assert_json_ct(r)
    assert r.json() == {"status": "ok"}


def sample(samples, name, **labels):
    vals = [v for n, lb, v in samples if n == name and all(lb.get(k) == x for k, x in labels.items())]
    assert vals, f"metric {name}{labels} missing"
    assert len(vals) == 1, f"metric {name}{labels} appears {len(vals)} times"
    return vals[0]


def check_histogram(types, samples, family):
    assert types.get(family) == "histogram", f"{family} must be TYPE histogram, got {types.get(family)}"
    buckets = [(lb, v) for n, lb, v in samples if n == family + "_bucket"]
    assert buckets, f"{family} has no buckets"
    groups = {}
    for lb, v in buckets:
        key = tuple(sorted((k, x) for k, x in lb.items() if k != "le"))
        assert "le" in lb, f"{family}_bucket without le: {lb}"
        groups.setdefault(key, []).append((float(lb["le"]), v))
    for key, bs in groups.items():
        bs.sort()
        assert bs[-1][0] == float("inf"), f"{family}{dict(key)} lacks le=\"+Inf\""
        counts = [v for _, v in bs]
        assert counts == sorted(counts), f"{family}{dict(key)} buckets not cumulative: {bs}"
        count = sample(samples, family + "_count", **dict(key))
        assert count == bs[-1][1], f"{family}_count {count} != +Inf bucket {bs[-1][1]}"
        s = sample(samples, family + "_sum", **dict(key))
        assert s >= 0
    return groups


def test_metrics_exposition(server):
    # one event of each format, one duplicate, one invalid
    server.post_json("/api/track", {"event": "m", "messageId": "x1"})
    server.post_json("/api/track", {"event": "m", "messageId": "x1"})
    server.post_json("/v1/track", {"event": "m", "userId": "u"}, write_key="k")
    server.post_json("/v1/track", {"userId": "u"}, write_key="k")
    server.get("/p.gif?e=m&aid=a")
    server.post("/api/import", data=b'{"event":"m","userId":"u"}\n',
                headers={"Authorization": basic_auth("k")})

    r = server.get("/metrics")
    assert r.status_code == 200
    ct = r.headers.get("Content-Type", "")
    assert ct.startswith("text/plain"), ct
    text = r.text
    types, samples = parse_prometheus(text)

    for fam in ("footfall_events_stored_total", "footfall_events_deduplicated_total",
                "footfall_events_quarantined_total"):
        assert types.get(fam) == "counter" or types.get(fam[:-len("_total")]) == "counter", \
            f"{fam} must be a counter"
    assert sample(samples, "footfall_events_stored_total", format="seed") == 1
    assert sample(samples, "footfall_events_stored_total", format="segment") == 1
    assert sample(samples, "footfall_events_stored_total", format="pixel") == 1
    assert sample(samples, "footfall_events_stored_total", format="import") == 1
    assert sample(samples, "footfall_events_deduplicated_total", format="seed") == 1
    assert sample(samples, "footfall_events_quarantined_total", format="segment") == 1

    check_histogram(types, samples, "footfall_http_request_duration_seconds")
    fsync = check_histogram(types, samples, "footfall_wal_fsync_duration_seconds")
    assert sum(bs[-1][1] for bs in fsync.values()) >= 1, "events were stored: fsync happened"
    assert sample(samples, "footfall_wal_bytes_written_total") > 0
    assert sample(samples, "footfall_memory_bytes") > 0

    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                           capture_output=True, timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr


def test_request_histogram_counts_requests(server):
    def count():
        _, s = parse_prometheus(server.metrics())
        return sum(v for n, lb, v in s if n == "footfall_http_request_duration_seconds_count")
    c0 = count()
    for _ in range(10):
        server.get("/healthz")
    wait_for(lambda: count() >= c0 + 10, timeout=5, what="request histogram to count 10 requests")


def test_part_build_stages_count_the_flush(footfall):
    """A flush writes its events into parts; /metrics says how many rows that was and the CPU
    time of each stage of building them."""
    server = footfall.start("--flush-interval-ms", "50")
    stages = ("sort", "intern", "derive", "properties", "write")

    def build():
        types, s = parse_prometheus(server.metrics())
        return types, sample(s, "footfall_part_build_rows_total"), \
            {st: sample(s, "footfall_part_build_cpu_seconds_total", stage=st) for st in stages}

    types, rows0, cpu0 = build()
    assert types.get("footfall_part_build_rows_total") == "counter"
    assert types.get("footfall_part_build_cpu_seconds_total") == "counter"
    batch = [{"type": "page", "anonymousId": f"a{i}", "messageId": uid("pb"),
              "properties": {"url": f"https://shop.test/p/{i}?utm_source=news", "price": i},
              "context": {"page": {"referrer": "https://www.google.com/"}}} for i in range(200)]
    r = server.post_json("/v1/batch", {"batch": batch}, write_key="k")
    assert r.status_code == 200, r.text
    wait_for(lambda: build()[1] >= rows0 + 200, timeout=10, what="the flush to build parts of 200 rows")
    _, rows1, cpu1 = build()
    assert rows1 == rows0 + 200
    assert all(cpu1[st] >= cpu0[st] for st in stages), (cpu0, cpu1)
    assert sum(cpu1.values()) > sum(cpu0.values())


def test_flush_wait_counts_backpressure(footfall):
    """When flushes fall behind ingest the WAL writer waits for memory (acknowledgements wait
    with it); /metrics says for how long. With 32 KiB flushes, eight clients sending batches of
    500 events at once put several flushes' worth into each group commit, so the writer waits;
    every acknowledged event is stored all the same."""
    server = footfall.start("--flush-bytes", "32768")

    def waited():
        types, s = parse_prometheus(server.metrics())
        assert types.get("footfall_flush_wait_seconds_total") == "counter"
        return sample(s, "footfall_flush_wait_seconds_total")

    assert waited() == 0

    def send(client):
        for b in range(4):
            batch = [{"type": "track", "event": "Viewed", "anonymousId": f"a{client}-{i % 37}", "messageId": uid("fw"),
                      "properties": {"n": i, "pad": "x" * 200}} for i in range(500)]
            r = requests.post(server.url("/v1/batch"), data=json.dumps({"batch": batch}).encode(), timeout=30,
                              headers={"Content-Type": "application/json", "Authorization": basic_auth("k")})
            assert r.status_code == 200, r.text
        return 4 * 500

    sent = 0
    for burst in range(5):  # one burst has been enough each time; more, should the flushes keep up
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            sent += sum(pool.map(send, range(8 * burst, 8 * burst + 8)))
        if waited() > 0:
            break
    assert waited() > 0
    wait_for(lambda: server.stats()["stored"] == sent and server.stats()["held"] == sent, timeout=30,
             what="every acknowledged event stored and held")
