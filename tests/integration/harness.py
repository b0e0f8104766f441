"""Test harness for footfall: start the real binary, talk HTTP to it, poll with deadlines.

Used by tests/integration and tests/crash.  Nothing here sleeps and hopes: every wait is a
poll for a condition with a deadline, and a timeout fails with a message that says what was
being waited for (plus the tail of the server's log).
"""

import base64
import datetime as dt
import gzip
import json
import os
import random
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("FOOTFALL_BIN", REPO / "build" / "footfall"))
CASES = Path(__file__).resolve().parent / "cases"

LISTEN_RE = re.compile(r"listening on http://127\.0\.0\.1:(\d+)\s*$")
WRITE_KEY_RE = re.compile(r"^\s*write key:\s+(\S+)")
READ_KEY_RE = re.compile(r"^\s*read key:\s+(\S+)")
# Write keys the tests send literally (the documentation's examples among them): the default
# project of a test server takes them all (Server.prepare), so a test can show where a key
# was read from.
TEST_WRITE_KEYS = ["k", "kk", "YOUR_WRITE_KEY", "DmBXIN4JnwqBnTqXccTF0wBnLXNQmFtk", "abc123", "wk_live_123",
                   "seedkey", "ik", "ck", "bk", "pk", "body-key", "wk", "key-1", "key-2", "sdk-write-key",
                   "gk", "dk", "crash-key", "gzk"]

# Where a request needs the write key (ingest) rather than the read key (everything else
# under /api/).
INGEST_PATHS = ("/v1/", "/api/track", "/api/import", "/p.gif")
ISO_MS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

START_DEADLINE = 15.0
STOP_DEADLINE = 15.0
HTTP_TIMEOUT = 15.0


class Timeout(AssertionError):
    pass


def wait_for(cond, timeout=10.0, interval=0.02, what="condition"):
    """Poll cond() until it returns a truthy value; return that value.

    Exceptions raised by cond are remembered and retried until the deadline; the last one is
    reported if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = cond()
            if v:
                return v
            last_exc = None
        except Exception as e:  # noqa: BLE001 - polled condition may fail transiently
            last_exc = e
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout}s waiting for {what}"
            if last_exc is not None:
                msg += f" (last error: {last_exc!r})"
            raise Timeout(msg)
        time.sleep(interval)


def require_binary():
    if not BINARY.exists():
        raise AssertionError(f"{BINARY} does not exist: build it with `make` first")


# ---------------------------------------------------------------------------------------------
# time helpers

def parse_iso(s):
    """Parse an ISO 8601 UTC timestamp as footfall prints it (…T…Z with milliseconds)."""
    assert isinstance(s, str), f"expected an ISO timestamp string, got {s!r}"
    assert ISO_MS_RE.match(s), f"not ISO 8601 UTC with milliseconds: {s!r}"
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)


def fmt_iso(t):
    t = t.astimezone(dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def ms(t):
    """Milliseconds since the epoch of an aware datetime (exact integer)."""
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def now_utc():
    return dt.datetime.now(dt.timezone.utc)


# ---------------------------------------------------------------------------------------------
# raw HTTP over a socket (for pipelining, chunked bodies, partial requests, header limits)

class RawConn:
    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by server")
        self.buf += chunk

    def _read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_request=False):
        """Read one HTTP/1.x response; returns (status, headers (lower-case keys), body)."""
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        assert m, f"bad status line {lines[0]!r}"
        status = int(m.group(1))
        headers = {}
        for line in lines[1:]:
            if not line:
                continue
            k, _, v = line.partition(":")
            k = k.strip().lower()
            v = v.strip()
            headers[k] = headers[k] + ", " + v if k in headers else v
        if 100 <= status < 200:
            return status, headers, b""
        if head_request or status in (204, 304):
            return status, headers, b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size_line = self._read_until(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    self._read_until(b"\r\n")  # (no trailers expected)
                    break
                body += self._read_exact(size)
                self._read_exact(2)
            return status, headers, body
        if "content-length" in headers:
            return status, headers, self._read_exact(int(headers["content-length"]))
        # read until close
        try:
            while True:
                self._fill()
        except ConnectionError:
            pass
        body, self.buf = self.buf, b""
        return status, headers, body

    def wait_closed(self, timeout):
        """Wait until the server closes the connection; return any bytes received before that.

        Raises Timeout if the connection is still open after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        got = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"server did not close the connection within {timeout}s "
                              f"(received {got[:200]!r})")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return got
            if not chunk:
                return got
            got += chunk


