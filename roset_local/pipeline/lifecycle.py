"""The file and job lifecycle: create, receive bytes, queue, cancel, retry, delete. Shared by API and pages."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from roset_local import audit
from roset_local.audit import Actor
from roset_local.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from roset_local.ids import new_file_id
from roset_local.index.indexer import delete_file_index
from roset_local.storage.blobs import BlobSizeMismatch, BlobTooLarge
from roset_local.store import files as file_store
from roset_local.store import org as org_store
from roset_local.store import jobs as job_store
from roset_local.store import variants as variant_store
from roset_local.store.events import record_event
from roset_local.timeutil import now_str

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.pipeline")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize_filename(name: str | None) -> str:
    """Display name: no path parts, no control characters, at most 255 characters."""
    text = unicodedata.normalize("NFC", str(name or ""))
    text = text.replace("\\", "/").split("/")[-1]
    text = _CONTROL.sub("", text).strip().strip(".")
    if text in {"", ".", ".."}:
        text = "file"
    return text[:255]


def storage_name(filename: str) -> str:
    """The last part of the storage key: a filesystem- and URL-safe version of the name."""
    safe = _UNSAFE_KEY.sub("_", filename).strip("._") or "file"
    return safe[:120]


def notify_events(services: "Services") -> None:
    try:
        services.hooks.events_committed()
    except Exception:  # delivery is best-effort here; the relay also polls
        log.exception("events_committed hook failed")


def enqueue(services: "Services", job_id: str, delay: float | None = None) -> None:
    from roset_local.queue import queue_down_errors

    task = services.tasks.process_job
    try:
        if delay:
            task.schedule(args=(job_id,), delay=delay)
        else:
            task(job_id)
    except queue_down_errors() as exc:  # the job is queued in roset.db: recovery sends it once the queue is back
        log.warning("job %s stays queued until the shared queue answers again: %s", job_id, exc)


def check_quota(services: "Services") -> None:
    org_store.check_quota(services)


def file_event_data(file: dict[str, Any], job: dict[str, Any] | None, status: str, **extra: Any) -> dict[str, Any]:
    return {"file_id": file["id"], "job_id": job["id"] if job else None, "space": file["space"], "status": status,
            "filename": file["filename"], **extra}


def create_file(
    services: "Services",
    *,
    space: str,
    filename: str,
    content_type: str | None,
    size_bytes: int | None,
    metadata: dict[str, str],
    options: dict[str, Any],
    skip_processing: bool,
    batch_id: str | None = None,
    connection_id: str | None = None,
    node_id: str | None = None,
    file_id: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Record a file (status ``uploading``) and, unless skipped, its queued job (not yet run)."""
    if not skip_processing:
        check_quota(services)
    from roset_local.pipeline.detect import from_name

    file_id = file_id or new_file_id()
    name = sanitize_filename(filename)
    now = now_str()
    row = {
        "id": file_id,
        "space": space,
        "filename": name,
        "content_type": content_type or from_name(name),
        "size_bytes": size_bytes,
        "sha256": None,
        "storage_key": f"{space}/{file_id}/{storage_name(name)}",
        "status": "uploading",
        "metadata": metadata,
        "options": options,
        "batch_id": batch_id,
        "connection_id": connection_id,
        "node_id": node_id,
        "created_at": now,
        "updated_at": now,
    }
    db = services.db
    job = None
    with db.write():
        file_store.insert_file(db, row)
        if not skip_processing:
            job = job_store.create_job(db, file_id=file_id, space=space, options=options)
    file = file_store.get_file(db, file_id)
    assert file is not None
    return file, job


def receive_bytes(
    services: "Services", file: dict[str, Any], chunks: Iterator[bytes], *, declared_content_type: str | None,
    expected_size: int | None = None,
) -> dict[str, Any]:
    """Stream bytes into the blob store, then mark the file uploaded and queue its job.

    On failure the bytes are removed and the exception propagates (callers decide whether the
    file record goes too).
    """
    try:
        written = services.blobs.write_stream(
            file["storage_key"], chunks, max_bytes=services.settings.max_upload_bytes, expected_size=expected_size
        )
    except BlobTooLarge as exc:
        raise PayloadTooLarge(str(exc)) from None
    except BlobSizeMismatch as exc:
        raise BadRequest(f"size_bytes: {exc}") from None
    content_type = detect_type(services, file, written.head, declared_content_type)
    return mark_uploaded(services, file, size=written.size, sha256=written.sha256, content_type=content_type)


