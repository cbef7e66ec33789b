"""Graceful shutdown: SIGTERM ends the server (embedded queue consumer included) with code 0, data intact."""

from __future__ import annotations

import signal
import subprocess

from tests.conftest import ADMIN_KEY  # noqa: F401 - the live server's key


def test_sigterm_exits_cleanly_and_keeps_the_data(make_live_server):
    server = make_live_server()
    with server.client() as http:
        created = http.post("/v1/org/api-keys", json={"name": "survives shutdown", "scopes": ["files:read"]})
        assert created.status_code == 201
    proc = server.proc
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"server still running 20 s after SIGTERM:\n{server.logs()}") from None
    server.proc = None
    assert code == 0, server.logs()
    assert "Traceback" not in server.logs()
    server.start()
    with server.client() as http:
        names = {k["name"] for k in http.get("/v1/org/api-keys").json()["api_keys"]}
        assert "survives shutdown" in names
        logs = http.get("/v1/api-logs", params={"limit": 100}).json()["logs"]
        assert any(row["path"] == "/v1/org/api-keys" and row["method"] == "POST" for row in logs)
