"""Connections that mirror their bucket: deleted objects take their files, variants and index entries along."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from roset_local.config import Settings
from tests.conftest import ADMIN_KEY
from tests.storage.targets import Target, make_target
from tests.test_connections import all_nodes, payload, sync_and_wait, wait_file, wait_for
from tests.test_webhooks import FAST_SCHEDULE, Receiver

PROVIDERS = ["local", "s3", "azure_blob", "gcs"]
KEEP = b"The lighthouse keeper logs the tide tables every evening.\n"
GONE = b"The zeppelin hangar stores seventeen crimson balloons.\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "root").mkdir(exist_ok=True)
    return Settings.from_env({"ROSET_WEBHOOK_SCHEDULE": FAST_SCHEDULE}, data_dir=tmp_path / "data",
                             admin_key=ADMIN_KEY, workers=2, local_roots=(str(tmp_path / "root"),),
                             live_sync=False)


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def _synced_files(client, target: Target, **extra: Any) -> tuple[str, dict[str, str]]:
    """A connection on ``mirror/`` (keep.txt, gone.txt) synced and processed: its id and path → file id."""
    target.put("mirror/keep.txt", KEEP)
    target.put("mirror/gone.txt", GONE)
    r = client.post("/v1/connections/verify", json=payload(target, prefix="mirror/", process_new_files=True, **extra))
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert sync_and_wait(client, cid)["files_added"] == 2

    def linked() -> dict[str, str] | None:
        ids = {n["path"]: n["file_id"] for n in all_nodes(client, connection_id=cid, type="file")}
        return ids if all(ids.values()) else None

    ids = wait_for(linked)
    for file_id in ids.values():
        assert wait_file(client, file_id)["status"] == "completed"
    return cid, ids


def _search_ids(client, query: str) -> set[str]:
    body = client.post("/v1/search", json={"query": query, "mode": "text"}).json()
    assert "results" in body, body
    return {r["file_id"] for r in body["results"]}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_deleted_object_removes_its_file_everywhere(provider, client, request, tmp_path, receiver):
    target = make_target(provider, request, tmp_path)
    hook = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["file.deleted"]}).json()
    cid, ids = _synced_files(client, target)
    gone_id, keep_id = ids["mirror/gone.txt"], ids["mirror/keep.txt"]
    assert gone_id in _search_ids(client, "zeppelin hangar")
    qa = client.post("/v1/qa", json={"question": "What does the zeppelin hangar store?"}).json()
    assert gone_id in {s["file_id"] for s in qa["sources"]}

    target.delete("mirror/gone.txt")
    second = sync_and_wait(client, cid)
    assert (second["files_added"], second["files_updated"], second["files_deleted"]) == (0, 0, 1)

    assert client.get(f"/v1/files/{gone_id}").status_code == 404
    assert client.get(f"/v1/files/{gone_id}/variants/markdown").status_code == 404
    assert {f["id"] for f in client.get("/v1/files").json()["files"]} == {keep_id}
    assert _search_ids(client, "zeppelin hangar") == set()
    qa = client.post("/v1/qa", json={"question": "What does the zeppelin hangar store?"}).json()
    assert gone_id not in {s["file_id"] for s in qa["sources"]}
    assert keep_id in _search_ids(client, "lighthouse keeper")
    assert [n["path"] for n in all_nodes(client, connection_id=cid, type="file")] == ["mirror/keep.txt"]

    def deleted_event() -> dict[str, Any] | None:
        for item in receiver.posts():
            body = json.loads(item.body)
            if body["type"] == "file.deleted" and body["data"]["file_id"] == gone_id:
                return body
        return None

    event = wait_for(deleted_event, timeout=30)
    assert event["data"]["reason"] == "source_deleted" and event["data"]["space"] == "default"
    assert hook["id"]


def test_on_delete_keep_flags_the_file_and_a_returning_object_clears_it(client, request, tmp_path):
    target = make_target("local", request, tmp_path)
    cid, ids = _synced_files(client, target, on_delete="keep")
    assert client.get(f"/v1/connections/{cid}").json()["on_delete"] == "keep"
    gone_id = ids["mirror/gone.txt"]
    assert client.get(f"/v1/files/{gone_id}").json()["source_deleted"] is False

    target.delete("mirror/gone.txt")
    assert sync_and_wait(client, cid)["files_deleted"] == 1
    kept = client.get(f"/v1/files/{gone_id}").json()
    assert kept["status"] == "completed" and kept["source_deleted"] is True
    assert gone_id in _search_ids(client, "zeppelin hangar")  # kept: still searchable, flagged
    url = client.get(f"/v1/files/{gone_id}/download").json()["url"]
    missing = client.get(url)
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"  # no bytes: a clear 404
    assert "mirror/gone.txt" not in {n["path"] for n in all_nodes(client, connection_id=cid)}

    target.put("mirror/gone.txt", GONE)  # the object comes back: same node, same file, flag cleared
    back = sync_and_wait(client, cid)
    assert back["files_added"] == 1
    nodes = {n["path"]: n for n in all_nodes(client, connection_id=cid, type="file")}
    assert nodes["mirror/gone.txt"]["file_id"] == gone_id
    assert client.get(f"/v1/files/{gone_id}").json()["source_deleted"] is False
    assert len(client.get("/v1/files").json()["files"]) == 2


def test_on_delete_is_validated(client, tmp_path):
    (tmp_path / "root" / "v").mkdir()
    r = client.post("/v1/connections", json={"provider": "local", "name": "V", "bucket": "v", "on_delete": "purge"})
    assert r.status_code == 400 and "on_delete" in r.json()["error"] and r.json()["requestId"]
    r = client.post("/v1/connections", json={"provider": "local", "name": "V", "bucket": "v"})
    assert r.status_code == 201 and r.json()["on_delete"] == "remove"


def _download(client, file_id: str) -> bytes | None:
    r = client.get(f"/v1/files/{file_id}/download")
    assert r.status_code == 200, r.text
    got = client.get(r.json()["url"])
    return got.content if got.status_code == 200 else None


@pytest.mark.parametrize("provider", ["local", "s3"])
def test_deleted_connection_keeps_files_with_their_bytes(provider, client, request, tmp_path):
    target = make_target(provider, request, tmp_path)
    cid, ids = _synced_files(client, target, on_delete="keep")
    keep_id, gone_id = ids["mirror/keep.txt"], ids["mirror/gone.txt"]
    target.delete("mirror/gone.txt")
    sync_and_wait(client, cid)  # gone.txt is kept, flagged: its bytes are unreachable
    r = client.delete(f"/v1/connections/{cid}")
    assert r.status_code == 200, r.text
    assert r.json() == {"id": cid, "deleted": True, "files_deleted": 1, "files_kept": 1}
    assert client.get(f"/v1/connections/{cid}").status_code == 404
    assert client.get(f"/v1/files/{gone_id}").status_code == 404  # no bytes left anywhere: not kept
    kept = client.get(f"/v1/files/{keep_id}").json()
    assert kept["connection_id"] is None and kept["node_id"] is None and kept["status"] == "completed"
    target.delete("mirror/keep.txt")  # the copy in the blob store no longer needs the bucket
    assert _download(client, keep_id) == KEEP
    assert keep_id in _search_ids(client, "lighthouse keeper")
    job = client.post(f"/v1/files/{keep_id}/process", json={})
    assert job.status_code == 201, job.text
    job_id = job.json().get("job_id") or job.json()["id"]
    done = wait_for(lambda: (lambda j: j if j["status"] in ("completed", "failed") else None)(
        client.get(f"/v1/jobs/{job_id}").json()))
    assert done["status"] == "completed", done  # re-processing reads the copied bytes


def test_deleted_connection_cascade_deletes_its_files(client, request, tmp_path):
    target = make_target("local", request, tmp_path)
    cid, ids = _synced_files(client, target)
    r = client.delete(f"/v1/connections/{cid}", params={"cascade": "true"})
    assert r.status_code == 200 and r.json()["files_deleted"] == 2 and r.json()["files_kept"] == 0
    assert client.get("/v1/files").json()["files"] == []
    assert _search_ids(client, "lighthouse keeper") == set()
    assert (tmp_path / "root" / target.spec.bucket / "mirror" / "keep.txt").exists()  # the bucket is untouched
    assert client.delete("/v1/connections/conn-nope", params={"cascade": "true"}).status_code == 404


def _jobs(client, file_id: str) -> list[dict[str, Any]]:
    return client.get("/v1/jobs", params={"file_id": file_id, "limit": 100}).json()["jobs"]


@pytest.mark.parametrize(("provider", "process_new_files"), [("local", True), ("s3", False)])
def test_changed_object_is_extracted_once_and_untouched_never(provider, process_new_files, client, services,
                                                               request, tmp_path):
    target = make_target(provider, request, tmp_path)
    cid, ids = _synced_files(client, target)
    if not process_new_files:  # the files were processed: they follow their objects whatever the setting
        with services.db.write():
            services.db.execute("UPDATE connections SET process_new_files = 0 WHERE id = :c", {"c": cid})
    keep_id, gone_id = ids["mirror/keep.txt"], ids["mirror/gone.txt"]
    before = client.get(f"/v1/files/{keep_id}").json()["sha256"]

    time.sleep(1.1)  # a new mtime (whole seconds on some stores), the same bytes
    target.put("mirror/keep.txt", KEEP)
    target.put("mirror/gone.txt", b"The observatory dome opens for the comet at midnight.\n")
    second = sync_and_wait(client, cid)
    assert second["files_updated"] >= 1 and second["files_added"] == second["files_deleted"] == 0

    def reprocessed() -> list[dict[str, Any]] | None:
        jobs = _jobs(client, gone_id)
        return jobs if len(jobs) == 2 and all(j["status"] == "completed" for j in jobs) else None

    wait_for(reprocessed)
    assert _search_ids(client, "observatory comet") == {gone_id}
    assert _search_ids(client, "zeppelin hangar") == set()
    markdown = client.get(f"/v1/files/{gone_id}/variants/markdown").json()["content"]
    assert "observatory" in markdown and "zeppelin" not in markdown
    assert len(_jobs(client, keep_id)) == 1  # only its mtime moved: never re-run
    assert client.get(f"/v1/files/{keep_id}").json()["sha256"] == before

    third = sync_and_wait(client, cid)  # nothing changed: nothing re-runs
    assert (third["files_added"], third["files_updated"], third["files_deleted"]) == (0, 0, 0)
    assert len(_jobs(client, gone_id)) == 2 and len(_jobs(client, keep_id)) == 1


@pytest.mark.parametrize("provider", ["local", "s3"])
def test_same_bytes_under_a_second_key_are_extracted_once(provider, client, request, tmp_path):
    target = make_target(provider, request, tmp_path)
    cid, ids = _synced_files(client, target)
    first = ids["mirror/gone.txt"]
    target.put("mirror/copy/twin.txt", GONE)
    assert sync_and_wait(client, cid)["files_added"] == 1
    twin_node = wait_for(lambda: next((n for n in all_nodes(client, connection_id=cid, type="file")
                                       if n["path"] == "mirror/copy/twin.txt" and n["file_id"]), None))
    twin = wait_file(client, twin_node["file_id"])
    assert twin["status"] == "completed" and twin["sha256"] == client.get(f"/v1/files/{first}").json()["sha256"]
    meta = client.get(f"/v1/files/{twin['id']}/variants/metadata").json()["data"]
    assert meta["reused_from"] == first and meta["filename"] == "twin.txt" and meta["pages_billed"] == 0
    markdown = client.get(f"/v1/files/{twin['id']}/variants/markdown").json()["content"]
    assert markdown == client.get(f"/v1/files/{first}/variants/markdown").json()["content"]
    assert _search_ids(client, "zeppelin hangar") == {first, twin["id"]}
    vector = client.post("/v1/search", json={"query": "airship storage building", "mode": "vector"}).json()
    assert twin["id"] in {r["file_id"] for r in vector["results"]}
    # different bytes are extracted as usual
    assert "reused_from" not in client.get(f"/v1/files/{ids['mirror/keep.txt']}/variants/metadata").json()["data"]
    # the copy outlives its twin: deleting the first file leaves the second searchable
    assert client.delete(f"/v1/files/{first}").status_code == 200
    assert _search_ids(client, "zeppelin hangar") == {twin["id"]}


def test_reprocessing_the_same_bytes_extracts_again(client):
    """Reuse never stands in for an explicit re-run of a file whose variants came from these bytes."""
    data = b"The orchard ledger counts nine hundred quince trees.\n"
    a = client.post("/v1/upload", files={"file": ("a.txt", data, "text/plain")}).json()
    assert wait_file(client, a["id"])["status"] == "completed"
    b = client.post("/v1/upload", files={"file": ("b.txt", data, "text/plain")}).json()
    assert wait_file(client, b["id"])["status"] == "completed"
    assert client.get(f"/v1/files/{b['id']}/variants/metadata").json()["data"]["reused_from"] == a["id"]
    job = client.post(f"/v1/files/{b['id']}/process", json={}).json()
    job_id = job.get("job_id") or job["id"]
    wait_for(lambda: client.get(f"/v1/jobs/{job_id}").json()["status"] == "completed")
    assert "reused_from" not in client.get(f"/v1/files/{b['id']}/variants/metadata").json()["data"]
    assert _search_ids(client, "quince orchard") == {a["id"], b["id"]}
