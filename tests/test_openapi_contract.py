"""The OpenAPI document describes the real API: it validates, every body and JSON answer is typed, the
security it declares is what the guard enforces, and a client generated from it drives the server."""

from __future__ import annotations

import importlib
import inspect
import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from litestar.handlers import HTTPRouteHandler
from openapi_spec_validator import validate

from tests.conftest import ADMIN_KEY

# Tags whose operations another branch (openapi-rest) types; this set empties when that lands.
PENDING_TAGS: set[str] = set()  # every tag is typed now
METHODS = ("get", "post", "put", "patch", "delete")
# A handler reads a request body when it takes a typed ``data``/raw ``body`` or reads the stream itself.
READS_BODY = re.compile(r"\bRawBody\b|request\.(body|stream|form|json)\(|\bwith_body\(")
DOC = b"Payment terms\n\nInvoices are payable within 30 days of receipt. The supplier ships goods from Rotterdam.\n"


def owned_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()
            if method in METHODS and not PENDING_TAGS & set(op.get("tags") or ())]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_document_is_valid_openapi(document):
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert len(owned_operations(document)) >= 29  # files, upload, jobs, variants, search, spaces, system


def test_every_body_is_declared_and_every_json_answer_has_properties(app, document):
    reads_body = set()
    for route in app.app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            source = inspect.getsource(inspect.unwrap(handler.fn))
            if "data" in handler.parsed_fn_signature.parameters or READS_BODY.search(source):
                reads_body |= {(m.lower(), route.path_format) for m in handler.http_methods}
    assert ("post", "/v1/search") in reads_body and ("put", "/v1/uploads/{file_id}") in reads_body

    missing_body, untyped = [], []
    for method, path, op in owned_operations(document):
        if (method, path) in reads_body and not op.get("requestBody", {}).get("content"):
            missing_body.append(f"{method.upper()} {path}")
        for code, response in op["responses"].items():
            media = (response.get("content") or {}).get("application/json")
            if code.startswith("2") and media is not None and not resolve(document, media["schema"]).get("properties"):
                untyped.append(f"{method.upper()} {path} {code}")
    assert not missing_body, f"operations that read a body but declare none: {missing_body}"
    assert not untyped, f"2xx JSON answers without properties: {untyped}"


def test_special_media_types(document):
    upload = document["paths"]["/v1/upload"]["post"]["requestBody"]["content"]
    form = resolve(document, upload["multipart/form-data"]["schema"])
    assert form["properties"]["file"] == {**form["properties"]["file"], "type": "string", "format": "binary"}
    assert "file" in form["required"]
    register = document["paths"]["/v1/files"]["post"]["requestBody"]["content"]["application/json"]
    assert resolve(document, register["schema"])["required"] == ["filename"]
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert [m.split(";")[0] for m in metrics] == ["text/plain"]
    qa = document["paths"]["/v1/qa"]["post"]["responses"]["200"]["content"]
    assert set(qa) == {"application/json", "text/event-stream"}
    assert resolve(document, qa["application/json"]["schema"])["properties"]["sources"]
    assert not document["paths"]["/v1/files/{file_id}/process"]["post"]["requestBody"].get("required")
    page = document["paths"]["/v1/files/{file_id}/pages/{number}"]["get"]["responses"]["200"]["content"]
    assert page["image/png"]["schema"]["format"] == "binary"


