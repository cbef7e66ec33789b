"""Helpers of the JSON route handlers: JSON bodies and signed-URL options (what they share with the HTML
pages lives in ``roset_local.handlers`` and ``roset_local.inputs``)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.di import Provide

from roset_local import jsonsafe
from roset_local.errors import BadRequest

# Signed-URL routes: the signature is the credential, so the per-address limit does not apply.
SIGNED_URL = {"public": True, "unmetered": True}


def decode_body(raw: bytes, type_: Any = Any) -> Any:
    """Decode JSON into a msgspec type with 400s that name the offending field.

    The one place request bodies are decoded: nesting past jsonsafe.MAX_JSON_DEPTH is refused here, so no
    later step (validation, json.dumps, SQLite's JSON functions) can hit a RecursionError.
    """
    if not raw.strip():
        raise BadRequest("Request body must be a JSON object")
    try:
        value = msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"Invalid request body: {exc}") from None
    except msgspec.DecodeError:
        raise BadRequest("Request body is not valid JSON") from None
    except RecursionError:
        raise BadRequest(f"Request body is nested more than {jsonsafe.MAX_JSON_DEPTH} levels deep") from None
    try:
        return jsonsafe.check_depth(value)
    except jsonsafe.TooDeep as exc:
        raise BadRequest(f"Request body is {exc}") from None


def documents_body(body_type: Any) -> dict[str, Provide]:
    """``dependencies=`` that declare ``body_type`` as the operation's request body in the OpenAPI document
    while the handler keeps decoding the raw bytes itself (so bad input keeps the contract's 400 messages
    rather than litestar's validation ones).

    Litestar documents the ``data`` parameter of a handler's dependencies; this one is never requested
    by the handler, so it never runs. Wrap the type in ``Annotated[..., Body(media_type=...)]`` for a
    body that is not JSON.
    """

    def body(data: Any) -> None:
        return None

    body.__annotations__ = {"data": body_type, "return": None}
    return {"documented_body": Provide(body, sync_to_thread=False)}
