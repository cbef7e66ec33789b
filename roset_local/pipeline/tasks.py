"""Queue tasks of the pipeline: process a job; recover leases and uploads every 30 seconds."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from huey import crontab

from roset_local.pipeline.intake import await_direct_upload
from roset_local.pipeline.process import recover, run_job

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.pipeline")


def register(services: "Services") -> dict[str, Any]:
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

    def recover_on_start() -> None:
        result = recover(services)
        if any(result.values()):
            log.info("recovered after start: %s", result)

    services.on_start(recover_on_start)
    return {"process_job": process_job, "recover_jobs": recover_jobs, "await_upload": await_upload}
