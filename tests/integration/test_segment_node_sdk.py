"""Segment's own Node SDK (@segment/analytics-node from npm) against footfall."""

import json
import shutil
import subprocess

import pytest

from checks import assert_segment_shape, assert_skew_corrected, is_subset
from harness import REPO, uid

SCRIPT = REPO / "tests" / "node" / "segment_sdk.mjs"


def test_segment_node_sdk(server):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (the test set-up script installs Node 20)")
    if not (REPO / "node_modules" / "@segment" / "analytics-node").is_dir():
        pytest.fail("@segment/analytics-node is not installed: run `npm ci` in the repository")
    run = uid("sdk")
    p = subprocess.run([node, str(SCRIPT), server.base, "sdk-write-key", run], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert p.stdout.strip(), f"no output from the SDK script; stderr: {p.stderr[-2000:]}"
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 0 and not out["errors"], \
        f"SDK reported delivery errors: {out['errors']}; stderr: {p.stderr[-2000:]}"
    reqs = out["requests"]
    assert len(reqs) >= 3, "flushAt 3 with 7 calls makes at least three batches"
    assert all(r.get("status") == 200 for r in reqs), [r.get("status") for r in reqs]
    assert all(r["url"].endswith("/v1/batch") for r in reqs)

    sent = {}
    sent_at = {}
    for r in reqs:
        for item in r["body"]["batch"]:
            sent[item["messageId"]] = item
            sent_at[item["messageId"]] = r["body"]["sentAt"]
    assert len(sent) == 7

    stored = {e["messageId"]: e for e in server.all_events()}
    assert set(stored) == set(sent), "every SDK message is stored, once"
    types = sorted(e["type"] for e in stored.values())
    assert types == ["alias", "group", "identify", "page", "screen", "track", "track"]
    for mid, item in sent.items():
        ev = stored[mid]
        assert_segment_shape(ev)
        assert ev["writeKey"] == "sdk-write-key"
        assert ev["format"] == "segment"
        assert ev["type"] == item["type"]
        for k in ("userId", "anonymousId", "event", "name", "groupId", "previousId"):
            if k in item:
                assert ev.get(k) == item[k], (k, ev.get(k), item[k])
        if item["type"] in ("track", "page", "screen"):
            assert ev["properties"] == item.get("properties", {}), (ev["properties"], item)
        if item["type"] in ("identify", "group"):
            assert ev["traits"] == item.get("traits", {})
        assert is_subset(item.get("context", {}), ev["context"]), (item.get("context"), ev["context"])
        assert ev["context"]["library"]["name"] == "@segment/analytics-node"
        assert ev["originalTimestamp"] == item["timestamp"] or \
            ev["originalTimestamp"] == item["timestamp"][:23] + "Z"
        assert ev["sentAt"] == sent_at[mid]
        assert_skew_corrected(ev, item["timestamp"], sent_at[mid])
    [bookmarked] = [e for e in stored.values() if e.get("event") == "Article Bookmarked"]
    assert bookmarked["originalTimestamp"] == "2024-02-03T04:05:06.789Z"
    assert bookmarked["anonymousId"] == f"anon-{run}"
