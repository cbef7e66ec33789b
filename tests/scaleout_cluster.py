"""A scale-out cluster on one machine for tests and scripts/bench_scaleout.py: redis-server, the S3 test server,
one API server and worker processes that are given no data directory (each in its own empty folder)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ROOT, LiveServer, server_env
from tests.samplegen import PdfPage, docx_bytes, pdf_bytes
from tests.storage.servers import RedisServer, S3Server, start_rclone_s3, start_redis
from tests.test_webhooks import Receiver, wait_for

TERMINAL = ("completed", "failed")
ADMIN_PASSWORD = "scaleout-console-password"
STORAGE_URL = "s3://blobs/roset"


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
    worker_env: dict[str, str]
    api: LiveServer
    receiver: Receiver | None = None
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self, threads: int = 2) -> Worker:
        home = self.base / f"worker{len(self.workers)}"
        home.mkdir()
        env = {k: v for k, v in server_env(**self.worker_env).items() if k != "ROSET_ADMIN_KEY"}
        env.update(TMPDIR=str(home), PYTHONPATH=str(ROOT), ROSET_WORKERS=str(threads))
        proc = subprocess.Popen(
            [sys.executable, "-m", "roset_local", "worker", "--queue", self.redis.url, "--storage", STORAGE_URL],
            cwd=home, env=env, stdout=open(home / "worker.log", "wb"), stderr=subprocess.STDOUT)
        worker = Worker(home, proc)
        self.workers.append(worker)
        return worker

    def live_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.proc.poll() is None]

    def health_workers(self, http: httpx.Client) -> list[dict[str, Any]]:
        checks = http.get("/health", params={"full": "true"}).json()["checks"]
        return list(checks["workers"].get("workers", []))

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        self.api.stop()
        if self.receiver is not None:
            self.receiver.stop()
        self.redis.stop()
        self.s3.stop()


def start_backends(base: Path) -> tuple[RedisServer, S3Server, dict[str, Any]]:
    """redis-server and the S3 test server (bucket ``blobs``), with the fsspec options of the bucket."""
    redis = start_redis(base / "redis")
    (base / "s3" / "blobs").mkdir(parents=True)
    s3 = start_rclone_s3(base / "s3")
    options = {"key": s3.access_key, "secret": s3.secret_key,
               "client_kwargs": {"endpoint_url": s3.endpoint, "region_name": "us-east-1"},
               "config_kwargs": {"s3": {"addressing_style": "path"}, "signature_version": "s3v4"}}
    return redis, s3, options


def start_cluster(base: Path, *, workers: int, lease_seconds: int = 30, webhooks: bool = False) -> Cluster:
    """Everything started and ready; with ``webhooks`` a local receiver gets every terminal event."""
    redis, s3, options = start_backends(base)
    worker_env = {"ROSET_STORAGE_OPTIONS": json.dumps(options), "ROSET_TEST_FAULTS": "1",
                  "ROSET_WORKER_LEASE_SECONDS": str(lease_seconds)}
    (base / "api").mkdir()
    api = LiveServer(data_dir=base / "api" / "data", env=server_env(
        ROSET_QUEUE_URL=redis.url, ROSET_STORAGE_URL=STORAGE_URL, ROSET_WEBHOOK_SCHEDULE="0.5,1",
        ROSET_ADMIN_PASSWORD=ADMIN_PASSWORD, ROSET_RATE_LIMIT="100000", **worker_env))
    cluster = Cluster(base, redis, s3, worker_env, api)
    try:
        api.start()
        if webhooks:
            cluster.receiver = Receiver().start()
            with api.client() as http:
                r = http.post("/v1/webhooks", json={"url": cluster.receiver.url, "events": [
                    "file.processing.completed", "file.processing.failed"]})
                assert r.status_code == 201, r.text
        for _ in range(workers):
            cluster.start_worker()
        with api.client() as http:
            wait_for(lambda: len(cluster.health_workers(http)) == workers, 60, interval=0.2)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def upload_all(http: httpx.Client, files: list[tuple[str, bytes, str]], **form: str) -> list[str]:
    ids = []
    for name, data, ctype in files:
        r = http.post("/v1/upload", files={"file": (name, data, ctype)}, data=form)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def wait_terminal(http: httpx.Client, ids: list[str], timeout: float, interval: float = 1.0) -> dict[str, dict[str, Any]]:
    last: dict[str, dict[str, Any]] = {}

    def done() -> dict[str, dict[str, Any]] | None:
        last.update({i: http.get(f"/v1/files/{i}").json() for i in ids})
        return dict(last) if all(f["status"] in TERMINAL for f in last.values()) else None

    try:
        return wait_for(done, timeout, interval=interval)  # type: ignore[no-any-return]
    except AssertionError:
        stuck = [http.get("/v1/jobs", params={"file_id": i}).json()["jobs"] for i, f in last.items()
                 if f["status"] not in TERMINAL]
        raise AssertionError(f"not processed within {timeout} s: {stuck}") from None


def terminal_hooks(receiver: Receiver) -> Counter[str]:
    """file_id → number of terminal webhooks received (completed or failed)."""
    seen: Counter[str] = Counter()
    for post in receiver.posts():
        body = json.loads(post.body)
        if body["type"] in ("file.processing.completed", "file.processing.failed"):
            seen[body["data"]["file_id"]] += 1
    return seen


def timed_batch(http: httpx.Client, files: list[tuple[str, bytes, str]], timeout: float = 600) -> float:
    """Seconds from the first upload until every file is processed (all must complete)."""
    started = time.monotonic()
    ids = upload_all(http, files)
    done = wait_terminal(http, ids, timeout, interval=0.2)
    elapsed = time.monotonic() - started
    failed = [f for f in done.values() if f["status"] != "completed"]
    assert not failed, failed
    return elapsed
