"""Fixtures: the real footfall binary on 127.0.0.1 with a fresh data directory per test."""

import os
import sys

from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import TEST_WRITE_KEYS, Server  # noqa: E402


class ServerFactory:
    """Starts servers; at teardown each one still running gets SIGTERM and must exit 0."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.servers = []
        self.n = 0

    def start(self, *args, data_dir=None, prepare=None):
        """prepare: keyword arguments of Server.prepare (write_keys=[...], settings), applied
        with the CLI before the first start; by default the test keys; False: none (the server
        makes project "default" itself and prints its keys)."""
        if prepare is None:
            prepare = {"write_keys": TEST_WRITE_KEYS}
        self.n += 1
        if data_dir is None:
            data_dir = self.tmp_path / f"data{self.n}"
        s = Server(data_dir, args=args, log_dir=self.tmp_path)
        if prepare and not (Path(data_dir) / "projects.db").exists():
            s.prepare(**prepare)
        self.servers.append(s)
        return s.start()

    def finish(self):
        errors = []
        for s in self.servers:
            if s.running:
                rc = s.stop()
                if rc != 0:
                    errors.append(f"footfall exited with {rc} on SIGTERM, expected 0\n"
                                  + s.log_tail())
        return errors


@pytest.fixture
def footfall(tmp_path, request):
    f = ServerFactory(tmp_path)
    yield f
    errors = f.finish()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for s in f.servers:
            sys.stderr.write(s.log_tail() + "\n")
    assert not errors, "\n".join(errors)


@pytest.fixture
def server(footfall):
    """One footfall with default options and a fresh data directory.

    Has .base / .url(path) / .data_dir / .restart() / .stop() / .kill9(); see harness.Server."""
    return footfall.start()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
