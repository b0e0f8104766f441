"""Parts and manifests reach the disk in an order that survives a power cut: the server's
system calls, traced with strace (strace_trace.py), show for every manifest the server
publishes (flushes, a merge, an erasure):

1. DATA/MANIFEST.tmp created and written, fdatasync'd (or fsync'd) after its last write,
   renamed over DATA/MANIFEST, and DATA fsync'd as the publishing thread's very next step
   (opening the directory aside: nothing written, renamed, deleted or logged in between;
   nothing needs to read the new MANIFEST), all on that thread (src/core/fileio.c
   ff_io_write_file_atomic, src/store/manifest.c ff_manifest_publish). The next step and
   not merely a later one: the next flush's save of SESSIONS fsyncs DATA too, and would
   hide a missing fsync;
2. every part that manifest lists for the first time written as parts/NAME.tmp, fdatasync'd,
   renamed to parts/NAME, and parts/ fsync'd after that rename, all before the manifest's
   rename (src/store/part_write.c ff_part_writer_finish, src/store/store.c ff_store_publish);
3. a part that manifest no longer lists unlinked only after DATA is fsync'd for it
   (docs/internals/store.md, "The manifest").

Which parts a manifest lists is read from the bytes the server wrote to MANIFEST.tmp (strace
-s large enough to print them whole); the last of them must be the MANIFEST left on disk. No
other test fails when one of these fsyncs is dropped: the files are right after kill -9, only
not after a power cut.
"""

import datetime as dt
import os
import re
import struct

from harness import fmt_iso, now_utc, uid, wait_for
from strace_trace import first_fd, fd_number, strings, traced_server

TRACED = ("openat,?open,write,pwrite64,pwritev,pwritev2,writev,fsync,fdatasync,"
          "?rename,renameat,renameat2,close,unlink,unlinkat")
# the manifest's bytes are read from its write: print strings whole (-s), non-ASCII as \xNN
FLAGS = ("-s", "65536", "-x")
WRITE_CALLS = ("write", "pwrite64")  # what ff_io_write_all / write_raw use
SYNC_CALLS = ("fsync", "fdatasync")
RENAME_CALLS = ("rename", "renameat", "renameat2")
UNLINK_CALLS = ("unlink", "unlinkat")
FLUSHES = 4  # of one old day: a merge of that day follows (four or more candidates)