def build_request(method, path, body=b"", headers=None, chunked=False):
    if isinstance(body, str):
        body = body.encode()
    hs = {"Host": "127.0.0.1"}
    hs.update(headers or {})
    lines = [f"{method} {path} HTTP/1.1"]
    for k, v in hs.items():
        lines.append(f"{k}: {v}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        data = b""
        step = max(1, len(body) // 3 + 1)
        for i in range(0, len(body), step):
            part = body[i:i + step]
            data += f"{len(part):x}\r\n".encode() + part + b"\r\n"
        data += b"0\r\n\r\n"
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + data
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# ---------------------------------------------------------------------------------------------
# case files: literal requests copied from each format's documentation

class Case:
    """A request read from tests/integration/cases/<name>.http.

    Format: leading lines starting with '#' are comments (they cite the source); then a request
    line (`METHOD /path`), header lines, an empty line, and the body verbatim. Content-Length
    and Host are added when sent."""

    def __init__(self, name):
        self.name = name
        text = (CASES / f"{name}.http").read_text(encoding="utf-8")
        lines = text.split("\n")
        while lines and (lines[0].startswith("#") or not lines[0].strip()):
            lines.pop(0)
        method, path = lines.pop(0).split(" ", 1)
        self.method, self.path = method.strip(), path.strip()
        self.headers = {}
        while lines and lines[0].strip():
            k, _, v = lines.pop(0).partition(":")
            self.headers[k.strip()] = v.strip()
        if lines:
            lines.pop(0)
        self.body = "\n".join(lines).rstrip("\n").encode("utf-8")

    def json(self):
        return json.loads(self.body)

    def send(self, server):
        return requests.request(self.method, server.url(self.path), data=self.body or None,
                                headers=self.headers, timeout=HTTP_TIMEOUT)


# ---------------------------------------------------------------------------------------------
# the server process

class Server:
    """A footfall process. Its project keys are those the first start prints (project
    "default"), or those prepare() made; get/post/request send them unless the call has its
    own Authorization header or says nokey=True."""
    _seq = 0

    def __init__(self, data_dir, args=(), log_dir=None):
        require_binary()
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.write_key = None
        self.read_key = None
        self.args = list(args)
        Server._seq += 1
        self.log_dir = Path(log_dir or self.data_dir.parent)
        self.log_path = self.log_dir / f"footfall-{Server._seq}.log"
        self.proc = None
        self.port = None
        self.stdout_lines = queue.Queue()
        self.session = requests.Session()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, deadline=START_DEADLINE):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.session = requests.Session()
        self._log = open(self.log_path, "ab")
        cmd = [str(BINARY), "serve", "--listen", "127.0.0.1:0", "--data", str(self.data_dir),
               *self.args]
        self._log.write(f"=== {' '.join(cmd)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log,
                                     stdin=subprocess.DEVNULL)
        lines = queue.Queue()
        self.stdout_lines = lines

        def pump(proc=self.proc, log=self._log):
            for raw in proc.stdout:
                lines.put(raw.decode("utf-8", "replace"))
                try:
                    log.write(b"[stdout] " + raw)
                    log.flush()
                except ValueError:
                    pass
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        end = time.monotonic() + deadline
        seen = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                self.kill9()
                raise Timeout(f"no 'listening on' line within {deadline}s; stdout={seen!r}\n"
                              + self.log_tail())
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                rc = self.proc.wait()
                raise AssertionError(f"footfall exited with {rc} before listening; "
                                     f"stdout={seen!r}\n" + self.log_tail())
            seen.append(line)
            k = WRITE_KEY_RE.match(line)
            if k:
                self.write_key = k.group(1)
            k = READ_KEY_RE.match(line)
            if k:
                self.read_key = k.group(1)
            m = LISTEN_RE.search(line.strip())
            if m:
                self.port = int(m.group(1))
                assert self.port != 0, "printed port 0 instead of the actual port"
                return self

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_DEADLINE):
        """Send SIGTERM (or sig), wait for exit, return the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Timeout(f"footfall did not exit within {timeout}s of {sig!r}\n" + self.log_tail())
        self.session.close()
        return rc

    def stop_ok(self):
        rc = self.stop()
        assert rc == 0, f"footfall exited with {rc} on SIGTERM (expected 0)\n" + self.log_tail()

    def restart(self):
        self.stop_ok()
        return self.start()

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.session.close()

    def log_tail(self, n=4000):
        try:
            data = self.log_path.read_bytes()[-n:]
        except OSError:
            return "(no server log)"
        return "--- server log tail ---\n" + data.decode("utf-8", "replace")

    # -- HTTP -------------------------------------------------------------------------------

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, path):
        return self.base + path

    # -- projects ---------------------------------------------------------------------------

    def prepare(self, write_keys=(), **settings):
        """Before the first start: make project "default" with the CLI, add write keys SDKs
        already use, and apply settings (accept_keyless="on", ...)."""
        assert not (self.data_dir / "projects.db").exists(), "prepare() is for a new data directory"
        given = [a for k in write_keys for a in ("--write-key", k)]
        out = cli("project", "create", "default", *given, "--data", self.data_dir, "--json").stdout
        keys = json.loads(out)
        self.write_key, self.read_key = keys["write_key"], keys["read_key"]
        for name, value in settings.items():
            cli("project", "set", "default", name.replace("_", "-"), value, "--data", self.data_dir)
        return self

    def auth_header(self, path):
        """The Authorization header this server's keys give a request for `path`."""
        p = path.split("?", 1)[0]
        if p.startswith(INGEST_PATHS):
            return basic_auth(self.write_key) if self.write_key else None
        if p.startswith("/api/"):
            return f"Bearer {self.read_key}" if self.read_key else None
        return None

    def _with_key(self, path, kw):
        kw.setdefault("timeout", HTTP_TIMEOUT)
        headers = dict(kw.pop("headers", None) or {})
        if not kw.pop("nokey", False) and "auth" not in kw and \
                not any(k.lower() == "authorization" for k in headers):
            a = self.auth_header(path)
            if a:
                headers["Authorization"] = a
        kw["headers"] = headers
        return kw

    def get(self, path, **kw):
        return self.session.get(self.url(path), **self._with_key(path, kw))

    def post(self, path, **kw):
        return self.session.post(self.url(path), **self._with_key(path, kw))

    def request(self, method, path, **kw):
        return self.session.request(method, self.url(path), **self._with_key(path, kw))

    def post_json(self, path, obj, write_key=None, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        headers.setdefault("Content-Type", "application/json")
        if write_key is not None:
            headers["Authorization"] = basic_auth(write_key)
        return self.post(path, data=json.dumps(obj).encode(), headers=headers, **kw)

    def raw(self, timeout=10.0):
        return RawConn(self.port, timeout=timeout)

    # -- reading back -----------------------------------------------------------------------

    def events(self, **params):
        r = self.get("/api/events", params=params)
        assert r.status_code == 200, f"/api/events -> {r.status_code} {r.text[:500]}"
        assert_json_ct(r)
        body = r.json()
        assert isinstance(body.get("events"), list), body
        return body["events"]

    def all_events(self):
        # the API caps limit at 100000 (400 past it); no test stores more than that
        return self.events(limit=100_000)

    def event_by_mid(self, mid, **params):
        params.setdefault("limit", 100_000)
        found = [e for e in self.events(**params) if e.get("messageId") == mid]
        assert len(found) == 1, f"expected exactly one stored event with messageId {mid!r}, " \
                                f"found {len(found)}"
        return found[0]

    def quarantine(self, limit=100):
        r = self.get("/api/quarantine", params={"limit": limit})
        assert r.status_code == 200, f"/api/quarantine -> {r.status_code} {r.text[:500]}"
        assert_json_ct(r)
        return r.json()["items"]

    def stats(self):
        r = self.get("/api/stats")
        assert r.status_code == 200, r.text
        assert_json_ct(r)
        return r.json()

    def metrics(self):
        r = self.get("/metrics")
        assert r.status_code == 200, r.text
        return r.text


def cli(*args, timeout=30, check=True):
    """Run `footfall ARGS…` and return the CompletedProcess (text mode)."""
    require_binary()
    p = subprocess.run([str(BINARY), *map(str, args)], capture_output=True, timeout=timeout,
                       text=True, stdin=subprocess.DEVNULL)
    if check:
        assert p.returncode == 0, f"footfall {' '.join(map(str, args))} exited {p.returncode}: " \
                                  f"{p.stderr[-2000:]}"
    return p


def ndjson(text):
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError as e:
            raise AssertionError(f"line {i} of NDJSON output is not JSON: {line[:200]!r}") from e
    return out


def cli_events(data_dir, *extra):
    return ndjson(cli("events", "--data", data_dir, *extra).stdout)


# ---------------------------------------------------------------------------------------------
# small helpers

def basic_auth(write_key):
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def assert_json_ct(r):
    ct = r.headers.get("Content-Type", "")
    assert ct.split(";")[0].strip().lower() == "application/json", \
        f"{r.request.method} {r.url} -> Content-Type {ct!r}, expected application/json"


def gz(data):
    if isinstance(data, str):
        data = data.encode()
    return gzip.compress(data)


_uniq = [0]
_uniq_lock = threading.Lock()


def uid(prefix="m"):
    with _uniq_lock:
        _uniq[0] += 1
        n = _uniq[0]
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns()}-{n}"


