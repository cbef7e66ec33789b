"""Foundation: probes, errors, auth (401 vs 403), keys, expiry, revocation, rate limits, API logs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import replace

import httpx
import pytest
from litestar.testing import TestClient

from roset_local.app import create_app
from roset_local.store.db import open_database
from roset_local.tasks import purge_old_logs
from tests.conftest import ADMIN_KEY, ROOT, auth


def test_health_and_ready_need_no_auth(client):
    client.headers.pop("Authorization")
    r = client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["x-request-id"].startswith("req-")
    full = client.get("/health", params={"full": "true"}).json()
    assert full["status"] == "ok"
    for name in ("database", "queue", "storage", "models"):
        assert full["checks"][name]["status"] == "ok"
        assert full["checks"][name]["latency_ms"] >= 0
    models = full["checks"]["models"]["models"]
    assert models and {m["status"] for m in models} <= {"ok", "missing"}  # the OCR models ship in wheels
    assert any(m["status"] == "ok" for m in models)
    ready = client.get("/ready")
    assert ready.status_code == 200


def test_ready_is_503_when_storage_is_unusable(client, settings):
    blobs = settings.data_dir / "blobs"
    os.chmod(blobs, 0o500)
    try:
        if os.access(blobs, os.W_OK):  # running as root: permissions do not bite
            import shutil

            shutil.rmtree(blobs)
            blobs.write_text("not a directory")
        r = client.get("/ready")
        assert r.status_code == 503
        assert r.json()["checks"]["storage"]["status"] == "error"
    finally:
        if blobs.is_file():
            blobs.unlink()
            blobs.mkdir()
        os.chmod(blobs, 0o700)


def test_me_reports_the_key(client):
    body = client.get("/v1/me").json()
    assert body["auth_type"] == "api_key"
    assert body["org_id"].startswith("org-")
    assert "files:read" in body["scopes"] and len(body["scopes"]) == 16


@pytest.mark.parametrize(
    "header",
    [None, "ApiKey", "ApiKey rsk_unknown_key_value_123456", "Basic abc", "Bearer rsk_nope_nope_nope_nope_nope"],
)
def test_missing_or_unknown_key_is_401(client, header):
    client.headers.pop("Authorization")
    headers = {"Authorization": header} if header else {}
    r = client.get("/v1/me", headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["code"] == "UNAUTHORIZED" and body["error"] and body["requestId"] == r.headers["x-request-id"]


def test_bearer_scheme_is_accepted(client):
    client.headers.pop("Authorization")
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200


def test_key_lifecycle_shown_once_listed_by_prefix_revoked_at_once(client, services):
    created = client.post("/v1/org/api-keys", json={"name": "CI Pipeline", "scopes": ["files:read"]})
    assert created.status_code == 201
    key = created.json()
    assert key["key"].startswith("rsk_") and len(key["key"]) >= 40  # >= 128 bits of entropy
    assert key["scopes"] == ["files:read"] and key["created_at"]
    listed = client.get("/v1/org/api-keys").json()["api_keys"]
    mine = [k for k in listed if k["id"] == key["id"]][0]
    assert "key" not in mine and mine["prefix"] == key["key"][:12]
    assert key["key"] not in str(listed)
    # used → last_used_at recorded (batched writer)
    assert client.get("/v1/me", headers=auth(key["key"])).status_code == 200
    services.log_writer.flush()
    mine = [k for k in client.get("/v1/org/api-keys").json()["api_keys"] if k["id"] == key["id"]][0]
    assert mine["last_used_at"] is not None
    assert client.delete(f"/v1/org/api-keys/{key['id']}").json() == {"deleted": True}
    assert client.get("/v1/me", headers=auth(key["key"])).status_code == 401
    assert client.delete(f"/v1/org/api-keys/{key['id']}").status_code == 404
    # the key is only stored hashed
    db = open_database(services.settings.db_path)
    rows = db.all("SELECT * FROM api_keys")
    assert key["key"] not in str(rows)


def test_missing_scope_is_403_not_401(client):
    key = client.post("/v1/org/api-keys", json={"name": "reader", "scopes": ["files:read"]}).json()["key"]
    r = client.get("/v1/org/api-keys", headers=auth(key))
    assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN"
    assert client.get("/v1/api-logs", headers=auth(key)).status_code == 403


def test_key_cannot_mint_more_power_than_it_has(client):
    key = client.post("/v1/org/api-keys", json={"name": "w", "scopes": ["org:write", "org:read"]}).json()["key"]
    r = client.post("/v1/org/api-keys", json={"name": "x"}, headers=auth(key))
    assert r.status_code == 403
    confined = client.post("/v1/org/api-keys", json={"name": "c", "spaces": ["acme"]}).json()
    assert confined["spaces"] == ["acme"]
    r = client.post("/v1/org/api-keys", json={"name": "y"}, headers=auth(confined["key"]))
    assert r.status_code == 403
    ok = client.post("/v1/org/api-keys", json={"name": "y", "spaces": ["acme"]}, headers=auth(confined["key"]))
    assert ok.status_code == 201
    me = client.get("/v1/me", headers=auth(confined["key"])).json()
    assert me["spaces"] == ["acme"]


def test_expired_key_is_401(client, settings, services):
    created = client.post("/v1/org/api-keys", json={"name": "short", "expires_at": "2999-01-01T00:00:00Z"}).json()
    assert created["expires_at"] == "2999-01-01 00:00:00"
    assert client.get("/v1/me", headers=auth(created["key"])).status_code == 200
    db = open_database(settings.db_path)
    with db.write():
        db.execute("UPDATE api_keys SET expires_at = '2001-01-01 00:00:00' WHERE id = ?", [created["id"]])
    services.key_cache.clear()  # the row changed behind the server's back (time travel)
    r = client.get("/v1/me", headers=auth(created["key"]))
    assert r.status_code == 401 and "expired" in r.json()["error"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"scopes": ["files:read"]}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x", "scopes": ["nope:read"]}, "scopes"),
        ({"name": "x", "mode": "prod"}, "mode"),
        ({"name": "x", "expires_at": "tomorrow"}, "expires_at"),
        ({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "spaces": ["../etc"]}, "space"),
    ],
)
def test_validation_errors_name_the_field(client, body, field):
    r = client.post("/v1/org/api-keys", json=body)
    assert r.status_code == 400
    err = r.json()
    assert err["code"] == "BAD_REQUEST" and field in err["error"] and err["requestId"]


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"[1,2]", b"null", b"\xff\xfe"])
def test_malformed_bodies_are_400(client, raw):
    r = client.post("/v1/org/api-keys", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"


def test_unknown_route_and_wrong_method_use_the_error_shape(client):
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND" and r.headers["x-request-id"]
    r = client.put("/v1/me")
    assert r.status_code == 405 and r.json()["code"] == "METHOD_NOT_ALLOWED"
    assert r.json()["requestId"] == r.headers["x-request-id"]


def test_rate_limit_429_with_headers(settings):
    app = create_app(replace(settings, rate_limit_per_minute=5))
    with TestClient(app) as client:
        seen = [client.get("/v1/me", headers=auth()) for _ in range(5)]
        assert all(r.status_code == 200 for r in seen)
        assert seen[0].headers["x-ratelimit-limit"] == "5"
        assert [r.headers["x-ratelimit-remaining"] for r in seen] == ["4", "3", "2", "1", "0"]
        assert int(seen[0].headers["x-ratelimit-reset"]) > 0
        limited = client.get("/v1/me", headers=auth())
        assert limited.status_code == 429 and limited.json()["code"] == "RATE_LIMITED"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # another key has its own budget
        other = client.post("/v1/org/api-keys", json={"name": "o"}, headers=auth())
        assert other.status_code == 429  # the admin key is still limited
        assert client.get("/health").status_code == 200  # probes are never limited


def test_api_logs_record_requests_without_secrets_and_filter(client, services):
    client.get("/v1/me", params={"token": "supersecret"})
    client.get("/v1/nothing")
    client.post("/v1/org/api-keys", json={"name": "logged"})
    services.log_writer.flush()
    logs = client.get("/v1/api-logs").json()
    assert logs["next_cursor"] is None or isinstance(logs["next_cursor"], str)
    entries = logs["logs"]
    me = [e for e in entries if e["path"] == "/v1/me"][0]
    assert me["method"] == "GET" and me["status"] == 200 and me["auth_type"] == "api_key"
    assert me["key_name"] == "admin (ROSET_ADMIN_KEY)" and me["duration_ms"] >= 0 and me["created_at"]
    assert "supersecret" not in str(entries) and ADMIN_KEY not in str(entries)
    assert any(e["path"] == "/v1/nothing" and e["status"] == 404 for e in entries)
    only_posts = client.get("/v1/api-logs", params={"method": "POST"}).json()["logs"]
    assert only_posts and all(e["method"] == "POST" for e in only_posts)
    assert all(e["status"] == 404 for e in client.get("/v1/api-logs", params={"status": 404}).json()["logs"])
    assert all(e["path"].startswith("/v1/org") for e in client.get("/v1/api-logs", params={"path": "/v1/org"}).json()["logs"])


def test_api_log_cursor_walk_and_bad_paging(client, services):
    for _ in range(7):
        client.get("/v1/me")
    services.log_writer.flush()
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v1/api-logs", params=params).json()
        seen += [e["id"] for e in body["logs"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 7
    for params in ({"cursor": "garbage!!"}, {"limit": -1}, {"limit": "abc"}, {"limit": 0}, {"auth_type": "x"}):
        r = client.get("/v1/api-logs", params=params)
        assert r.status_code == 400, params
        assert r.json()["code"] == "BAD_REQUEST"


def test_log_retention_purges_entries_older_than_seven_days(client, settings, services):
    client.get("/v1/me")
    services = services
    services.log_writer.flush()
    db = services.db
    with db.write():
        db.execute("UPDATE api_logs SET created_at = '2000-01-01 00:00:00' WHERE path = '/v1/me'")
    removed = purge_old_logs(services)
    assert removed >= 1
    assert not [e for e in client.get("/v1/api-logs").json()["logs"] if e["created_at"].startswith("2000")]


def test_openapi_and_docs_page_use_local_assets(client):
    schema = client.get("/schema/openapi.json")
    assert schema.status_code == 200 and "/v1/me" in schema.json()["paths"]
    page = client.get("/schema/docs").text
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    js = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ROSET_")}
    return subprocess.run([sys.executable, "-m", "roset_local", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, cwd=ROOT, timeout=60)


def test_cli_revocation_reaches_a_running_server_within_a_second(live_server):
    with live_server.client() as http:
        made = http.post("/v1/org/api-keys", json={"name": "cli-revoked"}).json()
        assert http.get("/v1/me", headers=auth(made["key"])).status_code == 200
    assert run_cli("keys", "revoke", "--data-dir", str(live_server.data_dir), made["id"]).returncode == 0
    import time

    time.sleep(1.2)
    assert httpx.get(f"{live_server.url}/v1/me", headers=auth(made["key"])).status_code == 401


def test_cli_version_and_keys(tmp_path):
    assert run_cli("version").stdout.startswith("roset-local ")
    data = str(tmp_path / "d")
    assert run_cli("init", "--data-dir", data).returncode == 0
    created = run_cli("keys", "create", "--data-dir", data, "--name", "ops", "--scopes", "files:read")
    assert created.returncode == 0, created.stderr
    import json

    info = json.loads(created.stdout)
    assert info["key"].startswith("rsk_") and info["scopes"] == ["files:read"]
    listed = run_cli("keys", "list", "--data-dir", data).stdout
    assert info["id"] in listed and info["key"] not in listed
    assert run_cli("keys", "revoke", "--data-dir", data, info["id"]).returncode == 0
    assert info["id"] not in run_cli("keys", "list", "--data-dir", data).stdout
    assert run_cli("keys", "revoke", "--data-dir", data, info["id"]).returncode == 1


def test_first_start_creates_admin_key_once(make_live_server, tmp_path):
    server = make_live_server(data_dir=tmp_path / "fresh", ROSET_ADMIN_KEY="")
    key_file = tmp_path / "fresh" / "admin-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert key in server.logs()
    with server.client(key) as http:
        assert http.get("/v1/me").json()["key_name"] == "admin"
    server.stop()
    server.start()
    assert server.logs().count(key) == 1  # not shown again on restart
    with server.client(key) as http:
        assert len(http.get("/v1/org/api-keys").json()["api_keys"]) == 1


def test_env_admin_key_is_idempotent_across_restarts(live_server):
    with live_server.client() as http:
        assert http.get("/v1/me").status_code == 200
        keys_before = [k["id"] for k in http.get("/v1/org/api-keys").json()["api_keys"]]
    live_server.stop()
    live_server.start()
    with live_server.client() as http:
        assert [k["id"] for k in http.get("/v1/org/api-keys").json()["api_keys"]] == keys_before
        r = http.get("/nope")
        assert r.status_code == 404 and r.headers["x-request-id"]


def test_clear_errors_for_corrupt_database_and_unwritable_dir(tmp_path):
    data = tmp_path / "corrupt"
    data.mkdir()
    (data / "roset.db").write_bytes(b"this is not sqlite" * 1000)
    result = run_cli("keys", "list", "--data-dir", str(data))
    assert result.returncode == 2
    assert "not a usable SQLite database" in result.stderr and "Traceback" not in result.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("keys", "list", "--data-dir", str(blocker / "sub"))
    assert result.returncode == 2 and "data directory" in result.stderr and "Traceback" not in result.stderr
