"""The audit trail: one row per audited change, written in the change's own transaction."""

from __future__ import annotations

import json
from typing import Any

from roset_local.ids import new_id
from roset_local.pagination import keyset
from roset_local.store.db import Database, Row
from roset_local.store.migrations import Migrations
from roset_local.timeutil import now_str

audit = Migrations("audit")
audit.add(
    "0001_audit_events",
    """
    CREATE TABLE audit_events (
        seq INTEGER PRIMARY KEY,         -- insertion order; the cursor pages on it
        id TEXT NOT NULL UNIQUE,
        action TEXT NOT NULL,
        actor_type TEXT NOT NULL,        -- api_key | console_user | portal_token | cli | system
        actor_id TEXT,
        actor_name TEXT,
        target_type TEXT,
        target_id TEXT,
        space TEXT,                      -- NULL: an org-wide change
        request_id TEXT,
        ip TEXT,
        changes TEXT NOT NULL DEFAULT '{}',  -- JSON, secrets already reduced to "changed"
        created_at TEXT NOT NULL
    );
    CREATE INDEX audit_events_created ON audit_events (created_at);
    CREATE INDEX audit_events_action ON audit_events (action, seq);
    CREATE INDEX audit_events_space ON audit_events (space, seq);
    CREATE INDEX audit_events_target ON audit_events (target_id, seq);
    """,
)


def insert_event(db: Database, row: dict[str, Any]) -> Row:
    """Insert one entry (``changes`` a dict); the caller holds ``db.write()`` with the change itself."""
    full = {"id": new_id("aud"), "created_at": now_str(), **row, "changes": json.dumps(row.get("changes") or {})}
    db.insert("audit_events", full)
    return {**full, "changes": row.get("changes") or {}}


def _decode(row: Row) -> Row:
    row["changes"] = json.loads(row["changes"])
    return row


def list_events(
    db: Database,
    *,
    action: str | None = None,
    actor: str | None = None,
    space: str | None = None,
    target_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    spaces: tuple[str, ...] | None = None,
    limit: int = 50,
    cursor: list[Any] | None = None,
) -> list[Row]:
    """Newest first, ``limit + 1`` rows. ``action`` ending in ``*`` is a prefix (``console.user.*``);
    ``actor`` matches the actor's id or name; ``spaces`` (a confined caller) hides org-wide rows."""
    params: dict[str, Any] = {"limit": limit + 1}
    where = []
    if action:
        if action.endswith("*"):
            where.append("substr(action, 1, length(:action)) = :action")
            params["action"] = action[:-1]
        else:
            where.append("action = :action")
            params["action"] = action
    if actor:
        where.append("(actor_id = :actor OR actor_name = :actor)")
        params["actor"] = actor
    if space:
        where.append("space = :space")
        params["space"] = space
    if target_id:
        where.append("target_id = :target_id")
        params["target_id"] = target_id
    if since:
        where.append("created_at >= :since")
        params["since"] = since
    if until:
        where.append("created_at <= :until")
        params["until"] = until
    if spaces is not None:
        names = {f"sp{i}": s for i, s in enumerate(spaces)}
        params.update(names)
        where.append(f"space IN ({', '.join(':' + n for n in names)})" if names else "0")
    cond, order = keyset("seq", "desc", cursor, params)
    if cond:
        where.append(cond)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    rows = db.all(f"SELECT * FROM audit_events {clause} ORDER BY {order} LIMIT :limit", params)
    return [_decode(r) for r in rows]


def purge_events(db: Database, older_than: str) -> int:
    with db.write():
        return db.execute("DELETE FROM audit_events WHERE created_at < :t", {"t": older_than}).rowcount
