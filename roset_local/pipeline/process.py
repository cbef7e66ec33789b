"""Running one job: claim with a lease → extract (isolated processes) → index → swap in variants."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import sqlean
from typing import TYPE_CHECKING, Any

from roset_local.errors import is_disk_full, scrub_paths
from roset_local.pipeline import reuse
from roset_local.pipeline.outputs import (index_outputs, metadata_output, pages_used, text_outputs,
                                          thumbnail_key, thumbnail_output)
from roset_local.pipeline.lifecycle import enqueue, file_event_data, notify_events, settle_file_after_job
from roset_local.positions.structure import document_elements
from roset_local.providers.base import DEFAULT_EXTRACTION, ExtractionError, ExtractRequest
from roset_local.store import files as file_store
from roset_local.store import jobs as job_store
from roset_local.store import variants as variant_store
from roset_local.store.variants import VARIANT_TYPES
from roset_local.store.events import record_event
from roset_local.store.workers import set_job_runner
from roset_local.timeutil import now_str, to_str, utcnow

if TYPE_CHECKING:
    from roset_local.config import Settings
    from roset_local.services import Services
    from roset_local.storage.blobs import BlobStore

log = logging.getLogger("roset_local.pipeline")

LEASE_SECONDS = 60.0
HEARTBEAT_SECONDS = 10.0
MAX_ATTEMPTS = 3
# The job's overall progress: extraction fills 0-60 %, text indexing 60-65, embedding 65-95, the rest 95-100.
EXTRACT_SHARE = 0.6
STAGES = ("queued", "starting", "extracting", "indexing", "embedding", "finishing", "completed")


class JobGone(Exception):
    """The job was cancelled, deleted or reclaimed while running: drop the work silently."""


class CancelToken:
    """Set when the job must stop; polled between stages and by the extraction pool."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def __call__(self) -> bool:
        return self._event.is_set()


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


class _Heartbeat(threading.Thread):
    def __init__(self, services: "Services", job_id: str, owner: str, cancel: CancelToken) -> None:
        super().__init__(name=f"lease-{job_id}", daemon=True)
        self.services, self.job_id, self.owner, self.cancel = services, job_id, owner, cancel
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(HEARTBEAT_SECONDS):
            try:
                if not job_store.heartbeat(self.services.db, self.job_id, self.owner, LEASE_SECONDS):
                    self.cancel.set()
                    return
            except Exception:
                log.exception("lease heartbeat failed for %s", self.job_id)

    def stop(self) -> None:
        self._halt.set()


def extraction_pool(services: "Services") -> Any:
    pool = services.extensions.get("extraction_pool")
    if pool is None:
        with services.extensions.setdefault("_pool_lock", threading.Lock()):
            pool = services.extensions.get("extraction_pool")
            if pool is None:
                pool = new_extraction_pool(services.settings)
                services.extensions["extraction_pool"] = pool
                services.on_stop(pool.close)
    return pool


def new_extraction_pool(settings: "Settings") -> Any:
    """The extraction processes for this process's jobs (the server's, or a worker host's)."""
    from roset_local.providers.isolation import ExtractionPool

    return ExtractionPool(max_workers=max(1, settings.workers), timeout_seconds=settings.job_timeout_seconds,
                          models_dir=settings.models_dir, test_faults=settings.test_faults)


@contextlib.contextmanager
def local_copy(services: "Services", file: dict[str, Any]) -> Iterator[str]:
    """A filesystem path to the file's bytes: the blob itself when on local disk, else a temp copy
    (an object-store blob, or a file that lives in a connected bucket)."""
    if file.get("node_id"):
        with temp_copy(services.extensions["open_file_bytes"](file), file["filename"]) as path:
            yield path
        return
    with blob_copy(services.blobs, file) as path:
        yield path


@contextlib.contextmanager
def blob_copy(blobs: "BlobStore", file: dict[str, Any]) -> Iterator[str]:
    """A filesystem path to an uploaded file's blob: the blob itself on local disk, else a temp copy."""
    path = blobs.local_path(file["storage_key"])
    if path is not None:
        yield path
        return
    with temp_copy(blobs.open(file["storage_key"]), file["filename"]) as path:
        yield path


@contextlib.contextmanager
def temp_copy(source: Any, filename: str) -> Iterator[str]:
    """Copy an open byte stream into a private temp file named like ``filename`` (extension kept)."""
    suffix = os.path.splitext(filename)[1][:16]
    tmpdir = tempfile.mkdtemp(prefix="roset-job-")
    target = os.path.join(tmpdir, "input" + suffix)
    try:
        with source as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        yield target
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def wanted_variants(services: "Services", options: dict[str, Any]) -> list[str]:
    if options.get("variants"):
        return list(options["variants"])
    getter = services.extensions.get("org_settings")
    if getter is not None:
        return list(getter(services.db).get("default_variants") or VARIANT_TYPES)
    return list(VARIANT_TYPES)


