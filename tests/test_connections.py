"""Connections and nodes through the API, against real storage servers (rclone S3, Azurite, fake-gcs, a local dir)."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from roset_local.app import create_app
from roset_local.config import Settings
from roset_local.storage import backends as conn
from tests.conftest import ADMIN_KEY, auth
from tests.storage.servers import free_port
from tests.storage.targets import (
    ALL_PROVIDERS,
    S3_PROVIDERS,
    SAMPLE,
    Target,
    make_target,
)



@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Local connections may use directories under tmp_path/root (where make_target puts them)."""
    (tmp_path / "root").mkdir(exist_ok=True)
    return Settings.from_env({}, data_dir=tmp_path / "data", admin_key=ADMIN_KEY, workers=2,
                             local_roots=(str(tmp_path / "root"),), live_sync=False)


def payload(target: Target, name: str = "Bucket", **extra: Any) -> dict[str, Any]:
    spec = target.spec
    creds = {k: v for k, v in spec.credentials.items()}
    return {"provider": spec.provider, "name": name, "bucket": spec.bucket, "region": spec.region,
            "prefix": spec.prefix or None, "endpoint_url": spec.endpoint_url, "credentials": creds, **extra}


def wait_for(fn, timeout: float = 60, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def sync_and_wait(client, connection_id: str) -> dict[str, Any]:
    r = client.post(f"/v1/connections/{connection_id}/sync")
    assert r.status_code == 202, r.text
    sync_id = r.json()["sync_id"]

    def finished():
        syncs = client.get(f"/v1/connections/{connection_id}/sync/history").json()["syncs"]
        return next((s for s in syncs if s["id"] == sync_id and s["status"] in ("completed", "failed")), None)

    return wait_for(finished)


def all_nodes(client, **params) -> list[dict[str, Any]]:
    out, cursor = [], None
    while True:
        body = client.get("/v1/nodes", params={**params, "limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        out += body["nodes"]
        cursor = body["next_cursor"]
        if not cursor:
            return out


def wait_file(client, file_id: str) -> dict[str, Any]:
    return wait_for(lambda: (lambda b: b if b["status"] in ("completed", "failed") else None)(
        client.get(f"/v1/files/{file_id}").json()))


def fetch(client, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """Roset Local's own URLs go through the in-process client; the providers' through httpx."""
    if url.startswith("http://127.0.0.1:8700/"):
        return client.get(url)
    return httpx.get(url, headers=headers or {}, timeout=10)


def put(client, url: str, data: bytes, headers: dict[str, str]) -> httpx.Response:
    if url.startswith("http://127.0.0.1:8700/"):
        return client.put(url, content=data, headers=headers)
    return httpx.put(url, content=data, headers=headers, timeout=10)


def test_providers_and_setup_instructions(client):
    providers = client.get("/v1/connections/providers").json()["providers"]
    ids = {p["id"] for p in providers}
    assert set(ALL_PROVIDERS) <= ids
    assert all({"id", "name", "auth_type", "credential_fields"} <= p.keys() for p in providers)
    r = client.post("/v1/connections/start", json={"provider": "s3", "bucket": "my-bucket"})
    assert r.status_code == 200 and r.json()["provider"] == "s3" and r.json()["instructions"]
    assert client.post("/v1/connections/start", json={"provider": "ftp"}).status_code == 400


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
def test_connection_lifecycle(provider, client, request, tmp_path, services):
    target = make_target(provider, request, tmp_path)
    body = payload(target, name=f"{provider} bucket")

    # verify: bad credentials or a missing bucket → 400 with the provider's reason; nothing created
    bad = [{**body, "bucket": "no-such-bucket-x"}]
    if provider in S3_PROVIDERS:
        bad.append({**body, "credentials": {**body["credentials"], "secret_access_key": "wrong-secret-abcdef"}})
    elif provider == "azure_blob":
        wrong = target.spec.credentials["connection_string"].replace("AccountKey=Eby8", "AccountKey=Xby8")
        bad.append({**body, "credentials": {"connection_string": wrong}})
    for attempt in bad:
        r = client.post("/v1/connections/verify", json=attempt)
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "BAD_REQUEST" and r.json()["error"]
        assert "wrong-secret-abcdef" not in r.text and "Xby8" not in r.text
    assert client.get("/v1/connections").json()["connections"] == []

    r = client.post("/v1/connections/verify", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "active" and created["verified"] is True and created["provider"] == provider
    cid = created["id"]
    secret = target.spec.credentials.get("secret_access_key") or target.spec.credentials.get("connection_string")
    if secret:  # encrypted at rest, never echoed
        assert secret not in client.get(f"/v1/connections/{cid}").text
        stored = services.db.value("SELECT credentials FROM connections WHERE id = :id", {"id": cid})
        assert secret not in stored and stored.startswith("v1.")
    assert client.post(f"/v1/connections/{cid}/test").json() == {"success": True}

    # browse: live listing with delimiter folders and paging
    page = client.get(f"/v1/connections/{cid}/browse").json()
    assert {o["key"] for o in page["objects"]} == {"top.txt"} and set(page["folders"]) == {"docs/", "img/"}
    docs = client.get(f"/v1/connections/{cid}/browse", params={"prefix": "docs/", "limit": 2}).json()
    seen = [o["key"] for o in docs["objects"]] + docs["folders"]
    while docs["next_cursor"]:
        docs = client.get(f"/v1/connections/{cid}/browse",
                          params={"prefix": "docs/", "limit": 2, "cursor": docs["next_cursor"]}).json()
        seen += [o["key"] for o in docs["objects"]] + docs["folders"]
    assert sorted(seen) == ["docs/a.txt", "docs/b.pdf", "docs/c.md", "docs/sub/"]

    # first sync
    assert client.get(f"/v1/connections/{cid}/sync/progress").json()["status"] == "idle"
    preview = client.post(f"/v1/connections/{cid}/sync/preview").json()
    assert preview == {"new_files": 6, "updated_files": 0, "deleted_files": 0,
                       "total_size_bytes": sum(len(v) for v in SAMPLE.values())}
    first = sync_and_wait(client, cid)
    assert first["status"] == "completed" and (first["files_added"], first["files_updated"], first["files_deleted"]) == (6, 0, 0)
    progress = client.get(f"/v1/connections/{cid}/sync/progress").json()
    assert progress["status"] == "completed" and progress["percent"] == 100 and progress["synced"] == progress["total"] == 6
    nodes = all_nodes(client, connection_id=cid)
    by_path = {n["path"]: n for n in nodes}
    assert set(by_path) == {*SAMPLE, "docs/", "docs/sub/", "img/"}
    assert by_path["docs/"]["type"] == "folder" and by_path["docs/"]["parent_id"] is None
    assert by_path["docs/sub/d.txt"]["parent_id"] == by_path["docs/sub/"]["id"]
    assert by_path["docs/a.txt"]["size_bytes"] == len(SAMPLE["docs/a.txt"]) and by_path["docs/a.txt"]["name"] == "a.txt"
    children = client.get(f"/v1/nodes/{by_path['docs/']['id']}/children").json()["nodes"]
    assert {c["name"] for c in children} == {"a.txt", "b.pdf", "c.md", "sub"}
    folders_only = client.get(f"/v1/nodes/{by_path['docs/']['id']}/children", params={"type": "folder"}).json()
    assert [c["name"] for c in folders_only["nodes"]] == ["sub"]
    assert client.get(f"/v1/nodes/{by_path['top.txt']['id']}").json()["path"] == "top.txt"
    assert client.get("/v1/nodes/node-missing").status_code == 404

    # download: a signed URL whose bytes are the object's
    dl = client.get(f"/v1/nodes/{by_path['img/x.png']['id']}/download").json()
    assert dl["expires_in"] == 3600
    got = fetch(client, dl["url"])
    assert got.status_code == 200 and got.content == SAMPLE["img/x.png"]

    # incremental: modify, delete, add → the preview and the second sync agree
    target.put("docs/a.txt", b"changed and longer " * 5)
    target.delete("top.txt")
    target.put("new/n.txt", b"new object\n")
    preview = client.post(f"/v1/connections/{cid}/sync/preview").json()
    assert (preview["new_files"], preview["updated_files"], preview["deleted_files"]) == (1, 1, 1)
    assert preview["total_size_bytes"] == len(b"changed and longer " * 5) + len(b"new object\n")
    second = sync_and_wait(client, cid)
    assert (second["files_added"], second["files_updated"], second["files_deleted"]) == (1, 1, 1)
    by_path = {n["path"]: n for n in all_nodes(client, connection_id=cid)}
    assert "top.txt" not in by_path and "new/" in by_path and by_path["new/n.txt"]["parent_id"] == by_path["new/"]["id"]
    assert by_path["docs/a.txt"]["size_bytes"] == len(b"changed and longer " * 5)
    history = client.get(f"/v1/connections/{cid}/sync/history").json()["syncs"]
    assert [s["id"] for s in history] == [second["id"], first["id"]]
    assert client.post(f"/v1/connections/{cid}/sync/preview").json()["new_files"] == 0

    # delete a node record: the object stays in the bucket
    r = client.delete(f"/v1/nodes/{by_path['docs/c.md']['id']}")
    assert r.status_code == 200
    assert client.get(f"/v1/nodes/{by_path['docs/c.md']['id']}").status_code == 404
    assert "docs/c.md" in {o["key"] for o in client.get(f"/v1/connections/{cid}/browse",
                                                         params={"prefix": "docs/"}).json()["objects"]}

    # upload init → PUT → commit → the file is processed from the bucket
    data = b"Quarterly report\n\nRevenue grew by twelve percent.\n"
    init = client.post("/v1/nodes/upload/init", json={"connection_id": cid, "path": "uploads/report.txt",
                                                      "content_type": "text/plain", "size_bytes": len(data)})
    assert init.status_code == 200, init.text
    init = init.json()
    assert init["expires_in"] > 0 and init["node_id"]
    early = client.post("/v1/nodes/upload/commit", json={"node_id": init["node_id"]})
    assert early.status_code == 409
    r = put(client, init["upload_url"], data, init.get("upload_headers") or {})
    assert r.status_code in (200, 201), r.text
    commit = client.post("/v1/nodes/upload/commit", json={"node_id": init["node_id"]})
    assert commit.status_code == 200, commit.text
    commit = commit.json()
    assert commit["node_id"] == init["node_id"] and commit["status"] == "queued" and commit["job_id"]
    done = wait_file(client, commit["file_id"])
    assert done["status"] == "completed", done
    assert done["size_bytes"] == len(data)
    node = client.get(f"/v1/nodes/{init['node_id']}").json()
    assert node["file_id"] == commit["file_id"] and node["size_bytes"] == len(data) and node["parent_id"]
    markdown = client.get(f"/v1/files/{commit['file_id']}/variants/markdown").json()
    assert "twelve percent" in markdown["content"]

    # deleting the connection removes its records, never the bucket
    assert client.delete(f"/v1/connections/{cid}").status_code == 200
    assert client.get(f"/v1/connections/{cid}").status_code == 404
    assert client.get(f"/v1/nodes/{by_path['docs/a.txt']['id']}").status_code == 404
    fresh = conn.stat(target.spec, "docs/a.txt")
    assert fresh.size == len(b"changed and longer " * 5)


@pytest.mark.parametrize("provider", ["s3", "azure_blob", "gcs"])
def test_unreachable_endpoint_test_fails_quickly(provider, client, request, tmp_path):
    target = make_target(provider, request, tmp_path)
    dead = f"http://127.0.0.1:{free_port()}"
    body = payload(target)
    if provider == "azure_blob":
        body["credentials"] = {"account_name": "devstoreaccount1", "account_key": "a2V5"}
    body["endpoint_url"] = dead + ("/devstoreaccount1" if provider == "azure_blob" else "")
    r = client.post("/v1/connections", json=body)
    assert r.status_code == 201 and r.json()["status"] == "pending"
    cid = r.json()["id"]
    started = time.monotonic()
    result = client.post(f"/v1/connections/{cid}/test")
    assert result.status_code == 200
    assert result.json()["success"] is False and result.json()["error"]
    assert time.monotonic() - started < 20
    assert client.get(f"/v1/connections/{cid}").json()["status"] == "error"
    r = client.post("/v1/connections/verify", json=body)
    assert r.status_code == 400
    assert len(client.get("/v1/connections").json()["connections"]) == 1


def test_create_validation(client, tmp_path):
    base = {"provider": "local", "name": "Docs", "bucket": "docs"}
    (tmp_path / "root" / "docs").mkdir()
    assert client.post("/v1/connections", json={**base, "sync_interval_minutes": 1}).status_code == 400
    assert client.post("/v1/connections", json={**base, "sync_interval_minutes": 10081}).status_code == 400
    assert client.post("/v1/connections", json={**base, "bucket": "/etc"}).status_code == 400
    assert client.post("/v1/connections", json={**base, "provider": "ftp"}).status_code == 400
    assert client.post("/v1/connections", json={**base, "name": ""}).status_code == 400
    assert client.post("/v1/connections", json={"provider": "s3", "name": "x", "bucket": "b"}).status_code == 400
    r = client.post("/v1/connections", json={**base, "sync_interval_minutes": 60, "process_new_files": True,
                                               "space": "team"})
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "pending" and body["sync_interval_minutes"] == 60 and body["process_new_files"] is True
    assert body["space"] == "team"
    assert client.get(f"/v1/connections/{body['id']}").json()["id"] == body["id"]
    assert client.get("/v1/connections/conn-nope").status_code == 404
    assert client.post("/v1/connections/conn-nope/sync").status_code == 404


def test_upload_paths_cannot_escape(client, tmp_path):
    (tmp_path / "root" / "box" / "in").mkdir(parents=True)
    cid = client.post("/v1/connections/verify", json={"provider": "local", "name": "Box", "bucket": "box",
                                                       "prefix": "in/"}).json()["id"]
    for path in ["../x.txt", "in/../../x.txt", "/etc/passwd", "a//b.txt", "./a.txt", ""]:
        r = client.post("/v1/nodes/upload/init", json={"connection_id": cid, "path": path})
        assert r.status_code == 400, path
    r = client.post("/v1/nodes/upload/init", json={"connection_id": cid, "path": "a/b.txt"}).json()
    node = client.get(f"/v1/nodes/{r['node_id']}").json()
    assert node["path"] == "in/a/b.txt" and r["path"] == "in/a/b.txt"
    tampered = r["upload_url"].replace("signature=", "signature=x")
    assert client.put(tampered, content=b"x").status_code == 403
    assert client.put(r["upload_url"], content=b"hello").status_code == 200
    assert (tmp_path / "root" / "box" / "in" / "a" / "b.txt").read_bytes() == b"hello"


@pytest.mark.parametrize("provider", ["s3", "local"])
def test_vanished_bucket_keeps_previous_nodes(provider, client, request, tmp_path, services):
    target = make_target(provider, request, tmp_path)
    cid = client.post("/v1/connections/verify", json=payload(target)).json()["id"]
    assert sync_and_wait(client, cid)["status"] == "completed"
    before = sorted(n["id"] for n in all_nodes(client, connection_id=cid))
    # the bucket disappears behind our back
    if provider == "local":
        shutil.rmtree(tmp_path / "root" / target.spec.bucket)
    else:
        conn.open_fs(target.spec).rm(target.spec.bucket, recursive=True)
    failed = sync_and_wait(client, cid)
    assert failed["status"] == "failed" and failed["error"]
    assert sorted(n["id"] for n in all_nodes(client, connection_id=cid)) == before
    conn_out = client.get(f"/v1/connections/{cid}").json()
    assert conn_out["status"] == "error" and conn_out["last_error"]
    assert client.get(f"/v1/connections/{cid}/sync/progress").json()["status"] == "failed"
    types = [r["type"] for r in services.db.all("SELECT type FROM events WHERE type LIKE 'connection.%' ORDER BY seq")]
    assert types == ["connection.sync.completed", "connection.sync.failed"]


def test_concurrent_sync_conflicts(settings, tmp_path):
    (tmp_path / "root" / "c").mkdir()
    app = create_app(replace(settings, consumer=False))  # nothing runs the queue: the first sync stays queued
    with TestClient(app, base_url="http://127.0.0.1:8700") as client:
        client.headers.update(auth())
        cid = client.post("/v1/connections/verify", json={"provider": "local", "name": "C", "bucket": "c"}).json()["id"]
        first = client.post(f"/v1/connections/{cid}/sync")
        assert first.status_code == 202 and first.json()["status"] == "queued"
        second = client.post(f"/v1/connections/{cid}/sync")
        assert second.status_code == 409 and second.json()["code"] == "CONFLICT"
        progress = client.get(f"/v1/connections/{cid}/sync/progress").json()
        assert progress["status"] == "queued" and progress["sync_id"] == first.json()["sync_id"]


def _local_target(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    base = tmp_path / "root" / name
    for key, data in files.items():
        (base / key).parent.mkdir(parents=True, exist_ok=True)
        (base / key).write_bytes(data)
    return base


def test_process_batch_by_connection(client, tmp_path):
    _local_target(tmp_path, "notes", {"a.md": b"# Alpha\n\nThe alpha note.\n", "sub/b.txt": b"The beta note.\n"})
    cid = client.post("/v1/connections/verify", json={"provider": "local", "name": "N", "bucket": "notes",
                                                       "space": "notes"}).json()["id"]
    assert client.post("/v1/files/process-batch", json={"connection_id": "conn-nope"}).status_code == 404
    sync_and_wait(client, cid)
    r = client.post("/v1/files/process-batch", json={"connection_id": cid, "variants": ["markdown"]})
    assert r.status_code == 201, r.text
    assert r.json()["queued"] == 2
    file_ids = {n["path"]: n["file_id"] for n in all_nodes(client, connection_id=cid, type="file")}
    for path, file_id in file_ids.items():
        done = wait_file(client, file_id)
        assert done["status"] == "completed" and done["space"] == "notes", done
        assert done["sha256"]  # computed while the job streamed the bytes from the bucket
    md = client.get(f"/v1/files/{file_ids['a.md']}/variants/markdown").json()
    assert "alpha note" in md["content"]
    # deleting the file never touches the bucket
    assert client.delete(f"/v1/files/{file_ids['a.md']}").status_code in (200, 204)
    assert (tmp_path / "root" / "notes" / "a.md").exists()


def test_process_new_files_after_sync(client, tmp_path):
    base = _local_target(tmp_path, "inbox", {"one.txt": b"First document.\n"})
    cid = client.post("/v1/connections/verify", json={"provider": "local", "name": "I", "bucket": "inbox",
                                                       "process_new_files": True}).json()["id"]
    sync_and_wait(client, cid)
    node = all_nodes(client, connection_id=cid, type="file")[0]
    node = wait_for(lambda: (lambda n: n if n["file_id"] else None)(client.get(f"/v1/nodes/{node['id']}").json()))
    assert wait_file(client, node["file_id"])["status"] == "completed"
    (base / "two.txt").write_bytes(b"Second document.\n")
    sync_and_wait(client, cid)
    two = next(n for n in all_nodes(client, connection_id=cid, type="file") if n["name"] == "two.txt")
    two = wait_for(lambda: (lambda n: n if n["file_id"] else None)(client.get(f"/v1/nodes/{two['id']}").json()))
    assert wait_file(client, two["file_id"])["status"] == "completed"
    files = client.get("/v1/files").json()
    assert len(files["files"]) == 2  # the unchanged one was not processed again


def test_scheduled_sync(settings, tmp_path):
    _local_target(tmp_path, "sched", {"a.txt": b"a\n"})
    app = create_app(replace(settings, sync_tick_seconds=0.1, sync_minute_seconds=0.1))  # 5 "minutes" = 0.5 s
    with TestClient(app, base_url="http://127.0.0.1:8700") as client:
        client.headers.update(auth())
        cid = client.post("/v1/connections/verify", json={"provider": "local", "name": "S", "bucket": "sched",
                                                           "sync_interval_minutes": 5}).json()["id"]
        manual = client.post("/v1/connections/verify", json={"provider": "local", "name": "M", "bucket": "sched",
                                                              "sync_interval_minutes": None}).json()["id"]

        def two_scheduled():
            syncs = client.get(f"/v1/connections/{cid}/sync/history").json()["syncs"]
            done = [s for s in syncs if s["trigger"] == "scheduled" and s["status"] == "completed"]
            return syncs if len(done) >= 2 else None

        syncs = wait_for(two_scheduled, timeout=30)
        assert syncs[-1]["files_added"] == 1
        assert client.get(f"/v1/connections/{cid}").json()["last_synced_at"]
        assert client.get(f"/v1/connections/{manual}/sync/history").json()["syncs"] == []


def test_live_server_local_connection(make_live_server, tmp_path):
    root = tmp_path / "live-root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "hello.txt").write_bytes(b"Hello from the bucket.\n")
    server = make_live_server(ROSET_LOCAL_ROOTS=str(root))
    with server.client() as client:
        r = client.post("/v1/connections/verify", json={"provider": "local", "name": "Live", "bucket": "docs"})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        assert sync_and_wait(client, cid)["files_added"] == 1
        node = all_nodes(client, connection_id=cid)[0]
        url = client.get(f"/v1/nodes/{node['id']}/download").json()["url"]
        assert url.startswith(server.url)
        assert httpx.get(url).content == b"Hello from the bucket.\n"
        init = client.post("/v1/nodes/upload/init", json={"connection_id": cid, "path": "up/note.txt"}).json()
        assert httpx.put(init["upload_url"], content=b"Uploaded note.\n").status_code == 200
        commit = client.post("/v1/nodes/upload/commit", json={"node_id": init["node_id"]}).json()
        assert wait_file(client, commit["file_id"])["status"] == "completed"
        assert (root / "docs" / "up" / "note.txt").read_bytes() == b"Uploaded note.\n"


def test_scopes(client, tmp_path):
    key = client.post("/v1/org/api-keys", json={"name": "ro", "scopes": ["connections:read"]}).json()["key"]
    (tmp_path / "root" / "k").mkdir()
    r = client.post("/v1/connections", json={"provider": "local", "name": "K", "bucket": "k"}, headers=auth(key))
    assert r.status_code == 403
    assert client.get("/v1/connections", headers=auth(key)).status_code == 200
    assert json.loads(client.get("/v1/nodes", headers=auth(key)).text)["nodes"] == []
