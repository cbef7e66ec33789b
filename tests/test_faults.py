"""Faults found by using the server hard (issue 20): bad input is a 4xx, failures say the right thing."""

from __future__ import annotations

import io
import json
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import httpx
import pytest
import samplegen

from roset_local.providers.base import ExtractionError
from roset_local.providers.guards import Limits, check_zip
from tests.conftest import LiveServer, server_env


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> LiveServer:
    """One server for the module, one extraction worker (so jobs share a worker process)."""
    root = tmp_path_factory.mktemp("faults")
    live = LiveServer(data_dir=root / "data", env=server_env(ROSET_WORKERS="1"))
    live.start()
    yield live
    live.stop()


def wait_job(http: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = http.get(f"/v1/jobs/{job_id}").json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stuck in {body['status']}")


def upload(http: httpx.Client, name: str, data: bytes, ctype: str = "application/octet-stream", **form: str) -> dict:
    r = http.post("/v1/upload", files={"file": (name, data, ctype)}, data=form)
    assert r.status_code == 201, r.text
    return r.json()


def assert_contract_error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "code", "requestId"}
    return body


# --- bad input is a 400 -------------------------------------------------------------------------------


def test_non_ascii_signature_is_400_on_upload_and_download_urls(server):
    with server.client() as http:
        reg = http.post("/v1/upload", json={"filename": "a.txt", "content_type": "text/plain"}).json()
        url = httpx.URL(reg["upload_url"])
        bad = url.copy_set_param("signature", "\u00e9t\u00e9")
        assert_contract_error(httpx.put(bad, content=b"hello"), 400)
        assert httpx.put(url, content=b"hello").status_code == 200  # the real URL still works
        link = http.get(f"/v1/files/{reg['id']}/download").json()["url"]
        assert httpx.get(link).status_code == 200
        assert_contract_error(httpx.get(httpx.URL(link).copy_set_param("signature", "\u2603")), 400)


def deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("levels", [40, 5000])
def test_deeply_nested_json_bodies_are_400(server, levels):
    nested = '{"a":' * levels + "1" + "}" * levels
    with server.client() as http:
        for method, path, body in [
            ("POST", "/v1/upload", '{"filename": "a.txt", "metadata": ' + nested + "}"),
            ("POST", "/v1/files", '{"filename": "a.txt", "chunking": ' + nested + "}"),
            ("PUT", "/v1/org/settings", '{"default_variants": ' + nested + "}"),
            ("POST", "/v1/search", '{"query": "x", "metadata": ' + nested + "}"),
        ]:
            r = http.request(method, path, content=body, headers={"Content-Type": "application/json"})
            assert_contract_error(r, 400)
        r = http.post("/v1/upload", files={"file": ("a.txt", b"x", "text/plain")}, data={"chunking": nested})
        assert_contract_error(r, 400)
        r = http.post("/v1/upload", files={"file": ("a.txt", b"x", "text/plain")}, data={"metadata": nested})
        assert_contract_error(r, 400)


def test_metadata_key_with_backslash_is_400(server):
    with server.client() as http:
        assert_contract_error(http.get("/v1/files", params={"metadata.a\\b": "1"}), 400)
        assert_contract_error(http.post("/v1/search", json={"query": "x", "metadata.a\\b": "1"}), 400)
        assert_contract_error(http.post("/v1/search", json={"query": "x", "metadata": {"a\\b": "1"}}), 400)
        r = http.post("/v1/upload", files={"file": ("a.txt", b"x", "text/plain")}, data={"metadata": '{"a\\\\b": "1"}'})
        assert_contract_error(r, 400)
        assert http.get("/v1/files", params={"metadata.ok": "1"}).status_code == 200


# --- failure reasons ------------------------------------------------------------------------------------


def zero_page_pdf() -> bytes:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    return out + f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()


def test_zero_page_pdf_is_corrupt_file_before_and_after_an_encrypted_one(server, tmp_path):
    encrypted = samplegen.make_pdf_encrypted(tmp_path).path.read_bytes()
    order = [("zero.pdf", zero_page_pdf(), "corrupt_file"), ("enc.pdf", encrypted, "encrypted"),
             ("zero.pdf", zero_page_pdf(), "corrupt_file"), ("enc.pdf", encrypted, "encrypted")]
    with server.client() as http:
        for name, data, reason in order:  # one extraction worker: each runs in the same process
            job = wait_job(http, upload(http, name, data, "application/pdf")["job_id"])
            assert (job["status"], job["reason"]) == ("failed", reason), job


