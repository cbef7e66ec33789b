"""The audit trail: who changed what, and when."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta

from roset_local.api.schemas.common import Shape


class AuditActor(Shape):
    type: Annotated[str, Meta(description="api_key, console_user, portal_token, cli or system")]
    id: str | None
    name: str | None


class AuditTarget(Shape):
    type: Annotated[str | None, Meta(examples=["webhook"])]
    id: str | None


class AuditEventOut(Shape):
    id: str
    action: Annotated[str, Meta(examples=["webhook.created"])]
    actor: AuditActor
    target: AuditTarget
    space: Annotated[str | None, Meta(description="null for org-wide entries")]
    request_id: str | None
    ip: str | None
    changes: Annotated[dict[str, Any], Meta(description="What changed; secrets are never recorded")]
    created_at: str


class AuditList(Shape):
    entries: list[AuditEventOut]
    next_cursor: str | None
