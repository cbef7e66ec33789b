"""Writing audit entries: inside the transaction of the change, with secret values reduced to "changed"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from roset_local.audit.actions import ACTIONS, Action
from roset_local.audit.actor import Actor
from roset_local.config import Settings
from roset_local.store import audit as audit_store
from roset_local.store.db import Database, Row

# Fields whose values are credentials: an entry says they changed, never what they are.
SECRET_FIELDS = frozenset({"key", "secret", "password", "token", "api_key", "credentials", "access_key",
                           "secret_key", "client_secret", "private_key", "refresh_token", "session_token"})
CHANGED = "changed"


def redact(changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``changes`` with every secret field (at any depth) replaced by ``"changed"``."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name.lower() in SECRET_FIELDS and value is not None:
            out[name] = CHANGED
        elif isinstance(value, dict):
            out[name] = redact(value)
        else:
            out[name] = value
    return out


def record(
    db: Database,
    actor: Actor,
    action: Action,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    space: str | None = None,
    changes: dict[str, Any] | None = None,
) -> Row:
    """Write one audit entry; call inside ``db.write()`` together with the change it records, so a
    change that rolls back (a 409, a crash) leaves no entry and a committed one always has its entry."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action}")
    if not db.in_transaction:
        raise RuntimeError("audit.record must run inside db.write() with the change it records")
    return audit_store.insert_event(db, {
        "action": action, "actor_type": actor.type, "actor_id": actor.id, "actor_name": actor.name,
        "target_type": target_type, "target_id": target_id, "space": space,
        "request_id": actor.request_id, "ip": actor.ip, "changes": redact(changes or {}),
    })


@dataclass
class Entry:
    """What the body of :func:`recorded` learns while it runs (a new object's id, what changed)."""

    target_id: str | None = None
    space: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)


@contextmanager
def recorded(
    db: Database,
    actor: Actor,
    action: Action,
    target_type: str,
    target_id: str | None = None,
    *,
    space: str | None = None,
    changes: dict[str, Any] | None = None,
) -> Iterator[Entry]:
    """Run a change and its audit entry in one transaction (store writes inside join it).

    The body may fill in the yielded :class:`Entry`; if it raises, nothing is written.
    """
    entry = Entry(target_id=target_id, space=space, changes=dict(changes or {}))
    with db.write():
        yield entry
        record(db, actor, action, target_type=target_type, target_id=entry.target_id, space=entry.space,
               changes=entry.changes)


def record_command(settings: Settings, actor: Actor, action: Action, **entry: Any) -> None:
    """One entry for a command whose change is files, not rows (backup, restore): its own transaction
    in the data directory's database, opened (and migrated) the way the server opens it."""
    from roset_local.services import Services

    services = Services(settings).open()
    try:
        with services.db.write():
            record(services.db, actor, action, **entry)
    finally:
        services.db.close()


def single_space(spaces: list[str] | tuple[str, ...] | None) -> str | None:
    """The space an entry belongs to for an object tied to a list of spaces: its only one, else None
    (org-wide: an object across several spaces is shown to unconfined callers only)."""
    return spaces[0] if spaces and len(spaces) == 1 else None
