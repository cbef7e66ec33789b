"""The outbound guard on every caller-set URL: provider base URLs, connection endpoints, no redirects."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from litestar.testing import TestClient

from roset_local.app import create_app
from tests.conftest import auth
from tests.test_files import upload, wait_job

REFUSED_BASE_URLS = [
    "http://169.254.169.254/latest",
    "http://[fd00:ec2::254]/",
    "http://metadata.google.internal/",
    "http://169.254.10.1:8080/",
    "http://0.0.0.0:8000/",
    "http://[::ffff:169.254.169.254]/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
]


class Fake:
    """A tiny HTTP server: ``handler(method, path, body) -> (status, headers, body)``; records requests."""

    def __init__(self, handler: Any) -> None:
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append((self.command, self.path))
                status, headers, data = handler(self.command, self.path, body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


@pytest.fixture
def fakes() -> Iterator[list[Fake]]:
    made: list[Fake] = []
    yield made
    for fake in made:
        fake.close()


@pytest.mark.parametrize("base_url", REFUSED_BASE_URLS)
def test_provider_base_url_to_metadata_or_odd_scheme_is_400(client, base_url):
    r = client.put("/v1/org/provider-keys", json={"provider": "reducto", "key": "rdt_key_123", "base_url": base_url})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "BAD_REQUEST" and "base_url" in r.json()["error"]
    listed = {p["provider"]: p for p in client.get("/v1/org/provider-keys").json()["provider_keys"]}
    assert listed["reducto"]["configured"] is False


def test_private_targets_refused_everywhere_when_the_policy_says_so(settings, tmp_path):
    strict = replace(settings, outbound_allow_private=False, data_dir=tmp_path / "strict")
    with TestClient(create_app(strict), base_url="http://127.0.0.1:8700") as http:
        http.headers.update(auth())
        for url in ("http://127.0.0.1:9/", "http://10.1.2.3/v1", "http://localhost:8000"):
            r = http.put("/v1/org/provider-keys", json={"provider": "openai", "key": "sk-abc", "base_url": url})
            assert r.status_code == 400 and "ROSET_OUTBOUND_ALLOW_PRIVATE" in r.json()["error"], r.text
        body = {"provider": "minio", "name": "m", "bucket": "bucket-one", "endpoint_url": "http://192.168.1.5:9000",
                "credentials": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "secret-example-123"}}
        r = http.post("/v1/connections", json=body)
        assert r.status_code == 400 and "endpoint_url" in r.json()["error"], r.text
        assert http.get("/v1/connections").json()["connections"] == []


S3_BODY = {"provider": "minio", "name": "meta", "bucket": "bucket-one",
           "credentials": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "secret-example-123"}}


@pytest.mark.parametrize("route", ["/v1/connections", "/v1/connections/verify", "/v1/connections/list-buckets"])
@pytest.mark.parametrize("endpoint", ["http://169.254.169.254", "http://[fe80::1]:9000", "ftp://127.0.0.1"])
def test_connection_endpoint_to_metadata_is_400(client, route, endpoint):
    r = client.post(route, json={**S3_BODY, "endpoint_url": endpoint})
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST", r.text
    assert client.get("/v1/connections").json()["connections"] == []


def test_endpoints_hidden_in_credentials_are_guarded_too(client):
    conn_str = ("DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5a2V5a2V5;"
                "BlobEndpoint=http://169.254.169.254/acct;")
    r = client.post("/v1/connections", json={"provider": "azure_blob", "name": "a", "bucket": "container-one",
                                             "credentials": {"connection_string": conn_str}})
    assert r.status_code == 400 and "BlobEndpoint" in r.json()["error"], r.text


def test_connection_errors_do_not_echo_what_an_internal_server_said(client, fakes):
    internal = Fake(lambda m, p, b: (404, {"Content-Type": "text/html"}, b"<h1>INTERNAL-ADMIN-PANEL v3</h1>"))
    fakes.append(internal)
    r = client.post("/v1/connections", json={**S3_BODY, "endpoint_url": internal.url})
    assert r.status_code == 201, r.text
    tested = client.post(f"/v1/connections/{r.json()['id']}/test").json()
    assert tested["success"] is False and "INTERNAL-ADMIN-PANEL" not in json.dumps(tested)
    internal.close()
    fakes.remove(internal)
    closed = client.post(f"/v1/connections/{r.json()['id']}/test").json()
    host_port = internal.url.removeprefix("http://")
    assert closed == {"success": False, "error": f"Could not reach the storage endpoint ({host_port})"}


def _reducto(result_url: str | None = None) -> Any:
    """Reducto's upload/parse; with ``result_url`` the parse result is a URL to fetch."""

    def handle(method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if path == "/upload":
            return _json(200, {"file_id": "reducto://f.md"})
        if path == "/parse":
            if result_url:
                return _json(200, {"job_id": "j1", "result": {"type": "url", "url": result_url}})
            return _json(200, {"job_id": "j1", "result": {"type": "full", "chunks": [{"content": "from the provider"}]}})
        return _json(200, [{"content": "attacker-chosen markdown"}])

    return handle


def _process_with_reducto(http, base_url: str) -> dict[str, Any]:
    r = http.put("/v1/org/provider-keys", json={"provider": "reducto", "key": "rdt_key_123", "base_url": base_url})
    assert r.status_code == 200, r.text
    created = upload(http)
    assert created.status_code == 201, created.text
    return wait_job(http, created.json()["job_id"], ("completed", "failed"))


def test_hosted_providers_follow_no_redirect_and_fetch_results_only_from_their_own_host(live_server, fakes):
    attacker = Fake(_reducto())
    redirector = Fake(lambda m, p, b: (307, {"Location": attacker.url + p}, b""))
    foreign = Fake(_reducto(result_url=attacker.url + "/results/1.json"))  # same host name, another port
    own = Fake(lambda m, p, b: _reducto(result_url=own.url + "/results/1.json")(m, p, b))
    fakes += [attacker, redirector, foreign, own]
    with live_server.client() as http:
        job = _process_with_reducto(http, redirector.url)
        assert job["status"] == "failed" and job["engine"] == "hosted"
        assert "redirect" in job["error"] and "not followed" in job["error"]
        assert redirector.requests

        job = _process_with_reducto(http, foreign.url)
        assert job["status"] == "failed" and "another host" in job["error"]
        assert attacker.requests == []  # neither the redirect nor the foreign result URL reached it

        job = _process_with_reducto(http, own.url)
        assert job["status"] == "completed", job
        assert ("GET", "/results/1.json") in own.requests


def test_the_address_is_checked_again_when_used(tmp_path, fakes):
    """A name that passed when saved is refused at use once it resolves to a refused address."""
    from roset_local.index.embedder import EmbeddingError, OpenAIEmbedder
    from roset_local.providers import ExtractionError, ExtractRequest
    from roset_local.providers.hosted import hosted_provider

    provider = Fake(_reducto())
    fakes.append(provider)
    local_name = provider.url.replace("127.0.0.1", "localhost")
    doc = tmp_path / "terms.md"
    doc.write_text("# Terms\n\nNet 30.\n")
    request = ExtractRequest(str(doc), "terms.md", "text/markdown", {})
    strict = hosted_provider("reducto", {"key": "rdt_key_123", "base_url": local_name, "allow_private": False})
    with pytest.raises(ExtractionError) as refused:
        strict.extract(request, lambda *a: None)
    assert "refused" in str(refused.value) and provider.requests == []
    allowed = hosted_provider("reducto", {"key": "rdt_key_123", "base_url": local_name})
    assert "from the provider" in allowed.extract(request, lambda *a: None).markdown
    with pytest.raises(EmbeddingError, match="refused"):
        OpenAIEmbedder(name="text-embedding-3-small", api_key="sk-x", base_url=local_name + "/v1",
                       allow_private=False).embed(["hello"])
    assert [p for _, p in provider.requests] == ["/upload", "/parse"]
