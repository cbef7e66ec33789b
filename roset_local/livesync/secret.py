"""Per-connection event secrets: generated for S3-compatible connections, sealed at rest, compared in constant time."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from roset_local.secrets import SecretError
from roset_local.storage import backends as conn

if TYPE_CHECKING:
    from roset_local.services import Services

PREFIX = "rsevt_"


def _context(connection_id: str) -> str:
    return f"connection_events:{connection_id}"


def takes_events(provider: str) -> bool:
    """Only S3-compatible stores send the S3 event JSON this endpoint reads."""
    return provider in conn.S3_FAMILY


def generate() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def seal(services: Services, connection_id: str, secret: str) -> str:
    return services.secret_box.encrypt(secret, _context(connection_id))


def matches(services: Services, row: Mapping[str, Any], offered: str | None) -> bool:
    """True when ``offered`` is the connection's event secret (constant-time; False without one)."""
    stored = row.get("event_secret")
    if not stored or not offered:
        return False
    try:
        expected = services.secret_box.decrypt(stored, _context(row["id"]))
    except SecretError:
        return False
    return hmac.compare_digest(expected.encode(), offered.encode())
