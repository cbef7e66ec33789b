"""Shapes every resource shares: the error body of the contract."""

from __future__ import annotations

import msgspec


class ErrorOut(msgspec.Struct, kw_only=True):
    """Every 4xx/5xx answer: a readable message, a stable code and the request id to quote."""

    error: str
    code: str
    requestId: str  # noqa: N815 - the contract's spelling
