#!/usr/bin/env python3
"""Runs footfall's fast test tier and prints one closing line: `N passed, N failed`.

Tiers, in order: C unit tests (cmocka), the fuzz corpus replayed through every libFuzzer
harness, then the integration, SDK and crash tests (pytest) against the real binary.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_unit(unit_dir):
    passed = failed = 0
    if not unit_dir or not os.path.isdir(unit_dir):
        return passed, failed
    for name in sorted(os.listdir(unit_dir)):
        path = os.path.join(unit_dir, name)
        if not name.startswith("test_") or name.endswith(".o") or not os.access(path, os.X_OK):
            continue
        proc = subprocess.run([path], capture_output=True, text=True, timeout=600)
        out = proc.stdout + proc.stderr
        p = re.search(r"\[  PASSED  \] (\d+) test", out)
        f = re.search(r"\[  FAILED  \] (\d+) test", out)
        np, nf = int(p.group(1)) if p else 0, int(f.group(1)) if f else 0
        if proc.returncode != 0 and nf == 0:
            nf = 1  # crashed before cmocka could report
        passed += np
        failed += nf
        print(f"unit {name}: {np} passed, {nf} failed")
        if nf:
            print(out[-4000:])
    return passed, failed


def run_fuzz(fuzz_dir):
    passed = failed = 0
    if not fuzz_dir or not os.path.isdir(fuzz_dir):
        return passed, failed
    for name in sorted(os.listdir(fuzz_dir)):
        path = os.path.join(fuzz_dir, name)
        if not name.startswith("fuzz_") or name.endswith(".o") or not os.path.isfile(path) or not os.access(path, os.X_OK):
            continue
        corpus = os.path.join(ROOT, "tests", "fuzz", "corpus", name[len("fuzz_"):])
        if not os.path.isdir(corpus) or not os.listdir(corpus):
            print(f"fuzz {name}: no corpus in {corpus}")
            failed += 1
            continue
        # -runs=0 with a directory replays every file in it once and exits.
        proc = subprocess.run([path, "-runs=0", corpus], capture_output=True, text=True, timeout=600)
        n = len(os.listdir(corpus))
        if proc.returncode == 0:
            passed += 1
            print(f"fuzz {name}: replayed {n} inputs, ok")
        else:
            failed += 1
            print(f"fuzz {name}: FAILED\n{proc.stderr[-4000:]}")
    return passed, failed


def run_pytest(binary, extra):
    dirs = [d for d in ("tests/integration", "tests/crash") if os.path.isdir(os.path.join(ROOT, d))]
    if not dirs:
        return 0, 0, 0
    env = dict(os.environ, FOOTFALL_BIN=os.path.abspath(binary))
    with tempfile.TemporaryDirectory() as tmp:
        xml = os.path.join(tmp, "junit.xml")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *dirs, *extra]
        proc = subprocess.run(cmd, cwd=ROOT, env=env)
        if not os.path.exists(xml):
            return 0, 1, 0
        root = ET.parse(xml).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        total = sum(int(s.get("tests", 0)) for s in suites)
        bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
        skipped = sum(int(s.get("skipped", 0)) for s in suites)
        if proc.returncode not in (0, 1) and bad == 0:
            bad = 1
        return total - bad - skipped, bad, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/footfall")
    ap.add_argument("--unit-dir")
    ap.add_argument("--fuzz-dir")
    ap.add_argument("pytest_args", nargs="*")
    a = ap.parse_args()
    up, uf = run_unit(a.unit_dir)
    fp, ff = run_fuzz(a.fuzz_dir)
    ip, if_, skipped = run_pytest(a.bin, a.pytest_args)
    passed, failed = up + fp + ip, uf + ff + if_
    if skipped:  # on a line of its own: the last line is always exactly "N passed, N failed"
        print(f"{skipped} skipped (pytest -rs lists why)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
