"""Identifiers: ``prefix-<random>`` for most objects, plain UUIDs for files (as the hosted API)."""

from __future__ import annotations

import secrets
import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(10)}"


def new_file_id() -> str:
    return str(uuid.uuid4())
