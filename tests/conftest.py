"""Shared fixtures: settings on a tmp data dir, an in-process client, and the real server as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from roset_local.app import create_app
from roset_local.config import Settings
from tests.ports import free_port

__all__ = ["free_port"]  # imported from here by the tests

# The real storage servers (rclone S3, Azurite, fake-gcs-server) as session fixtures for any suite.
pytest_plugins = ["tests.storage.servers"]

ADMIN_KEY = "rsk_test_admin_key_0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent


def auth(key: str = ADMIN_KEY) -> dict[str, str]:
    return {"Authorization": f"ApiKey {key}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # live_sync off: a test that writes files and then syncs must not race the directory watcher
    # (tests/test_live_sync.py turns it on).
    # prestart_extraction off: an app per test must not spawn two extraction processes it never uses.
    return Settings.from_env(
        {}, data_dir=tmp_path / "data", admin_key=ADMIN_KEY, workers=2, live_sync=False, prestart_extraction=False
    )


@pytest.fixture
def app(settings: Settings):
    return create_app(settings)


@pytest.fixture
def services(app):
    return app.app.state.services


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8700") as test_client:
        test_client.headers.update(auth())
        yield test_client


@dataclass
class LiveServer:
    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, key: str | None = ADMIN_KEY, **kwargs) -> httpx.Client:
        headers = auth(key) if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def start(self, timeout: float = 30) -> "LiveServer":
        if self.proc is not None and self.proc.poll() is None:
            # a second process on the same port would answer nothing, and the first would outlive the test
            raise RuntimeError(f"the server on port {self.port} is already running")
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "roset_local", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSET_")}
    env.update({"ROSET_ADMIN_KEY": ADMIN_KEY, "ROSET_WORKERS": "2", "PYTHONUNBUFFERED": "1", "ROSET_LIVE_SYNC": "0"})
    env.update(extra)
    return env


@pytest.fixture
def make_live_server(tmp_path: Path):
    servers: list[LiveServer] = []

    def make(data_dir: Path | None = None, start: bool = True, **env: str) -> LiveServer:
        server = LiveServer(data_dir=data_dir or tmp_path / f"data{len(servers)}", env=server_env(**env))
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(make_live_server) -> LiveServer:
    return make_live_server()
