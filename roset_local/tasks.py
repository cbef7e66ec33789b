"""Queue tasks: thin, explicitly named wrappers around service functions (arguments are ids)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from huey import crontab

from roset_local.connections import sync
from roset_local.index.ann import prune_unindexed_logs
from roset_local.index.indexer import reembed_file
from roset_local.pipeline.intake import await_direct_upload
from roset_local.pipeline.process import recover, run_job
from roset_local.queue import Tasks
from roset_local.store import audit as audit_store
from roset_local.store import logs as log_store
from roset_local.store import webhooks as webhook_store
from roset_local.timeutil import to_str, utcnow
from roset_local.webhooks.relay import Dispatcher

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.tasks")

WEBHOOK_HISTORY_DAYS = 30


def purge_old_logs(services: "Services") -> int:
    cutoff = to_str(utcnow() - timedelta(days=services.settings.log_retention_days))
    return log_store.purge_logs(services.db, cutoff)


def purge_old_audit(services: "Services") -> int:
    cutoff = to_str(utcnow() - timedelta(days=services.settings.audit_retention_days))
    return audit_store.purge_events(services.db, cutoff)


def register_tasks(services: "Services", dispatcher: Dispatcher) -> Tasks:
    """Attach every task to this instance's huey (no module-level huey: see STYLE.md)."""
    huey = services.huey

    @huey.task(name="roset.process_job")
    def process_job(job_id: str) -> None:
        if services.scaleout is not None:  # a shared queue: a worker host runs it, this process commits it
            services.scaleout.dispatch(job_id)
        else:
            run_job(services, job_id)

    @huey.task(name="roset.await_upload")
    def await_upload(file_id: str, attempt: int) -> None:
        delay = await_direct_upload(services, file_id, attempt)
        if delay is not None:
            await_upload.schedule(args=(file_id, attempt + 1), delay=delay)

    @huey.periodic_task(crontab(minute="*"), name="roset.recover_jobs")
    def recover_jobs() -> None:
        result = recover(services)
        if any(result.values()):
            log.info("job recovery: %s", result)

    @huey.task(name="roset.connection_sync")
    def connection_sync(sync_id: str) -> None:
        sync.run_sync(services, sync_id)

    @huey.task(name="roset.reembed_file")
    def reembed_file_task(file_id: str, embedding_model: str | None = None) -> None:
        try:
            reembed_file(services, file_id=file_id, embedding_model=embedding_model)
        except LookupError as exc:  # the file went away meanwhile
            log.info("re-embed skipped: %s", exc)

    @huey.task(name="roset.deliver_webhook")
    def deliver_webhook(delivery_id: str) -> None:
        dispatcher.handle(delivery_id)

    @huey.periodic_task(crontab(minute="23", hour="3"), name="roset.purge_webhook_history")
    def purge_webhook_history() -> None:
        cutoff = to_str(utcnow() - timedelta(days=WEBHOOK_HISTORY_DAYS))
        removed = webhook_store.purge_finished(services.db, cutoff)
        if removed:
            log.info("purged %d finished webhook messages older than %d days", removed, WEBHOOK_HISTORY_DAYS)

    @huey.periodic_task(crontab(minute="*/10"), name="roset.purge_api_logs")
    def purge_api_logs() -> None:
        removed = purge_old_logs(services)
        if removed:
            log.info("purged %d API log entries", removed)
        removed = purge_old_audit(services)
        if removed:
            log.info("purged %d audit entries older than %d days", removed, services.settings.audit_retention_days)
        prune_unindexed_logs(services)

    return Tasks(process_job=process_job, await_upload=await_upload, recover_jobs=recover_jobs,
                 connection_sync=connection_sync, reembed_file=reembed_file_task, deliver_webhook=deliver_webhook,
                 purge_webhook_history=purge_webhook_history, purge_api_logs=purge_api_logs)