def test_parts_and_manifest_are_published_in_a_durable_order(footfall, tmp_path, monkeypatch):
    day = (now_utc() - dt.timedelta(days=30)).replace(hour=12, minute=0, second=0, microsecond=0)
    day_no = (day - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).days
    with traced_server(footfall, tmp_path, monkeypatch, TRACED, "--flush-interval-ms", "30",
                       flags=FLAGS) as traced:
        srv = traced.server
        for f in range(FLUSHES):
            gen = manifest_generation(srv.data_dir)
            # the first flush: two days and a quarantined item, so three parts at once
            items = [{"type": "track", "event": f"e{j % 3}", "userId": f"u{j % 4}", "messageId": uid("po"),
                      "timestamp": fmt_iso(day + dt.timedelta(days=(j % 2 if f == 0 else 0), minutes=j)),
                      "properties": {"j": j, "flush": f}} for j in range(40)]
            if f == 0:
                items.append({"type": "track", "userId": "u0"})  # no event name: quarantined
            r = srv.post_json("/v1/batch", {"batch": items}, write_key="k")
            assert r.status_code == 200, r.text
            wait_for(lambda: manifest_generation(srv.data_dir) > gen, timeout=5, what=f"flush {f + 1} published")
        merged_re = re.compile(rf"store: merged \d+ parts of day {day_no} into ")
        wait_for(lambda: merged_re.search(srv.log_path.read_text(errors="replace")), timeout=5,
                 what="a merge of the day's flushed parts")
        r = srv.request("DELETE", "/api/persons/u1")  # an erasure rewrites the parts holding u1
        assert r.status_code == 200 and r.json()["erased"] > 0, r.text

    data = os.path.realpath(srv.data_dir)
    parts_dir = os.path.join(data, "parts")
    tmp_name, man_name = os.path.join(data, "MANIFEST.tmp"), os.path.join(data, "MANIFEST")
    calls = traced.calls()

    pubs = [c for c in calls if c["name"] in RENAME_CALLS and rename_paths(c) == (tmp_name, man_name)]
    assert len(pubs) >= FLUSHES + 2, \
        f"expected a manifest published by each of {FLUSHES} flushes, a merge and an erasure; the trace " \
        f"renames MANIFEST.tmp to MANIFEST {len(pubs)} times"

    previous, prev_gen = set(), 0
    removed_any = new_q = 0
    for k, pub in enumerate(pubs):
        where = f"manifest {k + 1} of {len(pubs)} (rename at trace line {pub['entry'] + 1})"
        # 1. temp file written, synced, renamed, directory synced
        content = written_file(calls, pub, tmp_name, where)
        man = decode_manifest(content, where)
        assert man["generation"] == prev_gen + 1, \
            f"{where}: generation {man['generation']} after {prev_gen}: publishes overlapped or one is missing"
        prev_gen = man["generation"]
        assert pub["ret"] == 0, f"{where}: the rename failed: {pub['args']}"
        # the thread's next step after the rename (opening the directory aside) syncs the
        # directory: nothing is written, renamed, deleted or logged on an unsynced rename
        after = [c for c in calls if c["pid"] == pub["pid"] and c["entry"] > pub["exit"]
                 and not (c["name"] in ("openat", "open") and "O_RDONLY" in c["args"]) and c["name"] != "close"]
        assert after and after[0]["name"] in SYNC_CALLS and first_fd(after[0]) == data and after[0]["ret"] == 0, \
            (f"{where}: MANIFEST.tmp was renamed over MANIFEST and the data directory {data} was not fsync'd "
             f"next on the publishing thread: the rename may not survive a power cut. The thread's calls "
             f"after the rename: {summary(after)}")
        dir_synced = after[0]["exit"]

        # 2. every part it lists for the first time: in place and its directory synced before
        names = set(man["parts"])
        for name in sorted(names - previous):
            part, part_tmp = os.path.join(parts_dir, name), os.path.join(parts_dir, name + ".tmp")
            pw = f"{where}: part {name}"
            renames = [c for c in calls if c["name"] in RENAME_CALLS and c["exit"] < pub["entry"]
                       and rename_paths(c) == (part_tmp, part)]
            assert renames, f"{pw} is listed, but no rename of {name}.tmp to {name} came before the manifest's"
            pr = renames[-1]
            assert pr["ret"] == 0, f"{pw}: its rename failed: {pr['args']}"
            written_file(calls, pr, part_tmp, pw)
            syncs = [c for c in calls if c["name"] in SYNC_CALLS and c["ret"] == 0 and first_fd(c) == parts_dir
                     and pr["exit"] < c["entry"] and c["exit"] < pub["entry"]]
            assert syncs, (f"{pw}: no fsync of {parts_dir} between the part's rename (trace line "
                           f"{pr['exit'] + 1}) and the manifest's rename that first lists it (line "
                           f"{pub['entry'] + 1}): after a power cut the manifest may name a missing file")
            new_q += name.startswith("q-")

        # 3. a part it no longer lists is deleted only once the manifest is durable
        for name in sorted(previous - names):
            removed_any += 1
            path = os.path.join(parts_dir, name)
            early = [c for c in calls if c["name"] in UNLINK_CALLS and c["entry"] < dir_synced
                     and unlink_path(c) == path]
            assert not early, (f"{where}: part {name}, which the manifest before it listed, was unlinked at trace "
                               f"line {early[0]['entry'] + 1}, before the new manifest's directory was fsync'd "
                               f"(line {dir_synced + 1})")
        previous = names

    assert removed_any, "no manifest in the trace replaced parts: the merge and the erasure were not seen"
    assert new_q, "no quarantine part was published"
    with open(man_name, "rb") as f:
        assert f.read() == content, "the MANIFEST on disk is not the last one the trace shows written"


