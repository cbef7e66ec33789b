"""The audit trail: every audited change, through the real server, the console and the CLI, writes exactly
one entry with the right actor, target and space; refused changes write none; no secret ever shows."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from urllib.parse import unquote

import httpx
import pytest

from roset_local.audit import ACTIONS
from roset_local.store import audit as audit_store
from roset_local.tasks import purge_old_audit
from roset_local.timeutil import to_str, utcnow
from tests.conftest import ADMIN_KEY, ROOT, LiveServer, server_env

ADMIN_PASSWORD = "audit-admin-password-1"
PROVIDER_SECRET = "sk-audit-provider-secret-0123456789"
SECRETS: list[str] = [ADMIN_KEY, ADMIN_PASSWORD, PROVIDER_SECRET]  # every secret value seen; none may be logged


class Console:
    """One browser signed in as one console user."""

    def __init__(self, server: LiveServer) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)

    def sign_in(self, username: str, password: str) -> httpx.Response:
        token = re.search(r'name="_csrf" value="([^"]+)"', self.http.get("/console/login").text).group(1)
        return self.http.post("/console/login", data={"_csrf": token, "username": username, "password": password})

    def post(self, path: str, data: dict | None = None) -> httpx.Response:
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', self.http.get("/console").text).group(1)
        return self.http.post(path, data={"_csrf": csrf, **(data or {})})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("audit") / "data"
    live = LiveServer(data_dir=data, env=server_env(ROSET_ADMIN_PASSWORD=ADMIN_PASSWORD)).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def api(server):
    with server.client() as client:
        client.admin_id = client.get("/v1/org/api-keys").json()["api_keys"][0]["id"]
        yield client


@pytest.fixture(scope="module")
def admin(server) -> Console:
    console = Console(server)
    assert console.sign_in("admin", ADMIN_PASSWORD).status_code == 303
    return console


def entries(api: httpx.Client, **params) -> list[dict]:
    r = api.get("/v1/audit", params={"limit": 200, **params})
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def one(api: httpx.Client, action: str, target_id: str, *, actor_type: str = "api_key", actor_id: str | None = None,
        space: str | None = None) -> dict:
    """The single entry of ``action`` on ``target_id``, checked for its actor and space."""
    found = entries(api, action=action, target_id=target_id)
    assert len(found) == 1, found
    entry = found[0]
    assert entry["actor"]["type"] == actor_type
    if actor_id is not None:
        assert entry["actor"]["id"] == actor_id
    assert entry["space"] == space and entry["target"]["id"] == target_id
    return entry


def upload(api: httpx.Client, space: str, name: str = "a.txt") -> str:
    r = api.post("/v1/upload", params={"space": space}, files={"file": (name, b"audit me " + name.encode(), "text/plain")})
    assert r.status_code == 201, r.text
    return r.json()["file"]["id"]


def cli(server: LiveServer, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real program as a subprocess (slow to start: used once, for the SIEM export)."""
    env = {**server_env(), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "roset_local", *args], cwd=str(ROOT), env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """The CLI's own entry point in this process (the same code as the installed command, without the
    seconds of start-up per call); returns (exit code, stdout, stderr)."""
    from roset_local.cli import main

    for name in [n for n in os.environ if n.startswith("ROSET_")]:
        monkeypatch.delenv(name)

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_file_space_and_batch_deletions(api):
    me = api.admin_id
    file_id = upload(api, "alpha")
    assert api.delete(f"/v1/files/{file_id}").status_code == 200
    entry = one(api, "file.deleted", file_id, actor_id=me, space="alpha")
    assert entry["changes"]["filename"] == "a.txt" and entry["request_id"].startswith("req-") and entry["ip"]

    ids = [upload(api, "beta", "b1.txt"), upload(api, "beta", "b2.txt")]
    r = api.request("DELETE", "/v1/files", json={"file_ids": [*ids, "missing-id"]})
    assert r.json()["deleted"] == 2
    batch = entries(api, action="files.batch_deleted", space="beta")
    assert len(batch) == 1 and sorted(batch[0]["changes"]["file_ids"]) == sorted(ids)
    assert not entries(api, action="file.deleted", space="beta")  # the batch is one entry, not one per file

    upload(api, "gamma")
    assert api.delete("/v1/spaces/gamma").status_code == 409  # refused: no entry
    assert not entries(api, action="space.deleted", target_id="gamma")
    assert api.delete("/v1/spaces/gamma", params={"cascade": "true"}).status_code == 200
    assert one(api, "space.deleted", "gamma", actor_id=me, space="gamma")["changes"]["files_deleted"] == 1


