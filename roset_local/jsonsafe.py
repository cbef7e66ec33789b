"""Bounded JSON decoding for client input: a nesting limit so no later step can hit a RecursionError."""

from __future__ import annotations

from typing import Any

import msgspec

MAX_JSON_DEPTH = 32  # far deeper than any request needs


class TooDeep(ValueError):
    pass


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of decoded JSON, counted without recursion and stopping once past ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_depth(value: Any) -> Any:
    """``value`` (a decoded document or msgspec Struct) unchanged, or TooDeep."""
    try:
        plain = msgspec.to_builtins(value) if isinstance(value, msgspec.Struct) else value
    except RecursionError:
        raise TooDeep(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    if json_depth(plain) > MAX_JSON_DEPTH:
        raise TooDeep(f"nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def loads(text: str | bytes) -> Any:
    """Decode JSON text; ValueError when invalid, TooDeep (a ValueError) when nested too deep."""
    try:
        value = msgspec.json.decode(text)
    except RecursionError:
        raise TooDeep(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None
    return check_depth(value)
