"""Run the server under strace and read the trace back: shared by the tests that check the
order of the server's system calls (test_durable_ack.py, test_publish_order.py).

traced_server() starts `serve` under `strace -f -ttt -yy` (the project set-up before it runs
untraced) and stops it on leaving; parse_strace() turns the log into one dict per system call
with the thread, the arguments, the result and the trace lines of its start and its end, so
that a test can say "this call ended before that one began".
"""

import contextlib
import os
import re
import shutil
import signal
import stat

import harness
from harness import wait_for

# strace -f -ttt -yy lines: "PID SECONDS.MICROS REST"
LINE_RE = re.compile(r"^(\d+)\s+\d+\.\d+\s+(.*)$")
CALL_RE = re.compile(r"^([a-z_0-9]+)\((.*)$", re.S)
RESUMED_RE = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>(.*)$", re.S)
# the result, and with -yy the path of a file descriptor returned ("= 7</d/MANIFEST.tmp>")
RET_RE = re.compile(r"\)\s+=\s+(-?\d+|\?)(?:<([^>]*)>)?(?:\s+[^\"]*)?$")
UNFINISHED = " <unfinished ...>"
# a quoted string argument as strace prints it, and whether it was cut at -s ("..."")
STRING_RE = re.compile(r'"((?:[^"\\]|\\.)*)"(\.\.\.)?', re.S)
ESCAPES = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "a": 7, "b": 8, '"': 34, "\\": 92, "'": 39}


class Traced:
    """A server running under strace: .server (harness.Server), .pid (the server's own pid,
    strace's child) and .log (the trace file, complete once the block has left)."""

    def __init__(self, server, pid, log):
        self.server, self.pid, self.log = server, pid, log

    def calls(self):
        return parse_strace(self.log.read_text(errors="replace"))


@contextlib.contextmanager
def traced_server(footfall, tmp_path, monkeypatch, syscalls, *args, flags=("-s", "48")):
    """Start `footfall serve ARGS` under `strace -f -ttt -yy FLAGS -e trace=SYSCALLS` and yield
    a Traced; on leaving, stop the server with SIGTERM (it must exit 0)."""
    strace = shutil.which("strace")
    assert strace, "strace is not installed: scripts/setup test installs it (Debian package strace)"
    log = tmp_path / "strace.log"
    # strace passes stdout through, so the harness sees "listening on"; the server is
    # strace's child.
    wrapper = tmp_path / "footfall-strace"
    opts = " ".join(f'"{f}"' for f in flags)
    # LeakSanitizer cannot run under ptrace (an ASan build would exit 1 at its end): under
    # strace the leak check is left to the other tests' runs of the same build
    wrapper.write_text("#!/bin/sh\n"
                       f'[ "$1" = serve ] || exec "{harness.BINARY}" "$@"\n'
                       'ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"; export ASAN_OPTIONS\n'
                       f'exec "{strace}" -f -ttt -yy {opts} -o "{log}" -e trace={syscalls} '
                       f'"{harness.BINARY}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(harness, "BINARY", wrapper)
    server = footfall.start(*args)
    pid = wait_for(lambda: _traced_child(server.proc.pid), timeout=5, what="the traced server process")
    try:
        yield Traced(server, pid, log)
    finally:
        # strace does not pass SIGTERM on while it runs a command: stop the server itself,
        # and strace ends with the server's exit code
        os.kill(pid, signal.SIGTERM)
        server.stop_ok()


def _traced_child(tracer):
    with open(f"/proc/{tracer}/task/{tracer}/children") as f:
        kids = f.read().split()
    assert len(kids) <= 1, kids
    return int(kids[0]) if kids else None


def parse_strace(text):
    """System calls of an `strace -f -ttt -yy` log, in the order strace saw them: dicts with
    pid, name, args (the text between the parentheses and the result), ret (int or None),
    ret_path (the path -yy printed for a file descriptor returned, or None), entry and exit
    (line numbers of the call's start and its end). A call another thread's line interrupted
    is printed as "<unfinished ...>" and then "<... NAME resumed>": the two halves are joined
    per thread."""
    calls, open_calls = [], {}
    for n, line in enumerate(text.splitlines()):
        m = LINE_RE.match(line)
        if not m:
            continue
        pid, rest = int(m.group(1)), m.group(2)
        if rest.startswith(("---", "+++")):  # signals, exits
            continue
        r = RESUMED_RE.match(rest)
        if r:
            call = open_calls.pop(pid, None)
            assert call is not None and call["name"] == r.group(1), \
                f"trace line {n + 1}: a resumed {r.group(1)} that thread {pid} did not start: {line!r}"
            call["args"] += r.group(2)
            call["exit"] = n
        else:
            c = CALL_RE.match(rest)
            if not c:
                continue
            call = {"pid": pid, "name": c.group(1), "args": c.group(2), "entry": n, "exit": n}
            if rest.endswith(UNFINISHED):
                assert pid not in open_calls, f"trace line {n + 1}: thread {pid} starts a call inside another"
                call["args"] = call["args"][:-len(UNFINISHED)]
                open_calls[pid] = call
                calls.append(call)
                continue
            calls.append(call)
        ret = RET_RE.search(call["args"])
        call["ret"] = None if not ret or ret.group(1) == "?" else int(ret.group(1))
        call["ret_path"] = ret.group(2) if ret else None
    return calls


def first_fd(call):
    """The path or socket strace -yy printed for the call's first argument ("8</x/y.wal>")."""
    m = re.match(r"\d+<(.*?)>(?:,|\)| )", call["args"])
    return m.group(1) if m else ""


def fd_number(call):
    """The call's first argument as a file descriptor number, or None."""
    m = re.match(r"(\d+)<", call["args"])
    return int(m.group(1)) if m else None


def strings(call):
    """The call's quoted string arguments, decoded to bytes, each with whether strace cut it
    short (-s): [(bytes, truncated)]."""
    return [(unescape(m.group(1)), m.group(2) is not None) for m in STRING_RE.finditer(call["args"])]


def unescape(s):
    """Bytes of a string as strace prints it (C escapes; \\xNN with -x, octal without)."""
    out, i = bytearray(), 0
    while i < len(s):
        ch = s[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        nxt = s[i + 1]
        if nxt == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif nxt in "01234567":
            j = i + 1
            while j < len(s) and j < i + 4 and s[j] in "01234567":
                j += 1
            out.append(int(s[i + 1:j], 8))
            i = j
        else:
            out.append(ESCAPES[nxt])
            i += 2
    return bytes(out)
