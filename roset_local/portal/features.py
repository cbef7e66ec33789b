"""The console's and portal's way to other engineers' modules that may be absent from a build.

Each helper imports its module when called, so a page can say "not available yet" instead of
failing at start-up. The functions called are the same the JSON API calls.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio

from roset_local.api.deps import check_query
from roset_local.errors import BadRequest, Unavailable


def module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def search(services: Any, query: str, *, spaces: tuple[str, ...] | None, mode: str = "hybrid", limit: int = 20
           ) -> dict[str, Any]:
    check_query(query, "query")
    engine = module("roset_local.index.search")
    if engine is None:
        raise Unavailable("Search is not available yet in this build")
    try:
        return engine.search(services, query, mode=mode, filters=engine.Filters(spaces=spaces), limit=limit)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    except Exception as exc:
        if missing_table(exc):
            raise Unavailable("Search is not available yet in this build (no search index)") from None
        raise


def missing_table(exc: Exception) -> bool:
    """A feature whose tables are not in this build's schema (its migrations are not registered)."""
    return type(exc).__name__ == "OperationalError" and "no such table" in str(exc)


def qa_available() -> bool:
    return module("roset_local.index.qa") is not None


def answer_events(services: Any, question: str, *, spaces: tuple[str, ...] | None, limit: int = 5
                  ) -> Iterator[dict[str, Any]]:
    """The answer as the contract's stream events: chunk..., sources, done."""
    if not question or not question.strip():
        raise BadRequest("question: must not be empty")
    check_query(question, "question")
    qa = module("roset_local.index.qa")
    if qa is None:
        raise Unavailable("Q&A is not available yet in this build")
    for name in ("answer_events", "stream_answer", "answer_stream"):
        fn = getattr(qa, name, None)
        if fn is not None:
            try:
                events = fn(services, question, spaces=spaces, limit=limit)
            except ValueError as exc:
                raise BadRequest(str(exc)) from None
            yield from events
            return
    result = qa.answer(services, question, spaces=spaces, limit=limit)
    yield {"type": "chunk", "content": result.get("answer", "")}
    yield {"type": "sources", "sources": result.get("sources", [])}
    yield {"type": "done"}


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
