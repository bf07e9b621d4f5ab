"""Fixtures. The environment is set here, before anything imports torch or IOPaint (an empty
weights cache, no hub access); the helpers live in tests/support.py."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_TORCH_HOME = tempfile.mkdtemp(prefix="torch-home-")
os.environ["TORCH_HOME"] = _TORCH_HOME
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="xdg-cache-"))

try:  # the Python client from this checkout, unless it is installed (pip install -e clients/python)
    import iopaint_client  # noqa: F401
except ImportError:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "clients" / "python"))

from tests.support import RedisServer, running_app, start_service, stop_service  # noqa: E402


@pytest.fixture(scope="session")
def client():
    """A cv2 app shared by the tests that do not change settings."""
    with running_app(model="cv2") as c:
        yield c


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    """One service subprocess (cv2, default settings) the client tests call over HTTP: its URL."""
    proc, url, log = start_service(tmp_path_factory.mktemp("service"))
    yield url
    stop_service(proc, log)


@pytest.fixture
def redis_server(tmp_path):
    """A fresh, empty redis-server for one test (no persistence)."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def persistent_redis(tmp_path):
    """A redis-server with an append-only file, for tests that restart it mid-test."""
    server = RedisServer(tmp_path, persistent=True)
    server.start()
    yield server
    server.stop()
