"""The API document and the server agree: a bounded schemathesis pass, the error schema, Allow headers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from litestar.routes import HTTPRoute

from roset_local.api import errors_doc
from tests.conftest import ROOT

# Checks the suite holds the server to (scripts/fuzz_api.py runs all of CHECKS and prints every one).
REQUIRED = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
            "response_headers_conformance", "unsupported_method", "allow_header_conformance",
            "response_schema_conformance")
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
ERROR_REF = "#/components/schemas/ErrorOut"


def _namespaces_work() -> bool:
    unshare = shutil.which("unshare")
    return unshare is not None and subprocess.run([unshare, "--net", "--map-root-user", "true"],
                                                  capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _namespaces_work(), reason="needs unshare --net (the fuzzer must not reach the network)")
def test_bounded_schemathesis_pass_finds_nothing(tmp_path: Path) -> None:
    """scripts/fuzz_api.py (real server, every operation, a few cases each): 0 failures."""
    summary_path = tmp_path / "summary.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz_api.py"), "--max-examples", "3", "--seed", "1",
         "--json", str(summary_path), "--require", ",".join(REQUIRED), "--verbose"],
        cwd=str(ROOT), capture_output=True, text=True, timeout=240,
    )
    assert summary_path.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert len(summary["tested_operations"]) >= 85, summary["tested_operations"]
    failing = {check: summary["checks"][check]["examples"] for check in REQUIRED if summary["checks"][check]["failures"]}
    assert not failing, json.dumps(failing, indent=1)
    assert "server errors: 0" in run.stdout
    assert run.returncode == 0, run.stdout[-3000:]


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in document["paths"].items()
            for method, op in ops.items() if method in HTTP_METHODS]


def _litestar_error_schemas(node: Any) -> list[Any]:
    """Every schema in ``node`` with Litestar's default error properties (``status_code`` and ``detail``)."""
    if isinstance(node, list):
        return [hit for item in node for hit in _litestar_error_schemas(item)]
    if not isinstance(node, dict):
        return []
    hits = [node] if {"status_code", "detail"} <= set(node.get("properties") or {}) else []
    return hits + [hit for value in node.values() for hit in _litestar_error_schemas(value)]


