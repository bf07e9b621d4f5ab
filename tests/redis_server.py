"""A real redis-server (Debian's package) for the tests: its own process on a free loopback port,
no persistence unless asked for, stopped at teardown. It can be stopped and started again on the
same port, as an outage looks to the service."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import free_port


class RedisServer:
    def __init__(self, workdir: Path, persistent: bool = False):
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed: run `bash scripts/system-packages.sh` (Debian's redis-server)")
        self.exe, self.workdir, self.persistent = exe, workdir, persistent
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir),
                "--save", "", "--protected-mode", "no", "--loglevel", "warning", "--daemonize", "no"]
        # persistent: an append-only file, so a restart keeps the tasks (as a production Redis would)
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=open(self.workdir / "redis.log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """SIGTERM (Redis writes its append-only file and exits)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


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
