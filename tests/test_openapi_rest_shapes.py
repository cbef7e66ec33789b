"""The OpenAPI document describes the data of the REST resources (connections, nodes, webhooks, org, ...)."""

from __future__ import annotations

from typing import Any

from pathlib import Path

import pytest
from openapi_schema_validator import OAS31Validator

from roset_local.config import Settings
from tests.conftest import ADMIN_KEY

TAGS = {"connections", "nodes", "webhooks", "org", "analytics", "logs", "audit", "portal"}
METHODS = ("get", "put", "post", "delete", "patch")
# Operations of these tags that read no body (everything else that is POST/PUT/PATCH must declare one).
NO_BODY = {
    ("post", "/v1/connections/{connection_id}/test"), ("post", "/v1/connections/{connection_id}/sync"),
    ("post", "/v1/connections/{connection_id}/sync/preview"), ("post", "/v1/webhooks/{webhook_id}/test"),
    ("post", "/v1/webhooks/{webhook_id}/rotate-secret"),
}


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


OTHERS = {"/v1/me"}  # tagged org, but a system route (documented with the core routes)


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in doc["paths"].items() for method, op in item.items()
            if method in METHODS and TAGS & set(op.get("tags", [])) and path not in OTHERS]


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


def test_every_rest_operation_documents_its_body_and_2xx_shape(doc):
    ops = _operations(doc)
    assert len(ops) >= 60  # the resources above, all of them
    problems = []
    for method, path, op in ops:
        if method in ("post", "put", "patch") and (method, path) not in NO_BODY:
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if not schema or not _resolve(doc, schema).get("properties"):
                problems.append(f"{method.upper()} {path}: no request body schema")
        for status, response in op["responses"].items():
            content = response.get("content", {}).get("application/json")
            if status.startswith("2") and content is not None:
                if not _resolve(doc, content.get("schema", {})).get("properties"):
                    problems.append(f"{method.upper()} {path} {status}: response schema has no properties")
    assert not problems, "\n".join(problems)
    assert {"ConnectionOut", "WebhookOut", "KeyOut", "AuditEventOut"} <= set(doc["components"]["schemas"])


def _check(doc: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    validator = OAS31Validator({**schema, "components": doc["components"]})
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, f"{method.upper()} {path}: " + "; ".join(errors)
    if "$ref" in schema:  # nothing on the wire that the document does not name
        props = _resolve(doc, schema)["properties"]
        assert set(body) <= set(props), set(body) - set(props)


def test_real_responses_match_their_documented_schemas(client, doc):
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

    audit = client.get("/v1/audit")
    assert audit.json()["entries"], "creating a webhook and a key is audited"
    _check(doc, "get", "/v1/audit", 200, audit.json())
    _check(doc, "get", "/v1/api-logs", 200, client.get("/v1/api-logs").json())
    _check(doc, "get", "/v1/analytics/overview", 200, client.get("/v1/analytics/overview").json())
