"""Hardening: sealed webhook secrets, a private data directory, rate limits for anonymous callers,
capped query lengths and a health page that shows no paths to strangers."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from litestar.testing import TestClient

from roset_local.app import create_app
from roset_local.store import webhooks as webhook_store
from roset_local.store.db import open_database
from tests.conftest import ROOT, auth, server_env
from tests.test_files import upload
from tests.test_webhooks import Receiver, verify, wait_for


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


SECRET_RE = re.compile(rb"whsec_[A-Za-z0-9+/=]{16,}")  # a secret, not the word in the schema's comment


def _data_bytes(data_dir: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in data_dir.rglob("*") if p.is_file()]


def _stored_secrets(data_dir: Path) -> list[str]:
    db = open_database(data_dir / "roset.db")
    try:
        return [r["secret"] for r in db.all("SELECT secret FROM webhooks")]
    finally:
        db.close()


def _test_delivery(http, receiver: Receiver, webhook_id: str):
    before = len(receiver.posts())
    result = http.post(f"/v1/webhooks/{webhook_id}/test").json()
    assert result["success"] is True, result
    return wait_for(lambda: receiver.posts()[before:])[0]


# -- 1. webhook secrets at rest ---------------------------------------------------------------------
def test_webhook_secrets_are_sealed_at_rest_and_deliveries_still_verify(live_server, receiver):
    with live_server.client() as http:
        created = http.post("/v1/webhooks", json={"url": receiver.url, "events": ["file.uploaded"]}).json()
        secret = created["secret"]
        assert secret.startswith("whsec_")
        assert verify(secret, _test_delivery(http, receiver, created["id"]))["type"] == "webhook.test"
        rotated = http.post(f"/v1/webhooks/{created['id']}/rotate-secret").json()["secret"]
        assert rotated.startswith("whsec_") and rotated != secret
        item = _test_delivery(http, receiver, created["id"])
        assert verify(rotated, item)["data"]["webhook_id"] == created["id"]
        assert "secret" not in http.get(f"/v1/webhooks/{created['id']}").json()
    for path, data in _data_bytes(live_server.data_dir):
        assert not SECRET_RE.search(data) and rotated[6:].encode() not in data and secret[6:].encode() not in data, path
    assert all(s.startswith("v1.") for s in _stored_secrets(live_server.data_dir))


def test_plain_text_secrets_written_before_are_sealed_at_start(make_live_server, receiver):
    server = make_live_server()
    server.stop()
    plain = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    db = open_database(server.data_dir / "roset.db")
    row = webhook_store.insert_webhook(db, url=receiver.url, events=["file.uploaded"], secret=plain)
    db.close()
    server.start()
    (stored,) = _stored_secrets(server.data_dir)
    assert stored.startswith("v1.") and "whsec_" not in stored
    for path, data in _data_bytes(server.data_dir):
        assert plain.encode() not in data, path
    with server.client() as http:
        assert verify(plain, _test_delivery(http, receiver, row["id"]))["type"] == "webhook.test"


# -- 3. data directory modes ------------------------------------------------------------------------
def _doctor(data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roset_local", "doctor", "--data-dir", str(data_dir)],
                          capture_output=True, text=True, cwd=str(ROOT), env=server_env(), timeout=120)


def test_data_dir_is_private_and_doctor_flags_loose_modes(make_live_server):
    server = make_live_server()
    with server.client() as http:
        created = upload(http, skip_processing="true")
        assert created.status_code == 201, created.text
    data = server.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    blobs = [p for p in (data / "blobs").rglob("*") if p.is_file()]
    assert blobs, "the upload should have written a blob"
    for path in [*data.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode & 0o077 == 0, f"{path} has mode {mode:o}"
    for name in ("roset.db", "queue.db", "secret.key", "signing.key"):
        if (data / name).exists():
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    server.stop()

    clean = _doctor(data)
    assert clean.returncode == 0 and "warning:" not in clean.stderr, clean.stderr
    os.chmod(data / "roset.db", 0o644)
    loose = _doctor(data)
    warnings = [line for line in loose.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "roset.db (mode 644)" in warnings[0] and "chmod -R go-rwx" in warnings[0]
    assert stat.S_IMODE((data / "roset.db").stat().st_mode) == 0o644  # reported, never changed


# -- 4. rate limits for callers without a valid key -------------------------------------------------
ANON_LIMIT = 3


def _until_429(send) -> list[int]:
    """Statuses until the first 429 (a minute boundary can reset the window once, hence 2x + 1)."""
    statuses: list[int] = []
    for _ in range(2 * ANON_LIMIT + 1):
        response = send()
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert 1 <= int(response.headers["retry-after"]) <= 60
            if response.headers["content-type"].startswith("text/html"):  # pages answer with an HTML page
                assert "Rate limit exceeded" in response.text
            else:
                body = response.json()
                assert set(body) == {"error", "code", "requestId"} and body["code"] == "RATE_LIMITED"
            break
    return statuses


@pytest.fixture
def limited(settings, tmp_path) -> Iterator[tuple[TestClient, str]]:
    app = create_app(replace(settings, anon_rate_limit_per_minute=ANON_LIMIT, data_dir=tmp_path / "limited"))
    with TestClient(app, base_url="http://127.0.0.1:8700") as http:
        token = http.post("/v1/portal/tokens", json={"space": "default"}, headers=auth()).json()["token"]
        yield http, token


ANON_ROUTES = {
    "metrics": lambda http, token: http.get("/metrics"),
    "console login page": lambda http, token: http.get("/console/login"),
    "console sign-in": lambda http, token: http.post("/console/login", data={"username": "a", "password": "b"}),
    "console page": lambda http, token: http.get("/console/files"),
    "share page": lambda http, token: http.get(f"/portal/{token}"),
    "share page search": lambda http, token: http.get(f"/portal/{token}", params={"q": "terms"}),
    "token verify": lambda http, token: http.get(f"/v1/portal/tokens/{token}/verify"),
    "unknown key": lambda http, token: http.get("/v1/files", headers=auth("rsk_not_a_real_key_0123456789")),
    "no key": lambda http, token: http.get("/v1/files"),
    "unknown portal token": lambda http, token: http.get("/v1/portal/files", headers={
        "Authorization": "PortalToken ptk_not_a_real_token_000000"}),
}


@pytest.mark.parametrize("route", sorted(ANON_ROUTES))
def test_anonymous_and_bad_key_requests_are_limited_per_address(limited, route):
    http, token = limited
    statuses = _until_429(lambda: ANON_ROUTES[route](http, token))
    assert statuses[-1] == 429 and 429 not in statuses[:-1], statuses
    assert http.get("/v1/me", headers=auth()).status_code == 200  # a valid key has its own budget
    assert http.get("/health").status_code == 200  # probes are never limited


def test_portal_callers_are_limited_per_token(settings, tmp_path):
    app = create_app(replace(settings, rate_limit_per_minute=ANON_LIMIT, anon_rate_limit_per_minute=1000,
                             data_dir=tmp_path / "per-token"))
    with TestClient(app, base_url="http://127.0.0.1:8700") as http:
        first, second = (http.post("/v1/portal/tokens", json={"space": "default"}, headers=auth()).json()["token"]
                         for _ in range(2))
        as_portal = {"Authorization": f"PortalToken {first}"}
        statuses = _until_429(lambda: http.get("/v1/portal/files", headers=as_portal))
        assert statuses[-1] == 429, statuses
        assert http.get(f"/portal/{first}").status_code == 429  # its share pages share the budget
        assert http.get("/v1/portal/files", headers={"Authorization": f"PortalToken {second}"}).status_code == 200


def test_the_anonymous_limit_is_set_by_the_environment(make_live_server):
    server = make_live_server(ROSET_ANON_RATE_LIMIT=str(ANON_LIMIT))
    with server.client(key="rsk_wrong_key_for_this_server_0000") as bad:
        statuses = _until_429(lambda: bad.get("/v1/files"))
    assert set(statuses[:-1]) == {401} and statuses[-1] == 429, statuses
    with server.client() as good:
        assert good.get("/v1/me").status_code == 200


# -- 5. query length ---------------------------------------------------------------------------------
BIG = "x" * (9 * 1024 * 1024)


@pytest.mark.parametrize("method,path,field", [
    ("post", "/v1/search", "query"),
    ("post", "/v1/qa", "question"),
    ("get", "/v1/files", "search"),
])
def test_overlong_queries_are_400_and_never_echoed(client, method, path, field):
    text = BIG if method == "post" else "y" * 5000
    if method == "post":
        r = client.post(path, json={field: text})
    else:
        r = client.get(path, params={field: text})
    assert r.status_code == 400, r.text[:300]
    body = r.json()
    assert body["code"] == "BAD_REQUEST" and field in body["error"] and "4096" in body["error"]
    assert len(r.content) < 500


def test_portal_search_and_a_query_at_the_limit(client):
    token = client.post("/v1/portal/tokens", json={"space": "default"}).json()["token"]
    portal = {"Authorization": f"PortalToken {token}"}
    r = client.post("/v1/portal/search", json={"query": BIG}, headers=portal)
    assert r.status_code == 400 and len(r.content) < 500
    r = client.post("/v1/portal/qa", json={"question": BIG}, headers=portal)
    assert r.status_code == 400 and len(r.content) < 500
    assert client.post("/v1/search", json={"query": "z" * 4096, "mode": "text"}).status_code == 200


# -- 6. health without a key -------------------------------------------------------------------------
def _strings(value) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


@pytest.mark.parametrize("path", ["/health?full=true", "/ready"])
def test_health_shows_paths_only_to_an_operator_key(client, settings, path):
    data_dir = str(settings.data_dir.resolve())
    as_admin = client.get(path)
    assert data_dir in as_admin.text
    client.headers.pop("Authorization")
    anonymous = client.get(path)
    assert anonymous.status_code == as_admin.status_code
    assert data_dir not in anonymous.text
    body = anonymous.json()
    assert body["checks"]["storage"]["url"] == "file"
    assert not [s for s in _strings(body) if s.startswith("/") or "file://" in s], json.dumps(body)[:500]
    confined = client.post("/v1/org/api-keys", json={"name": "c", "spaces": ["alpha"]}, headers=auth()).json()["key"]
    assert data_dir not in client.get(path, headers=auth(confined)).text
