"""Worker hosts end to end: real redis-server, the S3 test server, one API server and worker processes with no
data directory. Mixed files come out as in single-host mode; a worker killed with -9, a cancel and a Redis
outage lose nothing and commit each job exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, LiveServer, server_env
from tests.samplegen import PdfPage, docx_bytes, pdf_bytes
from tests.storage.servers import RedisServer, S3Server, start_rclone_s3, start_redis
from tests.test_webhooks import Receiver

pytestmark = pytest.mark.slow

LEASE_SECONDS = 8  # short, so a killed worker's job moves on within seconds
TERMINAL = ("completed", "failed")
ADMIN_PASSWORD = "scaleout-console-password"


def mixed_files(count: int, tag: str) -> list[tuple[str, bytes, str]]:
    """``count`` small files of six kinds, each with its own words (no two share bytes: no reuse)."""
    out: list[tuple[str, bytes, str]] = []
    for i in range(count):
        words = f"{tag} item {i} quarterly revenue grew {i + 7} percent in region north{i}"
        kind = i % 6
        if kind == 0:
            out.append((f"{tag}-{i}.md", f"# Report {i}\n\n{words}.\n\n## Detail\n\nMore text {i}.\n".encode(),
                        "text/markdown"))
        elif kind == 1:
            out.append((f"{tag}-{i}.txt", f"Report {i}\n\n{words}.\nThe end.\n".encode(), "text/plain"))
        elif kind == 2:
            out.append((f"{tag}-{i}.csv", f"Region,Revenue,Note\nnorth{i},{4200 + i},{words}\n".encode(), "text/csv"))
        elif kind == 3:
            out.append((f"{tag}-{i}.html", f"<html><body><h1>Report {i}</h1><p>{words}.</p></body></html>".encode(),
                        "text/html"))
        elif kind == 4:
            pages = [PdfPage(lines=[f"Page {p + 1} of report {i}.", words + "."]) for p in range(2)]
            out.append((f"{tag}-{i}.pdf", pdf_bytes(pages, title=f"Report {i}"), "application/pdf"))
        else:
            body = docx_bytes(f"Report {i}", [words + "."], [("Region", "Revenue"), (f"north{i}", str(4200 + i))])
            out.append((f"{tag}-{i}.docx", body,
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"))
    return out


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


@dataclass
class Worker:
    """``roset-local worker --queue ... --storage ...`` in its own empty directory (no data directory)."""

    home: Path
    proc: subprocess.Popen[bytes]

    def logs(self) -> str:
        path = self.home / "worker.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Cluster:
    base: Path
    redis: RedisServer
    s3: S3Server
    storage_env: dict[str, str]
    api: LiveServer
    receiver: Receiver
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self) -> Worker:
        home = self.base / f"worker{len(self.workers)}"
        home.mkdir()
        env = {k: v for k, v in server_env(**self.storage_env).items() if k != "ROSET_ADMIN_KEY"}
        env.update(TMPDIR=str(home), PYTHONPATH=str(ROOT), ROSET_WORKERS="2")
        env.pop("ROSET_DATA_DIR", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "roset_local", "worker", "--queue", self.redis.url, "--storage", "s3://blobs/roset"],
            cwd=home, env=env, stdout=open(home / "worker.log", "wb"), stderr=subprocess.STDOUT)
        worker = Worker(home, proc)
        self.workers.append(worker)
        return worker

    def live_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.proc.poll() is None]

    def health_workers(self, http: httpx.Client) -> list[dict[str, Any]]:
        checks = http.get("/health", params={"full": "true"}).json()["checks"]
        return checks["workers"].get("workers", [])


def upload_all(http: httpx.Client, files: list[tuple[str, bytes, str]], **form: str) -> list[str]:
    ids = []
    for name, data, ctype in files:
        r = http.post("/v1/upload", files={"file": (name, data, ctype)}, data=form)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def wait_terminal(http: httpx.Client, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    def done() -> dict[str, dict[str, Any]] | None:
        files = {i: http.get(f"/v1/files/{i}").json() for i in ids}
        return files if all(f["status"] in TERMINAL for f in files.values()) else None

    return wait_for(done, timeout, "every file processed", interval=1.0)


def terminal_hooks(receiver: Receiver) -> Counter[str]:
    """file_id → number of terminal webhooks received (completed or failed)."""
    seen: Counter[str] = Counter()
    for post in receiver.posts():
        body = json.loads(post.body)
        if body["type"] in ("file.processing.completed", "file.processing.failed"):
            seen[body["data"]["file_id"]] += 1
    return seen


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("scaleout")
    redis = start_redis(base / "redis")
    (base / "s3" / "blobs").mkdir(parents=True)
    s3 = start_rclone_s3(base / "s3")
    options = {"key": s3.access_key, "secret": s3.secret_key,
               "client_kwargs": {"endpoint_url": s3.endpoint, "region_name": "us-east-1"},
               "config_kwargs": {"s3": {"addressing_style": "path"}, "signature_version": "s3v4"}}
    storage_env = {"ROSET_STORAGE_OPTIONS": json.dumps(options), "ROSET_TEST_FAULTS": "1",
                   "ROSET_WORKER_LEASE_SECONDS": str(LEASE_SECONDS)}
    receiver = Receiver().start()
    api = LiveServer(data_dir=base / "api" / "data", env=server_env(
        ROSET_QUEUE_URL=redis.url, ROSET_STORAGE_URL="s3://blobs/roset", ROSET_WEBHOOK_SCHEDULE="0.5,1",
        ROSET_ADMIN_PASSWORD=ADMIN_PASSWORD, ROSET_RATE_LIMIT="100000", **storage_env))
    (base / "api").mkdir()
    c = Cluster(base, redis, s3, storage_env, api, receiver)
    try:
        api.start()
        with api.client() as http:
            r = http.post("/v1/webhooks", json={"url": receiver.url, "events": [
                "file.processing.completed", "file.processing.failed"]})
            assert r.status_code == 201, r.text
        c.start_worker()
        c.start_worker()
        yield c
    finally:
        for w in c.workers:
            w.stop()
        api.stop()
        receiver.stop()
        redis.stop()
        s3.stop()


def comparable(variants: list[dict[str, Any]]) -> dict[str, Any]:
    """What must match single-host mode: each variant's type and content (metadata without its timings)."""
    out: dict[str, Any] = {}
    for v in variants:
        content = v.get("content")
        if v["type"] == "metadata":
            content = {k: val for k, val in json.loads(content).items() if k not in ("timings_ms", "timings")}
        elif v["type"] == "thumbnail":
            content = v["content_type"]
        out[v["type"]] = content
    return out


