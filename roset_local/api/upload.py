"""Uploads: multipart (streamed), the signed-URL flow (JSON registration + PUT), batches."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

import anyio
import anyio.from_thread
import msgspec
from litestar import Request, get, post, put
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery

from roset_local.api.deps import SIGNED_URL, blocking, caller, decode_body, documents_body, services_of
from roset_local.api.schemas.upload import (BatchFile, BatchStatus, BatchUpload, BatchUploadItem, BatchUploadOut,
                                           UploadCreate, UploadForm, UploadOut, UploadReceived)
from roset_local.api.openapi import Binary
from roset_local.errors import BadRequest, ClientGone, RosetError
from roset_local.pipeline import intake

T = TypeVar("T")


class RawBatch(msgspec.Struct):
    """What the handler decodes: each item stays a dict for ``intake`` to validate (its own 400s)."""

    files: list[dict[str, Any]]


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


def upload_body(file: dict[str, Any], job: dict[str, Any] | None) -> dict[str, Any]:
    """:class:`UploadOut` as plain JSON values (the console's upload and the MCP tools)."""
    return msgspec.to_builtins(UploadOut.of(file, job))  # type: ignore[no-any-return]


def _json_object(raw: bytes) -> dict[str, Any]:
    value = decode_body(raw, Any)
    if not isinstance(value, dict):
        raise BadRequest("Request body must be a JSON object")
    return value


async def _register(request: Request, raw: dict[str, Any], space: str | None) -> UploadOut:
    """The signed-URL flow's first step: a file record and the URL its bytes go to."""
    if space and "space" not in raw:
        raw["space"] = space
    file, job, url, ttl = await anyio.to_thread.run_sync(
        functools.partial(intake.register_upload, services_of(request), caller(request), raw)
    )
    return UploadOut.of(file, job, upload_url=url, expires_in=ttl)


@post("/v1/upload", opt={"scope": "files:write"}, request_max_body_size=None, status_code=201, tags=["upload"],
      # documented as the multipart form only: client generators mishandle a second (JSON) body type
      dependencies=documents_body(Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)]))
async def upload(request: Request, space: FromQuery[str | None] = None) -> UploadOut:
    """Multipart upload of one file (streamed to storage). A JSON body instead registers the file like
    ``POST /v1/files`` and returns an ``upload_url``."""
    services, principal = services_of(request), caller(request)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        file, job = await with_body(
            request, lambda chunks: intake.ingest_multipart(services, principal, ctype, chunks, space)
        )
        return UploadOut.of(file, job)
    if ctype.startswith("application/json") or not ctype:
        return await _register(request, _json_object(await request.body()), space)
    raise RosetError("Use multipart/form-data (file upload) or application/json (signed-URL upload)")


@post("/v1/files", opt={"scope": "files:write"}, status_code=201, tags=["files"],
      dependencies=documents_body(UploadCreate))
async def create_file(request: Request, space: FromQuery[str | None] = None) -> UploadOut:
    """Create a file record; its job starts when the bytes are PUT to the returned upload_url."""
    return await _register(request, _json_object(await request.body()), space)


@post("/v1/upload/batch", opt={"scope": "files:write"}, status_code=201, tags=["upload"],
      dependencies=documents_body(BatchUpload))
async def upload_batch(request: Request) -> BatchUploadOut:
    data = decode_body(await request.body(), RawBatch)
    services, principal = services_of(request), caller(request)
    result = await anyio.to_thread.run_sync(functools.partial(intake.create_batch, services, principal, data.files))
    return BatchUploadOut(batch_id=result["batch_id"], files=[BatchUploadItem(**item) for item in result["files"]])


@get("/v1/batches/{batch_id:str}", opt={"scope": "files:read"}, tags=["upload"])
@blocking
def get_batch(request: Request, batch_id: FromPath[str]) -> BatchStatus:
    status = intake.batch_status(services_of(request).db, batch_id, caller(request))
    return BatchStatus(**{**status, "files": [BatchFile(**item) for item in status["files"]]})


@put("/v1/uploads/{file_id:str}", opt=SIGNED_URL, request_max_body_size=None, tags=["upload"],
     dependencies=documents_body(Annotated[bytes, Body(media_type="application/octet-stream")]), operation_class=Binary)
async def put_upload(
    request: Request,
    file_id: FromPath[str],
    token: FromQuery[str] = "",
    expires: FromQuery[str] = "",
    signature: FromQuery[str] = "",
) -> UploadReceived:
    """The target of an upload_url: the URL is the credential; a successful PUT starts processing."""
    services = services_of(request)
    file = await with_body(request, lambda chunks: intake.receive_signed_put(
        services, file_id, token, expires, signature, request.headers.get("content-type"), chunks))
    return UploadReceived(id=file["id"], status=file["status"], size_bytes=file["size_bytes"], sha256=file["sha256"],
                          content_type=file["content_type"])


ROUTES = [upload, create_file, upload_batch, get_batch, put_upload]
