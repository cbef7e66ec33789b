"""The event outbox: an event row is written in the same transaction as the change that causes it."""

from __future__ import annotations

import json
from typing import Any

from roset_local.ids import new_id
from roset_local.store.db import Database, Row
from roset_local.timeutil import now_str

EVENT_TYPES = (
    "file.uploaded",
    "file.processing.started",
    "file.processing.completed",
    "file.processing.failed",
    "file.deleted",
    "job.cancelled",
    "connection.sync.completed",
    "connection.sync.failed",
    "webhook.test",
)

def record_event(db: Database, type_: str, data: dict[str, Any], *, space: str | None = None) -> str:
    """Insert one event; call inside ``db.write()`` together with the state change."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_}")
    if not db.conn.in_transaction:
        raise RuntimeError("record_event must run inside db.write() with the change that causes it")
    event_id = new_id("evt")
    # The write lock (BEGIN IMMEDIATE) is held, so max(seq) + 1 is unique across processes too.
    seq = int(db.value("SELECT coalesce(max(seq), 0) + 1 FROM events") or 1)
    db.insert(
        "events",
        {"id": event_id, "seq": seq, "type": type_, "space": space, "data": json.dumps(data), "created_at": now_str()},
    )
    return event_id


def get_event(db: Database, event_id: str) -> Row | None:
    row = db.one("SELECT * FROM events WHERE id = :id", {"id": event_id})
    if row:
        row["data"] = json.loads(row["data"])
    return row


def events_since_seq(db: Database, seq: int, limit: int = 500) -> list[Row]:
    rows = db.all("SELECT * FROM events WHERE seq > :seq ORDER BY seq LIMIT :limit", {"seq": seq, "limit": limit})
    for row in rows:
        row["data"] = json.loads(row["data"])
    return rows
