"""Webhooks: endpoints, per-(event, webhook) messages, one row per delivery attempt, the relay cursor.

A *message* is one event owed to one webhook; its *deliveries* are the attempts. A delivery row in
status ``pending`` is the unit of work: it is due at ``scheduled_at`` (epoch seconds) and whoever
claims it (``claim_token`` + ``claimed_until`` lease) makes the HTTP attempt. Rows survive crashes,
so the queue only has to be a fast path, never the source of truth.
"""

from __future__ import annotations

import json
import time
from typing import Any

from roset_local.ids import new_id
from roset_local.pagination import keyset
from roset_local.store.db import Database, Row, in_list, within_spaces
from roset_local.store.migrations import Migrations
from roset_local.timeutil import from_epoch, now_str

webhooks = Migrations("webhooks")
webhooks.add(
    "0001_webhooks_messages_deliveries",
    """
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        events TEXT NOT NULL,            -- JSON array of event types
        secret TEXT NOT NULL,            -- whsec_...; returned only by create and rotate-secret
        active INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX webhooks_created ON webhooks (created_at, id);
    CREATE TABLE webhook_messages (
        id TEXT PRIMARY KEY,
        webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        event_id TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        space TEXT,
        status TEXT NOT NULL,            -- pending | delivered | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,        -- the event's creation time
        updated_at TEXT NOT NULL,
        UNIQUE (webhook_id, event_id)
    );
    CREATE INDEX webhook_messages_seq ON webhook_messages (event_seq, id);
    CREATE INDEX webhook_messages_type ON webhook_messages (event_type, event_seq, id);
    CREATE TABLE webhook_deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        message_id TEXT NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
        webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        attempt INTEGER NOT NULL,        -- 1-based within the current round (a replay starts a round)
        status TEXT NOT NULL,            -- pending | delivered | failed
        status_code INTEGER,
        duration_ms INTEGER,
        error TEXT,
        scheduled_at REAL NOT NULL,      -- epoch seconds the attempt is due
        claimed_until REAL,              -- lease of the worker making the attempt
        claim_token TEXT,
        attempted_at TEXT NOT NULL       -- due time while pending, then the real time
    );
    CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, seq);
    CREATE INDEX webhook_deliveries_message ON webhook_deliveries (message_id);
    CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (scheduled_at) WHERE status = 'pending';
    CREATE TABLE webhook_relay (
        name TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL        -- highest events.seq turned into messages
    );
    -- Events recorded before webhooks existed are not owed to anyone.
    INSERT INTO webhook_relay (name, last_seq) SELECT 'main', coalesce(max(seq), 0) FROM events;
    """,
)

RELAY = "main"


# -- webhooks ---------------------------------------------------------------------------------------
def _decode(row: Row | None) -> Row | None:
    if row is None:
        return None
    row["events"] = json.loads(row["events"])
    row["active"] = bool(row["active"])
    row["spaces"] = json.loads(row["spaces"]) if row.get("spaces") else None
    return row


def insert_webhook(db: Database, *, url: str, events: list[str], secret: str, spaces: list[str] | None = None
                   ) -> Row:
    """``spaces``: the spaces whose events it receives (None: every space)."""
    now = now_str()
    row = {
        "id": new_id("wh"),
        "url": url,
        "events": json.dumps(events),
        "spaces": json.dumps(spaces) if spaces is not None else None,
        "secret": secret,
        "active": 1,
        "disabled_reason": None,
        "created_at": now,
        "updated_at": now,
    }
    with db.write():
        db.insert("webhooks", row)
    return _decode(dict(row))  # type: ignore[return-value]


def get_webhook(db: Database, webhook_id: str) -> Row | None:
    return _decode(db.one("SELECT * FROM webhooks WHERE id = :id", {"id": webhook_id}))


def list_webhooks(db: Database, *, active_only: bool = False, within: tuple[str, ...] | None = None) -> list[Row]:
    """Webhooks, oldest first; ``within``: only those whose spaces lie within these (None: all)."""
    params: dict[str, Any] = {}
    where = ["active = 1"] if active_only else []
    if within is not None:
        where.append(within_spaces("spaces", within, params))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = db.all(f"SELECT * FROM webhooks {clause} ORDER BY created_at, id", params)
    return [_decode(r) for r in rows]  # type: ignore[misc]


