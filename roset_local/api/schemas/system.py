"""Probes and identity: /health, /ready and /v1/me."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

Checks = Annotated[dict[str, dict[str, Any]], Meta(
    description="per subsystem (database, queue, storage, disk, models; workers with ROSET_QUEUE_URL): status, latency_ms, details or error",
    examples=[{"database": {"status": "ok", "latency_ms": 0.2, "journal_mode": "wal"}}])]


class HealthOut(msgspec.Struct, kw_only=True):
    """``checks`` only with ``?full=true``."""

    status: Annotated[str, Meta(examples=["ok"], description="ok or degraded")]
    checks: Checks | UnsetType = UNSET


class ReadyOut(msgspec.Struct, kw_only=True):
    status: Annotated[str, Meta(examples=["ready"], description="ready or unavailable")]
    checks: Checks


class MeOut(msgspec.Struct, kw_only=True):
    """The caller: ``key_id`` and ``mode`` only for an API key; ``spaces`` null means every space."""

    org_id: str
    auth_type: Annotated[str, Meta(examples=["api_key"])]
    key_name: str | None
    scopes: Annotated[list[str], Meta(examples=[["files:read", "files:write"]])]
    key_id: str | UnsetType = UNSET
    mode: str | UnsetType = UNSET
    spaces: list[str] | None
