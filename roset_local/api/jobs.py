"""Jobs: list, get, cancel, retry (the contract's state machine; illegal moves → 409)."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery

from roset_local.access import visible_job
from roset_local.api.schemas.jobs import JobList, JobOut, JobState
from roset_local.errors import BadRequest
from roset_local.handlers import blocking, caller, services_of
from roset_local.pagination import decode_cursor, page, parse_limit
from roset_local.pipeline import lifecycle
from roset_local.store import jobs as job_store


@get("/v1/jobs", opt={"scope": "jobs:read"}, tags=["jobs"])
@blocking
def list_jobs(
    request: Request,
    space: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    file_id: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
    cursor: FromQuery[str | None] = None,
) -> JobList:
    if status is not None and status not in job_store.JOB_STATUSES:
        raise BadRequest(f"status: must be one of {', '.join(job_store.JOB_STATUSES)}")
    lim = parse_limit(limit)
    rows = job_store.list_jobs(
        services_of(request).db, spaces=caller(request).space_filter(space), status=status, file_id=file_id,
        limit=lim, cursor=decode_cursor(cursor, 2),
    )
    rows, next_cursor = page(rows, lim, lambda r: (r["created_at"], r["id"]))
    return JobList(jobs=[JobOut.from_row(r) for r in rows], next_cursor=next_cursor)


@get("/v1/jobs/{job_id:str}", opt={"scope": "jobs:read"}, tags=["jobs"])
@blocking
def get_job(request: Request, job_id: FromPath[str]) -> JobOut:
    return JobOut.from_row(visible_job(services_of(request), request, job_id))


@post("/v1/jobs/{job_id:str}/cancel", opt={"scope": "jobs:write"}, status_code=200, tags=["jobs"])
@blocking
def cancel_job(request: Request, job_id: FromPath[str]) -> JobState:
    services = services_of(request)
    visible_job(services, request, job_id)
    job = lifecycle.cancel_job(services, job_id)
    return JobState(id=job["id"], status=job["status"])


@post("/v1/jobs/{job_id:str}/retry", opt={"scope": "jobs:write"}, status_code=200, tags=["jobs"])
@blocking
def retry_job(request: Request, job_id: FromPath[str]) -> JobState:
    services = services_of(request)
    visible_job(services, request, job_id)
    job = lifecycle.retry_job(services, job_id)
    return JobState(id=job["id"], status=job["status"])


ROUTES = [list_jobs, get_job, cancel_job, retry_job]