def detect_type(services: "Services", file: dict[str, Any], head: bytes, declared: str | None) -> str:
    from roset_local.pipeline.detect import detect

    path = services.blobs.local_path(file["storage_key"])
    return detect(path=path, head=head, filename=file["filename"], declared=declared)


def mark_uploaded(services: "Services", file: dict[str, Any], *, size: int, sha256: str, content_type: str) -> dict[str, Any]:
    db = services.db
    job = job_store.latest_job(db, file["id"])
    with db.write():
        file_store.set_file_fields(db, file["id"], status="uploaded", size_bytes=size, sha256=sha256, content_type=content_type)
        updated = file_store.get_file(db, file["id"])
        assert updated is not None
        record_event(db, "file.uploaded", file_event_data(updated, job, "uploaded"), space=updated["space"])
    notify_events(services)
    if job is not None and job["status"] == "queued":
        enqueue(services, job["id"])
    return updated


def discard_file(services: "Services", file_id: str) -> None:
    """Remove a file that never became usable (failed upload): rows and any bytes."""
    file = file_store.get_file(services.db, file_id)
    if file is None:
        return
    with services.db.write():
        file_store.delete_file_rows(services.db, file_id)
        doomed = file_store.schedule_blob_deletions(services.db, [file["storage_key"]])
    delete_scheduled_blobs(services, doomed)


