"""Anomaly alerts (issue 7): rules kept per project, checked by the server's alert thread,
firing once per interval, posted as JSON to a real HTTP receiver with retries, listed by
GET /api/analysis/alert-events and `footfall alert events`, kept across a restart."""

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import cli, send_daily_counts, wait_for

FIRST = datetime(2026, 8, 3, tzinfo=timezone.utc)
DAYS = 42
SPIKE = DAYS - 1  # the last day of the range: the last complete interval


class Receiver:
    """A webhook receiver on loopback that fails the first `fail` requests with a 500."""

    def __init__(self, fail=0):
        self.bodies, self.statuses, self.fail = [], [], fail
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if len(rec.statuses) < rec.fail else 200
                rec.statuses.append(status)
                if status == 200:
                    rec.bodies.append((self.path, self.headers["Content-Type"], json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hooks/footfall"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self):
        self.http.shutdown()


@pytest.fixture
def receiver():
    r = Receiver(fail=1)
    yield r
    r.close()


def load(server):
    return send_daily_counts(server, FIRST, days=DAYS, base=30, weekday_extra=10, spike_day=SPIKE, spike_factor=8,
                             users=7, seed=11)


QUERY = {"from": "2026-08-03", "to": (FIRST + timedelta(days=DAYS - 1)).strftime("%Y-%m-%d"), "interval": "day",
         "events": ["Signed In"], "order": [1, 0, 0], "seasonal": [1, 0, 0, 7]}
LAST = (FIRST + timedelta(days=SPIKE)).strftime("%Y-%m-%d")


def put(server, name, rule, status=200):
    r = server.request("PUT", f"/api/analysis/alerts/{name}", data=json.dumps(rule))
    assert r.status_code == status, r.text
    return r.json()


def events(server):
    r = server.get("/api/analysis/alert-events")
    assert r.status_code == 200, r.text
    return r.json()["events"]


def test_an_anomaly_fires_once_and_reaches_the_webhook_after_a_retry(footfall, receiver):
    server = footfall.start("--alert-check-ms", "300", prepare={"write_keys": ["k"]})
    counts = load(server)
    put(server, "spike", {"query": QUERY, "condition": "anomaly", "level": 99, "webhook": receiver.url})
    wait_for(lambda: receiver.bodies, timeout=30, what="the webhook to receive the alert")
    path, ctype, body = receiver.bodies[0]
    assert path == "/hooks/footfall" and ctype == "application/json"
    assert body["alert"] == "spike" and body["project"] == "default" and body["condition"] == "anomaly"
    assert body["bucket"] == LAST and body["event"] == "Signed In" and body["value"] == counts[SPIKE]
    assert body["value"] > body["upper"] > body["expected"] > body["lower"] and body["level"] == 99
    assert receiver.statuses[:2] == [500, 200]  # the first delivery failed, the retry went through
    wait_for(lambda: events(server) and events(server)[0]["delivered"], timeout=10, what="the outcome recorded")
    ev = events(server)
    assert len(ev) == 1 and ev[0]["alert"] == "spike" and ev[0]["bucket"] == LAST
    assert ev[0]["attempts"] == 2 and ev[0]["outcome"] == "HTTP 200" and ev[0]["payload"] == body
    # checked again and again: the same interval does not fire twice, also after a restart
    time.sleep(1.5)
    server.restart()
    time.sleep(1.5)
    assert len(receiver.bodies) == 1 and len(events(server)) == 1
    assert [a["name"] for a in server.get("/api/analysis/alerts").json()["alerts"]] == ["spike"]
    server.stop()
    p = cli("alert", "events", "--data", server.data_dir)
    assert json.loads(p.stdout)["events"][0]["payload"]["value"] == counts[SPIKE]


def test_thresholds_fire_only_when_crossed(footfall):
    server = footfall.start("--alert-check-ms", "300", prepare={"write_keys": ["k"]})
    counts = load(server)
    put(server, "busy", {"query": QUERY, "condition": "above", "threshold": counts[SPIKE] - 1})
    put(server, "quiet", {"query": QUERY, "condition": "below", "threshold": 1})
    put(server, "calm", {"query": QUERY, "condition": "anomaly", "level": 99,
                         "series": 0} | {"query": {**QUERY, "to": "2026-09-05"}})  # the spike is not in its range
    wait_for(lambda: events(server), timeout=30, what="the threshold alert")
    time.sleep(1.5)
    ev = events(server)
    assert [e["alert"] for e in ev] == ["busy"]
    assert ev[0]["payload"]["value"] == counts[SPIKE] and ev[0]["payload"]["threshold"] == counts[SPIKE] - 1
    assert ev[0]["attempts"] == 0 and ev[0]["delivered"] is False  # no webhook to deliver to


@pytest.mark.parametrize("rule, says", [
    ({"condition": "anomaly"}, "query"),
    ({"query": QUERY, "condition": "sideways"}, "condition"),
    ({"query": QUERY, "condition": "above"}, "threshold"),
    ({"query": QUERY, "condition": "anomaly", "level": 90}, "level"),
    ({"query": QUERY, "condition": "anomaly", "webhook": "ftp://x"}, "webhook"),
    ({"query": {**QUERY, "interval": "fortnight"}, "condition": "anomaly"}, "interval"),
    ({"query": QUERY, "condition": "anomaly", "series": 9}, "series"),
])
def test_bad_rules_are_refused_naming_what(footfall, rule, says):
    server = footfall.start(prepare={"write_keys": ["k"]})
    r = put(server, "bad", rule, status=400)
    assert r["field"] == "alert" and says in r["error"], r
    assert server.get("/api/analysis/alerts").json()["alerts"] == []


def test_cli_saves_lists_and_deletes_rules(footfall):
    server = footfall.start(prepare={"write_keys": ["k"]})
    server.stop()
    d = server.data_dir
    cli("alert", "save", "a1", json.dumps({"query": QUERY, "condition": "below", "threshold": 3}), "--data", d)
    assert [a["name"] for a in json.loads(cli("alert", "list", "--data", d).stdout)["alerts"]] == ["a1"]
    p = cli("alert", "save", "a2", json.dumps({"query": QUERY}), "--data", d, check=False)
    assert p.returncode == 2 and "condition" in p.stderr
    cli("alert", "delete", "a1", "--data", d)
    assert json.loads(cli("alert", "list", "--data", d).stdout)["alerts"] == []
