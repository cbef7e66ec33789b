"""The outbox relay (events → messages owed to webhooks) and the dispatcher that runs attempts.

Durability lives in the database: the relay's cursor and the messages it creates commit together,
and a pending delivery row is work that is owed until an attempt records its outcome. The huey
queue and the in-memory pool are only the fast path; at start-up, and every few seconds, pending
rows that nobody is working on are dispatched again (attempts are claimed with a lease, so a row
dispatched twice is still attempted once).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from huey.api import TaskWrapper

from roset_local.store import webhooks as store
from roset_local.store.events import events_since_seq
from roset_local.store.db import Row
from roset_local.webhooks.delivery import TEST_EVENT, Sender, covers_space, run_attempt

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.webhooks")

POLL_SECONDS = 0.5  # fallback when nobody calls events_committed()
SWEEP_SECONDS = 5.0
OVERDUE_SECONDS = 15.0  # a due attempt nobody picked up within this is dispatched again
RELAY_BATCH = 500
DELIVERY_THREADS = 8


class Dispatcher:
    """Runs attempts on its own threads so slow receivers never hold the file-processing workers.

    Attempts due now go straight to the pool; later ones are scheduled on huey
    (``task.schedule(delay=...)``), whose task hands them back to the pool when they come due.
    """

    def __init__(self, services: "Services", threads: int = DELIVERY_THREADS) -> None:
        self.services = services
        self.threads = threads
        self.task: TaskWrapper | None = None  # the huey task, set by roset_local.wiring
        self.sender: Sender | None = None
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return bool(self._workers)

    def start(self) -> None:
        if self._workers:
            return
        self.sender = Sender(self.services.settings.webhook_timeout_seconds)
        for i in range(self.threads):
            thread = threading.Thread(target=self._work, name=f"roset-webhook-{i}", daemon=True)
            thread.start()
            self._workers.append(thread)

    def stop(self, timeout: float = 3.0) -> None:
        """Stop taking work; attempts still queued stay pending in the database for the next start."""
        workers, self._workers = self._workers, []
        for _ in workers:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.sender is not None:
            self.sender.close()

    def dispatch(self, delivery_id: str, delay: float = 0.0) -> None:
        """Arrange for the attempt to run after ``delay`` seconds (durably: the row is pending)."""
        if delay <= 0 and self.running:
            self.submit(delivery_id)
        elif self.task is not None:
            try:
                if delay > 0:
                    self.task.schedule(args=(delivery_id,), delay=delay)
                else:
                    self.task(delivery_id)
            except Exception:  # the sweep will find the pending row
                log.exception("could not queue webhook delivery %s", delivery_id)

    def submit(self, delivery_id: str) -> None:
        with self._lock:
            if delivery_id in self._queued:
                return
            self._queued.add(delivery_id)
        self._queue.put(delivery_id)

    def handle(self, delivery_id: str) -> None:
        """The huey task's body: hand over to the pool, or attempt inline where no pool runs."""
        if self.running:
            self.submit(delivery_id)
        else:
            self.attempt(delivery_id)

    def attempt(self, delivery_id: str) -> None:
        sender = self.sender or Sender(self.services.settings.webhook_timeout_seconds)
        try:
            follow_up = run_attempt(
                self.services.db, self.services.settings, sender, delivery_id, self.services.secret_box
            )
        finally:
            if sender is not self.sender:
                sender.close()
        if follow_up is not None:
            self.dispatch(follow_up.delivery_id, follow_up.delay)

    def _work(self) -> None:
        while True:
            delivery_id = self._queue.get()
            if delivery_id is None:
                return
            with self._lock:
                self._queued.discard(delivery_id)
            try:
                self.attempt(delivery_id)
            except Exception:  # the row stays pending; the sweep retries it after the lease
                log.exception("webhook delivery %s failed unexpectedly", delivery_id)


def recipients(event: Row, webhooks: list[Row]) -> list[Row]:
    """Webhooks owed this event: active subscribers covering its space; a test event goes to its one
    webhook only."""
    if event["type"] == TEST_EVENT:
        target = (event.get("data") or {}).get("webhook_id")
        return [w for w in webhooks if w["id"] == target]
    return [w for w in webhooks
            if w["active"] and event["type"] in w["events"] and covers_space(w, event.get("space"))]


class Relay:
    """Turns new ``events`` rows (by ``seq``) into messages, woken after commits or every 0.5 s."""

    def __init__(self, services: "Services", dispatcher: Dispatcher) -> None:
        self.services = services
        self.dispatcher = dispatcher
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Call after committing a transaction that recorded events (``events_committed``)."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="roset-webhook-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        self._guard(self.recover)
        next_sweep = time.monotonic() + SWEEP_SECONDS
        while not self._stop.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._guard(self.relay_all)
            if time.monotonic() >= next_sweep:
                self._guard(self.sweep)
                next_sweep = time.monotonic() + SWEEP_SECONDS

    def _guard(self, step: Any) -> None:
        try:
            step()
        except Exception:
            log.exception("webhook relay step %s failed; retrying on the next tick", step.__name__)

    def relay_all(self) -> int:
        total = 0
        while True:
            count = self.relay_once()
            total += count
            if count < RELAY_BATCH:
                return total

    def relay_once(self) -> int:
        """Relay one batch; the cursor and the messages commit together. Returns events handled."""
        db = self.services.db
        if store.latest_event_seq(db) <= store.relay_cursor(db):
            return 0  # nothing new: no write lock taken
        due = time.time()
        created: list[str] = []
        with db.write():
            events = events_since_seq(db, store.relay_cursor(db), RELAY_BATCH)
            if not events:
                return 0
            webhooks = store.list_webhooks(db)
            for event in events:
                for webhook in recipients(event, webhooks):
                    delivery_id = store.queue_message(db, webhook["id"], event, due=due, rearm=False)
                    if delivery_id:
                        created.append(delivery_id)
            store.set_relay_cursor(db, events[-1]["seq"])
        for delivery_id in created:
            self.dispatcher.dispatch(delivery_id)
        return len(events)

    def recover(self) -> int:
        """At start: dispatch every pending attempt (left by a crash or a stop) when it is due."""
        now = time.time()
        rows = store.pending_deliveries(self.services.db, limit=1_000_000)
        for row in rows:
            due = max(float(row["scheduled_at"]), float(row["claimed_until"] or 0))
            self.dispatcher.dispatch(row["id"], max(0.0, due - now))
        if rows:
            log.info("re-queued %d pending webhook deliveries", len(rows))
        return len(rows)

    def sweep(self) -> int:
        """Dispatch attempts overdue by more than OVERDUE_SECONDS with no live lease."""
        rows = store.pending_deliveries(self.services.db, due_before=time.time() - OVERDUE_SECONDS)
        for row in rows:
            self.dispatcher.dispatch(row["id"])
        return len(rows)
