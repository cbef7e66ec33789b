"""The blob store on an object store (S3 API, real rclone server): uploads, presigned PUTs, processing."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.test_files import TEXT, wait_file
from tests.storage.servers import start_rclone_s3



@pytest.fixture
def s3_store(tmp_path):
    root = tmp_path / "s3"
    (root / "blobs").mkdir(parents=True)
    server = start_rclone_s3(root)
    options = {"key": server.access_key, "secret": server.secret_key,
               "client_kwargs": {"endpoint_url": server.endpoint, "region_name": "us-east-1"},
               "config_kwargs": {"s3": {"addressing_style": "path"}, "signature_version": "s3v4"}}
    yield server, {"ROSET_STORAGE_URL": "s3://blobs/roset", "ROSET_STORAGE_OPTIONS": json.dumps(options)}
    server.stop()


def test_object_store_blobs_multipart_and_presigned_put(make_live_server, s3_store, tmp_path):
    server, env = s3_store
    live = make_live_server(**env)
    with live.client() as http:
        assert http.get("/ready").status_code == 200
        up = http.post("/v1/upload", files={"file": ("terms.md", TEXT, "text/markdown")}).json()
        assert wait_file(http, up["id"])["status"] == "completed"
        stored = server.root / "blobs" / "roset" / up["storage_key"]
        assert stored.read_bytes() == TEXT  # the bytes live in the bucket, not in the data dir
        assert not (live.data_dir / "blobs").exists() or not any((live.data_dir / "blobs").rglob("*.md"))
        # JSON flow: the bucket's own presigned URL; the job waits for the object
        reg = http.post("/v1/upload", json={"filename": "direct.md", "size_bytes": len(TEXT)}).json()
        assert reg["upload_url"].startswith(server.endpoint) and "X-Amz-Signature" in reg["upload_url"]
        time.sleep(1.5)
        assert http.get(f"/v1/files/{reg['id']}").json()["status"] == "uploading"
        assert httpx.put(reg["upload_url"], content=TEXT).status_code == 200
        done = wait_file(http, reg["id"])
        assert done["status"] == "completed" and len(done["sha256"]) == 64
        md = http.get(f"/v1/files/{reg['id']}/variants/markdown").json()["content"]
        assert "net 30 days" in md
        # a wrong-size object is refused and removed; the URL can be used again
        bad = http.post("/v1/upload", json={"filename": "bad.md", "size_bytes": 5}).json()
        httpx.put(bad["upload_url"], content=b"too many bytes")
        time.sleep(3)
        assert http.get(f"/v1/files/{bad['id']}").json()["status"] == "uploading"
        assert not (server.root / "blobs" / "roset" / bad["storage_key"]).exists()
        httpx.put(bad["upload_url"], content=b"12345")
        assert wait_file(http, bad["id"])["status"] in ("completed", "failed")
        http.delete(f"/v1/files/{up['id']}")
        assert not stored.exists()
