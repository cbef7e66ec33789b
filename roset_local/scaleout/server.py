"""The API host's side: hand jobs to worker hosts, watch their leases, and commit their results as the one writer."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from roset_local.pipeline import reuse
from roset_local.pipeline.lifecycle import file_event_data, notify_events, settle_file_after_job
from roset_local.pipeline.process import LEASE_SECONDS, fail_job, recover, requeue_job, run_job
from roset_local.pipeline.steps import CancelToken, JobGone, JobRun, make_plan, swap_in
from roset_local.queue import queue_depth, redis_huey, redis_pool
from roset_local.scaleout.leases import DONE, QUEUED, RUNNING, Lease, Leases
from roset_local.scaleout.queues import WORK_QUEUE, commit_task, owner_of, runs_elsewhere, work_task
from roset_local.scaleout.results import Result
from roset_local.store import files as file_store
from roset_local.store import jobs as job_store
from roset_local.store import variants as variant_store
from roset_local.store.events import record_event
from roset_local.store.workers import set_job_runner

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.scaleout")


class ScaleOut:
    """Owned by :class:`~roset_local.services.Services` (``services.scaleout``) when ROSET_QUEUE_URL is set."""

    def __init__(self, services: "Services") -> None:
        from redis import Redis

        url = services.settings.queue_url
        assert url is not None
        self.services = services
        self.leases = Leases(Redis(connection_pool=redis_pool(url)))
        self.work_huey = redis_huey(url, WORK_QUEUE)
        self.work_order = work_task(self.work_huey, runs_elsewhere("work orders"))
        self.commit = commit_task(services.huey, self.apply_commit)
        self.lease_seconds = services.settings.worker_lease_seconds
        self.interval = max(0.5, min(2.0, self.lease_seconds / 5))
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        # The commit task (huey's consumer) and the lease watcher may apply the same commit: one at a time,
        # so the second sees the job completed instead of racing it inside swap_in.
        self._commit_lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="roset-scaleout-leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- dispatch ------------------------------------------------------------------------------
    def dispatch(self, job_id: str) -> None:
        """The ``roset.process_job`` task with a shared queue: claim the job for a worker host and queue its
        order. Files of a connection, reused twins and bad options run here, as in single-host mode."""
        services, db = self.services, self.services.db
        job = job_store.get_job(db, job_id)
        if job is None or job["status"] != "queued" or job["cancel_requested"]:
            return
        file = file_store.get_file(db, job["file_id"])
        if file is None or file.get("node_id") or reuse.find_twin(services, file, job["options"] or {}) is not None:
            run_job(services, job_id)
            return
        attempt = int(job["attempts"]) + 1
        try:
            order = self.order_for(job, file, attempt)
        except ValueError:  # e.g. an invalid chunking config: the local run fails the job the usual way
            run_job(services, job_id)
            return
        owner = owner_of(job_id, attempt)
        self.leases.offer(job_id, attempt)  # before the claim: the watcher never sees a claim without its lease
        with db.write():
            claimed = job_store.claim(db, job_id, owner, LEASE_SECONDS)
            if claimed is not None:
                set_job_runner(db, job_id, host=None, provider=order["plan"]["provider"],
                               engine=order["plan"]["engine"])
                settle_file_after_job(db, file["id"], "processing")
                record_event(db, "file.processing.started", file_event_data(file, claimed, "processing"),
                             space=file["space"])
        if claimed is None:
            self.leases.withdraw(job_id, attempt)
            return
        notify_events(services)
        try:
            self.work_order(order)
        except Exception:
            log.exception("job %s: could not queue its work order; back to the queue", job_id)
            self.leases.withdraw(job_id, attempt)
            requeue_job(services, claimed, owner)
            raise

    def order_for(self, job: dict[str, Any], file: dict[str, Any], attempt: int) -> dict[str, Any]:
        """Everything a worker host needs, decided here where the database is (routing, org defaults)."""
        from roset_local.index.chunking import validate_chunking
        from roset_local.index.indexer import org_defaults

        options = job["options"] or {}
        plan = make_plan(self.services, file, options)
        default_chunking, default_model = org_defaults(self.services.db)
        return {
            "job_id": job["id"], "attempt": attempt,
            "file": {k: file[k] for k in ("id", "space", "filename", "content_type", "storage_key", "sha256",
                                          "size_bytes")},
            "plan": {"content_type": plan.content_type, "provider": plan.provider, "engine": plan.engine,
                     # only the key this job uses travels through Redis
                     "keys": {plan.provider: plan.keys[plan.provider]} if plan.provider in plan.keys else {},
                     "mode": plan.mode, "wanted": plan.wanted},
            "chunking": validate_chunking(options.get("chunking") or default_chunking),
            "embedding_model": options.get("embedding_model") or default_model,
            "test_options": {k: v for k, v in options.items() if k.startswith("_")},
        }

    # -- commit --------------------------------------------------------------------------------
    def apply_commit(self, report: dict[str, Any]) -> None:
        """Apply one attempt's result in one transaction; a late, lost or repeated report changes nothing."""
        with self._commit_lock:
            self._apply_commit(report)

    def _apply_commit(self, report: dict[str, Any]) -> None:
        services, db = self.services, self.services.db
        job_id, attempt = report["job_id"], int(report["attempt"])
        owner = owner_of(job_id, attempt)
        job = job_store.get_job(db, job_id)
        file = file_store.get_file(db, job["file_id"]) if job else None
        if job is None or file is None or job["status"] != "processing" or job["lease_owner"] != owner:
            self.discard(report, file, "not the job's current attempt")
            return
        started = time.monotonic() - float(report.get("elapsed_ms") or 0) / 1000
        host = report.get("host")
        if report.get("error"):
            set_job_runner(db, job_id, host=host)
            fail_job(services, job, file, owner, report["error"]["reason"], report["error"]["message"], started)
            self.discard(report, file, None)
            return
        try:
            result = Result.decode(services.blobs.read_bytes(report["result_key"]))
        except FileNotFoundError:
            log.warning("job %s attempt %d: its result is gone; running it again", job_id, attempt)
            self.leases.withdraw(job_id, attempt)
            requeue_job(services, job, owner, delay=None)
            return

        def index() -> None:  # inside swap_in's transaction: chunks, FTS rows and vectors with the variants
            from roset_local.index.indexer import write_index

            set_job_runner(db, job_id, host=host, provider=result.provider, engine=result.engine)
            if result.indexed:
                write_index(db, file_id=file["id"], space=file["space"], filename=file["filename"],
                            chunks=result.chunks, model=result.model, vectors=result.vectors)

        try:
            swap_in(JobRun(services, job, file, owner, CancelToken(), started), result.provider, result.outputs,
                    result.pages, report.get("thumb_key"), index=index)
        except JobGone:
            self.discard(report, file_store.get_file(db, file["id"]), "cancelled or reclaimed meanwhile")
            return
        self.leases.withdraw(job_id, attempt)
        services.blobs.delete(report["result_key"])

    def discard(self, report: dict[str, Any], file: dict[str, Any] | None, why: str | None) -> None:
        """Remove what an attempt left behind, except a thumbnail a variant uses (a repeated commit)."""
        if why:
            log.info("job %s attempt %s: result discarded (%s)", report["job_id"], report["attempt"], why)
        in_use = set(variant_store.blob_keys(self.services.db, file["id"])) if file else set()
        for key in (report.get("result_key"), report.get("thumb_key")):
            if key and key not in in_use:
                self.services.blobs.delete(key)
        try:
            self.leases.withdraw(report["job_id"], int(report["attempt"]))
        except Exception:  # Redis away: the watcher withdraws it later
            log.warning("could not withdraw the lease of job %s", report["job_id"])

    # -- leases --------------------------------------------------------------------------------
    def _watch(self) -> None:
        away = False
        while not self._halt.wait(self.interval):
            try:
                self.check_leases()
                if away:  # jobs queued while Redis was away (uploads, retries) are sent now, not in a minute
                    log.info("the shared queue answers again: %s", recover(self.services))
                away = False
            except Exception as exc:  # Redis away: nothing is decided until it answers again
                if not away:
                    log.warning("cannot check worker-host leases: %s", exc)
                    away = True

    def check_leases(self) -> None:
        """Renew the database lease of live attempts, re-queue lost ones, and withdraw attempts whose job
        was cancelled, deleted or reclaimed (the worker host stops at its next renewal)."""
        services, db = self.services, self.services.db
        queue_empty: bool | None = None  # read once, and only when an order has waited long
        for job_id, attempt in self.leases.remote_jobs():
            owner = owner_of(job_id, attempt)
            job = job_store.get_job(db, job_id)
            if job is None or job["status"] != "processing" or job["lease_owner"] != owner:
                if job is None or job["status"] != "completed":  # a completed job's commit withdraws it
                    self.leases.withdraw(job_id, attempt)
                continue
            lease = self.leases.read(job_id, attempt)
            if lease is not None and lease.state == QUEUED and time.time() - lease.since > self.lease_seconds:
                # An order still offered long after it was queued, while no order waits: a worker host took it
                # off the queue and died before taking its lease (huey's pop is not reliable). Run it again.
                if queue_empty is None:
                    queue_empty = int(self.work_huey.pending_count()) == 0
                if queue_empty:
                    lease = None
            if lease is not None and lease.state == DONE and time.time() - lease.since > self.lease_seconds:
                self._commit_stalled(job_id, attempt, lease)
                continue
            if lease is None:
                log.warning("job %s attempt %d: its worker host stopped renewing; running it again", job_id, attempt)
                self.leases.withdraw(job_id, attempt)
                self._run_again(job, owner, "Worker hosts stopped answering")
                continue
            if (job["lease_expires_at"] or 0) - time.time() < LEASE_SECONDS / 2:
                job_store.heartbeat(db, job_id, owner, LEASE_SECONDS)
            if lease.state in (RUNNING, DONE):
                if lease.host and job.get("worker_host") != lease.host:
                    set_job_runner(db, job_id, host=lease.host)
                if lease.stage and (lease.stage, lease.progress) != (job["stage"], job["progress"]):
                    job_store.set_progress(db, job_id, owner, lease.progress, lease.stage)

    def _commit_stalled(self, job_id: str, attempt: int, lease: Lease) -> None:
        """A finished attempt whose commit has not arrived for a lease period: it was lost (the worker
        host died between finishing and queueing it, or the task failed). Apply the commit the lease
        carries; without one (or if it fails), the job runs again rather than staying 'processing'."""
        log.warning("job %s attempt %d: finished %.0f s ago and not committed; committing it here",
                    job_id, attempt, time.time() - lease.since)
        if lease.report is not None:
            try:
                self.apply_commit(lease.report)
                return
            except Exception:
                log.exception("job %s attempt %d: its stalled commit failed; running it again", job_id, attempt)
        job = job_store.get_job(self.services.db, job_id)
        owner = owner_of(job_id, attempt)
        if job is None or job["status"] != "processing" or job["lease_owner"] != owner:
            self.leases.withdraw(job_id, attempt)
            return
        self.leases.withdraw(job_id, attempt)
        self._run_again(job, owner, "Worker hosts' results were lost")

    def _run_again(self, job: dict[str, Any], owner: str, why: str) -> None:
        if not requeue_job(self.services, job, owner, delay=None):
            file = file_store.get_file(self.services.db, job["file_id"])
            if file is not None:
                fail_job(self.services, job, file, owner, "provider_crashed", f"{why} {job['attempts']} times",
                         time.monotonic())

    # -- status --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Workers seen in the last seconds, and the depth of both queues (for /health and /metrics)."""
        now = time.time()
        workers = [{"host": w["host"], "hostname": w.get("hostname"), "pid": w.get("pid"),
                    "last_seen_seconds": round(max(0.0, now - float(w["last_seen"])), 1),
                    "jobs_running": int(w.get("jobs_running") or 0), "jobs_done": int(w.get("jobs_done") or 0),
                    "threads": w.get("threads")} for w in self.leases.workers()]
        return {"workers": workers, "work_queue_depth": queue_depth(self.work_huey),
                "commit_queue_depth": queue_depth(self.services.huey)}


def attach(services: "Services") -> ScaleOut | None:
    """With ROSET_QUEUE_URL: build ``services.scaleout`` (commit task, lease watcher). Else nothing."""
    if not services.settings.queue_url:
        return None
    scaleout = ScaleOut(services)
    services.scaleout = scaleout
    services.on_start(scaleout.start)
    services.on_stop(scaleout.stop)
    return scaleout
