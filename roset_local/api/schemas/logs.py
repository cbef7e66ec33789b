"""The request log: one row per API request, kept 7 days."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta, Struct


class LogOut(Struct):
    id: str
    method: Annotated[str, Meta(examples=["POST"])]
    path: Annotated[str, Meta(description="The route template, never a path parameter",
                              examples=["/v1/files/{file_id}"])]
    status: int
    auth_type: Annotated[str | None, Meta(description="api_key, jwt, portal_token or session")]
    key_name: str | None
    duration_ms: int
    request_id: str
    created_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> LogOut:
        return cls(**{name: row[name] for name in cls.__struct_fields__})


class LogList(Struct):
    logs: list[LogOut]
    next_cursor: str | None

