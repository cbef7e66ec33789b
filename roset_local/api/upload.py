"""Uploads: multipart (streamed), the signed-URL flow (JSON registration + PUT), batches."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import msgspec
from litestar import Request, Response, get, post, put
from litestar.params import FromPath, FromQuery

from roset_local.api.deps import SIGNED_URL, blocking, caller, decode_body, services_of
from roset_local.api.shapes import file_out, job_out
from roset_local.errors import BadRequest, ClientGone, RosetError
from roset_local.pipeline import intake

T = TypeVar("T")


HOP_BYTES = 1024 * 1024
BUFFERED_HOPS = 8  # up to 8 MiB read ahead of the writer: network and disk overlap, memory stays flat


async def with_body(request: Request, consume: Callable[[Iterator[bytes]], T]) -> T:
    """Run ``consume(chunks)`` in a worker thread while the event loop keeps reading the body.

    A pump task gathers the server's ~64 KiB messages into ~1 MiB pieces and queues them (bounded);
    the thread takes them one hand-off per MiB. Reading ahead matters: without it the socket is not
    drained while the thread hashes and writes, and the upload runs at half speed.
    """
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


def upload_body(file: dict[str, Any], job: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """The contract's flat fields, plus ``file`` and ``job`` objects (the official SDK reads them)."""
    return {
        "id": file["id"],
        "space": file["space"],
        "filename": file["filename"],
        "content_type": file["content_type"],
        "size_bytes": file["size_bytes"],
        "storage_key": file["storage_key"],
        "status": file["status"],
        "job_id": job["id"] if job else None,
        **extra,
        "file": file_out(file),
        "job": job_out(job),
    }


def _json_object(raw: bytes) -> dict[str, Any]:
    value = decode_body(raw, Any)
    if not isinstance(value, dict):
        raise BadRequest("Request body must be a JSON object")
    return value


@post("/v1/upload", opt={"scope": "files:write"}, request_max_body_size=None, status_code=201, tags=["upload"])
async def upload(request: Request, space: FromQuery[str | None] = None) -> Response:
    """Multipart upload of one file (streamed to storage), or JSON registration returning an upload_url."""
    services, principal = services_of(request), caller(request)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        file, job = await with_body(
            request, lambda chunks: intake.ingest_multipart(services, principal, ctype, chunks, space)
        )
        return Response(upload_body(file, job), status_code=201)
    if ctype.startswith("application/json") or not ctype:
        body = _json_object(await request.body())
        if space and "space" not in body:
            body["space"] = space
        file, job, url, ttl = await anyio.to_thread.run_sync(
            functools.partial(intake.register_upload, services, principal, body)
        )
        return Response(upload_body(file, job, upload_url=url, expires_in=ttl), status_code=201)
    raise RosetError("Use multipart/form-data (file upload) or application/json (signed-URL upload)")


@post("/v1/files", opt={"scope": "files:write"}, status_code=201, tags=["files"])
async def create_file(request: Request, space: FromQuery[str | None] = None) -> Response:
    """Create a file record; its job starts when the bytes are PUT to the returned upload_url."""
    services, principal = services_of(request), caller(request)
    raw = _json_object(await request.body())
    if space and "space" not in raw:
        raw["space"] = space
    file, job, url, ttl = await anyio.to_thread.run_sync(
        functools.partial(intake.register_upload, services, principal, raw)
    )
    return Response(upload_body(file, job, upload_url=url, expires_in=ttl), status_code=201)


class BatchUpload(msgspec.Struct):
    files: list[dict[str, Any]]


@post("/v1/upload/batch", opt={"scope": "files:write"}, status_code=201, tags=["upload"])
async def upload_batch(request: Request) -> Response:
    data = decode_body(await request.body(), BatchUpload)
    services, principal = services_of(request), caller(request)
    result = await anyio.to_thread.run_sync(functools.partial(intake.create_batch, services, principal, data.files))
    return Response(result, status_code=201)


@get("/v1/batches/{batch_id:str}", opt={"scope": "files:read"}, tags=["upload"])
@blocking
def get_batch(request: Request, batch_id: FromPath[str]) -> dict[str, Any]:
    return intake.batch_status(services_of(request).db, batch_id, caller(request))


@put("/v1/uploads/{file_id:str}", opt=SIGNED_URL, request_max_body_size=None, tags=["upload"])
async def put_upload(
    request: Request,
    file_id: FromPath[str],
    token: FromQuery[str] = "",
    expires: FromQuery[str] = "",
    signature: FromQuery[str] = "",
) -> Response:
    """The target of an upload_url: the URL is the credential; a successful PUT starts processing."""
    services = services_of(request)
    file = await with_body(request, lambda chunks: intake.receive_signed_put(
        services, file_id, token, expires, signature, request.headers.get("content-type"), chunks))
    return Response({"id": file["id"], "status": file["status"], "size_bytes": file["size_bytes"],
                     "sha256": file["sha256"], "content_type": file["content_type"]}, status_code=200)


ROUTES = [upload, create_file, upload_batch, get_batch, put_upload]
