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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from roset_local.queue import redis_huey
from roset_local.scaleout.leases import RUNNING, Leases
from roset_local.scaleout.queues import MAIN_QUEUE, commit_task, result_key, runs_elsewhere
from roset_local.scaleout.results import Result
from roset_local.storage.blobs import open_store
from tests.conftest import ROOT, server_env
from tests.scaleout_cluster import (ADMIN_PASSWORD, STORAGE_URL, Cluster, Worker, mixed_files, start_cluster,
                                    terminal_hooks, upload_all, wait_terminal)
from tests.test_webhooks import wait_for

pytestmark = pytest.mark.slow

LEASE_SECONDS = 8  # short, so a killed worker's job moves on within seconds


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = start_cluster(tmp_path_factory.mktemp("scaleout"), workers=2, lease_seconds=LEASE_SECONDS, webhooks=True)
    yield c
    c.stop()


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
        # a worker reports its counts at its next heartbeat (every 1.6 s here): the last jobs may be newer
        workers = wait_for(lambda: (lambda ws: ws if sum(w["jobs_done"] for w in ws) == 30 else None)(
            cluster.health_workers(http)), 20)
        assert len(workers) == 2 and all(w["last_seen_seconds"] < 10 for w in workers)
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
    receiver = cluster.receiver
    assert receiver is not None
    files = mixed_files(12, "kill")
    with cluster.api.client() as http:
        # one job whose first attempt stalls in its worker: the kill lands mid-job, never after the commit
        ids = upload_all(http, files[:1], _test_fault="stall-first-attempt") + upload_all(http, files[1:])
        leases = Leases(Redis.from_url(cluster.redis.url))
        pids = {w.proc.pid: w for w in cluster.live_workers()}
        killed_job = http.get("/v1/jobs", params={"file_id": ids[0]}).json()["jobs"][0]["id"]

        def holder() -> Worker | None:  # the worker process holding the stalled attempt's lease
            lease = leases.read(killed_job, 1)
            if lease is not None and lease.state == RUNNING and lease.host and lease.stage == "stalled":
                return pids.get(int(lease.host.rpartition(":")[2]))
            return None

        victim = wait_for(holder, 60, interval=0.02)
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait()
        cluster.start_worker()  # the cluster keeps two workers for the next test
        done = wait_terminal(http, ids, timeout=180)
        assert {f["status"] for f in done.values()} == {"completed"}
        jobs = [http.get("/v1/jobs", params={"file_id": i}).json()["jobs"] for i in ids]
        assert all(len(j) == 1 and j[0]["status"] == "completed" for j in jobs)
        killed = next(j[0] for j in jobs if j[0]["id"] == killed_job)
        assert killed["attempts"] >= 2  # the killed worker's job ran again elsewhere
        wait_for(lambda: all(terminal_hooks(receiver)[i] >= 1 for i in ids), 30)
        # the dead attempt's result arriving late, and the live attempt's commit delivered twice: no change
        rerun = killed
        before = comparable(http.get(f"/v1/files/{rerun['file_id']}/variants").json()["variants"])
        file = http.get(f"/v1/files/{rerun['file_id']}").json()
        late_key = result_key(file, rerun["id"], 1)
        store = open_store(STORAGE_URL, cluster.worker_env["ROSET_STORAGE_OPTIONS"])
        store.write_bytes(late_key, Result(provider="local", engine="local", pages=1, outputs=[
            {"type": "markdown", "content": "LATE RESULT", "content_type": "text/markdown"}]).encode())
        send_commit = commit_task(redis_huey(cluster.redis.url, MAIN_QUEUE), runs_elsewhere("commits"))
        send_commit({"job_id": rerun["id"], "attempt": 1, "host": "dead", "error": None, "result_key": late_key,
                     "thumb_key": None, "elapsed_ms": 5})
        send_commit({"job_id": rerun["id"], "attempt": rerun["attempts"], "host": "again", "error": None,
                     "result_key": result_key(file, rerun["id"], rerun["attempts"]), "thumb_key": None,
                     "elapsed_ms": 5})
        wait_for(lambda: not store.exists(late_key), 30)  # the API host consumed and discarded it
        assert comparable(http.get(f"/v1/files/{rerun['file_id']}/variants").json()["variants"]) == before
        assert http.get(f"/v1/jobs/{rerun['id']}").json() == rerun
    time.sleep(1)
    hooks = terminal_hooks(receiver)
    assert all(hooks[i] == 1 for i in ids), {i: hooks[i] for i in ids}


