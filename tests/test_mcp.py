"""The MCP server driven by the `mcp` SDK's own client: streamable HTTP at /mcp of the real server, and stdio."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import ADMIN_KEY, ROOT, LiveServer, server_env
from samplegen import PdfPage, pdf_bytes

CONTRACT = (
    "# Master services agreement\n\n"
    "This agreement is made between Acme Corp and Globex Ltd. "
    "The payment terms are net 30 days from the invoice date. "
    "Either party may terminate the agreement with ninety days written notice.\n"
)
HANDBOOK = "# Employee handbook\n\nEmployees receive twenty days of paid vacation each year.\n"
TOOLS = {"search", "ask", "list_files", "get_markdown", "upload", "job_status"}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """One real server for the module (each start costs seconds); each test works in its own space."""
    server = LiveServer(data_dir=tmp_path_factory.mktemp("mcp") / "data", env=server_env()).start()
    yield server
    server.stop()


def http_client(url: str, key: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
    return Client(streamable_http_client(url + "/mcp", http_client=http), cache=None)


def stdio_client(data_dir: Path, key: str, *extra: str) -> Client:
    env = server_env(ROSET_API_KEY=key, ROSET_WORKERS="1")
    env.pop("ROSET_ADMIN_KEY")
    params = StdioServerParameters(command=sys.executable, args=["-m", "roset_local", "mcp", "--data-dir", str(data_dir), *extra],
                                   env=env, cwd=str(ROOT))
    return Client(params, cache=None, read_timeout_seconds=60)


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def call_error(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert result.is_error
    return json.loads(result.content[0].text)


async def wait_done(client: Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job = await call(client, "job_status", job_id=job_id)
        if job["done"]:
            return job
        await anyio.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {job}")


async def upload(client: Client, transport: str, tmp_path: Path, name: str, text: str, **args: Any) -> dict[str, Any]:
    if transport == "stdio":
        path = tmp_path / name
        path.write_text(text)
        return await call(client, "upload", path=str(path), **args)
    return await call(client, "upload", filename=name, content_base64=base64.b64encode(text.encode()).decode(), **args)


async def round_trip(client: Client, transport: str, tmp_path: Path) -> None:
    """Everything an agent does: list tools, upload, wait, search, ask, read markdown (tool and resource)."""
    tools = (await client.list_tools()).tools
    assert {t.name for t in tools} == TOOLS
    upload_tool = next(t for t in tools if t.name == "upload")
    assert ("path" if transport == "stdio" else "content_base64") in upload_tool.input_schema["required"]
    assert all(t.description and t.input_schema["type"] == "object" for t in tools)

    uploaded = await upload(client, transport, tmp_path, "agreement.md", CONTRACT, space=transport)
    assert uploaded["filename"] == "agreement.md" and uploaded["job_id"]
    job = await wait_done(client, uploaded["job_id"])
    assert job["status"] == "completed", job
    by_file = await call(client, "job_status", file_id=uploaded["id"])
    assert by_file["id"] == uploaded["job_id"]

    found = await call(client, "search", query="payment terms invoice", mode="text", space=transport, limit=3)
    top = found["passages"][0]
    assert top["file_id"] == uploaded["id"] and top["filename"] == "agreement.md"
    assert "net 30 days" in top["text"] and isinstance(top["score"], float) and "page" in top
    semantic = await call(client, "search", query="when is payment due?", space=transport)
    assert semantic["passages"][0]["file_id"] == uploaded["id"]

    answer = await call(client, "ask", question="What are the payment terms?", space=transport)
    assert "net 30 days from the invoice date" in answer["answer"] and "[1]" in answer["answer"]
    assert answer["sources"][0]["file_id"] == uploaded["id"]

    listed = await call(client, "list_files", status="completed", space=transport)
    assert uploaded["id"] in [f["id"] for f in listed["files"]]
    markdown = await client.call_tool("get_markdown", {"file_id": uploaded["id"]})
    assert markdown.content[0].text.startswith("# Master services agreement")

    uri = f"roset://files/{uploaded['id']}/markdown"
    resources = (await client.list_resources()).resources
    assert uri in [str(r.uri) for r in resources]
    templates = (await client.list_resource_templates()).resource_templates
    assert templates[0].uri_template == "roset://files/{file_id}/markdown"
    contents = (await client.read_resource(uri)).contents
    assert "net 30 days" in contents[0].text

    error = await call_error(client, "search", query="x", limit=0)
    assert error["code"] == "BAD_REQUEST" and "limit" in error["error"]
    error = await call_error(client, "get_markdown", file_id="file_missing")
    assert error == {"error": "File not found", "code": "NOT_FOUND", "status": 404}


def test_streamable_http_round_trip(live_server, tmp_path):
    async def main() -> None:
        async with http_client(live_server.url, ADMIN_KEY) as client:
            await round_trip(client, "http", tmp_path)

    anyio.run(main)


def test_stdio_round_trip_beside_a_running_server(live_server, tmp_path):
    async def main() -> None:
        async with stdio_client(live_server.data_dir, ADMIN_KEY) as client:
            await round_trip(client, "stdio", tmp_path)

    anyio.run(main)


def test_get_markdown_of_a_page_range(live_server):
    topics = ["alpine glaciers", "coral reefs", "desert dunes"]
    pages = [PdfPage(lines=[f"Page {n + 1} is about {topic}, line {i}." for i in range(40)])
             for n, topic in enumerate(topics)]
    pdf = base64.b64encode(pdf_bytes(pages)).decode()

    async def main() -> None:
        async with http_client(live_server.url, ADMIN_KEY) as client:
            uploaded = await call(client, "upload", filename="atlas.pdf", content_base64=pdf, space="pages")
            assert (await wait_done(client, uploaded["job_id"]))["status"] == "completed"
            hit = (await call(client, "search", query="desert dunes", mode="text", space="pages"))["passages"][0]
            assert hit["page"] in (2, 3) and len(hit["bbox"]) == 4 and hit["page_width"] > 0  # chunks cross pages
            middle = await call(client, "get_markdown", file_id=uploaded["id"], page_from=2, page_to=2)
            assert middle["pages"] == [2] and "coral reefs" in middle["markdown"]
            assert "glaciers" not in middle["markdown"] and "dunes" not in middle["markdown"]
            tail = await call(client, "get_markdown", file_id=uploaded["id"], page_from=2)
            assert tail["pages"] == [2, 3] and "desert dunes" in tail["markdown"]
            whole = await call(client, "get_markdown", file_id=uploaded["id"])
            assert all(topic in whole["markdown"] for topic in topics)
            error = await call_error(client, "get_markdown", file_id=uploaded["id"], page_from=3, page_to=1)
            assert error["code"] == "BAD_REQUEST" and "page_to" in error["error"]
            plain = await upload(client, "http", Path("."), "note.md", HANDBOOK, space="pages")
            await wait_done(client, plain["job_id"])
            error = await call_error(client, "get_markdown", file_id=plain["id"], page_from=1)
            assert error["code"] == "BAD_REQUEST" and "no page numbers" in error["error"]

    anyio.run(main)


def _key(server, **body: Any) -> str:
    with server.client() as rest:
        resp = rest.post("/v1/org/api-keys", json={"name": "agent", **body})
        assert resp.status_code in (200, 201), resp.text
        return resp.json()["key"]


def test_confined_key_sees_only_its_spaces(live_server, tmp_path):
    hr_key = _key(live_server, spaces=["hr"])
    search_only = _key(live_server, scopes=["search:read"])

    async def main() -> None:
        async with http_client(live_server.url, ADMIN_KEY) as admin:
            public = await upload(admin, "http", tmp_path, "agreement.md", CONTRACT)
            private = await upload(admin, "http", tmp_path, "handbook.md", HANDBOOK, space="hr")
            for item in (public, private):
                await wait_done(admin, item["job_id"])
        async with http_client(live_server.url, hr_key) as client:
            assert [f["id"] for f in (await call(client, "list_files"))["files"]] == [private["id"]]
            hits = (await call(client, "search", query="payment terms vacation", mode="text"))["passages"]
            assert {h["file_id"] for h in hits} == {private["id"]}
            answer = await call(client, "ask", question="What are the payment terms?")
            assert "net 30" not in answer["answer"]
            assert all(source["file_id"] == private["id"] for source in answer["sources"])
            assert (await call_error(client, "get_markdown", file_id=public["id"]))["code"] == "NOT_FOUND"
            assert (await call_error(client, "job_status", job_id=public["job_id"]))["code"] == "NOT_FOUND"
            refused = await call_error(client, "search", query="terms", space="default")
            assert refused["code"] == "FORBIDDEN" and "space 'default'" in refused["error"]
            refused = await call_error(client, "upload", filename="x.txt", content_base64="eA==", space="default")
            assert refused["code"] == "FORBIDDEN"
            uris = [str(r.uri) for r in (await client.list_resources()).resources]
            assert uris == [f"roset://files/{private['id']}/markdown"]
            with pytest.raises(MCPError, match="File not found"):
                await client.read_resource(f"roset://files/{public['id']}/markdown")
        async with http_client(live_server.url, search_only) as client:
            assert {t.name for t in (await client.list_tools()).tools} == {"search", "ask"}
            refused = await call_error(client, "list_files")
            assert refused == {"error": "This key lacks the 'files:read' scope", "code": "FORBIDDEN", "status": 403}

    anyio.run(main)


def test_bad_key_is_refused(live_server, tmp_path):
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    headers = {"Accept": "application/json, text/event-stream"}
    for auth in ({"Authorization": "Bearer rsk_not_a_real_key_000000000000"}, {}):
        resp = httpx.post(live_server.url + "/mcp", json=init, headers={**headers, **auth}, timeout=30)
        assert resp.status_code == 401, resp.text
        assert resp.json()["code"] == "UNAUTHORIZED" and resp.json()["requestId"]
    ok = httpx.post(live_server.url + "/mcp", json=init, headers={**headers, "Authorization": f"ApiKey {ADMIN_KEY}"},
                    timeout=30)
    assert ok.status_code == 200 and ok.json()["result"]["serverInfo"]["name"] == "roset-local"

    env = server_env(ROSET_API_KEY="rsk_not_a_real_key_000000000000")
    env.pop("ROSET_ADMIN_KEY")
    proc = subprocess.run([sys.executable, "-m", "roset_local", "mcp", "--data-dir", str(live_server.data_dir)],
                          input=b"", capture_output=True, env=env, cwd=str(ROOT), timeout=120)
    assert proc.returncode == 2 and b"Invalid API key" in proc.stderr
    assert proc.stdout == b""


def test_post_only_and_the_upload_size_limit(client, monkeypatch):
    """In process: /mcp is stateless (GET/DELETE 405) and a base64 upload over the limit is a tool error."""
    from roset_local.mcp_server import tools

    for method in ("GET", "DELETE"):
        resp = client.request(method, "/mcp")
        assert resp.status_code == 405 and resp.json()["code"] == "METHOD_NOT_ALLOWED" and resp.headers["allow"] == "POST"
    monkeypatch.setattr(tools, "MAX_HTTP_UPLOAD_BYTES", 1024)

    def upload_bytes(size: int) -> dict[str, Any]:
        params = {"name": "upload", "arguments": {"filename": "big.txt",
                                                  "content_base64": base64.b64encode(b"a" * size).decode()}}
        resp = client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params},
                           headers={"Accept": "application/json, text/event-stream"})
        assert resp.status_code == 200, resp.text
        return resp.json()["result"]

    refused = upload_bytes(4096)
    assert refused["isError"] and json.loads(refused["content"][0]["text"])["code"] == "PAYLOAD_TOO_LARGE"
    accepted = upload_bytes(1000)
    assert not accepted.get("isError") and accepted["structuredContent"]["size_bytes"] == 1000
    bad = client.post("/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "upload", "arguments": {"filename": "x.txt", "content_base64": "not base64!"}}},
        headers={"Accept": "application/json, text/event-stream"}).json()["result"]
    assert bad["isError"] and "not valid base64" in bad["content"][0]["text"]
