"""The job queue: huey on its own SQLite file, consumed by threads inside the server process."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huey import SqliteHuey
from huey.api import TaskWrapper
from huey.consumer import Consumer, Worker

log = logging.getLogger("roset_local.queue")

# Job threads run this much nicer than the API threads; what they start (extraction processes,
# embedding threads) inherits it, so N files in flight keep the cores busy without starving requests.
WORKER_NICENESS = 5


@dataclass(frozen=True)
class Tasks:
    """Every queue task of one huey, by name (``roset_local.tasks.register_tasks`` makes them).

    Call one to enqueue it (``services.tasks.process_job(job_id)``) or ``.schedule(args, delay=...)``.
    """

    process_job: TaskWrapper
    await_upload: TaskWrapper
    recover_jobs: TaskWrapper  # periodic
    connection_sync: TaskWrapper
    reembed_file: TaskWrapper
    deliver_webhook: TaskWrapper
    purge_webhook_history: TaskWrapper  # periodic
    purge_api_logs: TaskWrapper  # periodic


class WakingSqliteHuey(SqliteHuey):
    """SqliteHuey that wakes this process's idle workers on enqueue, so a job starts without waiting
    out a poll interval. Tasks enqueued by another process are still found by polling."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wake = threading.Condition()
        self.wake_count = 0  # bumped on every enqueue; a worker sleeps only while it is unchanged

    def enqueue(self, task: Any) -> Any:
        result = super().enqueue(task)
        with self.wake:
            self.wake_count += 1
            self.wake.notify_all()
        return result


class WakingWorker(Worker):
    """A huey worker whose idle sleep ends early when this process enqueues a task."""

    def initialize(self) -> None:
        try:  # Linux: niceness is per thread (a no-op elsewhere or without the right)
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICENESS))
        except (AttributeError, OSError):
            pass
        super().initialize()

    def loop(self, now: Any = None) -> None:
        self._seen = getattr(self.huey, "wake_count", 0)  # read before dequeue: no lost wake-up
        super().loop(now)

    def sleep(self) -> None:
        wake = getattr(self.huey, "wake", None)
        if wake is None:
            super().sleep()
            return
        if self.delay > self.max_delay:
            self.delay = self.max_delay
        with wake:
            woke = wake.wait_for(lambda: self.huey.wake_count != self._seen or self.stop_flag.is_set(), self.delay)
        self.delay = self.default_delay if woke else self.delay * self.backoff


def make_huey(path: Path, *, immediate: bool = False) -> SqliteHuey:
    # results=False: nothing reads task results, and they would pile up in huey's kv table.
    huey = WakingSqliteHuey(name="roset", filename=str(path), results=False, utc=True, timeout=30)
    huey.immediate = immediate
    return huey


class EmbeddedConsumer(Consumer):
    """A huey consumer that leaves signal handling to the web server (uvicorn owns SIGTERM)."""

    worker_class = WakingWorker

    def _set_signal_handlers(self) -> None:  # noqa: D401 - huey hook
        return None

    def stop(self, graceful: bool = False) -> None:
        self.stop_flag.set()
        wake = getattr(self.huey, "wake", None)
        if wake is not None:  # idle workers wait on the wake-up condition, not the stop flag
            with wake:
                wake.notify_all()
        super().stop(graceful=graceful)


def start_consumer(huey: SqliteHuey, workers: int) -> EmbeddedConsumer:
    consumer = EmbeddedConsumer(huey, workers=max(1, workers), worker_type="thread", periodic=True,
                                initial_delay=0.05, backoff=1.3, max_delay=0.5, check_worker_health=True)
    consumer.start()
    return consumer


def queue_depth(huey: SqliteHuey) -> int:
    return int(huey.pending_count()) + int(huey.scheduled_count())
