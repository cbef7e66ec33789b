"""Around every request: request id, X-Request-Id and rate headers, timing, batched API logs, metrics."""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from roset_local.errors import new_request_id
from roset_local.store import keys as key_store
from roset_local.store import logs as log_store
from roset_local.store.db import Database
from roset_local.timeutil import now_str

log = logging.getLogger("roset_local.http")

# Paths never written to the API log: static assets and probes would drown real calls.
_UNLOGGED_PREFIXES = ("/static/", "/schema/static")
# A path segment that may be a credential (share-link token, key, signature) or an opaque id.
_SECRET_SEGMENT = re.compile(r"^(ptk|rsk|whsec)_|^[A-Za-z0-9_-]{32,}$")


def logged_path(scope: dict[str, Any]) -> str:
    """The path as the API log keeps it: the matched route's template (``/portal/{token}``), so no
    path parameter (a share-link token above all) is ever stored; an unmatched path keeps its
    segments except those that look like a credential. Query strings are never logged."""
    template = scope.get("path_template")
    if template:
        return str(template)
    path = str(scope.get("path", ""))
    return "/".join("{redacted}" if _SECRET_SEGMENT.search(part) else part for part in path.split("/"))


def logged_spaces(state: dict[str, Any]) -> str | None:
    """The caller's confinement as stored on its log rows (JSON list; None for unconfined or anonymous
    callers), so a confined key lists only rows of callers within its own spaces."""
    principal = state.get("principal")
    spaces = getattr(principal, "spaces", None)
    return json.dumps(list(spaces)) if spaces is not None else None


def _console_refresh(scope: dict) -> bool:
    """The console's own background refreshes: status polls every few seconds and live table fragments.

    They are page plumbing, not API use: logging them would bury real requests in /v1/api-logs.
    (Uploads and Q&A through /console/api/ are user actions and stay logged.)
    """
    path: str = scope.get("path", "")
    if scope.get("method") != "GET" or not path.startswith("/console/"):
        return False
    if path == "/console/api/files/status" or (path.startswith("/console/api/connections/") and path.endswith("/progress")):
        return True
    return b"partial=1" in (scope.get("query_string") or b"").split(b"&")


class LogWriter:
    """Collects API log rows and key last-use times; one thread writes them in batches."""

    def __init__(self, db: Database, flush_interval: float = 0.5) -> None:
        self.db = db
        self.flush_interval = flush_interval
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._flushed = threading.Condition()
        self._pending = 0

    def start(self) -> None:
        self._seq = log_store.max_seq(self.db)
        self._thread = threading.Thread(target=self._run, name="roset-api-log", daemon=True)
        self._thread.start()

    def next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    def submit(self, row: dict[str, Any]) -> None:
        with self._flushed:
            self._pending += 1
        self._queue.put(row)

    def flush(self, timeout: float = 5.0) -> None:
        """Block until everything submitted so far is written (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._flushed:
            while self._pending and time.monotonic() < deadline:
                self._flushed.wait(0.05)

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[dict[str, Any]] = []
            try:
                item = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                continue
            # Gather for 50 ms by sleeping, not by a timed get per row: a busy server then wakes this
            # thread twice a batch instead of once a request.
            time.sleep(0.05)
            while True:
                if item is None:
                    stop = True
                    break
                batch.append(item)
                if len(batch) >= 500:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        if not batch:
            return
        last_used: dict[str, str] = {}
        rows = []
        for item in batch:
            key_id = item.get("key_id")
            if key_id:
                last_used[key_id] = max(last_used.get(key_id, ""), item["created_at"])
            rows.append(item)
        try:
            with self.db.write():
                log_store.insert_logs(self.db, rows)
                key_store.touch_keys(self.db, last_used)
        except Exception:  # a log write must never take the server down
            log.exception("could not write API logs")
        finally:
            with self._flushed:
                self._pending -= len(batch)
                self._flushed.notify_all()


class RequestContext:
    """Outermost ASGI layer: runs for every HTTP request, routed or not (404/405 included)."""

    def __init__(self, app: Any, writer_of: Callable[[], LogWriter | None], observe: Callable[..., None] | None = None) -> None:
        self.app = app
        self._writer_of = writer_of
        self._observe = observe

    def __getattr__(self, name: str) -> Any:  # let tools reach the Litestar app's attributes
        return getattr(self.app, name)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        rid = new_request_id()
        state["request_id"] = rid
        status_holder = {"status": 500}

        async def wrapped_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers") or [])
                names = {h[0].lower() for h in headers}
                if b"x-request-id" not in names:
                    headers.append((b"x-request-id", state["request_id"].encode()))
                for name, value in (state.get("rate_headers") or {}).items():
                    if name.lower().encode() not in names:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, wrapped_send)
        finally:
            self._record(scope, state, status_holder["status"], started)

    def _record(self, scope: dict, state: dict, status: int, started: float) -> None:
        path = scope.get("path", "")
        duration_ms = int((time.perf_counter() - started) * 1000)
        if self._observe is not None:
            self._observe(scope, state, status, duration_ms)
        if path.startswith(_UNLOGGED_PREFIXES) or _console_refresh(scope):
            return
        writer = self._writer_of()
        if writer is None:
            return
        writer.submit(
            {
                "id": f"log-{state['request_id'][4:]}",  # set by __call__ for every request
                "seq": writer.next_seq(),
                "method": scope.get("method", ""),
                "path": logged_path(scope),
                "status": status,
                "auth_type": state.get("auth_type"),
                "key_id": state.get("key_id"),
                "key_name": state.get("key_name"),
                "spaces": logged_spaces(state),
                "duration_ms": duration_ms,
                "request_id": state.get("request_id", ""),
                "created_at": now_str(),
            }
        )


# -- HTTP figures for /metrics ------------------------------------------------------------------

HTTP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ID_SEGMENT = re.compile(r"\d|^[A-Za-z0-9_-]{24,}$")


def route_label(scope: dict[str, Any], status: int) -> str:
    """The matched route template; unmatched paths collapse so label cardinality stays bounded."""
    template = scope.get("path_template")
    if template:
        return str(template)
    path = str(scope.get("path", ""))
    if path.startswith("/static/"):
        return "/static/*"
    if status == 404:
        return "unmatched"
    return "/".join("{id}" if _ID_SEGMENT.search(part) else part for part in path.split("/"))


class HttpMetrics:
    """Request counts by (method, route, status) and a duration histogram by (method, route)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.durations: dict[tuple[str, str], list[float]] = {}  # bucket counts..., +Inf, sum

    def observe(self, scope: dict[str, Any], state: dict[str, Any], status: int, duration_ms: int) -> None:
        method = str(scope.get("method", ""))
        route = route_label(scope, status)
        seconds = duration_ms / 1000
        with self._lock:
            key = (method, route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.durations.setdefault((method, route), [0.0] * (len(HTTP_BUCKETS_S) + 2))
            for i, bound in enumerate(HTTP_BUCKETS_S):
                if seconds <= bound:
                    hist[i] += 1
            hist[-2] += 1
            hist[-1] += seconds

    def snapshot(self) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str], list[float]]]:
        with self._lock:
            return dict(self.requests), {k: list(v) for k, v in self.durations.items()}
