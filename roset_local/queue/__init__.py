"""The job queue: huey on its own SQLite file (or Redis for worker hosts), consumed by threads in the server."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huey import RedisHuey, SqliteHuey
from huey.api import TaskWrapper
from huey.consumer import Consumer, Worker
from huey.storage import SqliteStorage

if TYPE_CHECKING:
    from roset_local.config import Settings

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


class QueueStorage(SqliteStorage):
    """huey's SQLite storage with ``synchronous=NORMAL``: huey leaves SQLite's default (FULL), an fsync
    on every enqueue and dequeue, which was the largest fixed cost of a small file. In WAL mode
    NORMAL loses at most the last commits on a power cut, never consistency, and a lost task is
    re-queued by ``recover_jobs`` from the job row in the application database."""

    def _create_connection(self) -> Any:
        conn = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn


class WakingSqliteHuey(SqliteHuey):
    """SqliteHuey that wakes this process's idle workers on enqueue, so a job starts without waiting
    out a poll interval. Tasks enqueued by another process are still found by polling."""

    storage_class = QueueStorage

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

    delay: float  # huey's current idle back-off, in seconds (set by Worker.__init__)

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


def make_huey(path: Path, *, immediate: bool = False, url: str | None = None) -> Any:
    """huey on ``path`` (SQLite), or on the Redis server at ``url``: the same tasks under the same names."""
    if url:
        return redis_huey(url, "roset")
    # results=False: nothing reads task results, and they would pile up in huey's kv table.
    huey = WakingSqliteHuey(name="roset", filename=str(path), results=False, utc=True, timeout=30)
    huey.immediate = immediate
    return huey


def redis_huey(url: str, name: str) -> RedisHuey:
    """huey's own Redis storage; a blocking pop (1 s) picks a task up without a poll interval."""
    return RedisHuey(name=name, connection_pool=redis_pool(url), results=False, utc=True, blocking=True,
                     read_timeout=1)


def redis_pool(url: str) -> Any:
    """Connections to the queue's Redis: a dead server fails a call within seconds instead of hanging it, and a
    connection broken by a Redis restart is noticed before it is used."""
    from redis import ConnectionPool

    check_queue_url(url)
    return ConnectionPool.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=5)


def queue_down_errors() -> tuple[type[BaseException], ...]:
    """What a call to an unreachable shared queue raises (Redis stopped, restarting or cut off)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError)


def check_queue_url(url: str) -> None:
    """Raise ValueError unless ``url`` is a Redis URL (redis://, rediss:// or unix://)."""
    from urllib.parse import urlsplit

    if urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError(f"ROSET_QUEUE_URL must be a redis:// URL (e.g. redis://127.0.0.1:6379/0), not {url!r}")


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


def start_consumer(huey: Any, workers: int, *, periodic: bool = True) -> EmbeddedConsumer:
    consumer = EmbeddedConsumer(huey, workers=max(1, workers), worker_type="thread", periodic=periodic,
                                initial_delay=0.05, backoff=1.3, max_delay=0.5, check_worker_health=True)
    consumer.start()
    return consumer


def queue_depth(huey: Any) -> int:
    return int(huey.pending_count()) + int(huey.scheduled_count())


def check_shared_queue(settings: Settings) -> None:
    """A remote queue needs an object store every host reaches: raise ValueError with what to set."""
    if not settings.queue_url:
        raise ValueError("a worker host needs the shared queue: --queue redis://HOST:6379/0 (or ROSET_QUEUE_URL)")
    check_queue_url(settings.queue_url)
    scheme = (settings.storage_url or "").partition("://")[0]
    if not settings.storage_url or scheme in {"", "file", "local"}:
        raise ValueError("a shared queue (ROSET_QUEUE_URL) needs an object store every host reaches: set "
                         "ROSET_STORAGE_URL (or --storage) to e.g. s3://bucket/prefix, with ROSET_STORAGE_OPTIONS")
