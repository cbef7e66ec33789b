"""Operations end to end: search and Q&A over real uploads, backup/restore of a processed instance,
an upgrade from the previous schema version, extra worker processes, structured JSON logs."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
from litestar.testing import TestClient

from roset_local.app import create_app
from roset_local.cli import main
from roset_local.config import Settings
from roset_local.services import Services
from roset_local.store import schema
from roset_local.store.db import open_database
from roset_local.store.migrations import apply_migrations
from tests.conftest import ADMIN_KEY, ROOT, auth, server_env
from tests.test_files import wait_file

DOCS = {
    "invoice.md": b"# Invoice 4821\n\nThe payment terms are net 30 days from the invoice date.\n",
    "garden.md": b"# Garden notes\n\nTomatoes need full sun and regular watering in July.\n",
    "travel.md": b"# Travel\n\nThe flight to Lisbon departs at nine in the morning.\n",
}


def _upload_all(http) -> dict[str, str]:
    ids = {}
    for name, data in DOCS.items():
        ids[name] = http.post("/v1/upload", files={"file": (name, data, "text/markdown")}).json()["id"]
    for fid in ids.values():
        assert wait_file(http, fid, timeout=120)["status"] == "completed"
    return ids


def test_search_and_qa_over_real_uploads_then_delete(client):
    ids = _upload_all(client)
    text = client.post("/v1/search", json={"query": "payment terms", "mode": "text"}).json()
    assert text["results"][0]["file_id"] == ids["invoice.md"] and "«" in text["results"][0]["snippet"]
    # a paraphrase sharing no content word with the document: only the vectors can find it
    vector = client.post("/v1/search", json={"query": "vegetables growing in sunshine", "mode": "vector"}).json()
    assert vector["results"][0]["file_id"] == ids["garden.md"]
    hybrid = client.post("/v1/search", json={"query": "when does the plane leave for Portugal"}).json()
    assert hybrid["mode"] == "hybrid" and hybrid["results"][0]["file_id"] == ids["travel.md"]
    listed = client.get("/v1/files", params={"search": "tomatoes"}).json()["files"]
    assert [f["id"] for f in listed] == [ids["garden.md"]]  # content match through ?search=
    qa = client.post("/v1/qa", json={"question": "What are the payment terms?"}).json()
    assert "net 30 days" in qa["answer"] and qa["sources"][0]["file_id"] == ids["invoice.md"]
    with client.stream("POST", "/v1/qa", json={"question": "What are the payment terms?", "stream": True}) as r:
        events = [json.loads(line[5:]) for line in r.iter_lines() if line.startswith("data:")]
    kinds = [e["type"] for e in events]
    assert kinds[-2:] == ["sources", "done"] and set(kinds[:-2]) == {"chunk"}
    variants = {v["type"]: v for v in client.get(f"/v1/files/{ids['invoice.md']}/variants").json()["variants"]}
    assert variants["embeddings"]["data"]["dimensions"] == 384 and variants["searchable-index"]["data"]["chunk_count"] >= 1
    client.delete(f"/v1/files/{ids['invoice.md']}")
    for mode in ("text", "vector", "hybrid"):
        hits = client.post("/v1/search", json={"query": "payment terms net 30", "mode": mode}).json()["results"]
        assert ids["invoice.md"] not in {h["file_id"] for h in hits}


def test_backup_and_restore_of_a_processed_instance(client, settings, tmp_path):
    ids = _upload_all(client)
    hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["file.processing.completed"]})
    assert hook.status_code == 201
    dest = tmp_path / "backup"
    assert main(["backup", str(dest), "--data-dir", str(settings.data_dir)]) == 0
    target = tmp_path / "restored"
    assert main(["restore", str(dest), "--data-dir", str(target)]) == 0
    restored = create_app(Settings.from_env({}, data_dir=target, admin_key=ADMIN_KEY, workers=1))
    with TestClient(restored, base_url="http://127.0.0.1:8700") as again:
        again.headers.update(auth())
        files = {f["id"]: f for f in again.get("/v1/files").json()["files"]}
        assert set(ids.values()) <= set(files) and all(files[i]["status"] == "completed" for i in ids.values())
        md = again.get(f"/v1/files/{ids['garden.md']}/variants/markdown").json()["content"]
        assert "Tomatoes" in md
        got = again.get(f"/v1/files/{ids['travel.md']}/download").json()["url"].split("8700", 1)[1]
        assert again.get(got).content == DOCS["travel.md"]
        vector = again.post("/v1/search", json={"query": "vegetables growing in sunshine", "mode": "vector"}).json()
        assert vector["results"][0]["file_id"] == ids["garden.md"]  # vectors came back too
        hooks = again.get("/v1/webhooks").json()["webhooks"]
        assert [h["id"] for h in hooks] == [hook.json()["id"]]


def test_upgrade_from_the_previous_schema_version_keeps_the_data(tmp_path):
    data = tmp_path / "old"
    data.mkdir()
    db = open_database(data / "roset.db")
    # The first released schema: the foundation and the files backbone only.
    apply_migrations(db, [schema.core, schema.files])
    with db.write():
        db.insert("files", {"id": "f-old", "space": "default", "filename": "old.txt", "content_type": "text/plain",
                            "size_bytes": 3, "sha256": "abc", "storage_key": "default/f-old/old.txt",
                            "status": "completed", "created_at": "2026-01-02 03:04:05", "updated_at": "2026-01-02 03:04:05"})
        db.insert("jobs", {"id": "job-old", "file_id": "f-old", "space": "default", "status": "completed",
                           "provider": "reducto", "created_at": "2026-01-02 03:04:05", "started_at": "2026-01-02 03:04:05",
                           "completed_at": "2026-01-02 03:04:06", "duration_ms": 1000, "updated_at": "2026-01-02 03:04:06"})
    db.close()
    services = Services(Settings.from_env({}, data_dir=data, admin_key=ADMIN_KEY)).open()
    try:
        applied = {r["migration_set"] for r in services.db.all("SELECT migration_set FROM _migrations")}
        assert applied >= {s.name for s in schema.ALL}
        assert services.db.one("SELECT filename, status FROM files WHERE id = 'f-old'") == {"filename": "old.txt",
                                                                                          "status": "completed"}
    finally:
        services.db.close()
    app = create_app(Settings.from_env({}, data_dir=data, admin_key=ADMIN_KEY, workers=1))
    with TestClient(app, base_url="http://127.0.0.1:8700") as http:
        http.headers.update(auth())
        assert http.get("/v1/files/f-old").json()["filename"] == "old.txt"
        assert http.get("/v1/jobs/job-old").json()["duration_ms"] == 1000
        overview = http.get("/v1/analytics/overview").json()
        assert overview["total_files"] == 1 and overview["total_jobs"] == 1  # rollups built from old rows


def test_worker_processes_share_the_data_directory(make_live_server, tmp_path):
    server = make_live_server(ROSET_CONSUMER="false")
    with server.client() as http:
        fid = http.post("/v1/upload", files={"file": ("w.md", DOCS["garden.md"], "text/markdown")}).json()["id"]
        time.sleep(2)
        assert http.get(f"/v1/files/{fid}").json()["status"] == "uploaded"  # nobody runs jobs yet
        log = open(tmp_path / "worker.log", "wb")
        worker = subprocess.Popen([sys.executable, "-m", "roset_local", "worker", "--data-dir", str(server.data_dir)],
                                  env=server_env(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert wait_file(http, fid, timeout=120)["status"] == "completed"
        finally:
            worker.terminate()
            assert worker.wait(timeout=30) == 0


def test_json_logs_are_one_object_per_line(make_live_server):
    server = make_live_server(ROSET_LOG_FORMAT="json")
    httpx.get(f"{server.url}/v1/me", headers=auth())
    lines = [line for line in server.logs().splitlines() if line.startswith("{")]
    assert lines, server.logs()[:2000]
    records = [json.loads(line) for line in lines]
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    assert any("serving on" in r["message"] for r in records)
