"""Group commit: concurrent requests share one fsync, and each is still answered only after
its events are durable."""

import json

from harness import RawConn, basic_auth, build_request, parse_prometheus, uid


def fsync_count(server):
    _, samples = parse_prometheus(server.metrics())
    return sum(v for name, _, v in samples if name == "footfall_wal_fsync_duration_seconds_count")


def test_concurrent_requests_share_fsyncs(server):
    port = int(server.base.rsplit(":", 1)[1])
    n = 64
    conns = [RawConn(port) for _ in range(n)]
    mids = [uid("gc") for _ in range(n)]
    reqs = [build_request("POST", "/v1/track",
                          json.dumps({"event": "gc", "userId": "u", "messageId": m}).encode(),
                          {"Content-Type": "application/json", "Authorization": basic_auth("gk")})
            for m in mids]
    before = fsync_count(server)
    # All requests leave at once; the collector sees them while its first fsync runs.
    for c, r in zip(conns, reqs):
        c.send(r)
    for c in conns:
        status, _, body = c.read_response()
        assert status == 200, body
        c.close()
    fsyncs = fsync_count(server) - before
    print(f"{n} concurrent requests, {fsyncs} fsyncs")
    assert 1 <= fsyncs <= n // 4, f"{n} concurrent requests took {fsyncs} fsyncs"
    # every one of them was durable when answered: all are readable now
    stored = {e["messageId"] for e in server.all_events()}
    assert set(mids) <= stored
