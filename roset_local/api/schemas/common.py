"""Shapes every resource shares: the error body of the contract, checked conversion of domain dicts."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec


class ErrorOut(msgspec.Struct, kw_only=True):
    """Every 4xx/5xx answer: a readable message, a stable code and the request id to quote."""

    error: str
    code: str
    requestId: str  # noqa: N815 - the contract's spelling


class Shape(msgspec.Struct, forbid_unknown_fields=True):
    """A response built from a domain function's dict with :func:`shaped`: a key it does not name is an error."""


S = TypeVar("S", bound=msgspec.Struct)


def shaped(value: Any, shape: type[S]) -> S:
    """``value`` checked into ``shape``: the document's schema and the wire cannot drift apart silently."""
    return msgspec.convert(value, shape)
