"""Running one job: claim it with a lease, run its steps (``pipeline.steps``), and turn every exit (done,
cancelled, failed, disk full, crashed) into a definite state; recovery of lapsed leases."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from datetime import timedelta

import sqlean
from typing import TYPE_CHECKING, Any

from roset_local.errors import is_disk_full, scrub_paths
from roset_local.index.indexer import delete_file_index
from roset_local.pipeline.lifecycle import enqueue, file_event_data, notify_events, settle_file_after_job
from roset_local.pipeline.steps import CancelToken, JobGone, JobRun, process_job
from roset_local.queue.leases import LEASE_SECONDS
from roset_local.providers.base import ExtractionError
from roset_local.store import files as file_store
from roset_local.store import jobs as job_store
from roset_local.store import variants as variant_store
from roset_local.store.events import record_event
from roset_local.store.workers import set_job_runner
from roset_local.timeutil import now_str, to_str, utcnow

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.pipeline")

MAX_ATTEMPTS = 3
STAGES = ("queued", "starting", "extracting", "indexing", "embedding", "finishing", "completed")


_BOOT = uuid.uuid4().hex[:12]  # tells this process apart from an earlier one that had the same pid


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_BOOT}"


def _owner_is_dead(owner: str | None) -> bool:
    """True when the lease belongs to a process of this host that no longer runs."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text, _, boot = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another host: only the lease expiry can tell
    pid = int(pid_text)
    if pid == os.getpid():
        return boot != _BOOT
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def run_job(services: "Services", job_id: str) -> None:
    """Process one job if it can be claimed; every exit leaves the job in a definite state."""
    db = services.db
    owner = _owner()
    with db.write():
        job = job_store.claim(db, job_id, owner, LEASE_SECONDS)
        if job is None:
            return
        set_job_runner(db, job_id, host=socket.gethostname())
        file = file_store.get_file(db, job["file_id"])
        if file is None:
            job_store.transition(db, job_id, "failed", reason="file_deleted", error="The file was deleted",
                                 completed_at=now_str())
            return
        settle_file_after_job(db, file["id"], "processing")
        record_event(db, "file.processing.started", file_event_data(file, job, "processing"), space=file["space"])
    notify_events(services)
    cancel = CancelToken()
    leases = services.lease_keeper
    leases.add(job_id, owner, cancel)
    started = time.monotonic()
    try:
        process_job(JobRun(services, job, file, owner, cancel, started))
    except JobGone:
        log.info("job %s stopped: cancelled or deleted", job_id)
        drop_partial_index(services, job_id)
    except ExtractionError as exc:
        if exc.reason == "cancelled" or cancel.is_set():
            log.info("job %s cancelled during extraction", job_id)
        else:
            fail_job(services, job, file, owner, exc.reason, str(exc.message if hasattr(exc, "message") else exc), started)
    except Exception as exc:
        if is_disk_full(exc):
            _after_disk_full(services, job, file, owner, started)
        elif isinstance(exc, sqlean.OperationalError):  # locked/busy/schema change: transient, run it again
            log.warning("job %s hit a database error (%s); re-queued", job_id, exc)
            if not requeue_job(services, job, owner):
                fail_job(services, job, file, owner, "internal_error", f"database error: {exc}", started)
        else:  # a bug must fail the job, never leave it processing
            log.exception("job %s crashed", job_id)
            fail_job(services, job, file, owner, "internal_error", f"{type(exc).__name__}: {exc}", started)
    finally:
        leases.remove(job_id)


DISK_POLL_SECONDS = 1.0


def _after_disk_full(services: "Services", job: dict[str, Any], file: dict[str, Any], owner: str,
                     started: float) -> None:
    """A write hit the full disk: put the job back in the queue the moment a write fits again.

    Without this the job stayed ``processing`` until its lease ran out and the periodic recovery
    found it (90 s and more after space was freed). Polling here costs one worker thread, which
    could do nothing useful on a full disk anyway.
    """
    log.error("job %s hit a full disk; it goes back to the queue as soon as space returns", job["id"])
    deadline = time.monotonic() + services.settings.job_timeout_seconds
    while time.monotonic() < deadline:
        try:
            if not requeue_job(services, job, owner, delay=None):
                fail_job(services, job, file, owner, "internal_error", "the server's disk was full", started)
            return
        except Exception as exc:
            if not is_disk_full(exc):
                raise
        time.sleep(DISK_POLL_SECONDS)
    log.error("job %s: the disk stayed full; the lease recovery will take it over", job["id"])


