"""Jobs: the processing runs of a file, as the API returns them."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

JobStatus = Annotated[str, Meta(examples=["queued"], description="queued, processing, completed, failed or cancelled")]
Timestamp = Annotated[str, Meta(examples=["2026-01-01T12:00:00.000Z"], description="UTC, ISO 8601")]


class JobOut(msgspec.Struct, kw_only=True):
    """One processing run of a file."""

    id: Annotated[str, Meta(examples=["job_01hx3k8d2f"])]
    file_id: Annotated[str, Meta(examples=["file_01hx3k8c9a"])]
    space: str
    status: JobStatus
    provider: str | None
    engine: str | None
    stage: str | None
    progress: Annotated[int, Meta(description="0-100")]
    attempts: int
    created_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None
    duration_ms: int | None
    error: str | None
    reason: Annotated[str | None, Meta(description="machine-readable cause of a failure, e.g. unsupported_format")]

    @classmethod
    def from_row(cls, job: dict[str, Any]) -> JobOut:
        return cls(**{name: job[name] for name in cls.__struct_fields__})


class JobList(msgspec.Struct, kw_only=True):
    jobs: list[JobOut]
    next_cursor: str | None


class JobState(msgspec.Struct, kw_only=True):
    """A job after a cancel or retry."""

    id: str
    status: JobStatus


def job_or_none(job: dict[str, Any] | None) -> JobOut | None:
    return None if job is None else JobOut.from_row(job)