def test_api_key_and_org_changes(api):
    me = api.admin_id
    r = api.post("/v1/org/api-keys", json={"name": "ops", "scopes": ["org:read", "org:write", "logs:read"]})
    key = r.json()
    SECRETS.append(key["key"])
    assert one(api, "api_key.created", key["id"], actor_id=me)["changes"]["scopes"] == ["org:read", "org:write",
                                                                                          "logs:read"]
    # A 403 (more scopes than the caller holds) writes nothing, and names the caller that was refused.
    with httpx.Client(base_url=str(api.base_url), headers={"Authorization": f"ApiKey {key['key']}"}) as ops:
        assert ops.post("/v1/org/api-keys", json={"name": "too-much"}).status_code == 403
        assert ops.put("/v1/org/settings", json={"chat_model": "gpt-4o-mini"}).status_code == 200
    assert not [e for e in entries(api, action="api_key.created") if e["actor"]["id"] == key["id"]]
    assert one(api, "org.settings.updated", "settings", actor_id=key["id"])["actor"]["name"] == "ops"
    assert api.delete(f"/v1/org/api-keys/{key['id']}").status_code == 200
    one(api, "api_key.revoked", key["id"], actor_id=me)
    assert api.delete(f"/v1/org/api-keys/{key['id']}").status_code == 404  # already revoked: no second entry
    one(api, "api_key.revoked", key["id"])

    rules = {"rules": [{"content_type": "application/pdf", "provider": "gemini"}]}
    assert api.put("/v1/org/routing-rules", json=rules).status_code == 200
    one(api, "org.routing_rules.updated", "routing_rules", actor_id=me)
    assert api.put("/v1/org/settings", json={"chunk_size_nonsense": 1}).status_code == 400
    assert len(entries(api, action="org.settings.updated")) == 1

    assert api.put("/v1/org/provider-keys", json={"provider": "openai", "key": PROVIDER_SECRET}).status_code == 200
    assert one(api, "org.provider_key.set", "openai", actor_id=me)["changes"]["key"] == "changed"
    assert api.delete("/v1/org/provider-keys/openai").status_code == 200
    one(api, "org.provider_key.deleted", "openai", actor_id=me)
    assert api.delete("/v1/org/provider-keys/openai").status_code == 404  # nothing to delete: no entry
    one(api, "org.provider_key.deleted", "openai")


