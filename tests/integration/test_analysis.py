"""Behaviour analysis (issue 7): the feature table, standardisation, F-score selection and
segments, through the real server and CLI, checked against a brute-force model of the sent
events and against scikit-learn (Debian python3-sklearn) on the same matrices:
k-means inertia within 1% of scikit-learn's for the same k, DBSCAN labels identical up to
renaming, the k-distance curve and silhouette equal."""

import csv
import io
import itertools
import json
import math
import random
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sklearn.cluster import DBSCAN, KMeans
from sklearn.datasets import make_blobs
from sklearn.feature_selection import f_classif
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from harness import cli, send_daily_counts, uid, wait_for

START = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)  # a Monday
TO = datetime(2026, 11, 12, 0, 0, tzinfo=timezone.utc)
RANGE = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-12T00:00:00Z"}
MOBILE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) " \
         "Version/17.0 Mobile/15E148 Safari/604.1"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
NAMES = ["Product Viewed", "Product Added", "Order Completed", "Post Liked"]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def generate(seed=7, persons=40):
    """Sessions of page views and track calls: each inside one UTC day, events 1-6 minutes
    apart, sessions at least two hours apart, so the server's sessions are these."""
    rnd = random.Random(seed)
    evs = []
    for p in range(persons):
        user = f"u{p}"
        mobile = p % 3 == 0
        search = p % 4 == 0
        days = rnd.sample(range(9), rnd.randint(1, 5))
        for day in days:
            hour = rnd.choice([3, 9, 15])
            for s in range(rnd.randint(1, 2)):  # two sessions a day: 3 hours apart
                t = START + timedelta(days=day, hours=hour + 3 * s, minutes=rnd.randrange(40))
                for i in range(rnd.randint(1, 6)):
                    t += timedelta(minutes=rnd.randint(1, 6), seconds=rnd.randrange(60))
                    ctx = {"userAgent": MOBILE if mobile else DESKTOP, "ip": "203.0.113.9"}
                    ctx["page"] = {"url": "https://shop.test/", "referrer": "https://www.google.com/" if search else ""}
                    e = {"userId": user, "timestamp": iso(t), "messageId": uid(), "context": ctx}
                    if rnd.random() < 0.4:
                        e.update(type="page", properties={"url": f"https://shop.test/p/{rnd.randrange(5)}",
                                                          "path": f"/p/{rnd.randrange(5)}"})
                    else:
                        name = rnd.choice(NAMES)
                        e.update(type="track", event=name)
                        if name == "Order Completed":
                            e["properties"] = {"revenue": rnd.choice([9.5, 20.0, 49.99])}
                    evs.append(e)
    return evs


def model(evs, to=TO):
    """Each person's features, as features.h defines them, in UTC."""
    per = defaultdict(list)
    for e in evs:
        per[e["userId"]].append(e)
    out = {}
    for user, es in per.items():
        ts = sorted(datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
                    for e in es)
        sessions, cur = [], [ts[0]]
        for a, b in zip(ts, ts[1:]):
            if b - a > timedelta(minutes=30) or b.date() != a.date():
                sessions.append(cur)
                cur = []
            cur.append(b)
        sessions.append(cur)
        pages = sum(e["type"] == "page" for e in es)
        rev = [e["properties"]["revenue"] for e in es if "revenue" in e.get("properties", {})]
        names = Counter("$pageview" if e["type"] == "page" else e["event"] for e in es)
        f = {"events": len(es), "pageviews": pages, "sessions": len(sessions),
             "avg_session_s": sum((s[-1] - s[0]).total_seconds() for s in sessions) / len(sessions),
             "pages_per_session": pages / len(sessions), "days_active": len({t.date() for t in ts}),
             "recency_days": (to - ts[-1]).total_seconds() / 86400, "frequency": len(rev), "monetary": sum(rev)}
        for n, c in names.items():
            f["count:" + n] = c
        for t in ts:
            f["dow:" + ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][t.weekday()]] = \
                f.get("dow:" + ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][t.weekday()], 0) + 1
            f[f"hour:{t.hour:02d}"] = f.get(f"hour:{t.hour:02d}", 0) + 1
        out[user] = f
    return out


@pytest.fixture(scope="module")
def events():
    return generate()


@pytest.fixture(params=["memory", "parts"])
def loaded(footfall, events, request):
    server = footfall.start(prepare={"write_keys": ["k"]})
    for i in range(0, len(events), 200):
        r = server.post_json("/v1/batch", {"batch": events[i:i + 200]}, write_key="k")
        assert r.status_code == 200, r.text
    if request.param == "parts":
        server.restart()
    return server


