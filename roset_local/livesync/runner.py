"""The server's one live-sync thread: watches ``local`` connections' directories and applies settled changes."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import watchfiles

from roset_local.connections.manage import spec_of
from roset_local.connections.sync import Loop, Scope, apply_scope
from roset_local.errors import BadRequest
from roset_local.storage import backends as conn
from roset_local.store import connections as store

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.livesync")

SETTLE_SECONDS = 1.0  # a change is applied once its connection saw nothing new for this long...
MAX_WAIT_SECONDS = 10.0  # ...or this long after the first change (a file written for minutes still shows up)
RETRY_SECONDS = 1.0  # another sync of the connection was under way: try again after this
REFRESH_SECONDS = 2.0  # how often the set of watched directories is compared with the connections
TICK_MS = 250  # the watch loop wakes at least this often to apply what has settled


@dataclass
class Pending:
    scope: Scope
    trigger: str
    first: float
    last: float


@dataclass(frozen=True)
class Watched:
    """A watched directory and the connections on it: (connection id, key prefix)."""

    connections: tuple[tuple[str, str], ...]


class LiveSync(Loop):
    """Started and stopped with the server (never in a worker process). ``watch``: watch the ``local``
    connections' directories. ``defer`` takes scopes that could not be applied at once (a bucket
    event arriving during a full sync)."""

    name = "roset-live-sync"

    def __init__(self, services: Services, *, watch: bool = True) -> None:
        super().__init__(services)
        self.watch = watch
        self._pending: dict[str, Pending] = {}
        self._lock = threading.Lock()
        self._watched: set[str] = set()  # the local connections whose directory is being watched
        self._restart = False  # a watched directory itself was removed or replaced: watch it afresh

    def defer(self, connection_id: str, scope: Scope, trigger: str, *, settle: bool = False) -> None:
        """Apply ``scope`` soon (after the settle time when ``settle``), merged with what is already pending."""
        now = time.monotonic()
        stamp = now if settle else now - SETTLE_SECONDS
        with self._lock:
            current = self._pending.get(connection_id)
            if current is None:
                self._pending[connection_id] = Pending(scope, trigger, stamp, stamp)
            else:
                current.scope = current.scope | scope
                current.last = max(current.last, stamp)

    # -- the thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                directories = self._directories() if self.watch else {}
                if not directories:
                    self._idle(REFRESH_SECONDS)
                    continue
                self._watch(directories)
            except Exception:  # the thread must outlive a bad moment (a locked database, an inotify limit)
                log.exception("live sync failed; starting again")
                self._idle(RETRY_SECONDS)

    def _idle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop.wait(TICK_MS / 1000) and time.monotonic() < deadline and not self._restart:
            self._apply_due()
        self._restart = False
        self._apply_due()

    def _watch(self, directories: dict[str, Watched]) -> None:
        """Watch until stopped or the set of directories changes (a connection added, deleted, a
        directory vanished or came back)."""
        checked = time.monotonic()
        for changes in watchfiles.watch(*directories, watch_filter=None, stop_event=self._stop, rust_timeout=TICK_MS,
                                        yield_on_timeout=True, debounce=TICK_MS, step=50, raise_interrupt=False,
                                        ignore_permission_denied=True):
            self._note(changes, directories)
            self._apply_due()
            if self._restart:
                self._restart = False
                return
            if time.monotonic() - checked >= REFRESH_SECONDS:
                checked = time.monotonic()
                if self._directories() != directories:
                    return

    def refresh(self) -> None:
        """A local connection was created or deleted: compare the watched directories now."""
        self._restart = True

    def _directories(self) -> dict[str, Watched]:
        """The existing directories of the ``local`` connections. One not watched until now (a new
        connection, the server's start, a directory come back) is listed whole once: what changed
        before its watch began is applied too (a run that finds nothing leaves no trace)."""
        found: dict[str, list[tuple[str, str]]] = {}
        for row in store.local_connections(self.services.db):
            try:
                spec = spec_of(self.services, row)
                directory = conn.local_directory(spec)
            except (BadRequest, conn.ConnectionConfigError):
                continue  # its root is no longer configured: nothing to watch
            if os.path.isdir(directory):
                found.setdefault(directory, []).append((row["id"], spec.prefix))
        watched = {cid for entries in found.values() for cid, _ in entries}
        for connection_id in sorted(watched - self._watched):  # settled too: a file may be being written
            self.defer(connection_id, Scope(trees=frozenset({""})), "watch", settle=True)
        self._watched = watched
        return {d: Watched(tuple(sorted(c))) for d, c in sorted(found.items())}

    def _note(self, changes: Iterable[tuple[watchfiles.Change, str]], directories: dict[str, Watched]) -> None:
        for change, path in changes:
            for directory, watched in directories.items():
                if path != directory and not path.startswith(directory + os.sep):
                    continue
                key = os.path.relpath(path, directory).replace(os.sep, "/")
                if key == ".":  # the directory itself went or was replaced: changes inside may be unseen
                    self._restart = True
                    for connection_id, _ in watched.connections:
                        self.defer(connection_id, Scope(trees=frozenset({""})), "watch", settle=True)
                    continue
                if change == watchfiles.Change.deleted:  # a file or a whole folder: both are looked at
                    scope = Scope(keys=frozenset({key}), trees=frozenset({key + "/"}))
                elif os.path.isdir(path):
                    scope = Scope(trees=frozenset({key + "/"}))
                else:
                    scope = Scope(keys=frozenset({key}))
                for connection_id, prefix in watched.connections:
                    if key.startswith(prefix) or prefix.startswith(key + "/"):
                        self.defer(connection_id, scope, "watch", settle=True)

    def _apply_due(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [cid for cid, p in self._pending.items()
                   if now - p.last >= SETTLE_SECONDS or now - p.first >= MAX_WAIT_SECONDS]
            batches = [(cid, self._pending.pop(cid)) for cid in due]
        for connection_id, pending in batches:
            if self._stop.is_set():
                return
            row = store.get_connection(self.services.db, connection_id)
            if row is None:
                continue  # deleted meanwhile
            if row["provider"] == "local" and self._directory_gone(row):
                log.warning("the directory of %s is gone; its nodes stay until it is back", connection_id)
                continue  # its return is noticed by _directories, which lists it all again
            try:
                result = apply_scope(self.services, row, pending.scope, pending.trigger)
            except Exception:
                log.exception("applying a live change to %s failed", connection_id)
                continue
            if result is None:  # a full sync is under way: after it, this change is applied on top
                with self._lock:
                    pending.last = pending.first = time.monotonic() - SETTLE_SECONDS + RETRY_SECONDS
                    merged = self._pending.get(connection_id)
                    if merged is not None:
                        pending.scope = pending.scope | merged.scope
                    self._pending[connection_id] = pending

    def _directory_gone(self, row: dict[str, Any]) -> bool:
        try:
            return not os.path.isdir(conn.local_directory(spec_of(self.services, row)))
        except (BadRequest, conn.ConnectionConfigError):
            return True