def test_webhooks_connections_and_portal_tokens(api):
    me = api.admin_id
    hook = api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["file.deleted"]}).json()
    SECRETS.append(hook["secret"])
    assert one(api, "webhook.created", hook["id"], actor_id=me)["changes"]["url"] == "http://127.0.0.1:9/hook"
    assert api.patch(f"/v1/webhooks/{hook['id']}", json={"active": False}).status_code == 200
    assert one(api, "webhook.updated", hook["id"])["changes"] == {"active": False}
    assert api.patch(f"/v1/webhooks/{hook['id']}", json={"events": ["no.such.event"]}).status_code == 400
    assert len(entries(api, action="webhook.updated", target_id=hook["id"])) == 1  # refused: no entry
    rotated = api.post(f"/v1/webhooks/{hook['id']}/rotate-secret").json()["secret"]
    SECRETS.append(rotated)
    assert one(api, "webhook.secret_rotated", hook["id"])["changes"] == {"secret": "changed"}
    assert api.delete(f"/v1/webhooks/{hook['id']}").status_code == 200
    one(api, "webhook.deleted", hook["id"], actor_id=me)
    # A webhook of one space is recorded in that space (so that space's confined keys see it).
    scoped = api.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/alpha", "events": ["file.deleted"],
                                            "spaces": ["alpha"]}).json()
    SECRETS.append(scoped["secret"])
    one(api, "webhook.created", scoped["id"], actor_id=me, space="alpha")

    secret_key = "audit-s3-secret-access-key-xyz"
    SECRETS.append(secret_key)
    body = {"provider": "s3", "name": "Archive", "bucket": "archive", "space": "delta",
            "endpoint_url": "http://127.0.0.1:9", "credentials": {"access_key_id": "AKIAAUDIT",
                                                                  "secret_access_key": secret_key}}
    conn = api.post("/v1/connections", json=body)
    assert conn.status_code == 201, conn.text
    entry = one(api, "connection.created", conn.json()["id"], actor_id=me, space="delta")
    assert entry["changes"]["credential_fields"] == ["access_key_id", "secret_access_key"]
    assert api.delete(f"/v1/connections/{conn.json()['id']}").status_code == 200
    one(api, "connection.deleted", conn.json()["id"], actor_id=me, space="delta")

    token = api.post("/v1/portal/tokens", json={"space": "delta", "ttl": 600}).json()
    SECRETS.append(token["token"])
    one(api, "portal_token.created", token["id"], actor_id=me, space="delta")
    assert api.delete(f"/v1/portal/tokens/{token['token']}").status_code == 200
    one(api, "portal_token.revoked", token["id"], actor_id=me, space="delta")


def test_console_sign_in_and_user_admin(server, api, admin):
    password = "audit-member-password-1"
    SECRETS.append(password)
    assert admin.post("/console/users", {"username": "mia", "password": password, "role": "member",
                                         "spaces": "alpha"}).status_code == 303
    created = entries(api, action="console.user.created")
    assert len(created) == 1 and created[0]["actor"] == {"type": "console_user", "id": created[0]["actor"]["id"],
                                                         "name": "admin"}
    user_id = created[0]["target"]["id"]
    assert admin.post(f"/console/users/{user_id}/access", {"role": "read-only", "spaces": ""}).status_code == 303
    assert one(api, "console.user.role_changed", user_id, actor_type="console_user")["changes"]["role"] == "read-only"
    new_password = "audit-member-password-2"
    SECRETS.append(new_password)
    admin.post(f"/console/users/{user_id}/password", {"password": new_password})
    assert one(api, "console.user.password_reset", user_id, actor_type="console_user")["changes"]["password"] == "changed"
    admin.post(f"/console/users/{user_id}/disable")
    one(api, "console.user.disabled", user_id, actor_type="console_user")
    admin.post(f"/console/users/{user_id}/enable")
    one(api, "console.user.enabled", user_id, actor_type="console_user")
    # The last admin cannot be demoted: refused, so no entry.
    admin_id = entries(api, action="console.login")[0]["actor"]["id"]
    admin.post(f"/console/users/{admin_id}/access", {"role": "member", "spaces": "alpha"})
    assert not entries(api, action="console.user.role_changed", target_id=admin_id)

    assert Console(server).sign_in("mia", "wrong-password-guess").status_code == 401
    failed = one(api, "console.login_failed", "mia", actor_type="console_user")
    assert failed["actor"]["name"] == "mia" and "wrong-password-guess" not in json.dumps(failed)
    assert Console(server).sign_in("mia", new_password).status_code == 303
    one(api, "console.login", user_id, actor_type="console_user")

    # Console changes are audited as the signed-in user, with the same action names as the API.
    assert admin.post("/console/provider-keys", {"provider": "gemini", "key": PROVIDER_SECRET}).status_code == 303
    assert one(api, "org.provider_key.set", "gemini", actor_type="console_user", actor_id=admin_id)
    file_id = upload(api, "epsilon")
    assert admin.post(f"/console/files/{file_id}/delete").status_code == 303
    one(api, "file.deleted", file_id, actor_type="console_user", actor_id=admin_id, space="epsilon")
    share = admin.post("/console/spaces/share", {"space": "epsilon", "ttl": "600"})
    assert share.status_code == 303 and "share=" in share.headers["location"]
    token = entries(api, action="portal_token.created", space="epsilon")
    assert len(token) == 1 and token[0]["actor"]["id"] == admin_id
    made = admin.post("/console/webhooks", {"url": "http://127.0.0.1:9/console", "events": "file.deleted"})
    assert made.status_code == 303 and "secret=" in made.headers["location"]
    SECRETS.append(unquote(made.headers["location"].split("secret=", 1)[1]))
    hook_id = next(e["target"]["id"] for e in entries(api, action="webhook.created")
                   if e["changes"]["url"] == "http://127.0.0.1:9/console")
    rotated = admin.post(f"/console/webhooks/{hook_id}/rotate")
    assert rotated.status_code == 303
    SECRETS.append(unquote(rotated.headers["location"].split("secret=", 1)[1]))
    one(api, "webhook.secret_rotated", hook_id, actor_type="console_user", actor_id=admin_id)
    assert admin.post("/console/settings/routing", {"reset": "1"}).status_code == 303
    assert [e["actor"]["type"] for e in entries(api, action="org.routing_rules.updated")].count("console_user") == 1


