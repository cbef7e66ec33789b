"""Spaces: their list, per-space figures and the answer to a delete."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta


class SpaceOut(msgspec.Struct, kw_only=True):
    space: Annotated[str, Meta(examples=["default"])]
    file_count: int


class SpaceList(msgspec.Struct, kw_only=True):
    spaces: list[SpaceOut]


class SpaceStats(msgspec.Struct, kw_only=True):
    space: str
    total_files: int
    total_size_bytes: int | None
    variant_size_bytes: int
    status_counts: Annotated[dict[str, int], Meta(examples=[{"completed": 3, "failed": 1}])]

    @classmethod
    def of(cls, stats: dict[str, Any]) -> SpaceStats:
        return cls(**stats)


class SpaceDeleted(msgspec.Struct, kw_only=True):
    deleted: bool
    files_deleted: int