def manifest_generation(data_dir):
    try:
        with open(os.path.join(data_dir, "MANIFEST"), "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        return 0
    return struct.unpack_from("<Q", head, 8)[0] if len(head) == 16 else 0


def decode_manifest(b, where):
    """Generation and part names of a manifest (format: src/store/manifest.h)."""
    nfmt = {b"FFMANIF2": 5, b"FFMANIF1": 4}.get(b[:8])
    assert nfmt, f"{where}: not a manifest: {b[:16]!r}"
    gen = struct.unpack_from("<Q", b, 8)[0]
    at = 8 + 8 * 3 + 8 * nfmt * 2
    (nparts,) = struct.unpack_from("<I", b, at)
    at += 4
    parts = []
    for _ in range(nparts):
        n = shift = 0
        while True:
            byte = b[at]
            at += 1
            n |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        parts.append(b[at:at + n].decode())
        at += n + 1 + 4 + 8 * 6
    assert at + 8 == len(b), f"{where}: {len(b)} bytes, the parts end at {at} (+ 8 for the checksum)"
    return {"generation": gen, "parts": parts}


def written_file(calls, rename, tmp, where):
    """The file `tmp` that `rename` moved: created on the renaming thread, written, then
    fdatasync'd (or fsync'd) after its last write and before the rename. Returns its bytes."""
    created = [c for c in calls if c["pid"] == rename["pid"] and c["exit"] < rename["entry"] and is_create(c, tmp)]
    assert created, f"{where}: no open(O_CREAT) of {tmp} on the renaming thread before its rename"
    op = created[-1]
    fd = op["ret"]
    on_fd = [c for c in calls if c["pid"] == rename["pid"] and op["exit"] < c["entry"] and c["exit"] < rename["entry"]
             and fd_number(c) == fd and first_fd(c) == tmp]
    writes = [c for c in on_fd if c["name"] in WRITE_CALLS]
    assert writes, f"{where}: nothing written to {tmp} between its open and its rename"
    content = b""
    for w in writes:
        (s, cut), *_ = strings(w)
        assert w["ret"] == len(s) and not cut, f"{where}: a short or unprinted write to {tmp}: {w['args'][-80:]}"
        content += s
    syncs = [c for c in on_fd if c["name"] in SYNC_CALLS and c["ret"] == 0 and c["entry"] > writes[-1]["exit"]]
    assert syncs, (f"{where}: {tmp} was renamed into place (trace line {rename['entry'] + 1}) without an "
                   f"fdatasync or fsync after its last write (line {writes[-1]['exit'] + 1}): the new name may "
                   f"point at missing data after a power cut. Calls on it: {[c['name'] for c in on_fd]}")
    return content


def is_create(call, path):
    return call["name"] in ("openat", "open") and call["ret_path"] == path and "O_CREAT" in call["args"] \
        and (call["ret"] or -1) >= 0


def rename_paths(call):
    """(from, to) of a rename, as absolute paths with their directory resolved (the harness
    gives the server an absolute --data, and the store joins its paths onto it)."""
    ss = [s.decode("utf-8", "replace") for s, _ in strings(call)[:2]]
    return tuple(resolve(p) for p in ss) if len(ss) == 2 else None


def unlink_path(call):
    ss = strings(call)
    return resolve(ss[0][0].decode("utf-8", "replace")) if ss else None


def resolve(p):
    if not os.path.isabs(p):
        return None
    return os.path.join(os.path.realpath(os.path.dirname(p)), os.path.basename(p))


def summary(calls):
    return [f"line {c['entry'] + 1}: {c['name']}({first_fd(c) or c['args'][:80]}) = {c['ret_path'] or c['ret']}" for c in calls[:6]]


def test_strace_strings_and_returned_paths():
    # what the checks above read from a trace: the path -yy gives a returned fd, quoted
    # strings decoded (\xNN with -x, octal and C escapes without), and a cut string noticed
    from strace_trace import parse_strace
    op, wr, cut, rn = parse_strace("\n".join([
        '9 1.0 openat(AT_FDCWD</w>, "/d/MANIFEST.tmp", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644) = 31</d/MANIFEST.tmp>',
        '9 1.1 write(31</d/MANIFEST.tmp>, "\\x46F\\x00\\"\\\\\\n", 6) = 6',
        '9 1.2 write(31</d/MANIFEST.tmp>, "a\\0\\1777"..., 9) = 9',
        '9 1.3 renameat2(AT_FDCWD</w>, "/d/MANIFEST.tmp", AT_FDCWD</w>, "/d/MANIFEST", 0) = 0',
    ]))
    assert (op["ret"], op["ret_path"]) == (31, "/d/MANIFEST.tmp") and is_create(op, "/d/MANIFEST.tmp")
    assert (fd_number(wr), first_fd(wr), wr["ret"]) == (31, "/d/MANIFEST.tmp", 6)
    assert strings(wr) == [(b'FF\x00"\\\n', False)]
    assert strings(cut) == [(b"a\x00\x7f7", True)]
    assert [s for s, _ in strings(rn)] == [b"/d/MANIFEST.tmp", b"/d/MANIFEST"] and rn["ret"] == 0
