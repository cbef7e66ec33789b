"""Batches: a group of files registered or (re)processed by one request, and their jobs."""

from __future__ import annotations

from typing import Literal

from roset_local.ids import new_id
from roset_local.store.db import Database, Row
from roset_local.timeutil import now_str

BatchKind = Literal["upload", "process"]


def create_batch(db: Database, kind: BatchKind) -> str:
    """A new, empty batch; returns its id."""
    batch_id = new_id("batch")
    with db.write():
        db.insert("batches", {"id": batch_id, "kind": kind, "created_at": now_str()})
    return batch_id


def add_batch_item(db: Database, batch_id: str, file_id: str, job_id: str | None) -> None:
    """Attach a file (and the job started for it, if any) to the batch."""
    with db.write():
        db.insert("batch_items", {"batch_id": batch_id, "file_id": file_id, "job_id": job_id})


def batch_exists(db: Database, batch_id: str) -> bool:
    return db.one("SELECT 1 AS found FROM batches WHERE id = :id", {"id": batch_id}) is not None


def batch_files(db: Database, batch_id: str) -> list[Row]:
    """``{id, status, space, filename, job_id}`` of every file in the batch, oldest first (job_id is
    the file's latest job, which may be newer than the one the batch started)."""
    return db.all(
        "SELECT f.id, f.status, f.space, f.filename, f.latest_job_id AS job_id FROM batch_items b "
        "JOIN files f ON f.id = b.file_id WHERE b.batch_id = :id ORDER BY f.created_at, f.id",
        {"id": batch_id},
    )