GIF_MAGIC = b"GIF89a"


def send_daily_counts(server, first, days, base, weekday_extra, spike_day, spike_factor, users, seed, key="k"):
    """One "Signed In" a person at random times of each UTC day from `first`: `base` a day
    (+ `weekday_extra` on weekdays, + 0-5 at random), `spike_factor` times that on
    `spike_day`. Returns the day counts."""
    rnd = random.Random(seed)
    counts, evs = [], []
    for day in range(days):
        c = base + (weekday_extra if day % 7 < 5 else 0) + rnd.randrange(6 if base < 30 else 5)
        if day == spike_day:
            c *= spike_factor
        counts.append(c)
        for i in range(c):
            t = first + dt.timedelta(days=day, seconds=rnd.randrange(86400))
            evs.append({"type": "track", "event": "Signed In", "userId": f"p{i % users}",
                        "timestamp": fmt_iso(t), "messageId": uid()})
    for i in range(0, len(evs), 500):
        assert server.post_json("/v1/batch", {"batch": evs[i:i + 500]}, write_key=key).status_code == 200
    return counts


def assert_gif_1x1(r):
    ct = r.headers.get("Content-Type", "")
    assert ct.split(";")[0].strip().lower() == "image/gif", f"Content-Type {ct!r}"
    b = r.content
    assert b.startswith(GIF_MAGIC), f"body is not a GIF89a: {b[:20]!r}"
    assert len(b) >= 13, "GIF shorter than its header"
    w = int.from_bytes(b[6:8], "little")
    h = int.from_bytes(b[8:10], "little")
    assert (w, h) == (1, 1), f"GIF is {w}x{h}, expected 1x1"
    assert b.endswith(b";"), "GIF lacks its trailer byte 0x3B"


