"""The job queue: huey on its own SQLite file, consumed by threads inside the server process."""

from __future__ import annotations

import logging
from pathlib import Path

from huey import SqliteHuey
from huey.consumer import Consumer

log = logging.getLogger("roset_local.queue")


def make_huey(path: Path, *, immediate: bool = False) -> SqliteHuey:
    # results=False: nothing reads task results, and they would pile up in huey's kv table.
    huey = SqliteHuey(name="roset", filename=str(path), results=False, utc=True, timeout=30)
    huey.immediate = immediate
    return huey


class EmbeddedConsumer(Consumer):
    """A huey consumer that leaves signal handling to the web server (uvicorn owns SIGTERM)."""

    def _set_signal_handlers(self) -> None:  # noqa: D401 - huey hook
        return None


def start_consumer(huey: SqliteHuey, workers: int) -> EmbeddedConsumer:
    consumer = EmbeddedConsumer(huey, workers=max(1, workers), worker_type="thread", periodic=True,
                                initial_delay=0.05, backoff=1.3, max_delay=0.5, check_worker_health=True)
    consumer.start()
    return consumer


def queue_depth(huey: SqliteHuey) -> int:
    return int(huey.pending_count()) + int(huey.scheduled_count())