def update_webhook(
    db: Database,
    webhook_id: str,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
    secret: str | None = None,
    spaces: list[str] | None = None,
    all_spaces: bool = False,
) -> Row | None:
    """Change the given fields; re-activating clears ``disabled_reason``. None if the webhook is gone.

    ``spaces`` replaces the webhook's spaces; ``all_spaces`` makes it receive every space's events."""
    values: dict[str, Any] = {"updated_at": now_str()}
    if spaces is not None:
        values["spaces"] = json.dumps(spaces)
    elif all_spaces:
        values["spaces"] = None
    if url is not None:
        values["url"] = url
    if events is not None:
        values["events"] = json.dumps(events)
    if active is not None:
        values["active"] = 1 if active else 0
        if active:
            values["disabled_reason"] = None
    if secret is not None:
        values["secret"] = secret
    with db.write():
        if not db.update("webhooks", {"id": webhook_id}, values):
            return None
    return get_webhook(db, webhook_id)


def has_plaintext_secrets(db: Database, prefix: str) -> bool:
    return db.one("SELECT 1 AS x FROM webhooks WHERE substr(secret, 1, :n) = :p LIMIT 1",
                  {"n": len(prefix), "p": prefix}) is not None


def plaintext_secrets(db: Database, prefix: str) -> list[Row]:
    """``{id, secret}`` of secrets stored before they were sealed (inside the caller's transaction)."""
    return db.all("SELECT id, secret FROM webhooks WHERE substr(secret, 1, :n) = :p", {"n": len(prefix), "p": prefix})


def replace_secrets(db: Database, sealed: dict[str, str]) -> None:
    """Store sealed forms of the same secrets (``updated_at`` kept; caller's transaction).

    With ``secure_delete`` the old plain text is overwritten in the page, not left in free space.
    """
    previous = db.value("PRAGMA secure_delete")
    db.execute("PRAGMA secure_delete = ON")
    try:
        for webhook_id, value in sealed.items():
            db.execute("UPDATE webhooks SET secret = :s WHERE id = :id", {"s": value, "id": webhook_id})
    finally:
        db.execute(f"PRAGMA secure_delete = {int(previous or 0)}")


def truncate_wal(db: Database) -> None:
    """Copy the WAL into the database and empty it, so no older page version stays on disk."""
    db.value("PRAGMA wal_checkpoint(TRUNCATE)")


def disable_webhook(db: Database, webhook_id: str, reason: str) -> bool:
    """Set ``active`` false (inside the caller's transaction); False if it was already inactive."""
    cur = db.execute(
        "UPDATE webhooks SET active = 0, disabled_reason = :reason, updated_at = :now WHERE id = :id AND active = 1",
        {"reason": reason, "now": now_str(), "id": webhook_id},
    )
    return cur.rowcount > 0


def delete_webhook(db: Database, webhook_id: str) -> bool:
    """Delete the webhook with its messages and delivery rows (pending attempts then find nothing)."""
    with db.write():
        return db.execute("DELETE FROM webhooks WHERE id = :id", {"id": webhook_id}).rowcount > 0


# -- relay ------------------------------------------------------------------------------------------
def relay_cursor(db: Database) -> int:
    return int(db.value("SELECT last_seq FROM webhook_relay WHERE name = :n", {"n": RELAY}) or 0)


def set_relay_cursor(db: Database, seq: int) -> None:
    db.execute(
        "INSERT INTO webhook_relay (name, last_seq) VALUES (:n, :s) "
        "ON CONFLICT (name) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
        {"n": RELAY, "s": seq},
    )


def latest_event_seq(db: Database) -> int:
    return int(db.value("SELECT coalesce(max(seq), 0) FROM events") or 0)