def lying_zip(inflated: int, declared: int = 1024) -> bytes:
    """A DOCX-shaped zip whose word/document.xml declares ``declared`` bytes but inflates to ``inflated``.

    Written by hand: zipfile would record the true sizes. The CRC is that of the declared bytes.
    """
    packer = zlib.compressobj(1, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    bomb = b"".join(packer.compress(block) for _ in range(inflated >> 20)) + packer.flush()
    types = b'<?xml version="1.0"?><Types/>'
    members = [(b"[Content_Types].xml", 0, types, zlib.crc32(types), len(types)),
               (b"word/document.xml", 8, bomb, zlib.crc32(bytes(declared)), declared)]
    out, central = bytearray(), bytearray()
    for name, method, data, crc, size in members:
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), size, len(name), 0)
        out += name + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(data), size,
                               len(name), 0, 0, 0, 0, 0, offset) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    return bytes(out + central + end)


def test_zip_member_that_inflates_past_its_declared_size_is_too_large(server, tmp_path):
    bomb = lying_zip(64 << 20)
    path = tmp_path / "bomb.docx"
    path.write_bytes(bomb)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("word/document.xml").file_size == 1024  # the lie
    tracemalloc.start()
    try:
        with pytest.raises(ExtractionError) as info:
            check_zip(str(path), Limits())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.reason == "too_large"
    assert peak < 8 << 20, peak  # bounded steps: never the whole 64 MiB
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    with server.client() as http:
        job = wait_job(http, upload(http, "bomb.docx", bomb, docx)["job_id"])
        assert (job["status"], job["reason"]) == ("failed", "too_large"), job


# --- uploads cut off: by a crash, by the client, by each other -------------------------------------------


def slow_body(total: int, sent: list[int], step: int = 256 * 1024, pause: float = 0.02):
    while sent[0] < total:
        sent[0] += step
        yield b"z" * step
        time.sleep(pause)


def stream_until_killed(live: LiveServer, *senders) -> None:
    """Run each ``send`` (a blocking streaming request) in a thread; SIGKILL the server mid-body."""
    import threading

    progress = [[0] for _ in senders]
    errors: list[BaseException] = []

    def run(send, sent) -> None:
        try:
            send(sent)
        except httpx.HTTPError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(send, sent), daemon=True) for send, sent in zip(senders, progress)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while min(sent[0] for sent in progress) < 4 << 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert min(sent[0] for sent in progress) >= 4 << 20, "a body never started streaming"
    live.kill()
    for thread in threads:
        thread.join(10)
    assert len(errors) == len(senders), "every upload should have been cut off"


def test_kill_9_mid_upload_leaves_nothing_uploading_after_restart(make_live_server):
    live = make_live_server()
    with live.client() as http:
        waiting = http.post("/v1/upload", json={"filename": "later.txt", "content_type": "text/plain"}).json()
        cut = http.post("/v1/upload", json={"filename": "cut.bin"}).json()
        sized = http.post("/v1/upload", json={"filename": "sized.bin", "size_bytes": 64 << 20}).json()
    total, boundary = 64 << 20, "cutboundary"

    def multipart(sent):
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.bin\"\r\n"
               "Content-Type: application/octet-stream\r\n\r\n").encode()
        yield from slow_body(total, sent)

    stream_until_killed(
        live,
        lambda sent: httpx.put(cut["upload_url"], content=slow_body(total, sent), timeout=30),
        lambda sent: httpx.put(sized["upload_url"], content=slow_body(total, sent), timeout=30),
        lambda sent: httpx.post(live.url + "/v1/upload", content=multipart(sent), timeout=30,
                                headers={"Authorization": "ApiKey " + live.env["ROSET_ADMIN_KEY"],
                                         "Content-Type": f"multipart/form-data; boundary={boundary}"}),
    )
    assert list((live.data_dir / "blobs" / "_incoming").rglob("body"))  # the cut multipart body, staged
    live.start()
    with live.client() as http:
        files = http.get("/v1/files", params={"limit": 100}).json()["files"]
        by_id = {f["id"]: f for f in files}
        assert cut["id"] not in by_id and sized["id"] not in by_id  # cut-off PUTs: row and job gone
        assert http.get(f"/v1/jobs/{cut['job_id']}").status_code == 404
        uploading = [f for f in files if f["status"] == "uploading"]
        assert [f["id"] for f in uploading] == [waiting["id"]]  # only the untouched registration waits
        assert not [j for j in http.get("/v1/jobs", params={"limit": 100}).json()["jobs"]
                    if j["file_id"] in (cut["id"], sized["id"])]
    leftovers = [p for p in (live.data_dir / "blobs").rglob("*") if p.is_file() and ".roset-probe" not in p.name]
    assert leftovers == []  # no partial blob, no staging body
    assert httpx.put(waiting["upload_url"], content=b"hello later").status_code == 200


