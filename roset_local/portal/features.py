"""Search and Q&A for the console and the share portal: the functions the JSON API calls, bad input
as a 400, answers streamed from worker threads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio

from roset_local.errors import BadRequest
from roset_local.index import qa
from roset_local.index import search as engine
from roset_local.inputs import check_query


def search(services: Any, query: str, *, spaces: tuple[str, ...] | None, mode: str = "hybrid", limit: int = 20
           ) -> dict[str, Any]:
    check_query(query, "query")
    try:
        return engine.search(services, query, mode=mode, filters=engine.Filters(spaces=spaces), limit=limit)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def answer_events(services: Any, question: str, *, spaces: tuple[str, ...] | None, limit: int = 5
                  ) -> Iterator[dict[str, Any]]:
    """The answer as the contract's stream events: chunk..., sources, done."""
    if not question or not question.strip():
        raise BadRequest("question: must not be empty")
    check_query(question, "question")
    try:
        events = qa.answer_events(services, question, spaces=spaces, limit=limit)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    yield from events


def collect_answer(events: Iterator[dict[str, Any]]) -> dict[str, Any]:
    parts: list[str] = []
    sources: list[Any] = []
    for event in events:
        if event.get("type") == "chunk":
            parts.append(event.get("content", ""))
        elif event.get("type") == "sources":
            sources = event.get("sources", [])
    return {"answer": "".join(parts), "sources": sources}


async def in_thread(make: Callable[[], Iterator[Any]]) -> AsyncIterator[Any]:
    """Drive a blocking generator from worker threads, one item at a time (for SSE responses)."""
    iterator = await anyio.to_thread.run_sync(lambda: iter(make()))
    done = object()
    while True:
        item = await anyio.to_thread.run_sync(lambda: next(iterator, done))
        if item is done:
            return
        yield item
