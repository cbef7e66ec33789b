"""Files, uploads, jobs, variants and spaces through the API (in-process client and the real server)."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from roset_local.app import create_app
from tests.conftest import ADMIN_KEY, auth

TEXT = b"# Payment terms\n\nThe payment terms are net 30 days from the invoice date.\n"


def upload(client, name="terms.md", data=TEXT, ctype="text/markdown", **fields):
    params = {"space": fields.pop("space")} if "space" in fields else None
    form = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in fields.items()}
    return client.post("/v1/upload", files={"file": (name, data, ctype)}, data=form, params=params)


def wait_file(client, file_id, statuses=("completed", "failed"), timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/v1/files/{file_id}").json()
        if body["status"] in statuses:
            return body
        time.sleep(0.1)
    raise AssertionError(f"file {file_id} stuck in {body['status']}")


def wait_job(client, job_id, statuses, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/v1/jobs/{job_id}").json()
        if body["status"] in statuses:
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stuck in {body['status']}")


def blob_files(settings) -> list[Path]:
    root = settings.data_dir / "blobs"
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".roset-probe")]


def test_multipart_upload_runs_to_completion(client, settings):
    r = upload(client, metadata={"department": "finance"})
    assert r.status_code == 201
    body = r.json()
    for key in ("id", "space", "filename", "content_type", "size_bytes", "storage_key", "status", "job_id"):
        assert key in body
    assert body["space"] == "default" and body["filename"] == "terms.md" and body["size_bytes"] == len(TEXT)
    assert body["storage_key"] == f"default/{body['id']}/terms.md"
    assert body["status"] == "uploaded" and body["file"]["id"] == body["id"] and body["job"]["id"] == body["job_id"]
    done = wait_file(client, body["id"])
    assert done["status"] == "completed", done
    assert len(done["sha256"]) == 64 and done["metadata"] == {"department": "finance"}
    assert done["job"]["status"] == "completed" and done["job"]["duration_ms"] is not None
    types = {v["type"] for v in done["variants"]}
    assert {"markdown", "metadata"} <= types
    md = client.get(f"/v1/files/{body['id']}/variants/markdown").json()
    assert "net 30 days" in md["content"] and md["content_type"] == "text/markdown"
    meta = client.get(f"/v1/files/{body['id']}/variants/metadata").json()["data"]
    assert meta["sha256"] == done["sha256"] and meta["word_count"] >= 10 and meta["provider"] == "reducto"
    assert client.get(f"/v1/files/{body['id']}/variants/nope").status_code == 404
    listed = client.get(f"/v1/files/{body['id']}/variants").json()["variants"]
    assert any(v["type"] == "markdown" and "net 30" in v["content"] for v in listed)
    job = client.get(f"/v1/jobs/{body['job_id']}").json()
    assert job["provider"] == "reducto" and job["engine"] == "local" and job["started_at"] and job["completed_at"]


def test_space_from_query_or_form_and_confinement(client):
    assert upload(client, space="acme").json()["space"] == "acme"
    r = client.post("/v1/upload", files={"file": ("a.txt", b"hello", "text/plain")}, data={"space": "beta"})
    assert r.json()["space"] == "beta"
    beta_id = r.json()["id"]
    assert upload(client, space="../etc").status_code == 400
    key = client.post("/v1/org/api-keys", json={"name": "acme", "spaces": ["acme"]}).json()["key"]
    r = client.post("/v1/upload", files={"file": ("a.txt", b"x", "text/plain")}, params={"space": "beta"},
                    headers=auth(key))
    assert r.status_code == 403
    own = client.post("/v1/upload", files={"file": ("a.txt", b"x", "text/plain")}, params={"space": "acme"},
                      headers=auth(key))
    assert own.status_code == 201
    # the confined key sees only its space, everywhere
    assert client.get(f"/v1/files/{beta_id}", headers=auth(key)).status_code == 404
    assert client.get("/v1/files", params={"space": "beta"}, headers=auth(key)).status_code == 403
    assert [s["space"] for s in client.get("/v1/spaces", headers=auth(key)).json()["spaces"]] == ["acme"]
    jobs = client.get("/v1/jobs", headers=auth(key)).json()["jobs"]
    assert jobs and all(j["space"] == "acme" for j in jobs)


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({"metadata": "{not json"}, "metadata"),
        ({"metadata": {"k": 5}}, "metadata"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
        ({"variants": ["markdown", "bogus"]}, "variants"),
        ({"provider": "acme-ocr"}, "provider"),
        ({"skip_processing": "maybe"}, "skip_processing"),
        ({"chunking": {"strategy": "sentences-ish"}}, "chunking"),
        ({"chunking": {"strategy": "fixed", "chunk_size": 500, "chunk_overlap": 400}}, "chunking"),
    ],
)
def test_bad_upload_fields_are_400_and_leave_nothing(client, settings, fields, needle):
    before = blob_files(settings)
    r = upload(client, **fields)
    assert r.status_code == 400 and needle in r.json()["error"]
    assert blob_files(settings) == before
    assert client.get("/v1/files").json()["files"] == []


def test_malformed_multipart_and_missing_file(client, settings):
    r = client.post("/v1/upload", content=b"--xx\r\nnot really", headers={"Content-Type": "multipart/form-data; boundary=xx"})
    assert r.status_code == 400
    r = client.post("/v1/upload", data={"space": "a"}, files={"other": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 400 and "file" in r.json()["error"]
    r = client.post("/v1/upload", content=b"abc", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400
    assert blob_files(settings) == [] and client.get("/health").status_code == 200


def test_filename_is_sanitised_and_type_detected(client):
    r = upload(client, name="..\\..\\etc\\pass wd.md", ctype="application/octet-stream")
    body = r.json()
    assert body["filename"] == "pass wd.md"
    from roset_local.pipeline.lifecycle import sanitize_filename

    assert sanitize_filename("../../a\x07b\x00.pdf") == "ab.pdf" and sanitize_filename("..") == "file"
    assert body["storage_key"].endswith("/pass_wd.md") and ".." not in body["storage_key"]
    assert body["content_type"] == "text/markdown"


def test_too_large_upload_is_413_and_leaves_nothing(settings):
    app = create_app(replace(settings, max_upload_bytes=1000))
    with TestClient(app) as client:
        client.headers.update(auth())
        r = upload(client, data=b"x" * 5000, name="big.txt", ctype="text/plain")
        assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"
        assert client.get("/v1/files").json()["files"] == []
        assert blob_files(settings) == []


def test_skip_processing_then_process(client):
    body = upload(client, skip_processing="true").json()
    assert body["job_id"] is None and body["status"] == "uploaded"
    time.sleep(0.3)
    assert client.get(f"/v1/files/{body['id']}").json()["status"] == "uploaded"
    started = client.post(f"/v1/files/{body['id']}/process", json={"variants": ["markdown"]})
    assert started.status_code == 201 and started.json()["status"] == "queued"
    done = wait_file(client, body["id"])
    assert {v["type"] for v in done["variants"]} == {"markdown"}
    assert client.post("/v1/files/nope/process", json={}).status_code == 404


def test_signed_url_flow_end_to_end(live_server):
    with live_server.client() as http:
        reg = http.post("/v1/upload", json={"filename": "doc.txt", "content_type": "text/plain", "size_bytes": len(TEXT)})
        assert reg.status_code == 201
        body = reg.json()
        assert body["status"] == "uploading" and body["job_id"] and body["upload_url"].startswith(live_server.url)
        put = httpx.put(body["upload_url"], content=TEXT)  # no Authorization header: the URL is the credential
        assert put.status_code == 200 and put.json()["sha256"]
        done = wait_file(http, body["id"])
        assert done["status"] == "completed"
        md = http.get(f"/v1/files/{body['id']}/variants/markdown").json()["content"]
        assert "net 30 days" in md
        again = httpx.put(body["upload_url"], content=TEXT)
        assert again.status_code == 410
        # POST /v1/files is the same flow
        made = http.post("/v1/files", json={"filename": "report.md", "space": "acme"}).json()
        assert made["status"] == "uploading" and made["job_id"] and made["space"] == "acme"


def test_signed_url_tampered_wrong_size_and_expired(settings):
    app = create_app(replace(settings, upload_url_ttl_seconds=2))
    with TestClient(app) as client:
        client.headers.update(auth())
        body = client.post("/v1/upload", json={"filename": "a.txt", "size_bytes": 5}).json()
        path = body["upload_url"].split("8700", 1)[1]
        tampered = path.replace("signature=", "signature=x")
        assert client.put(tampered, content=b"hello").status_code == 403
        other = client.post("/v1/upload", json={"filename": "b.txt"}).json()
        swapped = path.replace(body["id"], other["id"])
        assert client.put(swapped, content=b"hello").status_code == 403
        wrong = client.put(path, content=b"hello world")
        assert wrong.status_code == 400 and "size" in wrong.json()["error"]
        assert blob_files(settings) == []  # nothing kept
        assert client.get(f"/v1/files/{body['id']}").json()["status"] == "uploading"
        assert client.put(path, content=b"hello").status_code == 200  # the URL still works after a refused try
        late = client.post("/v1/upload", json={"filename": "c.txt"}).json()
        time.sleep(3.1)
        expired = client.put(late["upload_url"].split("8700", 1)[1], content=b"x")
        assert expired.status_code == 410


def test_batch_upload_and_live_counts(client):
    assert client.post("/v1/upload/batch", json={"files": []}).status_code == 400
    assert client.post("/v1/upload/batch", json={"files": [{"filename": "x"}] * 51}).status_code == 400
    assert client.post("/v1/upload/batch", json={"files": [{"filename": ""}]}).status_code == 400
    r = client.post("/v1/upload/batch", json={"files": [{"filename": "q1.md", "size_bytes": len(TEXT)},
                                                        {"filename": "q2.md"}]})
    assert r.status_code == 201
    batch = r.json()
    assert batch["batch_id"].startswith("batch-") and len(batch["files"]) == 2
    assert all(f["upload_url"] and f["job_id"] for f in batch["files"])
    status = client.get(f"/v1/batches/{batch['batch_id']}").json()
    assert status["total"] == 2 and status["in_progress"] == 2 and status["completed"] == 0
    client.put(batch["files"][0]["upload_url"].split("8700", 1)[1], content=TEXT)
    wait_file(client, batch["files"][0]["id"])
    status = client.get(f"/v1/batches/{batch['batch_id']}").json()
    assert status["completed"] == 1 and status["in_progress"] == 1
    assert {f["id"]: f["status"] for f in status["files"]}[batch["files"][0]["id"]] == "completed"
    assert client.get("/v1/batches/batch-nope").status_code == 404


def test_list_filters_sorting_and_metadata(client):
    ids = {}
    for name, size, dept, region in [("b.md", 30, "finance", "eu"), ("a.md", 10, "finance", "us"), ("c.md", 20, "legal", "eu")]:
        ids[name] = upload(client, name=name, data=b"x" * size, metadata={"department": dept, "region": region},
                           skip_processing="true").json()["id"]
        time.sleep(1.05)  # distinct created_at seconds
    def names(**params):
        return [f["filename"] for f in client.get("/v1/files", params=params).json()["files"]]
    assert names() == ["c.md", "a.md", "b.md"]
    assert names(sort_order="asc") == ["b.md", "a.md", "c.md"]
    assert names(sort_by="filename", sort_order="asc") == ["a.md", "b.md", "c.md"]
    assert names(sort_by="size_bytes") == ["b.md", "c.md", "a.md"]
    assert names(**{"metadata.department": "finance"}) == ["a.md", "b.md"]
    assert names(**{"metadata.department": "finance", "metadata.region": "eu"}) == ["b.md"]
    assert names(search="c.m") == ["c.md"]
    assert names(status="uploaded") == ["c.md", "a.md", "b.md"] and names(status="failed") == []
    assert names(space="other") == []
    for params in ({"sort_by": "color"}, {"sort_order": "up"}, {"status": "done"}, {"limit": -5}, {"cursor": "@@"}):
        assert client.get("/v1/files", params=params).status_code == 400, params
    first = client.get("/v1/files", params={"limit": 1, "sort_by": "filename"}).json()
    assert client.get("/v1/files", params={"cursor": first["next_cursor"], "sort_by": "size_bytes"}).status_code == 400


def test_cursor_walk_has_no_duplicates_or_gaps_under_concurrent_inserts(client):
    existing = {upload(client, name=f"f{i}.txt", data=b"x", ctype="text/plain", skip_processing="true").json()["id"]
                for i in range(25)}
    stop = threading.Event()

    def writer():
        n = 0
        while not stop.is_set() and n < 30:
            upload(client, name=f"new{n}.txt", data=b"y", ctype="text/plain", skip_processing="true")
            n += 1

    for sort_by, order in (("created_at", "desc"), ("created_at", "asc"), ("filename", "asc"), ("size_bytes", "desc")):
        thread = threading.Thread(target=writer)
        thread.start()
        seen, cursor = [], None
        while True:
            params = {"limit": 4, "sort_by": sort_by, "sort_order": order, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/files", params=params).json()
            seen += [f["id"] for f in page["files"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        stop.set()
        thread.join()
        stop.clear()
        assert len(seen) == len(set(seen)), "duplicate in cursor walk"
        assert existing <= set(seen), "gap in cursor walk"


def test_delete_file_removes_everything(client, settings, services):
    body = upload(client).json()
    wait_file(client, body["id"])
    assert blob_files(settings)
    r = client.delete(f"/v1/files/{body['id']}")
    assert r.json() == {"deleted": True}
    assert client.get(f"/v1/files/{body['id']}").status_code == 404
    assert client.get(f"/v1/jobs/{body['job_id']}").status_code == 404
    assert client.get(f"/v1/files/{body['id']}/variants").status_code == 404
    assert blob_files(settings) == []
    db = services.db
    for table in ("files", "jobs", "variants"):
        assert db.value(f"SELECT count(*) FROM {table}") == 0
    assert client.delete(f"/v1/files/{body['id']}").status_code == 404
    events = [r["type"] for r in db.all("SELECT type FROM events ORDER BY seq")]
    assert events[0] == "file.uploaded" and events[-1] == "file.deleted"
    assert "file.processing.completed" in events


def test_batch_delete_reports_per_id_errors(client):
    a = upload(client, skip_processing="true").json()["id"]
    b = upload(client, skip_processing="true").json()["id"]
    r = client.request("DELETE", "/v1/files", json={"file_ids": [a, b, "missing"]})
    assert r.json()["deleted"] == 2
    assert r.json()["errors"] == [{"id": "missing", "error": "File not found", "code": "NOT_FOUND"}]
    assert client.request("DELETE", "/v1/files", json={"file_ids": []}).status_code == 400
    assert client.request("DELETE", "/v1/files", json={"file_ids": ["x"] * 101}).status_code == 400


def test_jobs_state_machine_cancel_retry_conflicts(settings):
    app = create_app(replace(settings, consumer=False))  # no consumer: jobs stay queued
    with TestClient(app) as client:
        client.headers.update(auth())
        body = upload(client).json()
        job_id = body["job_id"]
        assert client.get("/v1/jobs", params={"status": "queued"}).json()["jobs"][0]["id"] == job_id
        assert client.post(f"/v1/jobs/{job_id}/retry").status_code == 409
        assert client.post(f"/v1/files/{body['id']}/process", json={}).status_code == 409
        r = client.post(f"/v1/jobs/{job_id}/cancel")
        assert r.json() == {"id": job_id, "status": "cancelled"}
        assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 409
        assert client.post(f"/v1/jobs/{job_id}/retry").status_code == 409
        assert client.get(f"/v1/files/{body['id']}").json()["status"] == "uploaded"
        assert client.post("/v1/jobs/job-missing/cancel").status_code == 404
        assert client.get("/v1/jobs", params={"status": "bogus"}).status_code == 400


def test_failed_job_reports_reason_and_retries(client):
    body = upload(client, name="blob.bin", data=bytes(range(256)) * 40, ctype="application/octet-stream").json()
    failed = wait_file(client, body["id"])
    assert failed["status"] == "failed" and failed["reason"] and failed["error"]
    job = client.get(f"/v1/jobs/{body['job_id']}").json()
    assert job["status"] == "failed" and job["reason"] == failed["reason"] and job["error"]
    assert client.post(f"/v1/jobs/{body['job_id']}/cancel").status_code == 409
    retried = client.post(f"/v1/jobs/{body['job_id']}/retry")
    assert retried.json() == {"id": body["job_id"], "status": "queued"}
    again = wait_job(client, body["job_id"], ("failed",))
    assert again["attempts"] == 2


def test_cancel_processing_job_leaves_no_partial_variants(make_live_server):
    server = make_live_server(ROSET_TEST_FAULTS="1")
    with server.client() as http:
        body = http.post("/v1/upload", files={"file": ("slow.md", TEXT, "text/markdown")}, data={"_test_fault": "slow"}).json()
        wait_job(http, body["job_id"], ("processing",))
        assert http.post(f"/v1/jobs/{body['job_id']}/cancel").json()["status"] == "cancelled"
        time.sleep(1.5)
        assert http.get(f"/v1/jobs/{body['job_id']}").json()["status"] == "cancelled"
        assert http.get(f"/v1/files/{body['id']}/variants").json()["variants"] == []
        assert http.get(f"/v1/files/{body['id']}").json()["status"] == "uploaded"
        ok = http.post("/v1/upload", files={"file": ("ok.md", TEXT, "text/markdown")}).json()
        assert wait_file(http, ok["id"])["status"] == "completed"


def test_kill_9_mid_processing_recovers_every_job(make_live_server, tmp_path):
    server = make_live_server(ROSET_TEST_FAULTS="1", ROSET_JOB_TIMEOUT="25")
    with server.client() as http:
        stuck = http.post("/v1/upload", files={"file": ("s.md", TEXT, "text/markdown")}, data={"_test_fault": "sleep"}).json()
        others = [http.post("/v1/upload", files={"file": (f"o{i}.md", TEXT, "text/markdown")}).json() for i in range(4)]
        wait_job(http, stuck["job_id"], ("processing",))
    server.kill()
    server.start()
    with server.client() as http:
        final = {}
        for item in [stuck, *others]:
            job = wait_job(http, item["job_id"], ("completed", "failed"), timeout=90)
            final[item["job_id"]] = job
        assert all(final[o["job_id"]]["status"] == "completed" for o in others), [(j["status"], j["reason"], j["error"], j["attempts"]) for j in final.values()]
        # the job that was running at the kill was claimed again (attempt 2) and, still hanging,
        # ended by the per-job time limit: a terminal state, not a zombie
        again = final[stuck["job_id"]]
        assert again["attempts"] == 2 and again["status"] == "failed" and again["reason"] == "provider_timeout"
        assert http.get("/v1/jobs", params={"status": "processing"}).json()["jobs"] == []
        assert http.get("/v1/jobs", params={"status": "queued"}).json()["jobs"] == []


def test_fifty_concurrent_uploads_lose_nothing(live_server):
    def one(i):
        with live_server.client() as http:
            # markdown + metadata: this test is about concurrency and loss, not embedding speed
            r = http.post("/v1/upload", files={"file": (f"c{i}.md", TEXT + str(i).encode(), "text/markdown")},
                          data={"variants": '["markdown", "metadata"]'})
            return r.status_code, r.json()["id"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(50)))
    assert all(code == 201 for code, _ in results)
    ids = {fid for _, fid in results}
    assert len(ids) == 50
    with live_server.client() as http:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            files = []
            cursor = None
            while True:
                page = http.get("/v1/files", params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
                files += page["files"]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            if all(f["status"] == "completed" for f in files) and len(files) == 50:
                break
            time.sleep(0.5)
        assert {f["id"] for f in files} == ids
        assert all(f["status"] == "completed" for f in files)


def test_spaces_list_stats_and_delete(client, settings):
    upload(client, space="acme")
    upload(client, space="acme", name="two.md")
    upload(client, space="beta")
    spaces = client.get("/v1/spaces").json()["spaces"]
    assert {"space": "acme", "file_count": 2} in spaces and {"space": "beta", "file_count": 1} in spaces
    stats = client.get("/v1/spaces/acme/stats").json()
    assert stats["space"] == "acme" and stats["total_files"] == 2 and stats["total_size_bytes"] == 2 * len(TEXT)
    assert sum(stats["status_counts"].values()) == 2
    assert client.get("/v1/spaces/nope/stats").status_code == 404
    assert client.get("/v1/spaces/bad..name!/stats").status_code == 400
    conflict = client.delete("/v1/spaces/acme")
    assert conflict.status_code == 409 and conflict.json()["code"] == "CONFLICT"
    r = client.delete("/v1/spaces/acme", params={"cascade": "true"})
    assert r.json() == {"deleted": True, "files_deleted": 2}
    assert [s["space"] for s in client.get("/v1/spaces").json()["spaces"]] == ["beta"]
    assert not [p for p in blob_files(settings) if "/acme/" in str(p)]


def test_download_url_serves_the_original_bytes(client):
    body = upload(client).json()
    link = client.get(f"/v1/files/{body['id']}/download").json()
    assert link["expires_in"] == 3600
    path = link["url"].split("8700", 1)[1]
    client.headers.pop("Authorization")
    got = client.get(path)
    assert got.status_code == 200 and got.content == TEXT
    assert client.get(path.replace("signature=", "signature=zz")).status_code == 403


def test_official_sdk_quick_start_unchanged(live_server, tmp_path):
    from roset import Client

    doc = tmp_path / "report.md"
    doc.write_bytes(TEXT)
    client = Client(api_key=ADMIN_KEY, base_url=live_server.url)
    result = client.upload(str(doc), space="default")
    job = client.jobs.get(result["job"]["id"])
    assert job["id"] == result["job"]["id"]
    deadline = time.monotonic() + 60
    while client.jobs.get(result["job"]["id"])["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.2)
    variants = client.files.list_variants(result["file"]["id"])
    assert any(v["type"] == "markdown" for v in variants["variants"])
    assert client.files.get(result["file"]["id"])["status"] == "completed"
    assert client.spaces.list()["spaces"][0]["space"] == "default"
    client.close()


def test_file_detail_reads_one_snapshot(client, services, monkeypatch):
    """GET /v1/files/{id} reads the file, its variants and its jobs in one snapshot: a change
    committed by another thread between those reads shows in none of them or in all of them."""
    from roset_local.store import jobs as job_store

    file = wait_file(client, upload(client).json()["id"])
    assert file["status"] == "completed" and file["job"]["status"] == "completed"
    real_jobs_for_file = job_store.jobs_for_file

    def changed_meanwhile(db, file_id):
        def reprocess_elsewhere():
            with services.db.write():
                services.db.execute("UPDATE files SET status = 'failed' WHERE id = ?", [file_id])
                services.db.execute("UPDATE jobs SET status = 'failed' WHERE file_id = ?", [file_id])
        worker = threading.Thread(target=reprocess_elsewhere)
        worker.start()
        worker.join()
        return real_jobs_for_file(db, file_id)

    monkeypatch.setattr(job_store, "jobs_for_file", changed_meanwhile)
    seen = client.get(f"/v1/files/{file['id']}").json()
    assert seen["status"] == "completed" and [j["status"] for j in seen["jobs"]] == ["completed"]
    monkeypatch.setattr(job_store, "jobs_for_file", real_jobs_for_file)
    after = client.get(f"/v1/files/{file['id']}").json()
    assert after["status"] == "failed" and [j["status"] for j in after["jobs"]] == ["failed"]


def test_bytes_whose_rows_are_gone_are_deleted_at_the_next_start(client, services, settings, monkeypatch):
    """The rows go with a record of the bytes to delete, in one transaction: bytes a crash (here: a
    store refusing the deletion) left behind are deleted when the server starts again."""
    kept = wait_file(client, upload(client, name="kept.md").json()["id"])
    body = wait_file(client, upload(client, name="gone.md").json()["id"])
    key = body["storage_key"]
    thumb_dir = f"{body['space']}/{body['id']}"
    assert services.blobs.exists(key)

    def refuse(*_args, **_kwargs):
        raise OSError("the store is unreachable")

    monkeypatch.setattr(services.blobs, "delete", refuse)
    monkeypatch.setattr(services.blobs, "delete_prefix", refuse)
    r = client.delete(f"/v1/files/{body['id']}")
    assert r.status_code == 200  # the rows are gone: the delete happened for the client
    assert client.get(f"/v1/files/{body['id']}").status_code == 404
    assert services.blobs.exists(key)
    pending = services.db.all("SELECT key, prefix FROM blob_deletions ORDER BY id")
    assert {"key": key, "prefix": 0} in pending and {"key": thumb_dir, "prefix": 1} in pending
    monkeypatch.undo()

    restarted = create_app(settings)
    with TestClient(restarted, base_url="http://127.0.0.1:8700") as again:
        again.headers.update(auth())
        fresh = restarted.app.state.services
        assert not fresh.blobs.exists(key)
        assert fresh.blobs.size(thumb_dir + "/") is None and not fresh.blobs.exists(thumb_dir)
        assert fresh.db.value("SELECT count(*) FROM blob_deletions") == 0
        # the other file's bytes are untouched
        assert fresh.blobs.exists(kept["storage_key"])
        assert again.get(f"/v1/files/{kept['id']}").json()["status"] == "completed"


def test_a_reprocess_deletes_the_replaced_variant_bytes(client, services):
    from tests.samplegen import PdfPage, pdf_bytes

    pdf = pdf_bytes([PdfPage(lines=["Replaced bytes", "A page with a thumbnail."])], title="Replaced")
    body = wait_file(client, upload(client, name="page.pdf", data=pdf, ctype="application/pdf").json()["id"])
    first = {v["type"]: v for v in client.get(f"/v1/files/{body['id']}/variants").json()["variants"]}
    old_keys = [k for k in services.db.all("SELECT blob_key FROM variants WHERE file_id = ? AND blob_key IS NOT NULL",
                                           [body["id"]])]
    assert old_keys and "thumbnail" in first
    job = client.post(f"/v1/files/{body['id']}/process", json={}).json()
    wait_job(client, job["job_id"] if "job_id" in job else job["id"], ("completed",))
    new_keys = {r["blob_key"] for r in services.db.all(
        "SELECT blob_key FROM variants WHERE file_id = ? AND blob_key IS NOT NULL", [body["id"]])}
    for row in old_keys:
        assert row["blob_key"] in new_keys or not services.blobs.exists(row["blob_key"])
    assert services.db.value("SELECT count(*) FROM blob_deletions") == 0