def parse_prometheus(text):
    """Parse Prometheus text exposition format 0.0.4 strictly enough to catch malformed output.

    Returns (types: {family: type}, samples: [(name, labels dict, value float)])."""
    types, helps, samples = {}, {}, []
    name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
    sample_re = re.compile(
        rf"^({name_re})(\{{(.*)\}})?\s+(\S+)(\s+-?\d+)?$")
    label_re = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')
    assert text.endswith("\n"), "exposition must end with a newline"
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                assert len(parts) == 4, f"line {n}: bad TYPE line {line!r}"
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
                assert parts[2] not in types, f"line {n}: second TYPE for {parts[2]}"
                assert not any(s[0] == parts[2] or s[0].startswith(parts[2] + "_")
                               and s[0][len(parts[2]) + 1:] in ("bucket", "sum", "count", "total")
                               for s in samples), f"line {n}: TYPE after samples of {parts[2]}"
                types[parts[2]] = parts[3]
            elif len(parts) >= 3 and parts[1] == "HELP":
                helps[parts[2]] = parts[3] if len(parts) > 3 else ""
            continue
        m = sample_re.match(line)
        assert m, f"line {n}: not a sample line: {line!r}"
        name, labels_s, value = m.group(1), m.group(3) or "", m.group(4)
        labels = {}
        pos = 0
        while pos < len(labels_s):
            lm = label_re.match(labels_s, pos)
            assert lm, f"line {n}: bad labels {labels_s!r}"
            assert lm.group(1) not in labels, f"line {n}: duplicate label {lm.group(1)}"
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        if value in ("+Inf", "-Inf", "NaN"):
            v = float(value.replace("Inf", "inf").replace("NaN", "nan"))
        else:
            v = float(value)
        samples.append((name, labels, v))
    return types, samples
