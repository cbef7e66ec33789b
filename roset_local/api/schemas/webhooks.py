"""Webhook endpoints, their deliveries and the events owed to them."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from roset_local.api.schemas.common import Shape

EventTypes = Annotated[list[str], Meta(description="Event types to receive (see GET /v1/webhook-events)",
                                       examples=[["file.uploaded", "file.processing.completed"]])]


class WebhookCreate(Struct):
    url: Annotated[str, Meta(examples=["https://example.com/roset-hook"])]
    events: EventTypes
    spaces: list[str] | None = None  # omitted: the key's own spaces (every space for an unconfined key)


class WebhookUpdate(Struct):
    url: str | None = None
    events: list[str] | None = None
    active: bool | None = None
    enabled: Annotated[bool | None, Meta(description="The official SDK's name for `active`")] = None
    spaces: list[str] | None | UnsetType = UNSET  # null: every space (unconfined keys only)


class ReplayRequest(Struct):
    since: Annotated[str, Meta(description="ISO 8601, inclusive", examples=["2026-01-01T00:00:00Z"])]
    until: str | None = None
    event_types: list[str] | None = None


class WebhookOut(Struct):
    id: str
    url: str
    events: list[str]
    spaces: list[str] | None
    active: bool
    disabled_reason: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> WebhookOut:
        return cls(id=row["id"], url=row["url"], events=row["events"], spaces=row["spaces"], active=row["active"],
                   disabled_reason=row["disabled_reason"], created_at=row["created_at"], updated_at=row["updated_at"])


class WebhookCreated(WebhookOut):
    """The new endpoint with its signing secret, shown this once."""

    secret: str

    @classmethod
    def with_secret(cls, row: dict[str, Any]) -> WebhookCreated:
        return cls(**msgspec.structs.asdict(WebhookOut.from_row(row)), secret=row["secret"])


class WebhookList(Struct):
    webhooks: list[WebhookOut]


class WebhookDeleted(Struct):
    deleted: bool


class DeliveryOut(Struct):
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    attempt: int
    status: Annotated[str, Meta(description="pending, delivered or failed")]
    status_code: int | None
    duration_ms: int | None
    error: str | None
    attempted_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DeliveryOut:
        return cls(**{name: row[name] for name in cls.__struct_fields__})


class DeliveryList(Struct):
    deliveries: list[DeliveryOut]
    next_cursor: str | None


class WebhookTestOut(Shape):
    success: bool
    event_id: str
    webhook_id: str
    delivery_id: str | None
    status: str
    status_code: int | None
    duration_ms: int | None
    error: str | None


class SecretRotated(Struct):
    id: str
    secret: str


class ReplayOut(Shape):
    replayed: int
    skipped: int


class WebhookEventOut(Struct):
    id: str
    type: str
    webhook_id: str
    delivered: bool
    status: str
    attempts: int
    space: str | None
    data: dict[str, Any] | None
    created_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> WebhookEventOut:
        return cls(id=row["event_id"], type=row["event_type"], webhook_id=row["webhook_id"],
                   delivered=row["status"] == "delivered", status=row["status"], attempts=row["attempts"],
                   space=row["space"], data=row["data"], created_at=row["created_at"])


class WebhookEventList(Struct):
    events: list[WebhookEventOut]
    next_cursor: str | None