def extraction_mode(services: "Services", options: dict[str, Any]) -> str:
    """The job's own ``extraction`` option, else the organisation's ``default_extraction``."""
    if options.get("extraction"):
        return str(options["extraction"])
    getter = services.extensions.get("org_settings")
    if getter is not None:
        return str(getter(services.db).get("default_extraction") or DEFAULT_EXTRACTION)
    return DEFAULT_EXTRACTION


def choose_provider(services: "Services", content_type: str, forced: str | None) -> str:
    from roset_local.providers.registry import route

    rules_of = services.extensions.get("routing_rules")
    rules = rules_of(services.db) if rules_of is not None else None
    return route(content_type, rules, forced)


def hosted_keys(services: "Services") -> dict[str, dict[str, Any]]:
    """Saved provider keys, each with the outbound policy (the extraction process has no settings)."""
    getter = services.extensions.get("hosted_keys")
    keys = dict(getter(services)) if getter is not None else {}
    allow_private = services.settings.outbound_allow_private
    return {name: {**entry, "allow_private": allow_private} for name, entry in keys.items()}


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
    beat = _Heartbeat(services, job_id, owner, cancel)
    beat.start()
    started = time.monotonic()
    try:
        _process(services, job, file, owner, cancel, started)
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
        beat.stop()


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


def _check(services: "Services", job_id: str, owner: str, cancel: CancelToken) -> None:
    if cancel.is_set() or not job_store.still_ours(services.db, job_id, owner):
        cancel.set()
        raise JobGone(job_id)


def _process(services: "Services", job: dict[str, Any], file: dict[str, Any], owner: str, cancel: CancelToken,
             started: float) -> None:
    db = services.db
    options = job["options"] or {}
    timings: dict[str, float] = {}
    last_progress = [0.0]

    def progress(percent: int, stage: str) -> None:
        now = time.monotonic()
        if now - last_progress[0] >= 0.5 or percent >= 100:
            last_progress[0] = now
            job_store.set_progress(db, job["id"], owner, int(percent * EXTRACT_SHARE), stage)

    content_type = file["content_type"] or "application/octet-stream"
    provider = choose_provider(services, content_type, options.get("provider"))
    keys = hosted_keys(services)
    engine = "hosted" if provider in keys else "local"
    job_store.start_extracting(db, job["id"], provider=provider, engine=engine)
    mode = extraction_mode(services, options)
    wanted = wanted_variants(services, options)
    t0 = time.monotonic()
    with local_copy(services, file) as path:  # a bucket file's sha256 is known once its bytes are read
        twin = reuse.find_twin(services, file, options)
        if twin is None:
            request = ExtractRequest(path=path, filename=file["filename"], content_type=content_type,
                                     options={"extraction": mode, "thumbnail": "thumbnail" in wanted,
                                              **{k: v for k, v in options.items() if k.startswith("_")}})
            extraction = extraction_pool(services).run(provider, keys, request, progress, cancel)
    if twin is not None:  # the same bytes were processed alike in this space: copy, don't extract
        _check(services, job["id"], owner, cancel)
        outputs, thumb_key = reuse.copied_outputs(services, file, job, twin)
        swap_in(services, job, file, owner, twin["provider"], outputs, 0, started, thumb_key, twin)  # 0: nothing extracted
        return
    timings["extract_ms"] = round((time.monotonic() - t0) * 1000, 1)
    _check(services, job["id"], owner, cancel)

    elements, page_sizes = document_elements(extraction, mode)
    outputs = text_outputs(extraction, elements, page_sizes, wanted)
    index_result: dict[str, Any] = {}
    if services.extensions.get("index_file") is not None and {"embeddings", "searchable-index"} & set(wanted):
        index_result = _index_stages(services, job, file, owner, cancel, extraction, elements, page_sizes, wanted,
                                     timings)
    outputs += index_outputs(index_result, wanted)
    job_store.set_progress(db, job["id"], owner, 95, "finishing")
    thumb_key = None
    if "thumbnail" in wanted and extraction.thumbnail:
        thumb_key = thumbnail_key(file, job["id"], extraction)
        services.blobs.write_bytes(thumb_key, extraction.thumbnail)
        outputs.append(thumbnail_output(thumb_key, extraction))
    pages = pages_used(content_type, extraction.metadata)
    if "metadata" in wanted:
        outputs.append(metadata_output(extraction, file, content_type=content_type, provider=provider, engine=engine,
                                       mode=mode, pages=pages, timings=timings))
    swap_in(services, job, file, owner, provider, outputs, pages, started, thumb_key)