# -- messages and attempts --------------------------------------------------------------------------
def queue_message(
    db: Database, webhook_id: str, event: Row, *, due: float | None = None, rearm: bool = True
) -> str | None:
    """Owe ``event`` to the webhook: a message plus a pending first attempt. Call inside ``db.write()``.

    An existing message is re-armed for a new round (a replay) when ``rearm`` is true and it is not
    pending already. Returns the new pending delivery id, or None when nothing was added.
    """
    now = now_str()
    due = time.time() if due is None else due
    message = db.one(
        "SELECT id, status FROM webhook_messages WHERE webhook_id = :w AND event_id = :e",
        {"w": webhook_id, "e": event["id"]},
    )
    if message is None:
        message_id = new_id("msg")
        db.insert(
            "webhook_messages",
            {
                "id": message_id,
                "webhook_id": webhook_id,
                "event_id": event["id"],
                "event_seq": event["seq"],
                "event_type": event["type"],
                "space": event.get("space"),
                "status": "pending",
                "attempts": 0,
                "created_at": event["created_at"],
                "updated_at": now,
            },
        )
    elif message["status"] == "pending" or not rearm:
        return None
    else:
        message_id = message["id"]
        db.execute(
            "UPDATE webhook_messages SET status = 'pending', updated_at = :now WHERE id = :id",
            {"now": now, "id": message_id},
        )
    return add_attempt(db, message_id, webhook_id, event["id"], event["type"], attempt=1, due=due)


def add_attempt(
    db: Database, message_id: str, webhook_id: str, event_id: str, event_type: str, *, attempt: int, due: float
) -> str:
    delivery_id = new_id("del")
    db.insert(
        "webhook_deliveries",
        {
            "id": delivery_id,
            "message_id": message_id,
            "webhook_id": webhook_id,
            "event_id": event_id,
            "event_type": event_type,
            "attempt": attempt,
            "status": "pending",
            "scheduled_at": due,
            "attempted_at": from_epoch(due),
        },
    )
    return delivery_id


def claim_delivery(db: Database, delivery_id: str, *, token: str, lease: float, early: float = 1.0) -> Row | None:
    """Take the lease on a due, unclaimed pending attempt; None if it is not ours to make (any more)."""
    now = time.time()
    with db.write():
        cur = db.execute(
            "UPDATE webhook_deliveries SET claim_token = :token, claimed_until = :until "
            "WHERE id = :id AND status = 'pending' AND scheduled_at <= :due "
            "AND (claimed_until IS NULL OR claimed_until < :now)",
            {"token": token, "until": now + lease, "id": delivery_id, "due": now + early, "now": now},
        )
        if cur.rowcount == 0:
            return None
        return db.one("SELECT * FROM webhook_deliveries WHERE id = :id", {"id": delivery_id})


def complete_attempt(
    db: Database,
    delivery_id: str,
    *,
    token: str,
    status: str,
    status_code: int | None,
    duration_ms: int,
    error: str | None,
    attempted_at: str,
) -> bool:
    """Record an attempt's outcome (inside ``db.write()``); False if our lease was lost meanwhile."""
    cur = db.execute(
        "UPDATE webhook_deliveries SET status = :status, status_code = :code, duration_ms = :ms, error = :error, "
        "attempted_at = :at, claim_token = NULL, claimed_until = NULL "
        "WHERE id = :id AND claim_token = :token AND status = 'pending'",
        {"status": status, "code": status_code, "ms": duration_ms, "error": error, "at": attempted_at,
         "id": delivery_id, "token": token},
    )
    return cur.rowcount > 0


def set_message_status(db: Database, message_id: str, status: str, *, attempted: bool = True) -> None:
    db.execute(
        "UPDATE webhook_messages SET status = :status, attempts = attempts + :n, updated_at = :now WHERE id = :id",
        {"status": status, "n": 1 if attempted else 0, "now": now_str(), "id": message_id},
    )


def pending_deliveries(db: Database, *, due_before: float | None = None, limit: int = 1000) -> list[Row]:
    """Pending attempts (oldest due first), optionally only those due before ``due_before``."""
    params: dict[str, Any] = {"limit": limit}
    where = "status = 'pending'"
    if due_before is not None:
        where += " AND scheduled_at < :before AND (claimed_until IS NULL OR claimed_until < :now)"
        params["before"], params["now"] = due_before, time.time()
    return db.all(
        f"SELECT id, scheduled_at, claimed_until FROM webhook_deliveries WHERE {where} "
        "ORDER BY scheduled_at LIMIT :limit",
        params,
    )


def get_delivery(db: Database, delivery_id: str) -> Row | None:
    return db.one("SELECT * FROM webhook_deliveries WHERE id = :id", {"id": delivery_id})


