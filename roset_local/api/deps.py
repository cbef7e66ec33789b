"""Small helpers shared by route handlers: the services object, the caller, JSON bodies."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

import msgspec
from litestar import Request
from litestar.di import Provide

from roset_local import jsonsafe
from roset_local.auth import Principal, principal_of
from roset_local.errors import BadRequest
from roset_local.services import Services

T = TypeVar("T")

SPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# Signed-URL routes: the signature is the credential, so the per-address limit does not apply.
SIGNED_URL = {"public": True, "unmetered": True}
MAX_QUERY_CHARS = 4096  # search queries, questions, file-name searches


def check_query(value: str | None, field: str) -> str | None:
    """A search text within :data:`MAX_QUERY_CHARS`; a longer one is a 400 that never echoes it."""
    if value is not None and len(value) > MAX_QUERY_CHARS:
        raise BadRequest(f"{field}: must be at most {MAX_QUERY_CHARS} characters (got {len(value)})")
    return value


def services_of(request: Request) -> Services:
    return request.app.state.services


def caller(request: Request) -> Principal:
    return principal_of(request)


def check_space_name(space: str) -> str:
    if not isinstance(space, str) or not SPACE_RE.match(space):
        raise BadRequest(
            "Invalid space name: use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return space


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


def blocking(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run a sync handler body in a worker thread.

    Litestar 2.25 registers a handler twice when its path has several methods and then wraps
    its own ``sync_to_thread`` wrapper again (the handler returns an unawaited coroutine), so
    handlers are made coroutine functions here instead of using ``sync_to_thread=True``.
    """

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    return run


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
