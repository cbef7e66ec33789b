"""Operations: backup → restore round trip, restore refusals, doctor problems, backup under load."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from roset_local.app import create_app
from roset_local.cli import main
from roset_local.config import Settings
from roset_local.store.events import record_event
from roset_local.timeutil import now_str
from tests.conftest import ADMIN_KEY, ROOT, auth, server_env

BLOB_KEY = "default/file-ops1/original.txt"
BLOB_BYTES = b"hello from the backup test\n" * 100


def _seed(client: TestClient, services) -> dict:
    """What a populated instance holds today: keys and request logs (HTTP), file rows, events, a blob."""
    names = [f"ops key {i}" for i in range(3)]
    for name in names:
        assert client.post("/v1/org/api-keys", json={"name": name, "scopes": ["files:read"]}).status_code == 201
    assert client.get("/v1/me").status_code == 200
    db = services.db
    now = now_str()
    services.blobs.write_bytes(BLOB_KEY, BLOB_BYTES)
    with db.write():
        db.insert("files", {
            "id": "file-ops1", "space": "default", "filename": "original.txt", "content_type": "text/plain",
            "size_bytes": len(BLOB_BYTES), "sha256": "x", "storage_key": BLOB_KEY, "status": "completed",
            "created_at": now, "updated_at": now,
        })
        db.insert("variants", {
            "id": "var-ops1", "file_id": "file-ops1", "type": "markdown", "content": "# hello",
            "content_type": "text/markdown", "size_bytes": 7, "created_at": now,
        })
        record_event(db, "file.uploaded", {"id": "file-ops1"}, space="default")
    services.log_writer.flush(5)
    logs = client.get("/v1/api-logs").json()["logs"]
    assert logs, "the request log should hold the seeding requests"
    return {"key_names": names, "log_ids": {row["id"] for row in logs}}


def _run(*args: str) -> tuple[int, str]:
    """The real CLI in a subprocess (as an operator would run it)."""
    proc = subprocess.run([sys.executable, "-m", "roset_local", *args], capture_output=True, text=True,
                          cwd=str(ROOT), env=server_env(), timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def test_backup_restore_round_trip_finds_everything(client, services, settings, tmp_path, capsys):
    seeded = _seed(client, services)
    dest = tmp_path / "backup"
    assert main(["backup", str(dest), "--data-dir", str(settings.data_dir)]) == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    paths = {f["path"] for f in manifest["files"]}
    assert {"roset.db", "queue.db", f"blobs/{BLOB_KEY}"} <= paths
    assert manifest["blobs_copied"] and manifest["missing_blobs"] == []

    target = tmp_path / "restored"
    assert main(["restore", str(dest), "--data-dir", str(target)]) == 0
    restored = create_app(Settings.from_env({}, data_dir=target, admin_key=ADMIN_KEY, workers=1))
    with TestClient(restored, base_url="http://127.0.0.1:8700") as again:
        again.headers.update(auth())
        names = {k["name"] for k in again.get("/v1/org/api-keys").json()["api_keys"]}
        assert set(seeded["key_names"]) <= names
        log_ids = {row["id"] for row in again.get("/v1/api-logs", params={"limit": 100}).json()["logs"]}
        assert seeded["log_ids"] <= log_ids
        svc = restored.app.state.services
        assert svc.db.one("SELECT filename, status FROM files WHERE id = 'file-ops1'") == {
            "filename": "original.txt", "status": "completed"}
        assert svc.db.value("SELECT content FROM variants WHERE id = 'var-ops1'") == "# hello"
        assert svc.db.value("SELECT count(*) FROM events WHERE type = 'file.uploaded'") == 1
        assert svc.blobs.read_bytes(BLOB_KEY) == BLOB_BYTES
    capsys.readouterr()
    assert main(["doctor", "--data-dir", str(target)]) == 0


def test_restore_refuses_a_non_empty_target_and_a_tampered_backup(client, services, settings, tmp_path):
    _seed(client, services)
    dest = tmp_path / "backup"
    assert main(["backup", str(dest), "--data-dir", str(settings.data_dir)]) == 0
    assert main(["backup", str(dest), "--data-dir", str(settings.data_dir)]) == 1  # not empty
    assert main(["restore", str(dest), "--data-dir", str(settings.data_dir)]) == 1  # live data dir
    assert (settings.data_dir / "roset.db").is_file()
    (dest / "blobs" / BLOB_KEY).write_bytes(b"tampered")
    code, out = _run("restore", str(dest), "--data-dir", str(tmp_path / "fresh"))
    assert code == 1 and f"blobs/{BLOB_KEY}" in out
    assert not (tmp_path / "fresh").exists()


def test_doctor_reports_a_missing_data_dir(tmp_path):
    code, out = _run("doctor", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 1
    assert "problem: data directory" in out and "does not exist" in out


def test_doctor_reports_a_corrupted_database(client, services, settings):
    _seed(client, services)
    services.stop()
    db_path = settings.data_dir / "roset.db"
    data = bytearray(db_path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    for page in range(2, len(data) // page_size):  # scramble every b-tree page but the header page
        start = page * page_size
        data[start:start + 64] = bytes(range(64))
    db_path.write_bytes(bytes(data))
    code, out = _run("doctor", "--data-dir", str(settings.data_dir))
    assert code == 1
    problems = [line for line in out.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1 and "roset.db" in problems[0]


def test_backup_while_the_server_takes_writes_is_consistent(live_server, tmp_path):
    stop = threading.Event()
    created: list[str] = []
    failures: list[int] = []

    def write_keys() -> None:
        # Paced under the per-key rate limit (600/min): a 429 would end the writes unseen.
        with live_server.client() as http:
            while not stop.is_set():
                r = http.post("/v1/org/api-keys", json={"name": f"load {len(created)}", "scopes": ["files:read"]})
                if r.status_code != 201:
                    failures.append(r.status_code)
                    return
                created.append(r.json()["id"])
                time.sleep(0.15)

    writer = threading.Thread(target=write_keys)
    writer.start()
    try:
        while len(created) < 5:
            time.sleep(0.05)
        code, out = _run("backup", str(tmp_path / "backup"), "--data-dir", str(live_server.data_dir))
    finally:
        stop.set()
        writer.join()
    assert not failures, failures
    assert code == 0, out
    target = tmp_path / "restored"
    assert _run("restore", str(tmp_path / "backup"), "--data-dir", str(target))[0] == 0
    assert _run("doctor", "--data-dir", str(target))[0] == 0
    restored = create_app(Settings.from_env({}, data_dir=target, admin_key=ADMIN_KEY, workers=1))
    with TestClient(restored, base_url="http://127.0.0.1:8700") as again:
        again.headers.update(auth())
        ids = [k["id"] for k in again.get("/v1/org/api-keys").json()["api_keys"]]
    load_ids = [i for i in ids if i in set(created)]
    # a point-in-time copy: a prefix of the keys created in order, nothing torn
    assert len(load_ids) >= 5
    assert set(load_ids) == set(created[: len(load_ids)])


def test_models_lists_each_model_with_a_status(tmp_path):
    pytest.importorskip("roset_local.providers.models")
    code, out = _run("models", "--json", "--data-dir", str(tmp_path / "data"))
    rows = json.loads(out[: out.rindex("]") + 1])
    assert rows and all(r["status"] in {"ok", "missing", "corrupt"} for r in rows)
    assert code in (0, 1)
