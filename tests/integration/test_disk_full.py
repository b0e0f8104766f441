"""Disk full: 503 with Retry-After, nothing acknowledged that is not on disk, service resumes.

Uses a real 2 MiB tmpfs (needs root and mount(8)); skipped with the reason when it cannot be
mounted."""

import email.utils
import json
import secrets
import subprocess

import pytest

from harness import Server, assert_json_ct, basic_auth, cli_events, uid, wait_for


@pytest.fixture
def tiny_fs(tmp_path):
    mp = tmp_path / "tiny"
    mp.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mp)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a 2 MiB tmpfs (needs root): {p.stderr.strip()}")
    try:
        yield mp
    finally:
        r = subprocess.run(["umount", str(mp)], capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", str(mp)], capture_output=True)


def grow(mp, size):
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mp)], check=True)


def post_event(server, mid, pad):
    body = {"event": "fill", "userId": "u", "messageId": mid, "properties": {"pad": pad}}
    return server.post("/v1/track", data=json.dumps(body),
                       headers={"Content-Type": "application/json",
                                "Authorization": basic_auth("dk")})


def assert_retry_after(r):
    ra = r.headers.get("Retry-After")
    assert ra is not None, f"503 without Retry-After: {dict(r.headers)}"
    ok = ra.strip().isdigit() or email.utils.parsedate_to_datetime(ra) is not None
    assert ok, f"Retry-After {ra!r} is neither delay-seconds nor an HTTP-date"


def test_disk_full_503_then_resumes(tiny_fs, tmp_path):
    server = Server(tiny_fs / "data", log_dir=tmp_path).prepare(write_keys=["dk"])
    server.start()
    try:
        # Random text: the WAL compresses, and a repeated letter would never fill the disk.
        pad = secrets.token_urlsafe(15_000)
        acked, refused = [], []

        def fill_until_503():
            mid = uid("full")
            r = post_event(server, mid, pad)
            if r.status_code == 200:
                acked.append(mid)
                return False
            assert r.status_code == 503, f"expected 200 or 503, got {r.status_code} {r.text}"
            refused.append(mid)
            return [r]  # (a 503 Response is falsy itself)
        [r] = wait_for(fill_until_503, timeout=60, interval=0,
                       what="a 503 once the 2 MiB file system is full")
        assert_json_ct(r)
        assert isinstance(r.json().get("error"), str) and r.json()["error"]
        assert_retry_after(r)
        assert len(acked) >= 10, f"only {len(acked)} events fitted in 2 MiB before the 503"

        # still full: more writes are refused (each with Retry-After), batches are not half-done
        for _ in range(3):
            mid = uid("full")
            r = post_event(server, mid, pad)
            if r.status_code == 503:
                assert_retry_after(r)
                refused.append(mid)
            else:
                assert r.status_code == 200, r.text
                acked.append(mid)
        batch = [{"type": "track", "event": "fill", "userId": "u", "messageId": uid("fb"),
                  "properties": {"pad": pad}} for _ in range(5)]
        r = server.post("/v1/batch", data=json.dumps({"batch": batch}),
                        headers={"Content-Type": "application/json",
                                 "Authorization": basic_auth("dk")})
        assert r.status_code in (200, 503), r.text
        batch_acked = r.status_code == 200
        # the pixel refuses the same way: a GIF still (an <img> must not break), with Retry-After
        # (a small pixel event may still fit where a padded track did not: send until refused)
        pixel_refused = None
        for _ in range(50):
            pmid = uid("px")
            pixel = f"/p.gif?e=open&uid=u&mid={pmid}&k=dk&pad={pad[:1500]}"
            r = server.get(pixel)
            assert r.status_code in (200, 503), r.status_code
            assert r.headers.get("Content-Type") == "image/gif"
            if r.status_code == 503:
                assert_retry_after(r)
                pixel_refused = pixel
                refused_px = pmid
                break
            acked.append(pmid)
        assert pixel_refused, "the pixel was never refused while the disk was full"

        # reads keep working while the disk is full
        evs = server.all_events()
        stored = [e["messageId"] for e in evs]
        assert set(acked) <= set(stored), "an acknowledged event is missing while disk is full"
        assert len(stored) == len(set(stored))

        # space returns: service resumes by itself, without a restart
        grow(tiny_fs, "32m")
        mid = uid("back")
        wait_for(lambda: post_event(server, mid, "y").status_code == 200, timeout=20,
                 what="a 200 after space returned")
        acked.append(mid)
        for m in refused:  # clients retry what was refused
            assert post_event(server, m, pad).status_code == 200
        assert server.get(pixel_refused).status_code == 200
        acked.append(refused_px)
        if not batch_acked:
            r = server.post("/v1/batch", data=json.dumps({"batch": batch}),
                            headers={"Content-Type": "application/json",
                                     "Authorization": basic_auth("dk")})
            assert r.status_code == 200, r.text
        everything = set(acked) | set(refused) | {b["messageId"] for b in batch}

        def check(events, what):
            mids = [e["messageId"] for e in events]
            assert len(mids) == len(set(mids)), f"{what}: an event stored twice"
            assert set(mids) == everything, \
                f"{what}: missing {sorted(everything - set(mids))[:5]}, " \
                f"extra {sorted(set(mids) - everything)[:5]}"
            for e in events:
                if e["messageId"].startswith(("full", "fb")):
                    assert e["properties"] == {"pad": pad}, f"{what}: {e['messageId']} corrupted"
        check(server.all_events(), "after space returned")
        server.restart()
        check(server.all_events(), "after a restart")
        server.stop_ok()
        check(cli_events(server.data_dir, "--limit", "100000000"), "offline")
    finally:
        server.kill9()


def test_disk_full_at_start_of_segment(tiny_fs, tmp_path):
    """The file system is already full when the server starts: it must still start, refuse
    writes with 503, and accept them once space returns."""
    data = tiny_fs / "data"
    data.mkdir()
    server = Server(data, log_dir=tmp_path).prepare(write_keys=["dk"])
    filler = tiny_fs / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    try:
        try:
            server.start()
        except AssertionError:
            # refusing to start on a full disk is acceptable if it says why; then free space
            filler.unlink()
            server.start()
            return
        r = post_event(server, uid("f"), "z")
        assert r.status_code in (200, 503), r.text
        if r.status_code == 503:
            assert_retry_after(r)
        filler.unlink()
        mid = uid("f")
        wait_for(lambda: post_event(server, mid, "z").status_code == 200, timeout=20,
                 what="a 200 after the filler file was removed")
        assert server.event_by_mid(mid)["event"] == "fill"
        server.stop_ok()
    finally:
        server.kill9()
