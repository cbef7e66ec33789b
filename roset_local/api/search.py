"""POST /v1/search and POST /v1/qa (JSON or Server-Sent Events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import msgspec
from litestar import Request, Response, post
from litestar.openapi import ResponseSpec
from litestar.params import RawBody
from litestar.response import Stream

from roset_local.api.deps import decode_body, documents_body
from roset_local.api.openapi import EventStream
from roset_local.api.schemas.search import QaOut, QaRequest, SearchOut, SearchRequest
from roset_local.errors import BadRequest, Unavailable
from roset_local.handlers import blocking, caller, services_of
from roset_local.index import qa as qa_engine
from roset_local.index import search as engine
from roset_local.inputs import check_query, check_space_name
from roset_local.pipeline.options import is_metadata_key


def _metadata(raw: bytes, given: dict[str, str] | None) -> dict[str, str]:
    """``{"metadata": {...}}`` and/or flat ``"metadata.key": "value"`` fields."""
    out = dict(given or {})
    for key, value in msgspec.json.decode(raw).items():
        if key.startswith("metadata."):
            if not isinstance(value, str):
                raise BadRequest(f"{key}: must be a string")
            out[key[len("metadata.") :]] = value
    for key in out:
        if not is_metadata_key(key):
            raise BadRequest(f"metadata.{key}: invalid metadata key")
    return out


def _filters(request: Request, raw: bytes, space: str | None, content_type: str | None,
             metadata: dict[str, str] | None) -> engine.Filters:
    if space is not None:
        check_space_name(space)
    spaces = caller(request).space_filter(space)
    return engine.Filters(spaces=spaces, content_type=content_type or None, metadata=_metadata(raw, metadata))


@post("/v1/search", opt={"scope": "search:read"}, status_code=200, tags=["search"],
      dependencies=documents_body(SearchRequest))
@blocking
def search(request: Request, body: RawBody) -> SearchOut:
    data = decode_body(body, SearchRequest)
    check_query(data.query, "query")
    if not data.query.strip():
        raise BadRequest("query: must not be empty")
    if data.mode not in engine.MODES:
        raise BadRequest(f"mode: must be one of {', '.join(engine.MODES)}")
    if data.limit < 1:
        raise BadRequest("limit: must be a positive integer")
    filters = _filters(request, body, data.space, data.content_type, data.metadata)
    try:
        found = engine.search(services_of(request), data.query, mode=data.mode, filters=filters,
                              limit=min(data.limit, engine.MAX_LIMIT))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return SearchOut.of(found)


def _sse(events: Iterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        done = object()
        while True:  # the engine blocks (database, model, HTTP): step it in worker threads
            event = await anyio.to_thread.run_sync(next, events, done)
            if event is done:
                return
            yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()

    return gen()


@post("/v1/qa", opt={"scope": "search:read"}, status_code=200, tags=["search"], dependencies=documents_body(QaRequest),
      responses={200: ResponseSpec(QaOut, description="The answer, or with `stream` an event stream")},
      operation_class=EventStream)
async def qa(request: Request) -> Response[Any]:
    body = await request.body()
    data = decode_body(body, QaRequest)
    check_query(data.question, "question")
    if not data.question.strip():
        raise BadRequest("question: must not be empty")
    if data.top_k < 1:
        raise BadRequest("top_k: must be a positive integer")
    filters = _filters(request, body, data.space, data.content_type, data.metadata)
    services = services_of(request)
    if data.stream:
        events = qa_engine.answer_events(services, data.question, filters=filters, top_k=data.top_k)
        return Stream(_sse(events), media_type="text/event-stream",
                      headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    try:
        result = await anyio.to_thread.run_sync(
            lambda: qa_engine.answer(services, data.question, filters=filters, top_k=data.top_k)
        )
    except qa_engine.QAError as exc:
        raise Unavailable(str(exc)) from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return Response(QaOut.of(result), status_code=200)


ROUTES = [search, qa]
