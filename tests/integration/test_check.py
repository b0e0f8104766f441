"""footfall check [--repair]: every checksum verified; a flipped bit caught with file and
offset while the rest stays readable; damaged parts set aside, a torn WAL tail cut and a
damaged manifest rebuilt, so that the server starts with every undamaged event once."""

import shutil

from harness import cli, uid, wait_for


def fill(footfall, n=60, days=3):
    srv = footfall.start("--flush-interval-ms", "30")
    mids = []
    for d in range(days):
        items = [{"type": "track", "event": "e", "userId": f"u{i % 5}", "messageId": uid(),
                  "timestamp": f"2026-02-1{d}T10:{i % 60:02d}:00Z", "properties": {"i": i}}
                 for i in range(n // days)]
        mids += [it["messageId"] for it in items]
        assert srv.post_json("/v1/batch", {"batch": items}, write_key="k").status_code == 200
    wait_for(lambda: len(list((srv.data_dir / "parts").glob("*.part"))) >= days, timeout=10, what="parts")
    srv.stop_ok()
    return srv, mids


def parts(srv):
    return sorted((srv.data_dir / "parts").glob("*.part"))


def flip(path, offset):
    b = bytearray(path.read_bytes())
    b[offset] ^= 0x20
    path.write_bytes(bytes(b))


def stored(srv):
    return [e["messageId"] for e in srv.events(limit=10000)]


def test_healthy_directory_checks_clean(footfall):
    srv, _ = fill(footfall)
    out = cli("check", "--data", srv.data_dir)
    assert "0 problems found" in out.stdout, out.stdout


def test_flipped_bit_in_a_chunk(footfall):
    srv, mids = fill(footfall)
    victim = parts(srv)[0]
    flip(victim, 200)  # inside the first chunks, well before the footer
    out = cli("check", "--data", srv.data_dir, check=False)
    assert out.returncode == 1
    assert "DAMAGED" in out.stdout and str(victim) in out.stdout and "offset" in out.stdout, out.stdout
    # the server still starts and answers with everything else
    srv.start()
    got = stored(srv)
    assert 0 < len(got) < len(mids) and set(got) <= set(mids)
    srv.stop_ok()
    out = cli("check", "--data", srv.data_dir, "--repair")
    assert "moved to" in out.stdout, out.stdout
    assert (srv.data_dir / "damaged" / victim.name).exists()
    assert "0 problems found" in cli("check", "--data", srv.data_dir).stdout
    srv.start()
    assert sorted(stored(srv)) == sorted(got), "the repair set aside only the damaged part"


def test_damaged_footer_stops_the_server_until_repaired(footfall):
    srv, mids = fill(footfall)
    victim = parts(srv)[-1]
    flip(victim, victim.stat().st_size - 40)  # the footer
    refused = cli("serve", "--listen", "127.0.0.1:0", "--data", srv.data_dir, check=False, timeout=20)
    assert refused.returncode == 1, "a part whose footer is damaged stops the start, not skipped silently"
    assert "footer" in refused.stderr and str(victim) in refused.stderr, refused.stderr
    cli("check", "--data", srv.data_dir, "--repair")
    srv.start()
    assert set(stored(srv)) < set(mids)


def test_torn_wal_tail_is_cut(footfall):
    srv, mids = fill(footfall)
    seg = sorted((srv.data_dir / "wal").glob("*.wal"))[-1]
    with open(seg, "ab") as f:
        f.write(b"FRAM" + b"\x01" * 50)
    out = cli("check", "--data", srv.data_dir, check=False)
    assert out.returncode == 1 and "torn tail" in out.stdout, out.stdout
    out = cli("check", "--data", srv.data_dir, "--repair")
    assert "torn WAL tail" in out.stdout, out.stdout
    assert "0 problems found" in cli("check", "--data", srv.data_dir).stdout
    srv.start()
    assert sorted(stored(srv)) == sorted(mids)


def test_damaged_manifest_is_rebuilt_without_duplicates(footfall):
    srv, mids = fill(footfall)
    # a merge's input left beside its output: the same events under a second name
    first = parts(srv)[0]
    shutil.copy(first, first.with_name("00099999-999999.part"))
    flip(srv.data_dir / "MANIFEST", 20)
    out = cli("check", "--data", srv.data_dir, check=False)
    assert out.returncode == 1 and "MANIFEST" in out.stdout
    out = cli("check", "--data", srv.data_dir, "--repair")
    assert "rebuilt" in out.stdout and "a merge's input" in out.stdout, out.stdout
    srv.start()
    got = stored(srv)
    assert sorted(got) == sorted(mids), "every event once after the rebuild"


def test_flushed_wal_segments_leave_keys_files(footfall):
    """A finished WAL segment whose events are in parts is deleted at once; its keys file
    still recognises retries after a restart; a damaged keys file is reported by the check."""
    srv = footfall.start("--flush-interval-ms", "30", "--wal-segment-bytes", "4096")
    batches = []
    for b in range(40):
        items = [{"type": "track", "event": "e", "userId": f"u{i}", "messageId": uid(),
                  "properties": {"pad": "".join(uid() for _ in range(8)), "i": i}} for i in range(4)]
        batches.append(items)
        assert srv.post_json("/v1/batch", {"batch": items}, write_key="k").status_code == 200
    wal = srv.data_dir / "wal"

    def deleted_with_keys():
        keys = {p.stem for p in wal.glob("*.dedup")}
        return len(keys) >= 3 and len(keys - {p.stem for p in wal.glob("*.wal")}) >= 3
    wait_for(deleted_with_keys, timeout=10, what="flushed segments deleted, keys files kept")
    srv.stop_ok()
    srv.start()
    for items in batches:
        assert srv.post_json("/v1/batch", {"batch": items}, write_key="k").status_code == 200
    st = srv.stats()
    assert st["stored"] == 160 and st["deduplicated"] == 160, st
    srv.stop_ok()
    assert "0 problems found" in cli("check", "--data", srv.data_dir).stdout
    victim = [k for k in sorted(wal.glob("*.dedup")) if not k.with_suffix(".wal").exists()][0]
    flip(victim, 30)
    out = cli("check", "--data", srv.data_dir, check=False)
    assert out.returncode == 1 and str(victim) in out.stdout and "checksum" in out.stdout, out.stdout
    # its segment is gone, so nothing can rebuild it: --repair sets it aside
    out = cli("check", "--data", srv.data_dir, "--repair")
    assert "dedup keys files moved to" in out.stdout, out.stdout
    assert (srv.data_dir / "damaged" / victim.name).exists() and not victim.exists()
    assert "0 problems found" in cli("check", "--data", srv.data_dir).stdout
    srv.start()
    assert srv.stats()["held"] == 160
    srv.stop_ok()


def test_damaged_identity_and_sessions_are_set_aside(footfall):
    """The identity map and the sessions stop a start when damaged; the check names them and
    --repair sets them (and their journals) aside, so the server starts with every event."""
    srv, mids = fill(footfall)
    # an identify and more events: links and sessions, in files and journals
    srv.start()
    assert srv.post_json("/v1/identify", {"userId": "u1", "anonymousId": "anon-1", "messageId": uid()},
                         write_key="k").status_code == 200
    srv.stop_ok()
    for name in ("IDENTITY", "SESSIONS"):
        assert (srv.data_dir / name).exists(), name
    flip(srv.data_dir / "SESSIONS", 12)
    flip(srv.data_dir / "IDENTITY", 12)
    refused = cli("serve", "--listen", "127.0.0.1:0", "--data", srv.data_dir, check=False, timeout=20)
    assert refused.returncode == 1 and "damaged" in refused.stderr, refused.stderr
    out = cli("check", "--data", srv.data_dir, check=False)
    assert out.returncode == 1, out.stdout
    assert "IDENTITY" in out.stdout and "SESSIONS" in out.stdout and "2 problems found" in out.stdout, out.stdout
    out = cli("check", "--data", srv.data_dir, "--repair")
    assert "the identity map" in out.stdout and "the sessions" in out.stdout, out.stdout
    assert (srv.data_dir / "damaged" / "IDENTITY").exists() and (srv.data_dir / "damaged" / "SESSIONS").exists()
    assert "0 problems found" in cli("check", "--data", srv.data_dir).stdout
    srv.start()
    assert set(mids) <= set(stored(srv))
    srv.stop_ok()