def first_delivery_for_event(db: Database, webhook_id: str, event_id: str) -> Row | None:
    return db.one(
        "SELECT * FROM webhook_deliveries WHERE webhook_id = :w AND event_id = :e ORDER BY seq LIMIT 1",
        {"w": webhook_id, "e": event_id},
    )


def list_deliveries(db: Database, webhook_id: str, *, limit: int, cursor: list[Any] | None) -> list[Row]:
    """Attempts of one webhook, newest first; fetches ``limit + 1`` for :func:`pagination.page`."""
    params: dict[str, Any] = {"w": webhook_id, "limit": limit + 1}
    cond, order = keyset("seq", "desc", cursor, params)
    where = "webhook_id = :w" + (f" AND {cond}" if cond else "")
    return db.all(
        "SELECT seq, id, webhook_id, event_id, event_type, attempt, status, status_code, duration_ms, error, "
        f"attempted_at, scheduled_at FROM webhook_deliveries WHERE {where} ORDER BY {order} LIMIT :limit",
        params,
    )


def list_messages(
    db: Database,
    *,
    event_type: str | None,
    spaces: tuple[str, ...] | None,
    limit: int,
    cursor: list[Any] | None,
) -> list[Row]:
    """Events owed to webhooks (one row per event and webhook), newest first, with the event's data.

    ``spaces`` (a confinement): only messages of webhooks lying within those spaces, and of
    events of those spaces (or of no space: a test event of such a webhook)."""
    params: dict[str, Any] = {"limit": limit + 1}
    cond, order = keyset("m.event_seq", "desc", cursor, params, id_column="m.id")
    where = [cond] if cond else []
    if event_type:
        where.append("m.event_type = :type")
        params["type"] = event_type
    if spaces is not None:
        where.append("(m.space IS NULL OR " + in_list("m.space", spaces, params, "sp") + ")")
        where.append("m.webhook_id IN (SELECT id FROM webhooks w WHERE " + within_spaces("w.spaces", spaces, params)
                     + ")")
    sql = (
        "SELECT m.id, m.event_seq, m.event_id, m.event_type, m.webhook_id, m.status, m.attempts, m.space, "
        "m.created_at, e.data FROM webhook_messages m LEFT JOIN events e ON e.id = m.event_id "
        + (f"WHERE {' AND '.join(where)} " if where else "")
        + f"ORDER BY {order} LIMIT :limit"
    )
    rows = db.all(sql, params)
    for row in rows:
        row["data"] = json.loads(row["data"]) if row["data"] else None
    return rows


def events_between(db: Database, since: str, until: str, types: list[str] | None, *, limit: int,
                   spaces: list[str] | None = None) -> list[Row]:
    """Stored events created in [since, until] (contract timestamps), oldest first, at most ``limit``.

    ``spaces``: only events of those spaces or of no space (None: every event)."""
    params: dict[str, Any] = {"since": since, "until": until, "limit": limit}
    where = "created_at >= :since AND created_at <= :until"
    if spaces is not None:
        where += " AND (space IS NULL OR " + in_list("space", spaces, params, "sp") + ")"
    if types:
        marks = []
        for i, t in enumerate(types):
            params[f"t{i}"] = t
            marks.append(f":t{i}")
        where += f" AND type IN ({', '.join(marks)})"
    rows = db.all(f"SELECT * FROM events WHERE {where} ORDER BY seq LIMIT :limit", params)
    for row in rows:
        row["data"] = json.loads(row["data"])
    return rows


def purge_finished(db: Database, before: str) -> int:
    """Forget delivered/failed messages (and their attempts) last touched before ``before``."""
    with db.write():
        return db.execute(
            "DELETE FROM webhook_messages WHERE status != 'pending' AND updated_at < :before", {"before": before}
        ).rowcount


def delivered_since_round(db: Database, webhook_id: str, message_id: str) -> bool:
    """Did any message of this webhook get delivered since this message's current round began?"""
    start = db.value(
        "SELECT max(seq) FROM webhook_deliveries WHERE message_id = :m AND attempt = 1", {"m": message_id}
    )
    return bool(
        db.value(
            "SELECT 1 FROM webhook_deliveries WHERE webhook_id = :w AND seq > :s AND status = 'delivered' LIMIT 1",
            {"w": webhook_id, "s": start or 0},
        )
    )
