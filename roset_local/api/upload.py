"""Uploads: multipart (streamed), the signed-URL flow (JSON registration + PUT), batches."""

from __future__ import annotations

import functools
from typing import Any

import anyio
import msgspec
from litestar import Request, Response, get, post, put
from litestar.params import FromPath, FromQuery

from roset_local.api.deps import SIGNED_URL, blocking, caller, decode_body, services_of
from roset_local.handlers import with_body
from roset_local.shapes import upload_body
from roset_local.errors import BadRequest, RosetError
from roset_local.pipeline import intake


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
