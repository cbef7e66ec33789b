"""Reading the audit trail: one filter parser and one listing for the API, the console page and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roset_local.audit.actions import ACTIONS
from roset_local.errors import BadRequest
from roset_local.pagination import decode_cursor, page
from roset_local.store import audit as audit_store
from roset_local.store.db import Database, Row
from roset_local.timeutil import parse, to_str


@dataclass(frozen=True)
class AuditFilter:
    """Validated filters; ``action`` may end in ``*`` (``console.user.*``)."""

    action: str | None = None
    actor: str | None = None
    space: str | None = None
    target_id: str | None = None
    since: str | None = None
    until: str | None = None


def _moment(value: str | None, name: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        return to_str(parse(value))
    except (ValueError, TypeError, OverflowError):
        raise BadRequest(f"{name}: must be an ISO 8601 date-time (e.g. 2026-01-31T12:00:00Z)") from None


def _action(value: str | None) -> str | None:
    if not value:
        return None
    prefix = value[:-1] if value.endswith("*") else None
    if prefix is not None and any(a.startswith(prefix) for a in ACTIONS):
        return value
    if value not in ACTIONS:
        raise BadRequest(f"action: unknown action {value[:100]!r} (known: {', '.join(ACTIONS)})")
    return value


def parse_filter(*, action: str | None = None, actor: str | None = None, space: str | None = None,
                 target_id: str | None = None, since: str | None = None, until: str | None = None) -> AuditFilter:
    """Filters from query parameters or flags; a bad action or date is a 400 naming the field."""
    start, end = _moment(since, "since"), _moment(until, "until")
    if start and end and start > end:
        raise BadRequest("since: must not be after until")
    return AuditFilter(action=_action(action), actor=actor or None, space=space or None,
                       target_id=target_id or None, since=start, until=end)


def entry_out(row: Row) -> dict[str, Any]:
    """The public shape of one entry."""
    return {
        "id": row["id"],
        "action": row["action"],
        "actor": {"type": row["actor_type"], "id": row["actor_id"], "name": row["actor_name"]},
        "target": {"type": row["target_type"], "id": row["target_id"]},
        "space": row["space"],
        "request_id": row["request_id"],
        "ip": row["ip"],
        "changes": row["changes"],
        "created_at": row["created_at"],
    }


def list_entries(db: Database, flt: AuditFilter, *, spaces: tuple[str, ...] | None, limit: int,
                 cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """One page, newest first. ``spaces`` (a confined caller) shows only those spaces' entries."""
    if flt.space is not None and spaces is not None and flt.space not in spaces:
        return [], None
    rows = audit_store.list_events(db, action=flt.action, actor=flt.actor, space=flt.space,
                                   target_id=flt.target_id, since=flt.since, until=flt.until, spaces=spaces,
                                   limit=limit, cursor=decode_cursor(cursor, 2))
    rows, next_cursor = page(rows, limit, lambda r: (r["seq"], r["id"]))
    return [entry_out(r) for r in rows], next_cursor