def requeue_job(services: "Services", job: dict[str, Any], owner: str, delay: float | None = 2.0) -> bool:
    """Put a job back in the queue after a transient error; False once its attempts are used up."""
    db = services.db
    with db.write():
        current = job_store.get_job(db, job["id"])
        if current is None or not job_store.still_ours(db, job["id"], owner) or current["attempts"] >= MAX_ATTEMPTS:
            return False
        job_store.transition(db, job["id"], "queued", stage="queued", lease_owner=None, lease_expires_at=None)
    enqueue(services, job["id"], delay=delay)
    return True


def fail_job(services: "Services", job: dict[str, Any], file: dict[str, Any], owner: str, reason: str, message: str,
          started: float) -> None:
    db = services.db
    message = scrub_paths(message)
    with db.write():
        if not job_store.still_ours(db, job["id"], owner):
            return
        job_store.transition(db, job["id"], "failed", reason=reason, error=message, stage="failed",
                             completed_at=now_str(), duration_ms=int((time.monotonic() - started) * 1000),
                             lease_owner=None, lease_expires_at=None)
        settle_file_after_job(db, file["id"], "failed", error=message, reason=reason)
        record_event(db, "file.processing.failed",
                     file_event_data(file, job, "failed", error=message, reason=reason), space=file["space"])
    drop_partial_index(services, job["id"])
    notify_events(services)


def drop_partial_index(services: "Services", job_id: str) -> None:
    """A job that failed or was cancelled after its text stage must not leave a never-completed file
    searchable. A job reclaimed by another runner is left alone: that runner rewrites the chunks."""
    db = services.db
    with db.write():
        job = job_store.get_job(db, job_id)
        file = file_store.get_file(db, job["file_id"]) if job else None
        if (job is None or file is None or job["status"] not in ("failed", "cancelled")
                or file["latest_job_id"] != job_id or variant_store.markdown_of(db, file["id"]) is not None):
            return
        delete_file_index(db, file["id"])


def recover(services: "Services") -> dict[str, int]:
    """After a crash or on a schedule: re-queue expired leases, queue orphaned queued jobs, time out uploads."""
    db = services.db
    requeued = failed = 0
    for job in job_store.processing_jobs(db):
        with db.write():
            current = job_store.get_job(db, job["id"])
            if current is None or current["status"] != "processing":
                continue
            if (current["lease_expires_at"] or 0) > time.time() and not _owner_is_dead(current["lease_owner"]):
                continue
            if current["attempts"] >= MAX_ATTEMPTS:
                job_store.transition(db, job["id"], "failed", reason="provider_crashed", stage="failed",
                                     error=f"The job was interrupted {current['attempts']} times (server restarts or crashes)",
                                     completed_at=now_str(), lease_owner=None, lease_expires_at=None)
                file = file_store.get_file(db, job["file_id"])
                if file:
                    settle_file_after_job(db, file["id"], "failed", error="interrupted", reason="provider_crashed")
                    record_event(db, "file.processing.failed",
                                 file_event_data(file, current, "failed", error="interrupted", reason="provider_crashed"),
                                 space=file["space"])
                failed += 1
                continue
            job_store.transition(db, job["id"], "queued", stage="queued", lease_owner=None, lease_expires_at=None)
        requeued += 1
    notify_events(services)
    queued = 0
    for job_id in job_store.queued_job_ids(db):
        waiting = job_store.get_job(db, job_id)
        file = file_store.get_file(db, waiting["file_id"]) if waiting else None
        if file is not None and file["status"] != "uploading":
            enqueue(services, job_id)
            queued += 1
    cutoff = to_str(utcnow() - timedelta(seconds=services.settings.upload_url_ttl_seconds))
    timed_out = 0
    for job in job_store.stale_uploads(db, cutoff):
        with db.write():
            current = job_store.get_job(db, job["id"])
            if current is None or current["status"] != "queued":
                continue
            job_store.transition(db, job["id"], "failed", reason="upload_timeout", stage="failed", completed_at=now_str(),
                                 error="The file's bytes were not uploaded before the upload URL expired")
            file_store.set_file_fields(db, job["file_id"], status="failed", reason="upload_timeout",
                                       error="The file's bytes were never uploaded")
        timed_out += 1
    return {"requeued": requeued, "failed": failed, "queued": queued, "upload_timeouts": timed_out}