def test_worker_hosts_process_30_files_like_single_host(cluster: Cluster, make_live_server) -> None:
    files = mixed_files(30, "mix")
    with cluster.api.client() as http:
        ids = upload_all(http, files)
        done = wait_terminal(http, ids, timeout=240)
        assert {f["status"] for f in done.values()} == {"completed"}, [f for f in done.values() if f["error"]]
        remote = {name: comparable(http.get(f"/v1/files/{i}/variants").json()["variants"])
                  for (name, _, _), i in zip(files, ids)}
        hits = http.post("/v1/search", json={"query": "north17 revenue", "mode": "hybrid"})
        assert hits.status_code == 200, hits.text
        assert any(r["file_id"] == ids[17] for r in hits.json()["results"])
        workers = cluster.health_workers(http)
        assert len(workers) == 2 and all(w["last_seen_seconds"] < 10 for w in workers)
        assert sum(w["jobs_done"] for w in workers) == 30
        metrics = http.get("/metrics").text
        assert "roset_workers 2" in metrics and "roset_work_queue_depth 0" in metrics
        assert re.search(r'roset_worker_jobs_running\{host="[^"]+:\d+"\} 0', metrics)
    # the worker hosts never had a database; the API host alone did
    assert (cluster.api.data_dir / "roset.db").exists()
    for w in cluster.workers:
        assert not list(w.home.rglob("*.db")) and not (w.home / "data").exists()
    # the console's jobs page says which host ran each job
    console = httpx.Client(base_url=cluster.api.url, timeout=30, follow_redirects=False)
    token = re.search(r'name="_csrf" value="([^"]+)"', console.get("/console/login").text).group(1)
    console.post("/console/login", data={"_csrf": token, "username": "admin", "password": ADMIN_PASSWORD})
    page = console.get("/console/jobs").text
    hosts = {w["host"] for w in workers}
    assert "<th scope=\"col\">Host</th>" in page and any(f"<td>{h}</td>" in page for h in hosts)

    # the same six kinds in single-host mode (SQLite queue, local blobs): the same variants and contents
    single = make_live_server()
    with single.client() as http:
        sample = files[:6]
        ids = upload_all(http, sample)
        wait_terminal(http, ids, timeout=120)
        for (name, _, _), i in zip(sample, ids):
            local = comparable(http.get(f"/v1/files/{i}/variants").json()["variants"])
            assert local == remote[name], name