def start_processing(services: "Services", file: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """A new job for a file whose bytes are stored. 409 while another job is queued or running."""
    if file["status"] == "uploading":
        raise Conflict("The file's bytes have not been uploaded yet")
    check_quota(services)
    db = services.db
    with db.write():
        # Read again under the write lock: a delete committed since the caller read the file would
        # otherwise make the job's insert fail its foreign key (a 500; seen under concurrent use).
        current = file_store.get_file(db, file["id"])
        if current is None:
            raise NotFound("File not found")
        if job_store.active_job_for_file(db, file["id"]) is not None:
            raise Conflict("The file already has a queued or processing job")
        merged = {**(current.get("options") or {}), **options}
        job = job_store.create_job(db, file_id=file["id"], space=current["space"], options=merged)
    enqueue(services, job["id"])
    return job


def settle_file_after_job(db: Any, file_id: str, job_status: str, *, error: str | None = None, reason: str | None = None) -> None:
    """File status follows its latest job (inside db.write())."""
    if job_status == "completed":
        file_store.set_file_fields(db, file_id, status="completed", error=None, reason=None)
    elif job_status == "failed":
        file_store.set_file_fields(db, file_id, status="failed", error=error, reason=reason)
    elif job_status == "processing":
        file_store.set_file_fields(db, file_id, status="processing")
    elif job_status in ("cancelled", "queued"):
        has_output = variant_store.has_variants(db, file_id)
        file_store.set_file_fields(db, file_id, status="completed" if has_output else "uploaded")


def cancel_job(services: "Services", job_id: str) -> dict[str, Any]:
    db = services.db
    with db.write():
        job = job_store.get_job(db, job_id)
        if job is None:
            raise NotFound("Job not found")
        if job["status"] not in ("queued", "processing"):
            raise Conflict(f"A {job['status']} job cannot be cancelled")
        now = now_str()
        job = job_store.transition(db, job_id, "cancelled", cancel_requested=1, completed_at=now, stage="cancelled",
                                   lease_owner=None, lease_expires_at=None)
        file = file_store.get_file(db, job["file_id"])
        if file is not None:
            if file["status"] != "uploading":
                settle_file_after_job(db, file["id"], "cancelled")
            record_event(db, "job.cancelled", file_event_data(file, job, "cancelled"), space=file["space"])
    notify_events(services)
    return job


def retry_job(services: "Services", job_id: str) -> dict[str, Any]:
    db = services.db
    with db.write():
        job = job_store.get_job(db, job_id)
        if job is None:
            raise NotFound("Job not found")
        if job["status"] != "failed":
            raise Conflict(f"Only failed jobs can be retried; this one is {job['status']}")
        file = file_store.get_file(db, job["file_id"])
        if file is None or file["status"] == "uploading":
            raise Conflict("The file's bytes are not available; upload it again")
        if job_store.active_job_for_file(db, job["file_id"]) is not None:
            raise Conflict("The file already has a queued or processing job")
        job = job_store.transition(db, job_id, "queued", reason=None, error=None, stage="queued", progress=0,
                                   completed_at=None, duration_ms=None, cancel_requested=0)
        file_store.set_latest_job(db, job["file_id"], job_id)
        settle_file_after_job(db, job["file_id"], "queued")
    enqueue(services, job_id)
    return job


def delete_file(services: "Services", file_id: str, actor: Actor | None = None,
                reason: str = "requested") -> dict[str, Any]:
    """Remove the file, its jobs, variants, index entries and stored bytes; emits file.deleted saying
    why (``requested``, ``space_deleted``, ``source_deleted``, ``connection_deleted``).

    ``actor`` gets a ``file.deleted`` audit entry in the same transaction (None: part of a batch or
    a space deletion, which records one entry of its own)."""
    db = services.db

    def remove_rows() -> tuple[dict[str, Any], list[int]]:
        with db.write():
            file = file_store.get_file(db, file_id)
            if file is None:
                raise NotFound("File not found")
            blob_keys = variant_store.blob_keys(db, file_id)
            if not file.get("connection_id"):  # a linked bucket's bytes are the user's: never touched
                blob_keys.append(file["storage_key"])
            doomed = file_store.schedule_blob_deletions(db, blob_keys, [f"{file['space']}/{file_id}"])
            job_store.request_cancel_for_file(db, file_id)
            delete_file_index(db, file_id)
            file_store.delete_file_rows(db, file_id)
            record_event(db, "file.deleted", {"file_id": file_id, "job_id": None, "space": file["space"],
                                              "status": "deleted", "filename": file["filename"], "reason": reason},
                         space=file["space"])
            if actor is not None:
                audit.record(db, actor, "file.deleted", target_type="file", target_id=file_id, space=file["space"],
                             changes={"filename": file["filename"]})
        return file, doomed

    # On a full disk the rows' journal needs a little room: the reserve gives it, the blobs then
    # free far more, and the reserve is made again once there is space.
    file, doomed = services.disk.with_reserve(remove_rows)
    notify_events(services)
    delete_scheduled_blobs(services, doomed)
    services.disk.ensure_reserve()
    return file


def delete_scheduled_blobs(services: "Services", ids: list[int] | None = None) -> int:
    """Delete the bytes that :func:`file_store.schedule_blob_deletions` recorded with the rows' removal
    (``ids``), or, at start, every deletion a crash left pending. A deletion the store refuses stays
    pending for the next start (the rows are gone already: the caller's request succeeded). Returns
    how many were carried out."""
    if ids is not None and not ids:
        return 0  # nothing recorded (every job without replaced variants): no query
    done, after = 0, 0
    while True:
        rows = file_store.pending_blob_deletions(services.db, 500, ids, after=after)
        if not rows:
            return done
        gone = []
        for row in rows:
            try:
                if row["prefix"]:
                    services.blobs.delete_prefix(row["key"])
                else:
                    services.blobs.delete(row["key"])
            except Exception as exc:  # noqa: BLE001 - an unreachable store must not fail the request
                log.warning("could not delete stored bytes %s (retried at the next start): %s", row["key"], exc)
                continue
            gone.append(row["id"])
        file_store.forget_blob_deletions(services.db, gone)
        done += len(gone)
        after = rows[-1]["id"]


def delete_space(services: "Services", space: str, cascade: bool, actor: Actor | None = None) -> int:
    """Delete every file of the space (``cascade`` must be set when it has any); one ``space.deleted`` entry."""
    ids = file_store.file_ids_in_space(services.db, space)
    if not ids:
        raise NotFound(f"Space '{space}' not found")
    if not cascade:
        raise Conflict(f"Space '{space}' still has {len(ids)} files; delete them first or use cascade=true")
    for file_id in ids:
        try:
            delete_file(services, file_id, reason="space_deleted")
        except NotFound:
            continue
    if actor is not None:
        with services.db.write():
            audit.record(services.db, actor, "space.deleted", target_type="space", target_id=space, space=space,
                         changes={"files_deleted": len(ids)})
    return len(ids)


def delete_files(services: "Services", files: list[dict[str, Any]], actor: Actor) -> list[str]:
    """Delete already-visible files one transaction each, then one ``files.batch_deleted`` entry per
    space listing the ids that were deleted; returns the ids that were gone meanwhile."""
    done: dict[str, list[str]] = {}
    gone: list[str] = []
    for file in files:
        try:
            delete_file(services, file["id"])
        except NotFound:
            gone.append(file["id"])
            continue
        done.setdefault(file["space"], []).append(file["id"])
    with services.db.write():
        for space, ids in done.items():
            audit.record(services.db, actor, "files.batch_deleted", target_type="files", target_id=",".join(ids),
                         space=space, changes={"file_ids": ids, "count": len(ids)})
    return gone
