"""Job leases kept alive by one thread per process, for every job that process runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from roset_local.store import jobs as job_store
from roset_local.store.db import Database

log = logging.getLogger("roset_local.pipeline")

LEASE_SECONDS = 60.0
HEARTBEAT_SECONDS = 10.0


class Stop(Protocol):
    """What a job is stopped through (``pipeline.steps.CancelToken``)."""

    def set(self) -> None: ...


class LeaseKeeper:
    """One thread that extends the lease of every job this process runs, every ``interval`` seconds.

    A thread per job cost its start (and a wake-up) on every small file; one thread for all does the
    same work. A job whose lease is no longer ours (cancelled, reclaimed, deleted) gets stopped.
    """

    def __init__(self, db: Callable[[], Database], *, lease_seconds: float = LEASE_SECONDS,
                 interval: float = HEARTBEAT_SECONDS) -> None:
        self._db = db
        self.lease_seconds = lease_seconds
        self.interval = interval
        self._jobs: dict[str, tuple[str, Stop]] = {}
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, job_id: str, owner: str, stop: Stop) -> None:
        with self._lock:
            self._jobs[job_id] = (owner, stop)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="job-leases", daemon=True)
                self._thread.start()

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def stop(self) -> None:
        self._halt.set()

    def _run(self) -> None:
        while not self._halt.wait(self.interval):
            with self._lock:
                jobs = list(self._jobs.items())
            for job_id, (owner, stop) in jobs:
                try:
                    if not job_store.heartbeat(self._db(), job_id, owner, self.lease_seconds):
                        stop.set()
                        with self._lock:  # unless the job was taken up again meanwhile (a new token)
                            if job_id in self._jobs and self._jobs[job_id][1] is stop:
                                del self._jobs[job_id]
                except Exception:
                    log.exception("lease heartbeat failed for %s", job_id)
