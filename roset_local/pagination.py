"""Opaque keyset cursors and limit parsing shared by every list endpoint."""

from __future__ import annotations

import base64
import json
from typing import Any

from roset_local.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def parse_limit(value: int | None, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    if value is None:
        return default
    if value < 1:
        raise BadRequest("limit must be a positive integer")
    return min(value, maximum)


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    """Decode a cursor made by :func:`encode_cursor` with ``size`` values; garbage → 400."""
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise BadRequest("Invalid cursor") from None
    if not isinstance(values, list) or len(values) != size:
        raise BadRequest("Invalid cursor")
    if not all(v is None or isinstance(v, (str, int, float)) for v in values):
        raise BadRequest("Invalid cursor")
    return values


def keyset(
    column: str, direction: str, cursor: list[Any] | None, params: dict[str, Any], *, id_column: str = "id"
) -> tuple[str, str]:
    """WHERE fragment and ORDER BY for (column, id) keyset paging in either direction.

    NULLs sort first in SQLite ascending; we coalesce numeric/text columns upstream so that the
    tuple comparison is total.
    """
    op = "<" if direction == "desc" else ">"
    order = f"{column} {direction.upper()}, {id_column} {direction.upper()}"
    if cursor is None:
        return "", order
    params["_cur_v"], params["_cur_id"] = cursor
    return f"({column}, {id_column}) {op} (:_cur_v, :_cur_id)", order


def page(rows: list[dict[str, Any]], limit: int, key: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Trim a ``limit + 1`` fetch to ``limit`` rows and make the next cursor from the last one."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(list(key(rows[-1])))
