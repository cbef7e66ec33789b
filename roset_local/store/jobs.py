"""Jobs: the processing state machine, with leases so no job runs twice at once."""

from __future__ import annotations

import json
import time
from typing import Any

from roset_local.ids import new_id
from roset_local.pagination import keyset
from roset_local.store.db import Database, Row, in_list
from roset_local.timeutil import now_str

JOB_STATUSES = ("queued", "processing", "completed", "failed", "cancelled")
TERMINAL = ("completed", "failed", "cancelled")
# The contract's state machine and nothing else.
TRANSITIONS = {
    "queued": {"processing", "cancelled", "failed"},  # failed: upload timeout / gave up before start
    "processing": {"completed", "failed", "cancelled", "queued"},  # queued: lease expired, re-run
    "failed": {"queued"},  # retry
    "completed": set(),
    "cancelled": set(),
}


class IllegalTransition(Exception):
    def __init__(self, job_id: str, current: str, wanted: str) -> None:
        super().__init__(f"job {job_id} is {current}; it cannot become {wanted}")
        self.current = current
        self.wanted = wanted


def decode_job(row: Row) -> Row:
    row["options"] = json.loads(row["options"] or "{}")
    return row


def create_job(db: Database, *, file_id: str, space: str, options: dict[str, Any], provider: str | None = None) -> Row:
    now = now_str()
    row: dict[str, Any] = {
        "id": new_id("job"),
        "file_id": file_id,
        "space": space,
        "status": "queued",
        "provider": provider,
        "engine": None,
        "stage": "queued",
        "progress": 0,
        "attempts": 0,
        "options": json.dumps(options),
        "created_at": now,
        "updated_at": now,
    }
    db.insert("jobs", row)
    db.execute("UPDATE files SET latest_job_id = :j, updated_at = :now WHERE id = :f", {"j": row["id"], "f": file_id, "now": now})
    created = get_job(db, row["id"])
    assert created is not None
    return created


def get_job(db: Database, job_id: str) -> Row | None:
    row = db.one("SELECT * FROM jobs WHERE id = :id", {"id": job_id})
    return decode_job(row) if row else None


def latest_job(db: Database, file_id: str) -> Row | None:
    row = db.one(
        "SELECT j.* FROM jobs j JOIN files f ON f.latest_job_id = j.id WHERE f.id = :f", {"f": file_id}
    )
    return decode_job(row) if row else None


def active_job_for_file(db: Database, file_id: str) -> Row | None:
    row = db.one(
        "SELECT * FROM jobs WHERE file_id = :f AND status IN ('queued', 'processing') ORDER BY created_at DESC LIMIT 1",
        {"f": file_id},
    )
    return decode_job(row) if row else None


def transition(db: Database, job_id: str, wanted: str, **values: Any) -> Row:
    """Move a job to ``wanted`` if the state machine allows it (inside db.write())."""
    job = get_job(db, job_id)
    if job is None:
        raise KeyError(job_id)
    if wanted not in TRANSITIONS[job["status"]]:
        raise IllegalTransition(job_id, job["status"], wanted)
    values = {"status": wanted, "updated_at": now_str(), **values}
    db.update("jobs", {"id": job_id}, values)
    job.update(values)
    return job


def claim(db: Database, job_id: str, owner: str, lease_seconds: float) -> Row | None:
    """Take a queued job for processing (atomic). None if it is not queued or is cancelled."""
    now = now_str()
    cur = db.execute(
        "UPDATE jobs SET status = 'processing', stage = 'starting', lease_owner = :o, lease_expires_at = :exp, "
        "attempts = attempts + 1, started_at = :now, completed_at = NULL, duration_ms = NULL, updated_at = :now, "
        "reason = NULL, error = NULL, progress = 0 "
        "WHERE id = :id AND status = 'queued' AND cancel_requested = 0",
        {"o": owner, "exp": time.time() + lease_seconds, "now": now, "id": job_id},
    )
    if cur.rowcount != 1:
        return None
    return get_job(db, job_id)


def heartbeat(db: Database, job_id: str, owner: str, lease_seconds: float) -> bool:
    """Extend the lease; False when the job is no longer ours (cancelled, reclaimed, deleted)."""
    with db.write():
        cur = db.execute(
            "UPDATE jobs SET lease_expires_at = :exp WHERE id = :id AND lease_owner = :o AND status = 'processing'",
            {"exp": time.time() + lease_seconds, "id": job_id, "o": owner},
        )
    return cur.rowcount == 1


def still_ours(db: Database, job_id: str, owner: str) -> bool:
    row = db.one("SELECT status, lease_owner, cancel_requested FROM jobs WHERE id = :id", {"id": job_id})
    return bool(row and row["status"] == "processing" and row["lease_owner"] == owner and not row["cancel_requested"])


def set_progress(db: Database, job_id: str, owner: str, progress: int, stage: str) -> None:
    with db.write():
        db.execute(
            "UPDATE jobs SET progress = :p, stage = :s, updated_at = :now WHERE id = :id AND lease_owner = :o "
            "AND status = 'processing'",
            {"p": max(0, min(100, int(progress))), "s": stage, "now": now_str(), "id": job_id, "o": owner},
        )


def start_extracting(db: Database, job_id: str, *, provider: str, engine: str) -> None:
    """Record which provider and engine (``local`` or ``hosted``) extract the job, and enter that stage."""
    with db.write():
        db.execute("UPDATE jobs SET provider = :p, engine = :e, stage = 'extracting' WHERE id = :id",
                   {"p": provider, "e": engine, "id": job_id})


def request_cancel_for_file(db: Database, file_id: str) -> None:
    """Ask every queued or processing job of the file to stop (the worker checks the flag)."""
    db.execute("UPDATE jobs SET cancel_requested = 1 WHERE file_id = :f AND status IN ('queued','processing')",
               {"f": file_id})


def processing_jobs(db: Database) -> list[Row]:
    return [decode_job(r) for r in db.all("SELECT * FROM jobs WHERE status = 'processing'")]


def queued_job_ids(db: Database) -> list[str]:
    return [r["id"] for r in db.all("SELECT id FROM jobs WHERE status = 'queued' ORDER BY created_at")]


def list_jobs(
    db: Database, *, spaces: tuple[str, ...] | None, status: str | None, file_id: str | None, limit: int,
    cursor: list[Any] | None,
) -> list[Row]:
    params: dict[str, Any] = {"limit": limit + 1}
    where = []
    if spaces is not None:
        where.append(in_list("space", spaces, params, "sp"))
    if status:
        where.append("status = :status")
        params["status"] = status
    if file_id:
        where.append("file_id = :file_id")
        params["file_id"] = file_id
    cond, order = keyset("created_at", "desc", cursor, params)
    if cond:
        where.append(cond)
    sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {order} LIMIT :limit"
    return [decode_job(r) for r in db.all(sql, params)]


def jobs_for_file(db: Database, file_id: str) -> list[Row]:
    return [decode_job(r) for r in db.all("SELECT * FROM jobs WHERE file_id = :f ORDER BY created_at, id", {"f": file_id})]


def stale_uploads(db: Database, older_than: str) -> list[Row]:
    """Queued jobs whose file never received its bytes before the deadline."""
    return [
        decode_job(r)
        for r in db.all(
            "SELECT j.* FROM jobs j JOIN files f ON f.id = j.file_id WHERE j.status = 'queued' "
            "AND f.status = 'uploading' AND j.created_at < :t",
            {"t": older_than},
        )
    ]
