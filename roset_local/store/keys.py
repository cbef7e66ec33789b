"""API keys: random secrets stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any, Final, Literal, get_args

from roset_local.ids import new_id
from roset_local.store.db import Database, Row
from roset_local.timeutil import now_str

# The one table of API key scopes: routes name theirs in ``opt={"scope": ...}`` (tests/test_layering.py
# checks each is listed here), console roles and portal tokens take subsets of it.
Scope = Literal[
    "files:read",
    "files:write",
    "jobs:read",
    "jobs:write",
    "spaces:read",
    "spaces:write",
    "connections:read",
    "connections:write",
    "webhooks:read",
    "webhooks:write",
    "search:read",
    "analytics:read",
    "org:read",
    "org:write",
    "logs:read",
    "portal:write",
]
ALL_SCOPES: Final[tuple[Scope, ...]] = get_args(Scope)
KEY_PREFIX = "rsk_"
DISPLAY_PREFIX_LEN = 12


def hash_key(raw: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _decode(row: Row) -> Row:
    row["scopes"] = json.loads(row["scopes"])
    row["spaces"] = json.loads(row["spaces"]) if row["spaces"] else None
    return row


def create_key(
    db: Database,
    *,
    name: str,
    scopes: list[str] | None = None,
    spaces: list[str] | None = None,
    mode: str = "live",
    expires_at: str | None = None,
    raw: str | None = None,
) -> tuple[Row, str]:
    """Create a key; returns the row and the raw key (shown once, never stored)."""
    raw = raw or generate_key()
    row: dict[str, Any] = {
        "id": new_id("key"),
        "name": name,
        "key_hash": hash_key(raw),
        "prefix": raw[:DISPLAY_PREFIX_LEN],
        "scopes": json.dumps(list(scopes) if scopes is not None else list(ALL_SCOPES)),
        "spaces": json.dumps(spaces) if spaces else None,
        "mode": mode,
        "expires_at": expires_at,
        "last_used_at": None,
        "revoked_at": None,
        "created_at": now_str(),
    }
    with db.write():
        db.insert("api_keys", row)
    return _decode(dict(row)), raw


def find_by_hash(db: Database, key_hash: str) -> Row | None:
    row = db.one("SELECT * FROM api_keys WHERE key_hash = :h", {"h": key_hash})
    return _decode(row) if row else None


def get_key(db: Database, key_id: str) -> Row | None:
    row = db.one("SELECT * FROM api_keys WHERE id = :id", {"id": key_id})
    return _decode(row) if row else None


def list_keys(db: Database, *, include_revoked: bool = False) -> list[Row]:
    where = "" if include_revoked else "WHERE revoked_at IS NULL"
    return [_decode(r) for r in db.all(f"SELECT * FROM api_keys {where} ORDER BY created_at, id")]


def count_active(db: Database) -> int:
    return int(db.value("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL") or 0)


def revoke_key(db: Database, key_id: str) -> bool:
    with db.write():
        cur = db.execute(
            "UPDATE api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
            {"now": now_str(), "id": key_id},
        )
    return cur.rowcount > 0


def ensure_env_key(db: Database, raw: str) -> Row:
    """Make exactly this key exist with all scopes (idempotent across restarts)."""
    existing = find_by_hash(db, hash_key(raw))
    if existing is not None:
        with db.write():
            db.execute(
                "UPDATE api_keys SET revoked_at = NULL, expires_at = NULL, scopes = :s, spaces = NULL "
                "WHERE id = :id",
                {"s": json.dumps(list(ALL_SCOPES)), "id": existing["id"]},
            )
        refreshed = get_key(db, existing["id"])
        assert refreshed is not None
        return refreshed
    row, _ = create_key(db, name="admin (ROSET_ADMIN_KEY)", raw=raw)
    return row


def touch_keys(db: Database, last_used: dict[str, str]) -> None:
    """Record last use times (batched by the log writer)."""
    for key_id, moment in last_used.items():
        db.execute(
            "UPDATE api_keys SET last_used_at = :t WHERE id = :id AND (last_used_at IS NULL OR last_used_at < :t)",
            {"t": moment, "id": key_id},
        )