def test_killed_worker_jobs_complete_exactly_once(cluster: Cluster) -> None:
    files = mixed_files(12, "kill")
    with cluster.api.client() as http:
        ids = upload_all(http, files)
        busy = wait_for(lambda: [w for w in cluster.health_workers(http) if w["jobs_running"]], 60,
                        "a worker host running a job", interval=0.1)
        victim = next(w for w in cluster.live_workers() if any(b["pid"] == w.proc.pid for b in busy))
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait()
        cluster.start_worker()  # the cluster keeps two workers for the next test
        done = wait_terminal(http, ids, timeout=180)
        assert {f["status"] for f in done.values()} == {"completed"}
        jobs = [http.get("/v1/jobs", params={"file_id": i}).json()["jobs"] for i in ids]
        assert all(len(j) == 1 and j[0]["status"] == "completed" for j in jobs)
        assert any(j[0]["attempts"] >= 2 for j in jobs)  # the killed worker's job ran again elsewhere
    hooks = wait_for(lambda: (lambda c: c if all(c[i] >= 1 for i in ids) else None)(terminal_hooks(cluster.receiver)),
                     30, "terminal webhooks")
    time.sleep(LEASE_SECONDS)  # a late result or a second commit would show up by now
    hooks = terminal_hooks(cluster.receiver)
    assert all(hooks[i] == 1 for i in ids), {i: hooks[i] for i in ids}


def test_cancel_reaches_a_worker_host(cluster: Cluster) -> None:
    with cluster.api.client() as http:
        [file_id] = upload_all(http, [("slow.txt", b"a job that never ends by itself", "text/plain")],
                               _test_fault="slow")
        job = wait_for(lambda: (lambda j: j if j["stage"] == "slow" else None)(
            http.get("/v1/jobs", params={"file_id": file_id}).json()["jobs"][0]), 60, "the slow job running remotely")
        assert http.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
        wait_for(lambda: all(w["jobs_running"] == 0 for w in cluster.health_workers(http)), 30,
                 "the worker host stopping the cancelled job")
        assert http.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"
    assert any("lease withdrawn" in w.logs() for w in cluster.workers)


def test_redis_outage_loses_nothing(cluster: Cluster) -> None:
    files = mixed_files(12, "outage")
    with cluster.api.client() as http:
        ids = upload_all(http, files)
        wait_for(lambda: any(w["jobs_running"] for w in cluster.health_workers(http)), 60, "jobs running")
        cluster.redis.stop()
        time.sleep(10)
        cluster.redis.restart()
        done = wait_terminal(http, ids, timeout=180)
        assert {f["status"] for f in done.values()} == {"completed"}
    wait_for(lambda: all(terminal_hooks(cluster.receiver)[i] >= 1 for i in ids), 60, "terminal webhooks")
    time.sleep(2)
    hooks = terminal_hooks(cluster.receiver)
    assert all(hooks[i] == 1 for i in ids), {i: hooks[i] for i in ids}


def test_remote_queue_needs_an_object_store(tmp_path: Path) -> None:
    env = server_env(ROSET_QUEUE_URL="redis://127.0.0.1:9/0")
    serve = subprocess.run([sys.executable, "-m", "roset_local", "serve", "--data-dir", str(tmp_path / "d")],
                           env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert serve.returncode == 2 and "ROSET_STORAGE_URL" in serve.stderr and not (tmp_path / "d").exists()
    worker = subprocess.run([sys.executable, "-m", "roset_local", "worker", "--queue", "amqp://x", "--storage",
                             "s3://b/p"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert worker.returncode == 2 and "redis://" in worker.stderr
