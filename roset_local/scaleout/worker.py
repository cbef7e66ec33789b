"""A worker host: takes work orders from Redis, extracts, chunks and embeds, leaves the result in the object store.

It never opens ``roset.db`` (it has no data directory): everything a job needs comes in its order, the
file's bytes come from the blob store, and the API host commits the result.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from roset_local.config import Settings
from roset_local.heap import freeze_startup_heap
from roset_local.index.batching import local_batcher
from roset_local.index.embedder import LOCAL_MODEL, canonical_model
from roset_local.index.indexer import IndexCancelled, chunk_text, embed_with, embeddings_content, text_index_content
from roset_local.pipeline.steps import (EXTRACT_SHARE, CancelToken, Plan, blob_copy, index_rows, metadata_of,
                                        pages_used, text_variants, write_thumbnail)
from roset_local.positions.structure import document_elements
from roset_local.providers.base import ExtractionError, ExtractRequest
from roset_local.providers.isolation import pool_for
from roset_local.queue import check_shared_queue, redis_huey, redis_pool, start_consumer
from roset_local.scaleout.leases import Leases
from roset_local.scaleout.queues import (MAIN_QUEUE, WORK_QUEUE, commit_task, result_key, runs_elsewhere,
                                         variant_dir, work_task)
from roset_local.scaleout.results import Result
from roset_local.storage.blobs import BlobStore

log = logging.getLogger("roset_local.scaleout")

COMMIT_RETRY_SECONDS = 3600.0  # how long a finished result waits for Redis to take its commit


class Withdrawn(Exception):
    """The attempt's lease is gone (cancelled, reclaimed, expired): drop the work."""


@dataclass
class Running:
    job_id: str
    attempt: int
    cancel: CancelToken = field(default_factory=CancelToken)
    stage: str = "starting"
    progress: int = 0
    started: float = field(default_factory=time.monotonic)


