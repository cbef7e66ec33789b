"""Share-portal tokens: 256-bit secrets handed out once, stored as SHA-256, confined to one space."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from roset_local.auth import Principal
from roset_local.errors import BadRequest, Unauthorized
from roset_local.store import console as store
from roset_local.timeutil import now_str, to_str, utcnow

if TYPE_CHECKING:
    from roset_local.services import Services

TOKEN_PREFIX = "ptk_"
DEFAULT_TTL = 3600
MIN_TTL = 60
MAX_TTL = 7 * 24 * 3600
PORTAL_SCOPES = frozenset({"files:read", "search:read"})


def hash_token(raw: str) -> str:
    # 256 random bits: a fast hash is enough (nothing to brute-force from a dictionary).
    return hashlib.sha256(raw.encode()).hexdigest()


def portal_url(services: "Services", raw: str) -> str:
    return f"{services.settings.base_url}/portal/{raw}"


def create_token(services: "Services", space: str, ttl: int | None = None, *, created_by: str | None = None
                 ) -> dict[str, Any]:
    """Mint a token; the raw value is in the result once and never stored."""
    ttl = DEFAULT_TTL if ttl is None else ttl
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not MIN_TTL <= ttl <= MAX_TTL:
        raise BadRequest(f"ttl: must be an integer between {MIN_TTL} and {MAX_TTL} seconds")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = to_str(utcnow() + timedelta(seconds=ttl))
    row = store.insert_portal_token(services.db, token_hash=hash_token(raw), prefix=raw[:12], space=space,
                                    expires_at=expires_at, created_by=created_by)
    return {"token": raw, "expires_at": expires_at, "space": space, "url": portal_url(services, raw), "id": row["id"]}


def lookup(services: "Services", raw: str) -> dict[str, Any] | None:
    """The token's row if it is valid now (known, not revoked, not expired), else None."""
    if not isinstance(raw, str) or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    row = store.find_portal_token(services.db, hash_token(raw))
    if row is None or row["revoked_at"] or row["expires_at"] <= now_str():
        return None
    return row


def verify(services: "Services", raw: str) -> dict[str, Any]:
    row = lookup(services, raw)
    if row is None:
        return {"valid": False}
    return {"valid": True, "space": row["space"], "expires_at": row["expires_at"]}


def authenticate(services: "Services", raw: str) -> Principal:
    """The ``portal_auth`` hook of the app's guard: a read-only principal confined to the token's space."""
    row = lookup(services, raw)
    if row is None:
        raise Unauthorized("Invalid, expired or revoked portal token")
    return Principal(auth_type="portal_token", key_id=None, key_name="portal", scopes=PORTAL_SCOPES,
                     spaces=(row["space"],), org_id=services.org_id)


def find(services: "Services", token_or_id: str) -> dict[str, Any] | None:
    """A token row by its raw value (``ptk_...``) or its id (``ptk-...``), revoked or not."""
    if token_or_id.startswith(TOKEN_PREFIX):
        return store.find_portal_token(services.db, hash_token(token_or_id))
    return store.get_portal_token(services.db, token_or_id)


def revoke(services: "Services", row: dict[str, Any]) -> bool:
    return store.revoke_portal_token(services.db, row["id"])


def token_out(row: dict[str, Any]) -> dict[str, Any]:
    now = now_str()
    state = "revoked" if row["revoked_at"] else ("expired" if row["expires_at"] <= now else "active")
    return {"id": row["id"], "prefix": row["prefix"], "space": row["space"], "expires_at": row["expires_at"],
            "revoked_at": row["revoked_at"], "created_at": row["created_at"], "created_by": row["created_by"],
            "status": state}


def list_tokens(services: "Services", spaces: tuple[str, ...] | None, active_only: bool = False) -> list[dict[str, Any]]:
    return [token_out(r) for r in store.list_portal_tokens(services.db, spaces=spaces, active_only=active_only)]