def swap_in(services: "Services", job: dict[str, Any], file: dict[str, Any], owner: str, provider: str | None,
          outputs: list[dict[str, Any]], pages: int, started: float, thumb_key: str | None,
          twin: dict[str, Any] | None = None, index: Callable[[], None] | None = None) -> None:
    """Swap in the job's variants (and, when reusing a twin's, its index entries, or ``index``: a worker
    host's chunks) and complete the job, all in one transaction."""
    db = services.db
    try:
        with db.write():
            if not job_store.still_ours(db, job["id"], owner):
                raise JobGone(job["id"])
            if twin is not None:
                reuse.copy_index(services, file, twin)
            if index is not None:
                index()
            old_blobs = variant_store.replace_variants(db, file_id=file["id"], job_id=job["id"], provider=provider,
                                                       variants=outputs)
            if {o["type"] for o in outputs} & {"markdown", "structure"} == {"markdown"}:
                variant_store.delete_variant(db, file["id"], "structure")  # its spans point into the old markdown
            duration = int((time.monotonic() - started) * 1000)
            done = job_store.transition(db, job["id"], "completed", stage="completed", progress=100, pages=pages,
                                        completed_at=now_str(), duration_ms=duration, lease_owner=None,
                                        lease_expires_at=None)
            settle_file_after_job(db, file["id"], "completed")
            record_event(db, "file.processing.completed", file_event_data(file, done, "completed"), space=file["space"])
    except BaseException:
        if thumb_key:
            services.blobs.delete(thumb_key)
        raise
    notify_events(services)
    for key in old_blobs:
        services.blobs.delete(key)


def _index_stages(services: "Services", job: dict[str, Any], file: dict[str, Any], owner: str, cancel: CancelToken,
                  extraction: Any, elements: Any, page_sizes: Any, wanted: list[str],
                  timings: dict[str, float]) -> dict[str, Any]:
    """Text first, vectors after: the file answers text search as soon as its markdown is chunked.

    Each stage replaces the file's chunks in one transaction, so a crash between stages leaves a
    consistent index and the re-run (from extraction) replaces it again: never duplicate chunks.
    """
    from roset_local.index.indexer import chunk_file, index_text, index_vectors

    db = services.db
    options = job["options"] or {}
    common = {"file_id": file["id"], "space": file["space"], "filename": file["filename"]}

    def guard() -> None:  # inside each stage's write: a cancelled or reclaimed job writes nothing
        if cancel.is_set() or not job_store.still_ours(db, job["id"], owner):
            cancel.set()
            raise JobGone(job["id"])

    job_store.set_progress(db, job["id"], owner, 60, "indexing")
    t0 = time.monotonic()
    chunks, cfg = chunk_file(db, markdown=extraction.markdown, pages=[(p.number, p.markdown) for p in extraction.pages],
                             segments=[(s.start, s.end, s.text) for s in extraction.segments],
                             chunking=options.get("chunking"), elements=elements, page_sizes=page_sizes)
    result: dict[str, Any] = {"searchable-index": index_text(db, chunks=chunks, cfg=cfg, guard=guard, **common)}
    timings["index_text_ms"] = round((time.monotonic() - t0) * 1000, 1)
    if "embeddings" not in wanted:
        return result
    job_store.set_progress(db, job["id"], owner, 65, "embedding")
    _test_hold(services, options, "embedding", cancel)
    last = [time.monotonic()]

    def progress(fraction: float) -> None:
        if time.monotonic() - last[0] >= 0.5:
            last[0] = time.monotonic()
            job_store.set_progress(db, job["id"], owner, 65 + int(30 * fraction), "embedding")

    t1 = time.monotonic()
    embeddings = index_vectors(services, chunks=chunks, cfg=cfg, embedding_model=options.get("embedding_model"),
                               cancelled=cancel, progress=progress, guard=guard, **common)
    if embeddings is None:
        raise JobGone(job["id"])
    timings["embed_ms"] = round((time.monotonic() - t1) * 1000, 1)
    result["embeddings"] = embeddings
    return result


def _test_hold(services: "Services", options: dict[str, Any], stage: str, cancel: CancelToken) -> None:
    """Test builds only: ``_test_fault="hold-<stage>"`` parks the job before that stage until the file
    ``<data dir>/release-<stage>`` exists, so a test can look at (or kill) the server between stages."""
    if not services.settings.test_faults or options.get("_test_fault") != f"hold-{stage}":
        return
    release = services.settings.data_dir / f"release-{stage}"
    deadline = time.monotonic() + 120
    while not release.exists() and not cancel.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)


def drop_partial_index(services: "Services", job_id: str) -> None:
    """A job that failed or was cancelled after its text stage must not leave a never-completed file
    searchable. A job reclaimed by another runner is left alone: that runner rewrites the chunks."""
    drop = services.extensions.get("delete_file_index")
    if drop is None:
        return
    db = services.db
    with db.write():
        job = job_store.get_job(db, job_id)
        file = file_store.get_file(db, job["file_id"]) if job else None
        if (job is None or file is None or job["status"] not in ("failed", "cancelled")
                or file["latest_job_id"] != job_id or variant_store.markdown_of(db, file["id"]) is not None):
            return
        drop(db, file["id"])


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
        job = job_store.get_job(db, job_id)
        file = file_store.get_file(db, job["file_id"]) if job else None
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