class WorkerHost:
    """One worker process: ``settings.workers`` threads take orders; one thread renews their leases."""

    def __init__(self, settings: Settings) -> None:
        from roset_local.storage.blobs import open_store

        check_shared_queue(settings)
        assert settings.queue_url is not None
        self.settings = settings
        self.blobs: BlobStore = open_store(str(settings.storage_url), settings.storage_options)
        pool = redis_pool(settings.queue_url)
        from redis import Redis

        self.leases = Leases(Redis(connection_pool=pool))
        self.work_huey = redis_huey(settings.queue_url, WORK_QUEUE)
        self.main_huey = redis_huey(settings.queue_url, MAIN_QUEUE)
        work_task(self.work_huey, self.run_order)
        self.commit = commit_task(self.main_huey, runs_elsewhere("commits"))
        self.hostname = os.environ.get("ROSET_WORKER_NAME") or socket.gethostname()
        self.host = f"{self.hostname}:{os.getpid()}"
        self.worker_id = f"{self.host}:{uuid.uuid4().hex[:8]}"
        self.interval = max(0.5, min(2.0, settings.worker_lease_seconds / 5))
        self.running: dict[tuple[str, int], Running] = {}
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self.pool: Any = None
        self.consumer: Any = None
        self.started_at = time.time()
        self.done = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self.blobs.check()
        self.pool = pool_for(self.settings)
        threading.Thread(target=self._beat, name="roset-worker-leases", daemon=True).start()
        self.consumer = start_consumer(self.work_huey, self.settings.workers, periodic=False)
        log.info("worker host %s taking orders from %s with %d threads", self.host,
                 self.settings.queue_url.split("@")[-1] if self.settings.queue_url else "", self.settings.workers)

    def stop(self) -> None:
        if self.consumer is not None:
            self.consumer.stop(graceful=True)
        self._halt.set()
        if self.pool is not None:
            self.pool.close()
        try:
            self.leases.drop_worker(self.worker_id)
        except Exception:  # Redis gone: the entry expires by itself
            pass

    def _beat(self) -> None:
        """Renew every running attempt's lease and this host's registry entry; a lost lease cancels."""
        warned = False
        while not self._halt.wait(self.interval):
            try:
                with self._lock:
                    running = list(self.running.values())
                for item in running:
                    if not self.leases.renew(item.job_id, item.attempt, self.host, self.settings.worker_lease_seconds,
                                             item.stage, item.progress):
                        log.info("job %s attempt %d: lease withdrawn; stopping it", item.job_id, item.attempt)
                        item.cancel.set()
                self.leases.beat_worker(self.worker_id, self.describe(running), max(10.0, 5 * self.interval))
                warned = False
            except Exception as exc:  # Redis away: keep working, renew once it is back
                if not warned:
                    log.warning("cannot reach the queue to renew leases: %s", exc)
                    warned = True

    def describe(self, running: list[Running]) -> dict[str, Any]:
        return {"id": self.worker_id, "host": self.host, "hostname": self.hostname, "pid": os.getpid(),
                "threads": self.settings.workers, "started_at": self.started_at, "jobs_done": self.done,
                "jobs_running": len(running), "jobs": [r.job_id for r in running]}

    # -- one order -----------------------------------------------------------------------------
    def run_order(self, order: dict[str, Any]) -> None:
        job_id, attempt = order["job_id"], int(order["attempt"])
        if not self.leases.take(job_id, attempt, self.host, self.settings.worker_lease_seconds):
            log.info("job %s attempt %d was withdrawn before it started", job_id, attempt)
            return
        item = Running(job_id, attempt)
        with self._lock:
            self.running[(job_id, attempt)] = item
        report: dict[str, Any] = {"job_id": job_id, "attempt": attempt, "host": self.host, "error": None,
                                  "result_key": None, "thumb_key": None}
        try:
            self._execute(order, item, report)
        except (Withdrawn, IndexCancelled):
            self._drop(report, "withdrawn")
            return
        except ExtractionError as exc:
            if exc.reason == "cancelled" or item.cancel.is_set():
                self._drop(report, "cancelled")
                return
            report["error"] = {"reason": exc.reason, "message": str(getattr(exc, "message", exc))}
        except Exception as exc:  # a bug fails the job, never leaves it running
            log.exception("job %s attempt %d crashed", job_id, attempt)
            report["error"] = {"reason": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
        finally:
            with self._lock:
                self.running.pop((job_id, attempt), None)
        report["elapsed_ms"] = int((time.monotonic() - item.started) * 1000)
        if self.settings.test_faults and order["test_options"].get("_test_fault") == "lose-commit":
            # tests only: the lease is finished but the commit never queued, as when the host dies in between
            self.leases.finish(job_id, attempt, self.host, report)
            return
        self._hand_over(report)

    def _hand_over(self, report: dict[str, Any]) -> None:
        """Mark the lease done, then queue the commit (retrying while Redis is away: nothing is lost)."""
        deadline = time.monotonic() + COMMIT_RETRY_SECONDS
        delay = 0.5
        while True:
            try:
                if not self.leases.finish(report["job_id"], report["attempt"], self.host, report):
                    self._drop(report, "lease lost before commit")
                    return
                self.commit(report)
                self.done += 1
                return
            except Exception as exc:
                if time.monotonic() > deadline or self._halt.is_set():
                    log.error("job %s: could not queue its commit (%s); the API host will run it again",
                              report["job_id"], exc)
                    return
                log.warning("job %s: queue unreachable (%s); retrying the commit", report["job_id"], exc)
                time.sleep(delay)
                delay = min(5.0, delay * 2)

    def _drop(self, report: dict[str, Any], why: str) -> None:
        log.info("job %s attempt %d dropped: %s", report["job_id"], report["attempt"], why)
        for key in (report.get("result_key"), report.get("thumb_key")):
            if key:
                self.blobs.delete(key)

    def _check(self, item: Running) -> None:
        if item.cancel.is_set():
            raise Withdrawn(item.job_id)

    def _execute(self, order: dict[str, Any], item: Running, report: dict[str, Any]) -> None:
        """Extract → chunk → embed → thumbnail → result blob; the same functions as the server's pipeline."""
        file, plan = order["file"], Plan(**order["plan"])
        timings: dict[str, float] = {}
        if self.settings.test_faults and order["test_options"].get("_test_fault") == "stall-first-attempt":
            # tests only: the first attempt holds its lease and does nothing, so a test can kill this host
            # while the job is certainly mid-way; a later attempt runs normally
            if item.attempt == 1:
                item.stage = "stalled"
                while not item.cancel.is_set() and not self._halt.wait(0.05):
                    pass
                self._check(item)

        def extract_progress(percent: int, stage: str) -> None:
            item.progress, item.stage = int(percent * EXTRACT_SHARE), stage

        t0 = time.monotonic()
        with blob_copy(self.blobs, file) as path:
            request = ExtractRequest(path=path, filename=file["filename"], content_type=plan.content_type,
                                     options={"extraction": plan.mode, "thumbnail": "thumbnail" in plan.wanted,
                                              **order["test_options"]})
            extraction = self.pool.run(plan.provider, plan.keys, request, extract_progress, item.cancel)
        timings["extract_ms"] = round((time.monotonic() - t0) * 1000, 1)
        self._check(item)
        elements, page_sizes = document_elements(extraction, plan.mode)
        result = Result(provider=plan.provider, engine=plan.engine, pages=0,
                        outputs=text_variants(plan, extraction, elements, page_sizes))
        if plan.indexed:
            self._index(order, plan, item, extraction, elements, page_sizes, result, timings)
        thumbnail, report["thumb_key"] = write_thumbnail(self.blobs, file, variant_dir(item.job_id, item.attempt),
                                                         plan, extraction)
        result.outputs += thumbnail
        result.pages = pages_used(plan.content_type, extraction.metadata)
        if "metadata" in plan.wanted:
            result.outputs.append(metadata_of(file, timings, plan, extraction, result.pages))
        self._check(item)
        report["result_key"] = result_key(file, item.job_id, item.attempt)
        self.blobs.write_bytes(report["result_key"], result.encode())

    def _index(self, order: dict[str, Any], plan: Plan, item: Running, extraction: Any, elements: Any,
               page_sizes: Any, result: Result, timings: dict[str, float]) -> None:
        wanted, cfg = plan.wanted, order["chunking"]
        item.progress, item.stage = 60, "indexing"
        t0 = time.monotonic()
        chunks = chunk_text(markdown=extraction.markdown, pages=[(p.number, p.markdown) for p in extraction.pages],
                            segments=[(s.start, s.end, s.text) for s in extraction.segments], cfg=cfg,
                            elements=elements, page_sizes=page_sizes)
        index: dict[str, Any] = {"searchable-index": text_index_content(chunks, cfg)}
        timings["index_text_ms"] = round((time.monotonic() - t0) * 1000, 1)
        result.chunks, result.indexed = chunks, True
        if "embeddings" in wanted:
            model = canonical_model(order["embedding_model"])
            if model != LOCAL_MODEL:
                raise ValueError(f"embedding model '{model}' is not available on worker hosts (only '{LOCAL_MODEL}')")
            item.progress, item.stage = 65, "embedding"

            def progress(fraction: float) -> None:
                item.progress = 65 + int(30 * fraction)

            t1 = time.monotonic()
            result.vectors = embed_with(local_batcher(), chunks, item.cancel, progress)
            result.model = model
            index["embeddings"] = embeddings_content(model, int(result.vectors.shape[1]), chunks, cfg)
            timings["embed_ms"] = round((time.monotonic() - t1) * 1000, 1)
        result.outputs += index_rows(index, wanted)
        item.progress, item.stage = 95, "finishing"


def run(settings: Settings) -> int:
    """``roset-local worker --queue redis://... --storage s3://...``: serve work orders until SIGTERM/SIGINT."""
    host = WorkerHost(settings)
    host.start()
    freeze_startup_heap()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    host.stop()
    return 0
