"""Per-file overhead cuts keep their guarantees: the queue commits without fsync but in WAL, and one
lease thread extends every running job's lease and stops a job whose lease is no longer ours."""

from __future__ import annotations

import time

from roset_local.pipeline.steps import CancelToken
from roset_local.queue import leases, make_huey


def test_the_queue_database_is_wal_with_normal_sync(tmp_path):
    huey = make_huey(tmp_path / "queue.db")
    conn = huey.storage.conn
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert conn.execute("pragma synchronous").fetchone()[0] == 1  # NORMAL (huey's default is FULL: 2)
    huey.storage.enqueue(b"x", 0)
    assert huey.storage.dequeue() == b"x"


def test_one_lease_thread_extends_every_job_and_cancels_lost_ones(monkeypatch):
    beats: list[tuple[str, str]] = []

    def heartbeat(db, job_id, owner, lease_seconds):
        beats.append((job_id, owner))
        return job_id != "lost"  # "lost" was reclaimed by another runner meanwhile

    monkeypatch.setattr(leases.job_store, "heartbeat", heartbeat)
    keeper = leases.LeaseKeeper(lambda: None, interval=0.02)  # type: ignore[arg-type,return-value]
    kept, lost, done = CancelToken(), CancelToken(), CancelToken()
    keeper.add("kept", "me", kept)
    keeper.add("lost", "me", lost)
    keeper.add("done", "me", done)
    keeper.remove("done")
    deadline = time.monotonic() + 10
    while not lost.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    while beats.count(("kept", "me")) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    keeper.stop()
    assert lost.is_set() and not kept.is_set() and not done.is_set()
    assert beats.count(("kept", "me")) >= 2 and ("done", "me") not in beats
    assert beats.count(("lost", "me")) == 1  # dropped once it was found lost
