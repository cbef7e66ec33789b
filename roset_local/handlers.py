"""What every route handler shares, JSON or HTML: the services object, the caller, thread hand-off
for blocking bodies, and streaming a request body into a worker thread."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import anyio
import anyio.from_thread
from litestar import Request

from roset_local.auth import Principal, principal_of
from roset_local.errors import ClientGone
from roset_local.services import Services

T = TypeVar("T")


def services_of(request: Request) -> Services:
    return request.app.state.services


def caller(request: Request) -> Principal:
    return principal_of(request)


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


def on_loop(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run a sync handler body on the event loop: for bodies that only do a few indexed SQLite reads
    (WAL readers never wait for the writer). A hop to a worker thread and back costs more CPU than such
    a body (two GIL hand-offs and thread wake-ups, ~0.3 ms on a loaded 2-core machine); anything that
    may scan, hash, touch blobs or wait on a lock stays :func:`blocking`."""

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    return run


HOP_BYTES = 1024 * 1024
BUFFERED_HOPS = 8  # up to 8 MiB read ahead of the writer: network and disk overlap, memory stays flat


async def with_body(request: Request, consume: Callable[[Iterator[bytes]], T]) -> T:
    """Run ``consume(chunks)`` in a worker thread while the event loop keeps reading the body.

    A pump task gathers the server's ~64 KiB messages into ~1 MiB pieces and queues them (bounded);
    the thread takes them one hand-off per MiB. Reading ahead matters: without it the socket is not
    drained while the thread hashes and writes, and the upload runs at half speed.

    A body that declares at most one piece (Content-Length <= 1 MiB) is read on the loop first and the
    thread gets it whole: one thread hop instead of three, no pump task.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) <= HOP_BYTES:
        try:
            body = await request.body()
        except Exception:  # the client went away mid-body
            raise ClientGone("The client disconnected before the body was complete") from None
        return await anyio.to_thread.run_sync(functools.partial(consume, iter([body] if body else [])))
    send, receive = anyio.create_memory_object_stream[bytes](max_buffer_size=BUFFERED_HOPS)
    gone: list[bool] = []

    async def pump() -> None:
        async with send:
            parts: list[bytes] = []
            size = 0
            try:
                async for part in request.stream():
                    parts.append(part)
                    size += len(part)
                    if size >= HOP_BYTES:
                        await send.send(b"".join(parts))
                        parts, size = [], 0
                if parts:
                    await send.send(b"".join(parts))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return  # the consumer stopped early (an error it is reporting)
            except Exception:  # the client went away: the consumer must not take a cut body as whole
                gone.append(True)

    def chunks() -> Iterator[bytes]:
        while True:
            try:
                yield anyio.from_thread.run(receive.receive)
            except anyio.EndOfStream:
                if gone:
                    raise ClientGone("The client disconnected before the body was complete") from None
                return

    outcome: list[Any] = []
    error: list[BaseException] = []
    async with anyio.create_task_group() as group:
        group.start_soon(pump)
        try:
            outcome.append(await anyio.to_thread.run_sync(functools.partial(consume, chunks())))
        except BaseException as exc:  # re-raised below, outside the task group (no ExceptionGroup)
            error.append(exc)
        receive.close()
        group.cancel_scope.cancel()
    if error:
        raise error[0]
    return outcome[0]