def test_console_audit_page_is_admin_only_and_filters(server, api, admin):
    page = admin.http.get("/console/audit", params={"action": "console.user.*"})
    assert page.status_code == 200 and "<code>console.user.created</code>" in page.text
    assert "<code>api_key.created</code>" not in page.text
    assert 'href="/console/audit"' in page.text  # in the admin's menu
    assert admin.http.get("/console/audit", params={"since": "yesterday"}).status_code == 400
    reader = Console(server)
    assert reader.sign_in("mia", "audit-member-password-2").status_code == 303
    assert reader.http.get("/console/audit").status_code == 403


def test_bad_filters_are_400_in_the_contract_shape(api):
    for params in ({"since": "not-a-date"}, {"until": "2026-13-45"}, {"action": "file.exploded"},
                   {"since": "2030-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"}, {"cursor": "%%%"}):
        r = api.get("/v1/audit", params=params)
        assert r.status_code == 400, (params, r.text)
        assert set(r.json()) == {"error", "code", "requestId"} and r.json()["code"] == "BAD_REQUEST"
    assert entries(api, since="2000-01-01T00:00:00Z", until=to_str(utcnow() + timedelta(days=1)))
    assert entries(api, until="2000-01-01T00:00:00Z") == []


def test_cursor_pages_through_everything(api):
    everything = entries(api)
    seen, cursor = [], None
    while True:
        r = api.get("/v1/audit", params={"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        seen += [e["id"] for e in r["entries"]]
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert seen == [e["id"] for e in everything] and len(seen) > 3


def test_confined_key_sees_only_its_spaces(api):
    key = api.post("/v1/org/api-keys", json={"name": "alpha-auditor", "scopes": ["logs:read"],
                                             "spaces": ["alpha"]}).json()
    SECRETS.append(key["key"])
    with httpx.Client(base_url=str(api.base_url), headers={"Authorization": f"ApiKey {key['key']}"}) as confined:
        seen = confined.get("/v1/audit", params={"limit": 200}).json()["entries"]
        assert seen and {e["space"] for e in seen} == {"alpha"}
        refused = confined.get("/v1/audit", params={"space": "beta"})
        assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
        assert confined.get("/v1/audit", params={"action": "api_key.created"}).json()["entries"] == []
    everything = entries(api)
    assert {e["space"] for e in everything} >= {"alpha", "beta", None}


def test_cli_changes_are_audited_and_exported_as_json_lines(server, api, run_cli, tmp_path):
    data = str(server.data_dir)
    code, out, err = run_cli("keys", "create", "--name", "from-cli", "--scopes", "files:read", "--data-dir", data)
    assert code == 0, err
    key = json.loads(out)
    SECRETS.append(key["key"])
    entry = one(api, "api_key.created", key["id"], actor_type="cli")
    assert entry["actor"]["name"] == "roset-local keys create"
    assert run_cli("keys", "revoke", key["id"], "--data-dir", data)[0] == 0
    one(api, "api_key.revoked", key["id"], actor_type="cli")
    assert run_cli("keys", "revoke", key["id"], "--data-dir", data)[0] == 1  # refused: no second entry
    one(api, "api_key.revoked", key["id"], actor_type="cli")

    password = "audit-cli-user-password"
    SECRETS.append(password)
    code, _, err = run_cli("users", "create", "--username", "cleo", "--role", "read-only", "--password-stdin",
                           "--data-dir", data, stdin=password + "\n")
    assert code == 0, err
    created = [e for e in entries(api, action="console.user.created") if e["changes"]["username"] == "cleo"]
    assert len(created) == 1 and created[0]["actor"]["type"] == "cli"
    assert run_cli("users", "disable", "--username", "cleo", "--data-dir", data)[0] == 0
    one(api, "console.user.disabled", created[0]["target"]["id"], actor_type="cli")

    dest = tmp_path / "backup"
    code, _, err = run_cli("backup", str(dest), "--data-dir", data)
    assert code == 0, err
    one(api, "backup.created", str(dest.resolve()), actor_type="cli")
    restored = tmp_path / "restored"
    assert run_cli("restore", str(dest), "--data-dir", str(restored))[0] == 0
    code, out, _ = run_cli("audit", "--since", "2000-01-01T00:00:00Z", "--data-dir", str(restored))
    shipped = [json.loads(line) for line in out.splitlines()]
    assert shipped[-1]["action"] == "restore.applied" and shipped[-1]["target"]["id"] == str(dest.resolve())
    assert [e["created_at"] for e in shipped] == sorted(e["created_at"] for e in shipped)  # oldest first
    assert any(e["action"] == "api_key.created" and e["target"]["id"] == key["id"] for e in shipped)
    code, out, _ = run_cli("audit", "--action", "console.user.*", "--data-dir", data)
    assert code == 0 and {json.loads(x)["action"] for x in out.splitlines()} >= {
        "console.user.created", "console.user.disabled"}
    code, _, err = run_cli("audit", "--since", "soon", "--data-dir", data)
    assert code == 2 and "since" in err


def test_no_secret_value_in_any_entry(server, api):
    """Runs after the others (file order): every key, password, token and webhook secret they used."""
    dump = json.dumps(entries(api)) + cli(server, "audit", "--data-dir", str(server.data_dir)).stdout
    assert len(entries(api)) > 20
    for secret in SECRETS:
        assert secret not in dump
    assert {e["action"] for e in entries(api)} <= set(ACTIONS)


def test_openapi_describes_the_endpoint(api):
    doc = api.get("/schema/openapi.json").json()
    op = doc["paths"]["/v1/audit"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"action", "actor", "space", "target_id", "since", "until", "cursor", "limit"} <= names
    assert "console.login_failed" in op["description"]


def test_retention_purges_old_rows(services):
    db = services.db
    with db.write():
        audit_store.insert_event(db, {"action": "backup.created", "actor_type": "cli", "created_at":
                                      to_str(utcnow() - timedelta(days=400))})
        audit_store.insert_event(db, {"action": "backup.created", "actor_type": "cli", "created_at":
                                      to_str(utcnow() - timedelta(days=10))})
    assert services.settings.audit_retention_days == 365
    assert purge_old_audit(services) == 1
    assert len(audit_store.list_events(db)) == 1


def test_retention_is_configurable():
    from roset_local.config import Settings

    assert Settings.from_env({"ROSET_AUDIT_RETENTION_DAYS": "30"}).audit_retention_days == 30
    assert Settings.from_env({}).audit_retention_days == 365