def test_every_documented_error_is_error_out(client) -> None:
    document = client.get("/schema/openapi.json").json()
    schema = document["components"]["schemas"]["ErrorOut"]
    assert set(schema["required"]) == {"error", "code", "requestId"}
    assert not _litestar_error_schemas(document), "Litestar's {status_code, detail} error schema is still documented"
    operations = _operations(document)
    assert len(operations) >= 85
    for method, path, op in operations:
        errors = {int(code): answer for code, answer in op["responses"].items() if int(code) >= 400}
        assert errors, f"{method} {path} documents no error"
        for code, answer in errors.items():
            assert list(answer["content"]) == ["application/json"], (method, path, code)
            assert answer["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (method, path, code)
            assert answer["description"].startswith(("BAD_REQUEST", "UNAUTHORIZED", "QUOTA_EXCEEDED", "FORBIDDEN",
                                                      "NOT_FOUND", "CONFLICT", "GONE", "PAYLOAD_TOO_LARGE",
                                                      "RATE_LIMITED", "SERVICE_UNAVAILABLE", "INSUFFICIENT_STORAGE"))


def test_error_statuses_follow_the_route(client) -> None:
    """Derived from the route: auth, path parameters, bodies, writes; plus the state moves."""
    document = client.get("/schema/openapi.json").json()
    codes = {(method, path): {int(c) for c in op["responses"] if int(c) >= 400}
             for method, path, op in _operations(document)}
    assert codes[("GET", "/v1/files")] == {400, 401, 403, 429}
    assert codes[("GET", "/v1/files/{file_id}")] == {400, 401, 403, 404, 429}
    assert codes[("DELETE", "/v1/files/{file_id}")] == {400, 401, 403, 404, 429, 507}
    assert {409, 404, 507} <= codes[("POST", "/v1/jobs/{job_id}/cancel")]
    assert {402, 413, 507} <= codes[("POST", "/v1/upload")]
    assert codes[("GET", "/health")] == {400}  # public, unmetered, one query parameter
    assert 503 in codes[("GET", "/ready")] and 401 not in codes[("GET", "/ready")]
    assert {403, 410, 413} <= codes[("PUT", "/v1/uploads/{file_id}")]  # a signed, single-use URL
    assert 404 in codes[("GET", "/v1/nodes")]  # connection_id names another object
    assert 401 in codes[("GET", "/metrics")]  # public to the guard; checks its key itself
    assert 401 in codes[("POST", "/v1/connections/{connection_id}/events")]  # the bucket's event secret


def test_every_route_specific_outcome_names_a_served_route(app) -> None:
    served = {handler.fn for route in app.app.routes if isinstance(route, HTTPRoute)
              for handler, _ in route.route_handler_map.values()}
    table = errors_doc.route_specific()
    assert len(table) >= 15 and set(table) <= served


def test_a_documented_conflict_is_answered_in_its_shape(client) -> None:
    """A state move the document lists (409 on cancel) comes back as ErrorOut with that code."""
    created = client.post("/v1/files", json={"filename": "a.txt", "space": "default"})
    assert created.status_code == 201, created.text
    uploaded = client.post("/v1/upload", files={"file": ("b.txt", b"hello there", "text/plain")})
    job_id = uploaded.json()["job_id"]
    first = client.post(f"/v1/jobs/{job_id}/cancel")
    second = client.post(f"/v1/jobs/{job_id}/cancel")
    answer = second if first.status_code == 200 else first
    assert answer.status_code == 409, (first.text, second.text)
    assert set(answer.json()) >= {"error", "code", "requestId"} and answer.json()["code"] == "CONFLICT"


def test_options_lists_every_method_of_its_path(client) -> None:
    """OPTIONS and a 405 name the same methods, and those are the ones the document declares."""
    document = client.get("/schema/openapi.json").json()
    for path, ops in document["paths"].items():
        concrete = re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1) == "number" else "x-" + m.group(1), path)
        declared = {m.upper() for m in ops if m in HTTP_METHODS} | {"OPTIONS"}
        options = client.options(concrete)
        assert options.status_code == 204, (path, options.text)
        assert {m.strip() for m in options.headers["allow"].split(",")} == declared, path
        unused = next(m for m in ("PATCH", "PUT", "DELETE", "POST") if m not in declared) if len(declared) < 6 else None
        if unused:
            refused = client.request(unused, concrete)
            assert refused.status_code == 405, (path, unused, refused.text)
            assert {m.strip() for m in refused.headers["allow"].split(",")} == declared, path
            assert refused.json()["code"] == "METHOD_NOT_ALLOWED"


def test_the_document_declares_every_api_method_served(app, client) -> None:
    """Served API methods = documented ones, but for the node bytes' signed URLs (kept out on purpose)."""
    document = client.get("/schema/openapi.json").json()
    documented = {f"{method} {path}" for method, path, _ in _operations(document)}
    served, hidden = set(), set()
    for route in app.app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith(("/v1/", "/health", "/ready", "/metrics")):
            path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
            for method, (handler, _) in route.route_handler_map.items():
                if method not in ("HEAD", "OPTIONS"):
                    (served if handler.resolve_include_in_schema() else hidden).add(f"{method} {path}")
    assert served == documented, (sorted(served - documented), sorted(documented - served))
    assert hidden == {"GET /v1/nodes/{node_id}/content", "PUT /v1/nodes/{node_id}/content"}


def test_metrics_names_its_charset_once(client) -> None:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    document = client.get("/schema/openapi.json").json()
    assert list(document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain; version=0.0.4"]
