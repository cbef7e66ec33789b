"""Which host ran a job (a worker host or the server itself), with the provider and engine it used."""

from __future__ import annotations

from typing import Any

from roset_local.store.db import Database


def set_job_runner(db: Database, job_id: str, *, host: str | None, provider: str | None = None,
                   engine: str | None = None) -> None:
    """Record the host of the job's current attempt (and its provider/engine when given)."""
    values: dict[str, Any] = {"worker_host": host}
    if provider is not None:
        values.update(provider=provider, engine=engine)
    with db.write():
        db.update("jobs", {"id": job_id}, values)
