"""API keys: the grant asked for, the key as listed (prefix only) and the key as created (shown once)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct


class KeyCreate(Struct):
    name: Annotated[str, Meta(description="1-200 characters", examples=["ci-uploader"])]
    scopes: Annotated[list[str] | None, Meta(description="Omitted: every scope the caller has",
                                             examples=[["files:read", "files:write"]])] = None
    mode: Literal["live", "test"] = "live"
    expires_at: Annotated[str | None, Meta(description="ISO 8601, in the future")] = None
    spaces: Annotated[list[str] | None, Meta(description="Confine the key to these spaces")] = None


class KeyOut(Struct):
    id: str
    name: str
    prefix: Annotated[str, Meta(description="The first characters of the key, to recognise it")]
    scopes: list[str]
    spaces: list[str] | None
    mode: str
    expires_at: str | None
    last_used_at: str | None
    created_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> KeyOut:
        return cls(id=row["id"], name=row["name"], prefix=row["prefix"], scopes=row["scopes"], spaces=row["spaces"],
                   mode=row["mode"], expires_at=row["expires_at"], last_used_at=row["last_used_at"],
                   created_at=row["created_at"])


class KeyCreated(KeyOut):
    """The new key; ``key`` is the secret, shown this once."""

    key: str

    @classmethod
    def with_key(cls, row: dict[str, Any], key: str) -> KeyCreated:
        return cls(**msgspec.structs.asdict(KeyOut.from_row(row)), key=key)


class KeyList(Struct):
    api_keys: list[KeyOut]


class KeyRevoked(Struct):
    deleted: bool

