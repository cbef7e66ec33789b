"""Uploads: multipart (streamed), the signed-URL flow (JSON registration + PUT), batches."""

from __future__ import annotations

import functools
from typing import Annotated, Any

import anyio
import msgspec
from litestar import Request, get, post, put
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery

from roset_local.api.deps import SIGNED_URL, decode_body, documents_body
from roset_local.api.openapi import Binary
from roset_local.api.schemas.upload import (
    BatchFile,
    BatchStatus,
    BatchUpload,
    BatchUploadItem,
    BatchUploadOut,
    UploadCreate,
    UploadForm,
    UploadOut,
    UploadReceived,
)
from roset_local.errors import BadRequest, RosetError
from roset_local.handlers import blocking, caller, services_of, with_body
from roset_local.pipeline import intake


class RawBatch(msgspec.Struct):
    """What the handler decodes: each item stays a dict for ``intake`` to validate (its own 400s)."""

    files: list[dict[str, Any]]


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
