"""Real answers of the REST resources (connections, nodes, webhooks, keys, org, analytics, logs, audit, portal)
match the schemas the OpenAPI document gives them; that every operation is typed is test_openapi_contract's rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator

from roset_local.config import Settings
from tests.conftest import ADMIN_KEY
from tests.test_openapi_contract import resolve


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Local connections may use directories under tmp_path/root."""
    (tmp_path / "root" / "docs").mkdir(parents=True)
    return Settings.from_env({}, data_dir=tmp_path / "data", admin_key=ADMIN_KEY, local_roots=(str(tmp_path / "root"),))


@pytest.fixture
def doc(client) -> dict[str, Any]:
    res = client.get("/schema/openapi.json")
    assert res.status_code == 200
    return res.json()


def _check(doc: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    validator = OAS31Validator({**schema, "components": doc["components"]})
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, f"{method.upper()} {path}: " + "; ".join(errors)
    if "$ref" in schema:  # nothing on the wire that the document does not name
        props = resolve(doc, schema)["properties"]
        assert set(body) <= set(props), set(body) - set(props)


def test_real_responses_match_their_documented_schemas(client, doc):
    assert {"ConnectionOut", "WebhookOut", "KeyOut", "AuditEventOut", "OrgSettings"} <= set(doc["components"]["schemas"])
    res = client.post("/v1/webhooks", json={"url": "https://example.com/hook", "events": ["file.uploaded"]})
    assert res.status_code == 201, res.text
    _check(doc, "post", "/v1/webhooks", 201, res.json())
    assert res.json()["secret"]  # shown once, on creation

    hook = client.get(f"/v1/webhooks/{res.json()['id']}").json()
    assert "secret" not in hook
    _check(doc, "get", "/v1/webhooks/{webhook_id}", 200, hook)

    created = client.post("/v1/org/api-keys", json={"name": "ci", "scopes": ["files:read"]})
    assert created.status_code == 201, created.text
    _check(doc, "post", "/v1/org/api-keys", 201, created.json())
    keys = client.get("/v1/org/api-keys")
    _check(doc, "get", "/v1/org/api-keys", 200, keys.json())
    assert any(k["id"] == created.json()["id"] and "key" not in k for k in keys.json()["api_keys"])

    _check(doc, "get", "/v1/org/settings", 200, client.get("/v1/org/settings").json())
    _check(doc, "get", "/v1/org/usage", 200, client.get("/v1/org/usage").json())

    _check(doc, "get", "/v1/connections/providers", 200, client.get("/v1/connections/providers").json())
    conn = client.post("/v1/connections", json={"provider": "local", "name": "docs", "bucket": "docs"})
    assert conn.status_code == 201, conn.text
    _check(doc, "post", "/v1/connections", 201, conn.json())
    _check(doc, "get", "/v1/connections", 200, client.get("/v1/connections").json())
    progress = client.get(f"/v1/connections/{conn.json()['id']}/sync/progress").json()
    assert progress["status"] == "idle" and "error" not in progress  # omitted before the first sync, as before
    _check(doc, "get", "/v1/connections/{connection_id}/sync/progress", 200, progress)

    token = client.post("/v1/portal/tokens", json={"space": "default"})
    assert token.status_code == 201, token.text
    _check(doc, "post", "/v1/portal/tokens", 201, token.json())
    _check(doc, "get", "/v1/portal/tokens", 200, client.get("/v1/portal/tokens").json())
    answer = client.post("/v1/portal/qa", json={"question": "When does the contract end?"})
    assert answer.status_code == 200, answer.text
    _check(doc, "post", "/v1/portal/qa", 200, answer.json())
    found = client.post("/v1/portal/search", json={"query": "contract"})
    assert found.status_code == 200, found.text
    _check(doc, "post", "/v1/portal/search", 200, found.json())

    audit = client.get("/v1/audit")
    assert audit.json()["entries"], "creating a webhook and a key is audited"
    _check(doc, "get", "/v1/audit", 200, audit.json())
    _check(doc, "get", "/v1/api-logs", 200, client.get("/v1/api-logs").json())
    _check(doc, "get", "/v1/analytics/overview", 200, client.get("/v1/analytics/overview").json())


def test_official_sdk_answers_match_the_document(make_live_server, tmp_path):
    """The real server through the official SDK: what it returns is what the document describes."""
    from roset import Client

    (tmp_path / "buckets" / "inbox" / "sub").mkdir(parents=True)
    (tmp_path / "buckets" / "inbox" / "sub" / "a.txt").write_text("hello")
    server = make_live_server(ROSET_LOCAL_ROOTS=str(tmp_path / "buckets"))
    with server.client() as http:
        doc = http.get("/schema/openapi.json").json()
    sdk = Client(api_key=ADMIN_KEY, base_url=server.url)
    try:
        conn = sdk.connections.create(provider="local", name="inbox", bucket="inbox")
        hook = sdk.webhooks.create("https://example.com/hook", ["file.uploaded"])
        answers = [
            ("post", "/v1/connections", 201, conn),
            ("get", "/v1/connections", 200, sdk.connections.list()),
            ("get", "/v1/connections/{connection_id}", 200, sdk.connections.get(conn["id"])),
            ("post", "/v1/connections/{connection_id}/test", 200, sdk.connections.test(conn["id"])),
            ("post", "/v1/connections/{connection_id}/sync", 202, sdk.connections.sync(conn["id"])),
            ("get", "/v1/nodes", 200, sdk.nodes.list(connection_id=conn["id"])),
            ("post", "/v1/webhooks", 201, hook),
            ("get", "/v1/webhooks", 200, sdk.webhooks.list()),
            ("patch", "/v1/webhooks/{webhook_id}", 200, sdk.webhooks.update(hook["id"], enabled=False)),
            ("get", "/v1/webhooks/{webhook_id}/deliveries", 200, sdk.webhooks.deliveries(hook["id"])),
            ("get", "/v1/analytics/overview", 200, sdk.analytics.overview()),
            ("get", "/v1/analytics/processing", 200, sdk.analytics.processing(days=7)),
            ("get", "/v1/analytics/file-types", 200, sdk.analytics.file_types()),
            ("get", "/v1/analytics/spaces", 200, sdk.analytics.spaces()),
            ("get", "/v1/analytics/failures", 200, sdk.analytics.failures()),
            ("get", "/v1/analytics/volume", 200, sdk.analytics.volume(days=7)),
            ("delete", "/v1/webhooks/{webhook_id}", 200, sdk.webhooks.delete(hook["id"])),
            ("delete", "/v1/connections/{connection_id}", 200, sdk.connections.delete(conn["id"])),
        ]
    finally:
        sdk.close()
    assert conn["credentials"] == {} and hook["secret"]
    for method, path, status, body in answers:
        _check(doc, method, path, status, body)


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/v1/org/api-keys", b'{"name": 5}', "Invalid request body: Expected `str`, got `int` - at `$.name`"),
    ("/v1/webhooks", b"", "Request body must be a JSON object"),
    ("/v1/connections", b"{", "Request body is not valid JSON"),
    ("/v1/portal/tokens", b'{"ttl": 60}', "Invalid request body: Object missing required field `space`"),
])
def test_documented_bodies_keep_the_contracts_400s(client, path, body, message):
    """Declaring a body for the document must not hand its validation to the framework."""
    res = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert res.status_code == 400
    assert res.json()["error"] == message and res.json()["code"] == "BAD_REQUEST"