def analysis(server, what, body, status=200):
    r = server.post(f"/api/analysis/{what}", data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    return r


def read_csv(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def test_feature_table_matches_the_events(loaded, events):
    r = analysis(loaded, "features", {**RANGE, "events": NAMES + ["$pageview", "Never Happened"]})
    assert r.headers["Content-Type"].startswith("text/csv")
    header, rows = read_csv(r.text)
    want = model(events)
    assert header[0] == "person" and header[-2:] == ["device", "channel"]
    assert {row[0] for row in rows} == set(want)
    cols = header[1:-2]
    assert cols[:9] == ["events", "pageviews", "sessions", "avg_session_s", "pages_per_session", "days_active",
                        "recency_days", "frequency", "monetary"]
    assert "count:Never Happened" in cols and "hour:23" in cols and "dow:sun" in cols
    for row in rows:
        user, vals = row[0], dict(zip(cols, map(float, row[1:-2])))
        for c in cols:
            assert vals[c] == pytest.approx(want[user].get(c, 0), rel=1e-9, abs=1e-6), (user, c)
        n = int(user[1:])
        assert row[-2] == ("mobile" if n % 3 == 0 else "desktop")
        assert row[-1] == ("search" if n % 4 == 0 else "direct")


def test_ndjson_and_top_events_and_the_time_zone(loaded, events):
    r = analysis(loaded, "features", {**RANGE, "format": "ndjson", "top_events": 2, "timezone": "Asia/Tokyo"})
    assert r.headers["Content-Type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in r.text.splitlines()]
    counts = Counter("$pageview" if e["type"] == "page" else e["event"] for e in events)
    top = [n for n, _ in counts.most_common(2)]
    assert [k for k in rows[0] if k.startswith("count:")] == ["count:" + n for n in top]
    want = model(events)
    for row in rows:  # Tokyo is UTC+9: the hours move, the totals stay
        utc = want[row["person"]]
        assert sum(row[f"hour:{h:02d}"] for h in range(24)) == utc["events"]
        for h in range(24):
            assert row[f"hour:{(h + 9) % 24:02d}"] == utc.get(f"hour:{h:02d}", 0)


def matrix(server, body):
    a = analysis(server, "features", {**RANGE, **body, "format": "json"}).json()
    return a, np.array([r[1:] for r in a["rows"]], dtype=float)


def test_scaling_and_f_scores_match_scikit_learn(loaded):
    cols = ["events", "pageviews", "sessions", "days_active", "monetary", "count:Post Liked"]
    _, raw = matrix(loaded, {"columns": cols})
    _, z = matrix(loaded, {"columns": cols, "scale": "zscore"})
    np.testing.assert_allclose(z, StandardScaler().fit_transform(raw), rtol=1e-9, atol=1e-12)
    _, mm = matrix(loaded, {"columns": cols, "scale": "minmax"})
    np.testing.assert_allclose(mm, MinMaxScaler().fit_transform(raw), rtol=1e-9, atol=1e-12)
    # the label: bought anything; the F-score of every other column against it
    a, sel = matrix(loaded, {"columns": cols + ["frequency"], "select": {"label": "frequency", "k": 3}})
    labels = (matrix(loaded, {"columns": ["frequency"]})[1][:, 0] > 0).astype(int)
    f, _ = f_classif(raw, labels)
    got = a["select"]["fscores"]
    for i, c in enumerate(cols):
        assert got[c] == pytest.approx(f[i], rel=1e-9), c
    best = [cols[i] for i in np.argsort(-f)[:3]]
    assert a["columns"] == best
    np.testing.assert_allclose(sel, raw[:, [cols.index(c) for c in best]])


def test_kmeans_segments_against_scikit_learn_and_saved_as_segments(loaded):
    cols = ["events", "pageviews", "sessions", "avg_session_s", "days_active", "recency_days", "monetary"]
    _, x = matrix(loaded, {"columns": cols, "scale": "zscore"})
    a = analysis(loaded, "segments", {**RANGE, "columns": cols, "k": 4, "persons": 1000, "save": "grp"}).json()
    assert a["method"] == "kmeans" and a["k"] == 4 and a["chosen_by"] == "given"
    ref = KMeans(n_clusters=4, n_init=10, random_state=0).fit(x)
    assert a["inertia"] <= ref.inertia_ * 1.01
    assert sum(s["size"] for s in a["segments"]) == len(x)
    # centroids are in the features' own units: the mean of the members' raw values
    _, raw = matrix(loaded, {"columns": cols})
    persons = [r[0] for r in analysis(loaded, "features", {**RANGE, "columns": cols, "format": "json"}).json()["rows"]]
    for s in a["segments"]:
        members = [persons.index(p) for p in s["persons"]]
        assert len(members) == s["size"]
        for j, c in enumerate(cols):
            assert s["centroid"][c] == pytest.approx(raw[members, j].mean(), rel=1e-9)
        # the saved segment names exactly these persons, and any insight can use it
        assert s["saved"] == f"grp-{s['segment']}"
        q = loaded.post("/api/query", data=json.dumps({"kind": "trends", **RANGE, "interval": "month",
                                                        "measure": "unique_persons", "segment": s["saved"]}))
        assert q.status_code == 200, q.text
        assert q.json()["series"][0]["total"] == s["size"]


def test_k_chosen_by_silhouette_with_the_elbow_shown(loaded):
    a = analysis(loaded, "segments", {**RANGE, "k_min": 2, "k_max": 5, "columns": ["events", "monetary"]}).json()
    cands = a["candidates"]
    assert [c["k"] for c in cands] == [2, 3, 4, 5]
    assert a["chosen_by"] == "silhouette"
    assert a["k"] == max(cands, key=lambda c: c["silhouette"])["k"]
    assert all(x["inertia"] >= y["inertia"] for x, y in zip(cands, cands[1:]))
    assert 2 <= a["elbow"] <= 5
    e = analysis(loaded, "segments", {**RANGE, "k_min": 2, "k_max": 5, "columns": ["events", "monetary"],
                                      "choose": "elbow"}).json()
    assert e["chosen_by"] == "elbow" and e["k"] == e["elbow"] == a["elbow"]
    assert e["inertia"] == pytest.approx(cands[e["k"] - 2]["inertia"])
    _, x = matrix(loaded, {"columns": ["events", "monetary"], "scale": "zscore"})
    for c in cands:
        ref = KMeans(n_clusters=c["k"], n_init=10, random_state=0).fit(x)
        assert c["inertia"] <= ref.inertia_ * 1.01
        assert c["silhouette"] == pytest.approx(silhouette_score(x, ref.labels_), abs=0.05)


def test_dbscan_segments_with_the_k_distance_hint(loaded):
    cols = ["events", "sessions", "monetary"]
    _, x = matrix(loaded, {"columns": cols, "scale": "zscore"})
    a = analysis(loaded, "segments", {**RANGE, "columns": cols, "method": "dbscan", "min_pts": 4}).json()
    nn = NearestNeighbors(n_neighbors=4).fit(x)
    kd = np.sort(nn.kneighbors(x)[0][:, -1])[::-1]
    assert a["eps_from"] == "hint" and a["eps"] == pytest.approx(a["eps_hint"])
    assert a["k_distance"][0] == pytest.approx(kd[0]) and a["k_distance"][-1] == pytest.approx(kd[-1])
    assert np.isclose(kd, a["eps_hint"], rtol=1e-12).any()
    ref = DBSCAN(eps=a["eps"], min_samples=4).fit(x)
    assert a["clusters"] == len(set(ref.labels_) - {-1})
    assert a["noise"] == int((ref.labels_ == -1).sum())


@pytest.mark.parametrize("body, field", [
    ({"columns": ["nope"]}, "columns"),
    ({"columns": "events"}, "columns"),
    ({"k": 0}, "k"),
    ({"k_min": 6, "k_max": 3}, "k_min"),
    ({"choose": "gut"}, "choose"),
    ({"update": "never-saved"}, "update"),
    ({"method": "spectral"}, "method"),
    ({"scale": "log"}, "scale"),
    ({"select": {"label": "nope"}}, "select"),
    ({"select": {"k": 2}}, "select"),
    ({"eps": -1, "method": "dbscan"}, "eps"),
    ({"save": "bad name!"}, "save"),
    ({"revenue": "nonsense"}, "revenue"),
    ({"from": "yesterday"}, "from"),
])
def test_bad_requests_name_their_field(loaded, body, field):
    r = analysis(loaded, "segments", {**RANGE, **body}, status=400)
    assert r.json()["field"] == field, r.text


def test_paths_methods_and_keys(loaded):
    assert loaded.post("/api/analysis/nothing", data="{}").status_code == 404
    r = loaded.request("GET", "/api/analysis/features")
    assert r.status_code == 405
    r = loaded.post("/api/analysis/features", data="{}", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


def test_cli_gives_the_same_table(loaded):
    body = {**RANGE, "columns": ["events", "sessions", "monetary"]}
    over_http = analysis(loaded, "features", body).text
    loaded.stop()
    p = cli("analysis", "features", "--data", loaded.data_dir, json.dumps(body))
    assert p.stdout == over_http


# ---- the algorithms on matrices, against scikit-learn ----

def write(tmp_path, x, header=True):
    path = tmp_path / "x.csv"
    with open(path, "w") as f:
        if header:
            f.write(",".join(f"c{j}" for j in range(x.shape[1])) + "\n")
        for row in x:
            f.write(",".join(repr(float(v)) for v in row) + "\n")
    return path


def datasets():
    rnd = np.random.RandomState(3)
    blobs, _ = make_blobs(n_samples=3000, centers=5, n_features=6, cluster_std=1.5, random_state=2)
    aniso = blobs[:, :2] @ np.array([[0.6, -0.6], [-0.4, 0.8]])
    uniform = rnd.uniform(size=(2000, 4))
    wide, _ = make_blobs(n_samples=1500, centers=3, n_features=16, cluster_std=[1, 2.5, 0.5], random_state=9)
    return {"blobs": blobs, "aniso": aniso, "uniform": uniform, "wide": wide}


@pytest.mark.parametrize("name", ["blobs", "aniso", "uniform", "wide"])
@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_kmeans_inertia_within_one_percent_of_scikit_learn(tmp_path, name, k):
    x = datasets()[name]
    out = json.loads(cli("analysis", "kmeans", "--input", write(tmp_path, x), "--k", k).stdout)
    ref = KMeans(n_clusters=k, n_init=10, random_state=0).fit(x)
    assert out["inertia"] <= ref.inertia_ * 1.01, (out["inertia"], ref.inertia_)
    labels, centers = np.array(out["labels"]), np.array(out["centers"])
    # the labels are each row's nearest centre, and the inertia is theirs
    d = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    assert (labels == d.argmin(axis=1)).all()
    assert out["inertia"] == pytest.approx(d.min(axis=1).sum(), rel=1e-9)
    assert out["silhouette"] == pytest.approx(silhouette_score(x, labels), rel=1e-9)


@pytest.mark.parametrize("name, eps, min_pts", [
    ("blobs", 1.2, 5), ("blobs", 2.0, 10), ("blobs", 3.0, 30), ("aniso", 0.3, 4), ("aniso", 0.6, 20),
    ("uniform", 0.08, 3), ("uniform", 0.15, 8), ("wide", 3.0, 5), ("wide", 5.0, 10),
])
def test_dbscan_labels_identical_to_scikit_learn_up_to_renaming(tmp_path, name, eps, min_pts):
    x = datasets()[name]
    out = json.loads(cli("analysis", "dbscan", "--input", write(tmp_path, x), "--eps", eps, "--min-pts", min_pts).stdout)
    ref = DBSCAN(eps=eps, min_samples=min_pts).fit(x).labels_
    got = np.array(out["labels"])
    assert ((got == -1) == (ref == -1)).all()
    pairs = set(zip(got[got >= 0], ref[ref >= 0]))
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})  # a renaming
    assert out["clusters"] == len(set(ref) - {-1}) and out["noise"] == int((ref == -1).sum())


def test_k_distance_curve_equals_nearest_neighbours(tmp_path):
    x = datasets()["blobs"]
    out = json.loads(cli("analysis", "kdist", "--input", write(tmp_path, x, header=False), "--min-pts", 7).stdout)
    ref = np.sort(NearestNeighbors(n_neighbors=7).fit(x).kneighbors(x)[0][:, -1])[::-1]
    np.testing.assert_allclose(out["curve"], ref, rtol=1e-12)
    assert ref[-1] <= out["eps_hint"] <= ref[0]


def test_matrix_input_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,oops\n")
    p = cli("analysis", "kmeans", "--input", path, "--k", 2, check=False)
    assert p.returncode == 2 and "line 3, column 2: not a number" in p.stderr
    path.write_text("1,2\n3\n")
    p = cli("analysis", "dbscan", "--input", path, "--eps", 1, "--min-pts", 2, check=False)
    assert p.returncode == 2 and "line 2: 1 columns where the first line has 2" in p.stderr
    path.write_text("1,2\n")
    p = cli("analysis", "kmeans", "--input", path, "--k", 2, check=False)
    assert p.returncode == 1 and "k must be 1 to the rows" in p.stderr


# ---- association rules ----

def sessions_of(evs):
    """Each session's events, as model() splits them (its rules: 30 minutes, midnight)."""
    per = defaultdict(list)
    for e in evs:
        per[e["userId"]].append(e)
    out = []
    for es in per.values():
        es = sorted(es, key=lambda e: e["timestamp"])
        cur = [es[0]]
        for a, b in zip(es, es[1:]):
            ta, tb = (datetime.strptime(x["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ") for x in (a, b))
            if tb - ta > timedelta(minutes=30) or ta.date() != tb.date():
                out.append(cur)
                cur = []
            cur.append(b)
        out.append(cur)
    return out


def brute_itemsets(baskets, min_count, max_size):
    counts = Counter()
    for b in baskets:
        for k in range(1, max_size + 1):
            for c in itertools.combinations(sorted(b), k):
                counts[c] += 1
    return {c: n for c, n in counts.items() if n >= min_count}


def brute_rules(sets, n, min_conf):
    rules = {}
    for items, count in sets.items():
        for k in range(1, len(items)):
            for a in itertools.combinations(items, k):
                c = tuple(x for x in items if x not in a)
                conf = count / sets[a]
                if conf >= min_conf:
                    sc = sets[c] / n
                    rules[(a, c)] = (count, conf, conf / sc, None if conf >= 1 else (1 - sc) / (1 - conf))
    return rules


@pytest.mark.parametrize("algorithm", ["fpgrowth", "apriori"])
def test_rules_over_sessions_match_brute_force(loaded, events, algorithm):
    body = {**RANGE, "min_support": 0.05, "min_confidence": 0.3, "max_size": 3, "algorithm": algorithm,
            "itemsets": True, "limit": 100000}
    a = analysis(loaded, "rules", body).json()
    baskets = [{"$pageview" if e["type"] == "page" else e["event"] for e in s} for s in sessions_of(events)]
    assert a["transactions"] == len(baskets) and a["by"] == "sessions"
    min_count = math.ceil(0.05 * len(baskets) - 1e-9)
    assert a["min_count"] == min_count
    want = brute_itemsets(baskets, min_count, 3)
    assert {tuple(s["items"]): s["count"] for s in a["itemsets"]} == want
    rules = brute_rules(want, len(baskets), 0.3)
    got = {(tuple(r["if"]), tuple(r["then"])): r for r in a["rules"]}
    assert set(got) == set(rules) and a["rules_found"] == len(rules)
    for k, (count, conf, lift, conv) in rules.items():
        r = got[k]
        assert r["count"] == count and r["confidence"] == pytest.approx(conf) and r["lift"] == pytest.approx(lift)
        assert (r["conviction"] is None) == (conv is None) and (conv is None or r["conviction"] == pytest.approx(conv))
    lifts = [r["lift"] for r in a["rules"]]
    assert lifts == sorted(lifts, reverse=True)


def test_recommendations_come_from_rules_the_person_matches(loaded, events):
    rules = analysis(loaded, "rules", {**RANGE, "transactions": "persons", "min_support": 0.05, "min_confidence": 0.1,
                                       "limit": 100000}).json()["rules"]
    by_key = {(tuple(r["if"]), tuple(r["then"])): r for r in rules}
    for user in ("u1", "u5", "u12"):
        r = loaded.get(f"/api/recommend?person={user}&from={RANGE['from']}&to={RANGE['to']}&min_support=0.05&limit=50")
        assert r.status_code == 200, r.text
        a = r.json()
        did = {"$pageview" if e["type"] == "page" else e["event"] for e in events if e["userId"] == user}
        assert set(a["has"]) == did
        for rec in a["recommendations"]:
            assert rec["item"] not in did
            why = rec["because"]
            assert set(why["if"]) <= did and rec["item"] in why["then"]
            assert by_key[(tuple(why["if"]), tuple(why["then"]))]["confidence"] == why["confidence"]
            # no rule the person matches recommends the item with a higher confidence
            better = [x for x in rules if set(x["if"]) <= did and rec["item"] in x["then"]
                      and x["confidence"] > why["confidence"]]
            assert not better
        confs = [x["because"]["confidence"] for x in a["recommendations"]]
        assert confs == sorted(confs, reverse=True)
    assert loaded.get("/api/recommend").status_code == 400
    assert loaded.post("/api/recommend", data="{}").status_code == 405


@pytest.mark.parametrize("seed, support, size", [(1, 0.02, 4), (2, 0.005, 3), (3, 0.1, 10), (4, 0.3, 2)])
def test_fpgrowth_and_apriori_agree_with_brute_force(tmp_path, seed, support, size):
    rnd = random.Random(seed)
    items = [f"item {k}" for k in range(15)]
    baskets = [set(rnd.choices(items, weights=[15 - k for k in range(15)], k=rnd.randint(1, 8))) for _ in range(2000)]
    path = tmp_path / "tx.txt"
    path.write_text("\n".join(", ".join(sorted(b)) + (", " + sorted(b)[0] if i % 7 == 0 else "")
                              for i, b in enumerate(baskets)) + "\n\n")
    out = {}
    for alg in ("fpgrowth", "apriori"):
        p = cli("analysis", "itemsets", "--input", path, "--min-support", support, "--max-size", size,
                "--algorithm", alg, "--min-confidence", 0.2)
        out[alg] = json.loads(p.stdout)
        assert out[alg].pop("fit_seconds") >= 0
    assert out["fpgrowth"] == out["apriori"]
    a = out["fpgrowth"]
    assert a["transactions"] == 2000
    want = brute_itemsets(baskets, a["min_count"], size)
    assert {tuple(s["items"]): s["count"] for s in a["itemsets"]} == want
    assert {(tuple(r["if"]), tuple(r["then"])) for r in a["rules"]} == set(brute_rules(want, 2000, 0.2))


def test_transaction_file_errors_name_the_line(tmp_path):
    path = tmp_path / "tx.txt"
    path.write_text("a,b\nc,,d\n")
    p = cli("analysis", "itemsets", "--input", path, "--min-support", 0.1, check=False)
    assert p.returncode == 2 and "line 2: an empty item" in p.stderr


# ---- forecasts: ARIMA against statsmodels ----

def arma(ar, ma, n, seed, d=0, mu=0.0):
    from statsmodels.tsa.arima_process import arma_generate_sample
    np.random.seed(seed)
    x = arma_generate_sample(np.r_[1, -np.array(ar)], np.r_[1, np.array(ma)], n) + mu
    for _ in range(d):
        x = np.cumsum(x)
    return x


def weekly(n, seed):
    rnd = np.random.RandomState(seed)
    t = np.arange(n)
    return 100 + 10 * np.sin(2 * np.pi * t / 7) + np.cumsum(rnd.normal(0, 1, n)) * 0.3 + rnd.normal(0, 2, n)


ARIMA_CASES = [
    ("ar1", (1, 0, 0), (0, 0, 0, 0), lambda: arma([0.6], [], 500, 0, mu=10)),
    ("arma21", (2, 0, 1), (0, 0, 0, 0), lambda: arma([0.5, -0.3], [0.4], 800, 1, mu=3)),
    ("ima11", (0, 1, 1), (0, 0, 0, 0), lambda: arma([], [0.5], 600, 2, d=1)),
    ("arima111", (1, 1, 1), (0, 0, 0, 0), lambda: arma([0.4], [0.3], 600, 3, d=1)),
    ("arima212", (2, 1, 2), (0, 0, 0, 0), lambda: arma([0.3, 0.2], [0.4, 0.2], 800, 4, d=1)),
    ("ma2", (0, 0, 2), (0, 0, 0, 0), lambda: arma([], [0.6, 0.3], 500, 5, mu=-2)),
    ("ar3_10000", (3, 0, 0), (0, 0, 0, 0), lambda: arma([0.5, 0.2, -0.2], [], 10000, 6, mu=50)),
    ("sar_weekly", (1, 0, 0), (1, 0, 0, 7), lambda: weekly(700, 1)),
    ("airline_weekly", (0, 1, 1), (0, 1, 1, 7), lambda: weekly(700, 1)),
    ("sar12", (2, 1, 0), (1, 0, 0, 12), lambda: weekly(700, 1)),
]


@pytest.mark.parametrize("name, order, seasonal, make", ARIMA_CASES, ids=[c[0] for c in ARIMA_CASES])
def test_arima_matches_statsmodels(tmp_path, name, order, seasonal, make):
    import warnings
    from statsmodels.tsa.arima.model import ARIMA
    y = make()
    path = tmp_path / "y.csv"
    np.savetxt(path, y, fmt="%.17g")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ARIMA(y, order=order, seasonal_order=seasonal).fit()
    fc = ref.get_forecast(14)
    out = json.loads(cli("analysis", "arima", "--input", path, "--order", ",".join(map(str, order)),
                         "--seasonal", ",".join(map(str, seasonal)), "--horizon", 14).stdout)
    m = out["model"]
    assert m["converged"]
    names = list(ref.model.param_names)
    mine = dict(zip([n for n in names if n != "const"], m["ar"] + m["ma"] + m["sar"] + m["sma"] + [m["sigma2"]]))
    for n, v in zip(names, ref.params):
        if n == "const":  # the mean: flat likelihood around it when the AR is near a unit root
            assert m["mean"] == pytest.approx(v, rel=1e-4), n
        elif n == "sigma2":
            assert mine[n] == pytest.approx(v, rel=1e-3), n
        else:
            assert abs(mine[n] - v) < 1e-3, (n, mine[n], v)
    assert m["llf"] >= ref.llf - 1e-3  # as high a likelihood (higher: a better optimum)
    assert m["aic"] == pytest.approx(ref.aic, abs=2e-3)
    got = np.array([f["mean"] for f in out["forecast"]])
    np.testing.assert_allclose(got, fc.predicted_mean, rtol=5e-3)
    se = np.array([f["se"] for f in out["forecast"]])
    np.testing.assert_allclose(se, fc.se_mean, rtol=1e-2)


@pytest.mark.parametrize("name, make", [("stationary", lambda: arma([0.6], [], 500, 0, mu=10)),
                                        ("unit_root", lambda: arma([], [0.5], 600, 2, d=1)),
                                        ("short", lambda: arma([0.3], [], 40, 7))])
def test_adf_matches_statsmodels(tmp_path, name, make):
    from statsmodels.tsa.stattools import adfuller
    y = make()
    path = tmp_path / "y.csv"
    np.savetxt(path, y, fmt="%.17g")
    stat, p, lags, nobs, crit, _ = adfuller(y)
    out = json.loads(cli("analysis", "adf", "--input", path).stdout)
    assert out["stat"] == pytest.approx(stat, rel=1e-9) and out["pvalue"] == pytest.approx(p, rel=1e-6, abs=1e-12)
    assert out["lags"] == lags and out["nobs"] == nobs
    for k in ("1%", "5%", "10%"):
        assert out["crit"][k] == pytest.approx(crit[k], rel=1e-9)


def test_orders_chosen_by_aic_and_d_by_adf(tmp_path):
    import warnings
    from statsmodels.tsa.arima.model import ARIMA
    y = arma([0.4], [0.3], 600, 3, d=1)
    path = tmp_path / "y.csv"
    np.savetxt(path, y, fmt="%.17g")
    m = json.loads(cli("analysis", "arima", "--input", path, "--max-p", 2, "--max-q", 2).stdout)["model"]
    assert m["order"][1] == 1  # a random walk underneath: ADF asks for one difference
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in range(3):
            for q in range(3):
                aic = ARIMA(y, order=(p, 1, q)).fit().aic
                if best is None or aic < best[0]:
                    best = (aic, p, q)
    assert (m["order"][0], m["order"][2]) == best[1:]


def test_forecast_of_a_trends_series_with_its_anomaly(footfall):
    """A daily count with a weekly rhythm and one day of ten times the usual: the forecast is
    the CLI's model of the same counts, and that day is the anomaly."""
    server = footfall.start(prepare={"write_keys": ["k"]})
    counts = send_daily_counts(server, datetime(2026, 8, 3, tzinfo=timezone.utc), days=70, base=20, weekday_extra=15,
                               spike_day=50, spike_factor=10, users=9, seed=3)
    body = {"from": "2026-08-03", "to": "2026-10-11", "interval": "day", "events": ["Signed In"], "horizon": 7,
            "order": [1, 0, 0], "seasonal": [1, 0, 0, 7]}
    a = analysis(server, "forecast", body).json()
    assert a["kind"] == "forecast" and a["open"] is False
    s = a["series"][0]
    assert s["data"] == counts
    assert [f["bucket"] for f in s["forecast"]] == [f"2026-10-{d:02d}" for d in range(12, 19)]
    spike = [x for x in s["anomalies"] if x["bucket"] == "2026-09-22"][0]
    assert spike["actual"] == counts[50] and spike["actual"] > spike["upper"] and s["anomaly_level"] == 95
    f = s["forecast"][0]
    assert f["lower95"] < f["lower80"] < f["mean"] < f["upper80"] < f["upper95"]
    # the same model as the CLI fits to the same numbers
    path = server.data_dir.parent / "counts.csv"
    path.write_text("\n".join(map(str, counts)) + "\n")
    out = json.loads(cli("analysis", "arima", "--input", path, "--order", "1,0,0", "--seasonal", "1,0,0,7",
                         "--horizon", 7).stdout)
    assert s["model"]["ar"] == pytest.approx(out["model"]["ar"]) and s["model"]["sar"] == pytest.approx(out["model"]["sar"])
    assert [x["mean"] for x in s["forecast"]] == pytest.approx([x["mean"] for x in out["forecast"]])
    # chosen by AIC when no order is given; a funnel cannot be forecast
    plain = {k: v for k, v in body.items() if k != "order"}
    auto = analysis(server, "forecast", {**plain, "seasonal": False}).json()["series"][0]
    assert auto["model"]["chosen_by"] == "aic"
    r = analysis(server, "forecast", {**plain, "kind": "retention"}, status=400)
    assert r.json()["field"] == "kind"
    assert analysis(server, "forecast", {**body, "order": [9, 0, 0]}, status=400).json()["field"] == "order"


# ---- segments that follow new events: mini-batch k-means ----

def shop_events(user, n, revenue, when, step=timedelta(minutes=2)):
    evs = []
    for i in range(n):
        t = when + step * i
        e = {"type": "track", "event": "Order Completed" if revenue else "Product Viewed", "userId": user,
             "timestamp": iso(t), "messageId": uid()}
        if revenue:
            e["properties"] = {"revenue": revenue}
        evs.append(e)
    return evs


def members(server, name):
    r = server.get(f"/api/segments/{name}")
    return set(r.json()["definition"]["persons"]) if r.status_code == 200 else set()


@pytest.mark.parametrize("live", [False, True])
def test_saved_segments_follow_new_events(footfall, live):
    server = footfall.start("--alert-check-ms", "300" if live else "0", prepare={"write_keys": ["k"]})
    now = datetime.now(timezone.utc).replace(microsecond=0)
    before = now - timedelta(days=2)
    evs = []
    for p in range(10):  # heavy buyers
        evs += shop_events(f"big{p}", 12 + p % 3, 50.0, before + timedelta(hours=p))
    for p in range(20):  # light browsers
        evs += shop_events(f"small{p}", 1 + p % 2, 0, before + timedelta(hours=p))
    assert server.post_json("/v1/batch", {"batch": evs}, write_key="k").status_code == 200
    cols = ["events", "frequency", "monetary"]
    body = {"from": "-7d", "to": "now", "columns": cols, "k": 2, "persons": 100, "save": "grp", "live": live}
    a = analysis(server, "segments", body).json()
    heavy = max(a["segments"], key=lambda s: s["centroid"]["monetary"])
    h, l = heavy["segment"], 1 - heavy["segment"]
    assert members(server, f"grp-{h}") == {f"big{p}" for p in range(10)}
    assert "small3" in members(server, f"grp-{l}")
    time.sleep(0.05)
    # a browser turns buyer, a new buyer comes: both after the model was saved (and before now)
    ms = timedelta(milliseconds=1)
    new = shop_events("small3", 14, 50.0, datetime.now(timezone.utc), ms) + \
        shop_events("newbig", 13, 50.0, datetime.now(timezone.utc), ms)
    assert server.post_json("/v1/batch", {"batch": new}, write_key="k").status_code == 200
    time.sleep(0.1)
    if live:
        wait_for(lambda: "newbig" in members(server, f"grp-{h}"), timeout=30, what="the live update")
    else:
        u = analysis(server, "segments", {"update": "grp"}).json()
        assert u["method"] == "minibatch" and u["active"] == 2 and u["moved"] == 1
        # each centre moved to the weighted mean of where it was and its new rows (their own units)
        rows = {r[0]: r[1:] for r in analysis(server, "features", {"from": "-7d", "to": "now", "columns": cols,
                                                                    "format": "json"}).json()["rows"]}
        new_rows = [rows["small3"], rows["newbig"]]
        old = heavy["centroid"]
        w = heavy["size"]
        seg = u["segments"][h]
        assert seg["weight"] == w + 2 and seg["size"] == 12
        for j, c in enumerate(cols):
            want = (old[c] * w + sum(r[j] for r in new_rows)) / (w + 2)
            assert seg["centroid"][c] == pytest.approx(want, rel=1e-9), c
        again = analysis(server, "segments", {"update": "grp"}).json()  # nothing new since
        assert again["active"] == 0 and again["moved"] == 0
        r = analysis(server, "segments", {"update": "nothing"}, status=400)
        assert r.json()["field"] == "update"
    assert members(server, f"grp-{h}") == {f"big{p}" for p in range(10)} | {"small3", "newbig"}
    assert "small3" not in members(server, f"grp-{l}")