def test_interrupted_upload_with_whole_bytes_is_processed_at_start(services, settings):
    from roset_local.app import create_app
    from roset_local.pipeline import lifecycle
    from roset_local.pipeline.intake import settle_interrupted_uploads

    # The state a crash between "bytes moved into place" and "marked uploaded" leaves behind.
    file, job = lifecycle.create_file(services, space="default", filename="whole.txt", content_type=None,
                                      size_bytes=None, metadata={}, options={}, skip_processing=False)
    services.blobs.write_bytes(file["storage_key"], b"all of the bytes arrived")
    assert settle_interrupted_uploads(services) == {"uploads_completed": 1, "uploads_removed": 0}
    from roset_local.store import files as file_store

    settled = file_store.get_file(services.db, file["id"])
    assert settled["status"] == "uploaded" and settled["size_bytes"] == 24 and settled["sha256"]
    assert settled["content_type"] == "text/plain"


def test_client_disconnect_mid_upload_keeps_nothing_and_logs_no_error(make_live_server):
    import socket

    live = make_live_server()
    with live.client() as http:
        reg = http.post("/v1/upload", json={"filename": "put.bin"}).json()
    url = httpx.URL(reg["upload_url"])
    key = live.env["ROSET_ADMIN_KEY"]
    boundary = "gone"
    part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n")
    # Bodies past 1 MiB stream to a thread; smaller ones are read whole first: both cut off half-way.
    for declared, sent in ((10_000_000, 3_000_000), (200_000, 50_000)):
        for head in (
            f"POST /v1/upload HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey {key}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {declared}\r\n\r\n{part}",
            f"PUT {url.raw_path.decode()} HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", live.port)) as sock:
                sock.sendall(head.encode() + b"a" * sent)
                time.sleep(0.3)
    time.sleep(1.0)
    with live.client() as http:
        file = http.get(f"/v1/files/{reg['id']}").json()
        assert file["status"] == "uploading" and file["size_bytes"] is None  # the cut PUT was not taken as whole
        assert [f["id"] for f in http.get("/v1/files").json()["files"]] == [reg["id"]]
    leftovers = [p for p in (live.data_dir / "blobs").rglob("*") if p.is_file() and ".roset-probe" not in p.name]
    assert leftovers == []
    assert httpx.put(url, content=b"second try").status_code == 200  # the URL was released for a retry
    logs = live.logs()
    assert "Traceback" not in logs and " 500" not in logs and "client disconnected" in logs


def test_concurrent_uploads_never_race_on_the_staging_folder(server):
    from concurrent.futures import ThreadPoolExecutor

    with server.client() as http:
        def one(i: int) -> int:
            r = http.post("/v1/upload", files={"file": (f"c{i}.txt", b"x" * 2000, "text/plain")},
                          data={"skip_processing": "true"})
            return r.status_code

        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(one, range(200)))
    assert codes == [201] * 200


def test_staging_blobs_of_concurrent_uploads_never_race(tmp_path):
    """The race itself, without HTTP in between: many staged bodies written and moved at once."""
    import threading

    from roset_local.pipeline.intake import staging_key
    from roset_local.storage.blobs import BlobStore

    store = BlobStore(f"file://{tmp_path / 'blobs'}")
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        for i in range(250):
            key = staging_key()
            try:
                writer = store.writer(key)
                writer.write(b"x" * 100)
                writer.close()
                store.move(key, f"default/f{thread}-{i}/a.txt")
            except OSError as exc:  # was: FileNotFoundError / FileExistsError, ~1 in 150
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(list((tmp_path / "blobs" / "default").iterdir())) == 2000


def test_error_texts_never_show_server_paths(server):
    with server.client() as http:
        body = upload(http, "bogus.wav", bytes(range(256)) * 64, "audio/wav")
        job = wait_job(http, body["job_id"])
        assert job["status"] == "failed" and job["error"]
        assert "/" not in job["error"] and "blobs" not in job["error"], job["error"]
        file = http.get(f"/v1/files/{body['id']}").json()
        assert "/" not in (file.get("error") or ""), file


# --- schema changes by one connection never break another's writes ---------------------------------------


def test_a_new_vector_table_never_breaks_another_connections_delete(tmp_path):
    from roset_local.services import migration_sets
    from roset_local.store import chunks as chunk_store
    from roset_local.store.db import open_database
    from roset_local.store.migrations import apply_migrations

    worker = open_database(tmp_path / "app.db")
    apply_migrations(worker, migration_sets())
    other = open_database(tmp_path / "app.db")  # another job's connection, schema already read
    assert other.value("SELECT count(*) FROM files") == 0
    chunk_store.ensure_vector_table(worker, "some-model", 8)  # the first embedding of a fresh data dir
    with other.write():
        assert chunk_store.delete_file_chunks(other, "file-x") == 0  # was: no such table: chunks
    worker.close()
    other.close()