def test_cancel_reaches_a_worker_host(cluster: Cluster) -> None:
    with cluster.api.client() as http:
        [file_id] = upload_all(http, [("slow.txt", b"a job that never ends by itself", "text/plain")],
                               _test_fault="slow")
        job = wait_for(lambda: (lambda j: j if j["stage"] == "slow" else None)(
            http.get("/v1/jobs", params={"file_id": file_id}).json()["jobs"][0]), 60)
        assert http.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
        wait_for(lambda: all(w["jobs_running"] == 0 for w in cluster.health_workers(http)), 30)
        assert http.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"
    assert any("lease withdrawn" in w.logs() for w in cluster.workers)


def test_lost_commit_is_applied_from_the_lease(cluster: Cluster) -> None:
    """A worker host that finishes an attempt and dies before queueing its commit: the API host applies the
    commit the finished lease carries once a lease period has passed, without running the job again."""
    receiver = cluster.receiver
    assert receiver is not None
    with cluster.api.client() as http:
        [file_id] = upload_all(http, [("lost.md", b"# Lost commit\n\nthe zephyrine ledger balances.\n",
                                       "text/markdown")], _test_fault="lose-commit")
        done = wait_terminal(http, [file_id], timeout=60 + 4 * LEASE_SECONDS)
        assert done[file_id]["status"] == "completed"
        [job] = http.get("/v1/jobs", params={"file_id": file_id}).json()["jobs"]
        assert job["status"] == "completed" and job["attempts"] == 1  # committed, not run again
        types = {v["type"] for v in http.get(f"/v1/files/{file_id}/variants").json()["variants"]}
        assert {"markdown", "embeddings", "searchable-index"} <= types
        hits = http.post("/v1/search", json={"query": "zephyrine", "mode": "text"}).json()["results"]
        assert any(h["file_id"] == file_id for h in hits)
    assert "not committed; committing it here" in cluster.api.logs()
    wait_for(lambda: terminal_hooks(receiver)[file_id] >= 1, 30)
    time.sleep(1)
    assert terminal_hooks(receiver)[file_id] == 1


def test_redis_outage_loses_nothing(cluster: Cluster) -> None:
    receiver = cluster.receiver
    assert receiver is not None
    files = mixed_files(30, "outage")  # enough work to span a few worker heartbeats (1.6 s) on a fast run
    with cluster.api.client() as http:
        ids = upload_all(http, files)
        wait_for(lambda: any(w["jobs_running"] for w in cluster.health_workers(http)), 60)
        cluster.redis.stop()
        outage_started = time.monotonic()
        ids += upload_all(http, mixed_files(3, "during-outage"))  # accepted: the job waits in roset.db
        assert http.get("/metrics").status_code == 200 and http.get("/ready").status_code == 503
        time.sleep(max(0.0, 10 - (time.monotonic() - outage_started)))
        cluster.redis.restart()
        done = wait_terminal(http, ids, timeout=180)
        assert {f["status"] for f in done.values()} == {"completed"}
    wait_for(lambda: all(terminal_hooks(receiver)[i] >= 1 for i in ids), 60)
    time.sleep(2)
    hooks = terminal_hooks(receiver)
    assert all(hooks[i] == 1 for i in ids), {i: hooks[i] for i in ids}


def test_remote_queue_needs_an_object_store(tmp_path: Path) -> None:
    env = server_env(ROSET_QUEUE_URL="redis://127.0.0.1:9/0")
    serve = subprocess.run([sys.executable, "-m", "roset_local", "serve", "--data-dir", str(tmp_path / "d")],
                           env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert serve.returncode == 2 and "ROSET_STORAGE_URL" in serve.stderr and not (tmp_path / "d").exists()
    worker = subprocess.run([sys.executable, "-m", "roset_local", "worker", "--queue", "amqp://x", "--storage",
                             "s3://b/p"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert worker.returncode == 2 and "redis://" in worker.stderr
