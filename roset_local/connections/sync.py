"""Incremental sync: list the bucket, diff against the nodes, apply every change in one transaction.

Nothing is written to the nodes until the listing is complete, so a bucket that fails or vanishes
mid-sync leaves the previous nodes exactly as they were.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from roset_local.api.schemas.connections import SyncOut
from roset_local.connections.manage import minute_seconds, next_sync_at, spec_of, storage_errors
from roset_local.errors import BadRequest, Conflict, NotFound
from roset_local.ids import new_id
from roset_local.pipeline import lifecycle
from roset_local.storage import backends as conn
from roset_local.store import connections as store
from roset_local.store import files as file_store
from roset_local.store.events import record_event
from roset_local.timeutil import now_str, parse, to_str, utcnow

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.connections")

PROGRESS_EVERY = 0.5  # seconds between progress writes while listing


# -- requesting a sync ----------------------------------------------------------------------------

def request_sync(services: Services, row: Mapping[str, Any], trigger: str = "manual") -> dict[str, Any]:
    """Queue a sync (409 while one is queued or running) and hand it to the queue."""
    db = services.db
    sync_id = new_id("sync")
    with db.write():
        if store.active_sync(db, row["id"]) is not None:
            raise Conflict("A sync of this connection is already queued or running")
        store.insert_sync(db, {"id": sync_id, "connection_id": row["id"], "status": "queued", "trigger": trigger,
                               "created_at": now_str()})
        if trigger == "scheduled":
            store.set_connection_fields(db, row["id"], next_sync_at=next_sync_at(services, row["sync_interval_minutes"]))
    services.tasks.connection_sync(sync_id)
    sync = store.get_sync(db, sync_id)
    assert sync is not None
    return sync


def run_due(services: Services) -> int:
    """Queue a sync for every scheduled connection whose time has come; returns how many."""
    started = 0
    for row in store.due_connections(services.db, now_str()):
        try:
            request_sync(services, row, "scheduled")
            started += 1
        except Conflict:
            continue
    return started


class Loop:
    """A daemon thread running ``_run`` until :meth:`stop` sets ``_stop``."""

    name = "roset-loop"

    def __init__(self, services: Services) -> None:
        self.services = services
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        raise NotImplementedError


class Scheduler(Loop):
    """Checks every ``tick`` seconds for connections due for a scheduled sync (the full reconciliation)."""

    name = "roset-connection-scheduler"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        # Checked often enough for the shortest schedule (5 "minutes") to be kept to within a tenth.
        self.tick = min(services.settings.sync_tick_seconds, max(0.05, minute_seconds(services) / 2))

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                run_due(self.services)
            except Exception:  # the scheduler must outlive a bad tick (e.g. a locked database)
                log.exception("scheduled sync check failed")


def start_scheduler(services: Services) -> None:
    """At start: fail the syncs the last stop cut off (in the process that runs the queue), then
    start the scheduler thread, stopped with the services."""
    if services.settings.consumer:
        with services.db.write():
            failed = store.fail_interrupted_syncs(services.db, "Interrupted: the server stopped during the sync")
        if failed:
            log.info("marked %d interrupted syncs as failed", failed)
    scheduler = Scheduler(services)
    scheduler.start()
    services.on_stop(scheduler.stop)


# -- running a sync -------------------------------------------------------------------------------

def _file_state(state: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[Any, Any, Any]]:
    return {p: (r["etag"], r["size_bytes"], r["last_modified"]) for p, r in state.items() if r["type"] == "file"}


def _parent(path: str) -> str | None:
    end = path.rstrip("/").rfind("/")
    return path[: end + 1] if end >= 0 else None


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _object_fields(info: conn.ObjectInfo) -> dict[str, Any]:
    from roset_local.storage.backends.model import guess_type

    ctype = info.content_type if info.content_type not in (None, "", "application/octet-stream") else guess_type(info.key)
    return {"size_bytes": info.size, "etag": info.etag, "content_type": ctype,
            "last_modified": to_str(info.last_modified) if info.last_modified else None}


def _fail(services: Services, sync: Mapping[str, Any], row: Mapping[str, Any], error: str) -> None:
    db = services.db
    with db.write():
        store.set_sync_fields(db, sync["id"], status="failed", error=error, completed_at=now_str())
        store.set_connection_fields(db, row["id"], status="error", last_error=error,
                                    next_sync_at=next_sync_at(services, row["sync_interval_minutes"]))
        record_event(db, "connection.sync.failed",
                     {"connection_id": row["id"], "sync_id": sync["id"], "status": "failed", "error": error},
                     space=row["space"])
    lifecycle.notify_events(services)


def run_sync(services: Services, sync_id: str) -> dict[str, Any] | None:
    """Run a queued full sync to the end (the queue task). Returns the finished sync row."""
    db = services.db
    sync = store.get_sync(db, sync_id)
    if sync is None or sync["status"] != "queued":
        return sync
    row = store.get_connection(db, sync["connection_id"])
    if row is None:
        return None
    with db.write():
        store.set_sync_fields(db, sync_id, status="syncing", started_at=now_str())
    return _execute(services, sync, row, None)


def apply_scope(services: Services, row: Mapping[str, Any], scope: Scope, trigger: str) -> dict[str, Any] | None:
    """Apply a live change (a watched file, a bucket event) now: a sync run limited to ``scope``, through
    the same diff and transaction as a full sync. It is recorded in the history only when it changed
    something. None when another sync of the connection is queued or running: try again after it."""
    db = services.db
    sync_id = new_id("sync")
    now = now_str()
    with db.write():
        if store.active_sync(db, row["id"]) is not None:
            return None
        store.insert_sync(db, {"id": sync_id, "connection_id": row["id"], "status": "syncing", "trigger": trigger,
                               "created_at": now, "started_at": now})
    sync = store.get_sync(db, sync_id)
    assert sync is not None
    return _execute(services, sync, row, scope)


def _execute(services: Services, sync: Mapping[str, Any], row: Mapping[str, Any],
             scope: Scope | None) -> dict[str, Any] | None:
    """List (the whole connection, or only ``scope``), diff against the nodes, apply, queue processing."""
    db = services.db
    sync_id = sync["id"]
    started = time.monotonic()
    state = store.node_state(db, row["id"])
    previous = _file_state(state)
    if scope is not None:
        previous = {p: v for p, v in previous.items() if scope.covers(p)}
    listing: list[conn.ObjectInfo] = []
    try:
        spec = spec_of(services, row)
        last = time.monotonic()
        source = conn.walk(spec) if scope is None else conn.walk_scope(spec, scope.keys, scope.trees)
        for info in source:
            listing.append(info)
            if time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                with db.write():
                    store.set_sync_fields(db, sync_id, synced=len(listing), total=max(len(previous), len(listing)))
        diff = conn.diff_listing(previous, listing)
        if scope is not None and not (diff.new or diff.updated or diff.deleted):
            with db.write():  # a live change that changed nothing (a temp file come and gone): no history row
                store.delete_sync(db, sync_id)
            return {**sync, "status": "completed", "files_added": 0, "files_updated": 0, "files_deleted": 0}
        hashes = _new_hashes(services, spec, state, diff.updated)
        result = _apply(services, row, sync_id, spec.prefix, state, len(listing), diff, hashes, full=scope is None)
    except BadRequest as exc:
        _fail(services, sync, row, exc.message)
        return store.get_sync(db, sync_id)
    except conn.ConnectionAccessError as exc:
        _fail(services, sync, row, exc.reason)
        return store.get_sync(db, sync_id)
    except conn.ConnectionConfigError as exc:
        _fail(services, sync, row, exc.message)
        return store.get_sync(db, sync_id)
    except Exception as exc:  # a bug must fail the sync, never leave it "syncing"
        log.exception("sync %s crashed", sync_id)
        _fail(services, sync, row, f"{type(exc).__name__}: {exc}")
        return store.get_sync(db, sync_id)
    lifecycle.notify_events(services)
    log.info("sync %s of %s (%s): %d objects in %.2f s", sync_id, row["id"], sync["trigger"], len(listing),
             time.monotonic() - started)
    from roset_local.connections.nodes import process_nodes

    changed = [i.key for i in diff.updated if i.key not in hashes.same]  # same bytes: nothing to redo
    if row["process_new_files"]:
        process_nodes(services, row, [i.key for i in diff.new] + changed)
    else:  # files already processed follow their object's changes
        process_nodes(services, row, [k for k in changed if k in hashes.processed])
    return result


@dataclass(frozen=True)
class Scope:
    """What a live change touched: object ``keys``, and folder prefixes (``trees``, ending in ``/``) whose
    whole content is listed again (a folder created, moved or removed in a watched directory)."""

    keys: frozenset[str] = frozenset()
    trees: frozenset[str] = frozenset()

    def covers(self, path: str) -> bool:
        return path in self.keys or any(path.startswith(tree) for tree in self.trees)

    def __or__(self, other: Scope) -> Scope:
        return Scope(self.keys | other.keys, self.trees | other.trees)

    def __bool__(self) -> bool:
        return bool(self.keys or self.trees)


@dataclass
class Hashes:
    """What the changed objects' bytes are: ``same`` keys only moved their etag or mtime; ``digests``
    holds the new sha256 of the others (when hashed); ``processed`` keys have a processed file."""

    same: set[str] = field(default_factory=set)
    digests: dict[str, str] = field(default_factory=dict)
    processed: set[str] = field(default_factory=set)


def _new_hashes(services: Services, spec: conn.ConnectionSpec, state: Mapping[str, Mapping[str, Any]],
                updated: list[conn.ObjectInfo]) -> Hashes:
    """Hash the changed objects whose file was processed (the others' hash is learnt when a job reads them)."""
    from roset_local.connections.nodes import SHA_INLINE_LIMIT, object_sha256

    out = Hashes()
    for info in updated:
        file_id = state[info.key]["file_id"]
        file = file_store.get_file(services.db, file_id) if file_id else None
        if file is None or not file["latest_job_id"]:
            continue
        out.processed.add(info.key)
        digest = object_sha256(spec, info.key) if info.size <= SHA_INLINE_LIMIT else None
        if digest is not None and digest == file["sha256"]:
            out.same.add(info.key)
        elif digest is not None:
            out.digests[info.key] = digest
    return out


def _apply(services: Services, row: Mapping[str, Any], sync_id: str, prefix: str,
           state: Mapping[str, Mapping[str, Any]], examined: int, diff: conn.ListingDiff, hashes: Hashes, *,
           full: bool) -> dict[str, Any]:
    """Write the difference, the sync's end and its event in one transaction. ``full``: a whole listing
    (it sets ``last_synced_at`` and the next scheduled reconciliation); else a live change's scope."""
    db = services.db
    now = now_str()
    gone_keys = set(diff.deleted)
    keys = {p for p, r in state.items() if r["type"] == "file" and p not in gone_keys} | {i.key for i in diff.new}
    wanted_folders = conn.folders_for(keys, prefix)
    folder_ids = {p: r["id"] for p, r in state.items() if r["type"] == "folder" and p in wanted_folders}
    new_folders = sorted(wanted_folders - folder_ids.keys())
    folder_ids.update({p: new_id("node") for p in new_folders})
    stale_folders = [r["id"] for p, r in state.items() if r["type"] == "folder" and p not in wanted_folders]

    def parent_id(path: str) -> str | None:
        parent = _parent(path)
        return folder_ids.get(parent) if parent else None

    with db.write():
        pending = store.absent_paths(db, row["id"])
        inserts: list[dict[str, Any]] = [
            {"id": folder_ids[p], "connection_id": row["id"], "parent_id": parent_id(p), "type": "folder",
             "name": _name(p), "path": p, "size_bytes": None, "etag": None, "content_type": None,
             "last_modified": None, "file_id": None, "status": "present", "created_at": now, "updated_at": now}
            for p in new_folders
        ]
        updates: list[dict[str, Any]] = []
        for info in diff.new:
            fields = _object_fields(info)
            if info.key in pending:  # an upload in progress whose object now exists
                updates.append({"id": pending[info.key], "parent_id": parent_id(info.key), "updated_at": now, **fields})
                continue
            inserts.append({"id": new_id("node"), "connection_id": row["id"], "parent_id": parent_id(info.key),
                            "type": "file", "name": _name(info.key), "path": info.key, "file_id": None,
                            "status": "present", "created_at": now, "updated_at": now, **fields})
        for info in diff.updated:
            old = state[info.key]
            fields = _object_fields(info)
            updates.append({"id": old["id"], "parent_id": parent_id(info.key), "updated_at": now, **fields})
            if old["file_id"] and info.key not in hashes.same:  # the linked file's bytes changed
                file_store.set_file_fields(db, old["file_id"], size_bytes=info.size, sha256=hashes.digests.get(info.key),
                                           content_type=fields["content_type"])
        store.insert_nodes(db, inserts)
        store.update_node_objects(db, updates)
        revived = [pending[i.key] for i in diff.new if i.key in pending]
        file_store.set_source_deleted(db, store.linked_file_ids(db, revived), False)
        gone = [state[p] for p in diff.deleted]
        gone_files = [r["file_id"] for r in gone if r["file_id"]]
        if row["on_delete"] == "keep":  # the files stay (flagged); their nodes stay linked, as deleted
            store.mark_nodes_deleted(db, [r["id"] for r in gone if r["file_id"]], now)
            file_store.set_source_deleted(db, gone_files, True)
            store.delete_nodes(db, [r["id"] for r in gone if not r["file_id"]] + stale_folders)
        else:
            store.delete_nodes(db, [r["id"] for r in gone] + stale_folders)
    if row["on_delete"] != "keep":
        # Before the run is marked completed: whoever waits for the sync sees the files gone too.
        _remove_files(services, gone_files)
    with db.write():
        counts = {"files_added": len(diff.new), "files_updated": len(diff.updated), "files_deleted": len(diff.deleted)}
        objects = len(keys) if full else examined
        store.set_sync_fields(db, sync_id, status="completed", synced=objects, total=objects,
                              folders=len(wanted_folders), completed_at=now, **counts)
        if full:
            store.set_connection_fields(db, row["id"], status="active", last_error=None, last_synced_at=now,
                                        next_sync_at=next_sync_at(services, row["sync_interval_minutes"]))
        else:
            store.set_connection_fields(db, row["id"], status="active", last_error=None)
        record_event(db, "connection.sync.completed",
                     {"connection_id": row["id"], "sync_id": sync_id, "status": "completed", **counts},
                     space=row["space"])
    result = store.get_sync(db, sync_id)
    assert result is not None
    return result


def _remove_files(services: Services, file_ids: list[str]) -> None:
    """The files of objects gone from the bucket: removed with their variants and index entries."""
    for file_id in file_ids:
        try:
            lifecycle.delete_file(services, file_id, reason="source_deleted")
        except NotFound:  # deleted through the API meanwhile
            continue


# -- read-only views ------------------------------------------------------------------------------

def preview(services: Services, row: Mapping[str, Any]) -> dict[str, Any]:
    """What a sync would change now, from a live listing (nothing is written)."""
    spec = spec_of(services, row)
    previous = _file_state(store.node_state(services.db, row["id"]))
    with storage_errors():
        diff = conn.diff_listing(previous, conn.walk(spec))
    return {"new_files": len(diff.new), "updated_files": len(diff.updated), "deleted_files": len(diff.deleted),
            "total_size_bytes": diff.total_size}


def sync_out(sync: Mapping[str, Any]) -> SyncOut:
    return SyncOut(
        id=sync["id"],
        connection_id=sync["connection_id"],
        status=sync["status"],
        trigger=sync["trigger"],
        files_added=sync["files_added"],
        files_updated=sync["files_updated"],
        files_deleted=sync["files_deleted"],
        objects=sync["total"] if sync["status"] == "completed" else sync["synced"],
        error=sync["error"],
        created_at=sync["created_at"],
        started_at=sync["started_at"],
        completed_at=sync["completed_at"],
    )


def progress(services: Services, row: Mapping[str, Any]) -> dict[str, Any]:
    """The latest sync's progress; ``idle`` when the connection was never synced."""
    sync = store.latest_sync(services.db, row["id"])
    if sync is None:
        return {"status": "idle", "synced": 0, "total": 0, "percent": 0, "eta_seconds": None, "started_at": None,
                "completed_at": None, "sync_id": None}
    synced, total = sync["synced"], sync["total"]
    eta: int | None
    if sync["status"] == "completed":
        percent, eta = 100, 0
    elif sync["status"] == "syncing" and total:
        percent = min(99, int(synced * 100 / total))
        elapsed = max(0.0, (utcnow() - parse(sync["started_at"])).total_seconds()) if sync["started_at"] else 0.0
        eta = int(elapsed / synced * (total - synced)) if synced else None
    else:
        percent, eta = 0, None
    return {"status": sync["status"], "synced": synced, "total": total, "percent": percent, "eta_seconds": eta,
            "started_at": sync["started_at"], "completed_at": sync["completed_at"], "sync_id": sync["id"],
            "error": sync["error"]}
