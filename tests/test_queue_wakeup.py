"""The queue consumer wakes on an enqueue from this process instead of waiting out its poll interval."""

from __future__ import annotations

import threading
from pathlib import Path

from roset_local.queue import EmbeddedConsumer, make_huey


def test_idle_worker_wakes_on_enqueue_and_stops_promptly(tmp_path: Path):
    huey = make_huey(tmp_path / "queue.db")
    ran = threading.Event()

    @huey.task()
    def mark() -> None:
        ran.set()

    # Poll interval of ten minutes: without the wake-up the task could not run within this test.
    consumer = EmbeddedConsumer(huey, workers=2, worker_type="thread", periodic=False, initial_delay=600,
                                backoff=1.0, max_delay=600)
    consumer.start()
    try:
        threading.Event().wait(0.5)  # both workers have found the queue empty and sleep
        mark()
        assert ran.wait(30), "the enqueued task did not run: workers were not woken"
    finally:
        stopper = threading.Thread(target=consumer.stop, kwargs={"graceful": True}, daemon=True)
        stopper.start()
        stopper.join(60)
    assert not stopper.is_alive(), "stopping waited out the poll interval"
