"""OpenAPI request bodies for routes that decode their JSON themselves (``decode_body`` keeps the contract's 400s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import msgspec
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``#/$defs/...`` reference replaced by its definition (the shapes are not recursive)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def body_schema(shape: Any) -> dict[str, Any]:
    """The JSON Schema of ``shape`` (a Struct or any msgspec type), self-contained."""
    raw = msgspec.json.schema(shape)
    defs = raw.pop("$defs", {})
    return cast(dict[str, Any], _inline(raw, defs))


def json_body(shape: Any, *, required: bool = True) -> type[Operation]:
    """An ``operation_class`` declaring ``shape`` as the route's application/json request body.

    The route keeps reading ``body: RawBody`` and decoding it with ``decode_body``: a typed ``data:``
    parameter would let litestar validate first and change the contract's 400 messages.
    """
    # The spec serializer walks plain dicts as well as its own dataclasses, so the schema stays a dict.
    body = RequestBody(content={"application/json": OpenAPIMediaType(schema=cast(Schema, body_schema(shape)))},
                       required=required)

    @dataclass
    class WithJsonBody(Operation):
        def __post_init__(self) -> None:
            self.request_body = body

    WithJsonBody.__name__ = WithJsonBody.__qualname__ = f"{getattr(shape, '__name__', 'Body')}Operation"
    return WithJsonBody