def test_several_jobs_right_after_start_never_hit_no_such_table(make_live_server):
    from concurrent.futures import ThreadPoolExecutor

    live = make_live_server()  # a fresh data dir: the first embedding creates the vector table
    with live.client() as http:
        def one(i: int) -> str:
            text = f"# Note {i}\n\nPlain words about topic {i} for the index. ".encode() * 40
            return upload(http, f"n{i}.md", text, "text/markdown")["job_id"]

        with ThreadPoolExecutor(6) as pool:
            job_ids = list(pool.map(one, range(6)))
        jobs = [wait_job(http, job_id, timeout=120) for job_id in job_ids]
    live.stop()
    assert [j["status"] for j in jobs] == ["completed"] * 6, jobs
    assert "no such table" not in live.logs()


# --- a full disk ----------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 20 MiB tmpfs (root only): the data directory lives on it, so it can really fill up."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path, name: str) -> list[Path]:
    """Fill the disk with 1 MiB files (then smaller ones) until nothing more fits."""
    made, size, n = [], 1 << 20, 0
    while size >= 4096:
        path = directory / f"{name}-{n}"
        n += 1
        try:
            with open(path, "wb") as handle:
                handle.write(b"\0" * size)
            made.append(path)
        except OSError:
            path.unlink(missing_ok=True)
            size //= 4
    return made


def wait_for(check, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_full_disk_gives_507_ready_503_deletes_work_and_jobs_recover(make_live_server, small_disk):
    live = make_live_server(data_dir=small_disk / "data", ROSET_MIN_FREE_BYTES=str(1 << 20),
                            ROSET_TEST_FAULTS="1", ROSET_WORKERS="1")
    with live.client() as http:
        assert http.get("/ready").status_code == 200
        keep = upload(http, "keep.bin", b"k" * (3 << 20), skip_processing="true")
        slow = upload(http, "slow.txt", b"slow job", "text/plain", _test_fault="slow")
        wait_for(lambda: http.get(f"/v1/jobs/{slow['job_id']}").json()["status"] == "processing", what="slow job")
        fillers = fill(small_disk, "first")
        for path in fillers[-4:]:  # ~3-4 MiB free: above the 1 MiB floor, too little for 8 MiB
            path.unlink()
        fillers = fillers[:-4]
        r = http.post("/v1/upload", files={"file": ("big.bin", b"b" * (8 << 20), "application/octet-stream")},
                      data={"skip_processing": "true"})
        body = assert_contract_error(r, 507)  # the disk filled mid-write
        assert body["code"] == "INSUFFICIENT_STORAGE"
        assert not list((small_disk / "data" / "blobs" / "_incoming").rglob("body"))  # staging cleaned
        fillers += fill(small_disk, "second")  # now truly full
        ready = http.get("/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["disk"]["status"] == "error"
        r = http.post("/v1/upload", files={"file": ("a.txt", b"x", "text/plain")})
        assert assert_contract_error(r, 507)["code"] == "INSUFFICIENT_STORAGE"
        wait_for(lambda: "hit a full disk" in live.logs(), what="the job's write to hit the full disk")
        assert http.get(f"/v1/jobs/{slow['job_id']}").json()["status"] == "processing"
        assert http.delete(f"/v1/files/{keep['id']}").status_code == 200  # works on a full disk
        assert http.get(f"/v1/files/{keep['id']}").status_code == 404
        for path in fillers:
            path.unlink()
        # Back in the queue and running again at once: well before its 60 s lease could expire.
        wait_for(lambda: http.get(f"/v1/jobs/{slow['job_id']}").json()["attempts"] >= 2, timeout=20,
                 what="the job to run again")
        assert http.get("/ready").status_code == 200
        assert (small_disk / "data" / ".space-reserve").exists()  # made again once there was room
        http.post(f"/v1/jobs/{slow['job_id']}/cancel")
    live.stop()


def test_processing_a_file_deleted_meanwhile_is_a_404(services):
    """A process request that read the file just before a concurrent delete committed: 404, no job
    (it was a 500 from the job's foreign key, found by the chaos test)."""
    from roset_local.errors import NotFound
    from roset_local.pipeline import lifecycle
    from roset_local.store import jobs as job_store

    file, _ = lifecycle.create_file(services, space="default", filename="gone.txt", content_type="text/plain",
                                    size_bytes=3, metadata={}, options={}, skip_processing=True)
    services.blobs.write_bytes(file["storage_key"], b"abc")
    stale = dict(file, status="uploaded")  # what the handler read before the delete
    lifecycle.delete_file(services, file["id"])
    with pytest.raises(NotFound):
        lifecycle.start_processing(services, stale, {})
    assert job_store.jobs_for_file(services.db, file["id"]) == []