def test_declared_security_is_what_the_guard_enforces(client, document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header", "name": "Authorization"}
    assert schemes["PortalToken"]["in"] == "header"
    assert document["security"] == [{"ApiKey": []}]
    public, keyed = [], []
    for method, path, op in owned_operations(document):
        url = re.sub(r"\{\w+\}", "1", path)
        answer = client.request(method.upper(), url, headers={"Authorization": ""})
        needs_key = {} not in op["security"]  # an API key, or a route's own credential (an event secret)
        (keyed if needs_key else public).append(path)
        if needs_key:
            assert answer.status_code == 401, f"{method} {path} is documented as needing a credential"
        else:
            assert answer.status_code != 401, f"{method} {path} is documented as public"
    assert {"/health", "/ready", "/v1/uploads/{file_id}", "/v1/files/{file_id}/content"} <= set(public)
    assert {"/v1/files", "/v1/search", "/v1/jobs", "/metrics"} <= set(keyed)


def generate_client(spec: dict[str, Any], where: Path) -> Any:
    """openapi-python-client's CLI on the served document; returns the imported package."""
    (where / "spec.json").write_text(json.dumps(spec))
    # page images are PNG; the generator only reads JSON, text and octet-stream answers as they are
    (where / "config.json").write_text(json.dumps({"content_type_overrides": {"image/png": "application/octet-stream"}}))
    tool = Path(sys.executable).with_name("openapi-python-client")
    run = subprocess.run([str(tool), "generate", "--path", str(where / "spec.json"), "--output-path",
                          str(where / "roset_generated"), "--meta", "none", "--config", str(where / "config.json")],
                         check=False, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    warnings = re.split(r"\n(?=WARNING parsing )", run.stdout + run.stderr)
    dropped = []
    for block in warnings[1:]:
        method, path, tag = re.match(r"WARNING parsing (\w+) (\S+) within (\w+)", block).groups()  # type: ignore[union-attr]
        problems = [line for line in block.splitlines()[1:] if line.strip() and not line.startswith("Schema(")
                    and not line.startswith(("Skipping", "ruff", "If you believe", "Warning(s)"))]
        # error answers (4xx) are documented by another branch; anything else here drops part of a client
        problems = [p for p in problems if not re.match(r"Cannot parse response for status code 4\d\d", p)]
        if tag not in PENDING_TAGS and problems:
            dropped.append(f"{method} {path}: {problems}")
    assert not dropped, "\n".join(dropped)
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module("roset_generated")
    finally:
        sys.path.remove(str(where))


@pytest.fixture
def generated(live_server, tmp_path):
    spec = live_server.client().get("/schema/openapi.json").json()
    package = generate_client(spec, tmp_path)
    yield package
    for name in [n for n in sys.modules if n == "roset_generated" or n.startswith("roset_generated.")]:
        del sys.modules[name]


def api(name: str) -> Any:
    """One generated endpoint module, e.g. ``api("files.v1_files_list_files")``."""
    return importlib.import_module(f"roset_generated.api.{name}")


def wait_for_job(client: Any, job_id: str) -> Any:
    get_job = api("jobs.v1_jobs_job_id_get_job")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = get_job.sync(job_id, client=client)
        if job.status in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish")


def test_generated_client_runs_upload_job_variant_search(generated, live_server):
    from roset_generated.models import SearchRequest, UploadCreate, UploadForm
    from roset_generated.types import File

    client = generated.AuthenticatedClient(base_url=live_server.url, token=ADMIN_KEY, prefix="ApiKey",
                                           raise_on_unexpected_status=True)
    upload = api("upload.v1_upload_upload").sync(client=client, body=UploadForm(
        file=File(payload=io.BytesIO(DOC), file_name="terms.txt", mime_type="text/plain"), space="contracts"))
    assert upload.filename == "terms.txt" and upload.space == "contracts" and upload.file.id == upload.id
    job = wait_for_job(client, upload.job_id)
    assert job.status == "completed", job.error

    detail = api("files.v1_files_file_id_get_file").sync(upload.id, client=client)
    assert detail.status == "completed" and "markdown" in {v.type_ for v in detail.variants}
    markdown = api("variants.v1_files_file_id_variants_variant_type_get_variant").sync(upload.id, "markdown",
                                                                                     client=client)
    assert "payable within 30 days" in markdown.content
    listed = api("files.v1_files_list_files").sync(client=client, space="contracts")
    assert [f.id for f in listed.files] == [upload.id] and listed.next_cursor is None

    found = api("search.v1_search_search").sync(client=client, body=SearchRequest(
        query="when are invoices payable", space="contracts", mode="text"))
    assert found.results and found.results[0].file_id == upload.id
    assert "payable" in found.results[0].chunk_text

    # reprocessing without a body (every option defaulted): a second job on the same file
    started = api("files.v1_files_file_id_process_process_file").sync(upload.id, client=client)
    assert started.file_id == upload.id and started.job_id != upload.job_id
    assert wait_for_job(client, started.job_id).status == "completed"
    jobs = api("jobs.v1_jobs_list_jobs").sync(client=client, file_id=upload.id)
    assert {j.id for j in jobs.jobs} == {upload.job_id, started.job_id}

    # the signed-URL flow: register as JSON, PUT the bytes to the URL (the URL is the credential), the job runs
    registered = api("files.v1_files_create_file").sync(client=client, body=UploadCreate(
        filename="more.txt", content_type="text/plain", space="contracts"))
    assert registered.upload_url and registered.status == "uploading" and registered.expires_in > 0
    query = dict(re.findall(r"[?&](\w+)=([^&]+)", registered.upload_url))
    anonymous = generated.AuthenticatedClient(base_url=live_server.url, token="", prefix="",
                                              raise_on_unexpected_status=True)
    received = api("upload.v1_uploads_file_id_put_upload").sync(
        registered.id, client=anonymous, body=File(payload=io.BytesIO(DOC), file_name="more.txt"),
        token=query["token"], expires=query["expires"], signature=query["signature"])
    assert received.id == registered.id and received.size_bytes == len(DOC)
    assert wait_for_job(client, registered.job_id).status == "completed"
