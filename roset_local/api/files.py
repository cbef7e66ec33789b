"""Files and their variants: list, get, delete, reprocess, download."""

from __future__ import annotations

import functools
from typing import Any

import anyio
import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery, RawBody
from litestar.response import File, Stream

from roset_local import audit
from roset_local.access import (
    CONTENT_PURPOSE,
    URL_TTL,
    content_url,
    files_page,
    visible_file,
)
from roset_local.api.deps import SIGNED_URL, decode_body, documents_body
from roset_local.api.openapi import Binary, OptionalBody
from roset_local.api.schemas.files import (
    BatchStarted,
    BulkDeleted,
    Deleted,
    DownloadLink,
    FileDetail,
    FileIds,
    FileList,
    FileOut,
    ItemError,
    ProcessBatch,
    ProcessOptions,
    ProcessStarted,
    VariantList,
    VariantOut,
)
from roset_local.api.schemas.jobs import JobOut, job_or_none
from roset_local.connections import nodes as connection_nodes
from roset_local.errors import BadRequest, Forbidden, NotFound, RosetError
from roset_local.handlers import blocking, caller, on_loop, services_of
from roset_local.index.search import search_file_ids
from roset_local.inputs import check_query
from roset_local.pipeline import lifecycle
from roset_local.pipeline.options import is_metadata_key, processing_options
from roset_local.services import Services
from roset_local.store import batches as batch_store
from roset_local.store import files as file_store
from roset_local.store import jobs as job_store
from roset_local.store import variants as variant_store

BYTES = "application/octet-stream"  # documented type of a file's bytes; each answer carries the real one


def _metadata_filters(request: Request) -> dict[str, str]:
    filters = {}
    for key, value in request.query_params.items():
        if key.startswith("metadata."):
            name = key[len("metadata."):]
            if not is_metadata_key(name):
                raise BadRequest(f"{key}: invalid metadata key")
            filters[name] = value
    return filters


@get("/v1/files", opt={"scope": "files:read"}, tags=["files"])
async def list_files(
    request: Request,
    space: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    search: FromQuery[str | None] = None,
    sort_by: FromQuery[str] = "created_at",
    sort_order: FromQuery[str] = "desc",
    limit: FromQuery[int | None] = None,
    cursor: FromQuery[str | None] = None,
) -> FileList:
    metadata = _metadata_filters(request)
    page = functools.partial(_list_files, request, space, status, search, metadata, sort_by, sort_order, limit, cursor)
    if search or metadata:
        return await anyio.to_thread.run_sync(page)  # a search or JSON filter may scan: off the loop
    return page()  # one page of an indexed listing: cheaper than the thread hop it would take


def _list_files(request: Request, space: str | None, status: str | None, search: str | None,
                metadata: dict[str, str], sort_by: str, sort_order: str, limit: int | None,
                cursor: str | None) -> FileList:
    services, principal = services_of(request), caller(request)
    spaces = principal.list_filter(space, "default")
    content_ids = None
    if search and check_query(search, "search"):
        content_ids = search_file_ids(services.db, search, spaces)
    return files_page(services, spaces=spaces, status=status, search=search, content_ids=content_ids,
                     metadata=metadata, sort_by=sort_by, sort_order=sort_order, limit=limit, cursor=cursor)


@get("/v1/files/{file_id:str}", opt={"scope": "files:read"}, tags=["files"])
@on_loop
def get_file(request: Request, file_id: FromPath[str]) -> FileDetail:
    services = services_of(request)
    with services.db.read():  # one snapshot: the file's status, its variants and its jobs agree
        file = visible_file(services, request, file_id)
        variants = variant_store.list_variants(services.db, file_id, with_content=False)
        jobs = job_store.jobs_for_file(services.db, file_id)
    latest = next((j for j in jobs if j["id"] == file["latest_job_id"]), None)  # one query fewer than latest_job
    return FileDetail(
        **msgspec.structs.asdict(FileOut.from_row(file)),
        variants=[variant_shape(services, v, content=False) for v in variants],
        job=job_or_none(latest),
        jobs=[JobOut.from_row(j) for j in jobs],
    )


def variant_shape(services: Services, variant: dict[str, Any], *, content: bool) -> VariantOut:
    """A variant as the API returns it, with an expiring ``url`` when its bytes are a blob."""
    url = content_url(services, variant["file_id"], variant["type"]) if variant["blob_key"] else None
    return VariantOut.from_row(variant, content=content, url=url)


@delete("/v1/files/{file_id:str}", opt={"scope": "files:write"}, status_code=200, tags=["files"])
@blocking
def delete_file(request: Request, file_id: FromPath[str]) -> Deleted:
    services = services_of(request)
    visible_file(services, request, file_id)
    lifecycle.delete_file(services, file_id, audit.actor_of(request))
    return Deleted(deleted=True)


@delete("/v1/files", opt={"scope": "files:write"}, status_code=200, tags=["files"], dependencies=documents_body(FileIds))
@blocking
def delete_files(request: Request, body: RawBody) -> BulkDeleted:
    data = decode_body(body, FileIds)
    if not 1 <= len(data.file_ids) <= 100:
        raise BadRequest("file_ids: 1 to 100 ids")
    services = services_of(request)
    visible, errors = [], []
    for file_id in dict.fromkeys(data.file_ids):
        try:
            visible.append(visible_file(services, request, file_id))
        except RosetError as exc:
            errors.append(ItemError(id=file_id, error=exc.message, code=exc.code))
    gone = lifecycle.delete_files(services, visible, audit.actor_of(request))
    errors += [ItemError(id=file_id, error="File not found", code="NOT_FOUND") for file_id in gone]
    return BulkDeleted(deleted=len(visible) - len(gone), errors=errors)


def _options(data: ProcessOptions) -> dict[str, Any]:
    return processing_options(msgspec.structs.asdict(data))


@post("/v1/files/{file_id:str}/process", opt={"scope": "jobs:write"}, status_code=201, tags=["files"],
      dependencies=documents_body(ProcessOptions), operation_class=OptionalBody)
@blocking
def process_file(request: Request, file_id: FromPath[str], body: RawBody) -> ProcessStarted:
    services = services_of(request)
    data = decode_body(body, ProcessOptions) if body.strip() else ProcessOptions()
    file = visible_file(services, request, file_id)
    job = lifecycle.start_processing(services, file, _options(data))
    return ProcessStarted(job_id=job["id"], file_id=file_id, status=job["status"])


@post("/v1/files/process-batch", opt={"scope": "jobs:write"}, status_code=201, tags=["files"],
      dependencies=documents_body(ProcessBatch))
@blocking
def process_batch(request: Request, body: RawBody) -> BatchStarted:
    services, principal = services_of(request), caller(request)
    data = decode_body(body, ProcessBatch)
    if not data.file_ids and not data.connection_id:
        raise BadRequest("One of file_ids or connection_id is required")
    if data.file_ids is not None and len(data.file_ids) > 1000:
        raise BadRequest("file_ids: at most 1000 ids")
    options = _options(data)
    ids = list(dict.fromkeys(data.file_ids or []))
    if data.connection_id:
        ids += [i for i in connection_nodes.connection_file_ids(services, data.connection_id, principal) if i not in ids]
    batch_id = batch_store.create_batch(services.db, "process")
    job_ids, errors = [], []
    for file_id in ids:
        try:
            file = visible_file(services, request, file_id)
            job = lifecycle.start_processing(services, file, options)
        except RosetError as exc:
            errors.append(ItemError(id=file_id, error=exc.message, code=exc.code))
            continue
        job_ids.append(job["id"])
        batch_store.add_batch_item(services.db, batch_id, file_id, job["id"])
    return BatchStarted(batch_id=batch_id, queued=len(job_ids), job_ids=job_ids, errors=errors)


@get("/v1/files/{file_id:str}/variants", opt={"scope": "files:read"}, tags=["variants"])
@blocking
def list_variants(request: Request, file_id: FromPath[str]) -> VariantList:
    services = services_of(request)
    visible_file(services, request, file_id)
    rows = variant_store.list_variants(services.db, file_id)
    return VariantList(variants=[variant_shape(services, v, content=True) for v in rows])


@get("/v1/files/{file_id:str}/variants/{variant_type:str}", opt={"scope": "files:read"}, tags=["variants"])
@blocking
def get_variant(request: Request, file_id: FromPath[str], variant_type: FromPath[str]) -> VariantOut:
    services = services_of(request)
    visible_file(services, request, file_id)
    row = variant_store.get_variant(services.db, file_id, variant_type)
    if row is None:
        raise NotFound(f"No {variant_type} variant for this file")
    return variant_shape(services, row, content=True)


@get("/v1/files/{file_id:str}/download", opt={"scope": "files:read"}, tags=["files"])
@blocking
def download_file(request: Request, file_id: FromPath[str]) -> DownloadLink:
    """An expiring URL for the original bytes (no Authorization header needed to fetch it)."""
    services = services_of(request)
    file = visible_file(services, request, file_id)
    if file["status"] == "uploading":
        raise NotFound("The file's bytes have not been uploaded yet")
    return DownloadLink(url=content_url(services, file_id, "file"), expires_in=URL_TTL)


def _stream_blob(services: Services, key: str, media_type: str, filename: str | None) -> Response:
    path = services.blobs.local_path(key)
    if path is not None:
        return File(path=path, media_type=media_type, filename=filename,
                    content_disposition_type="attachment" if filename else "inline")
    return Stream(services.blobs.iter_bytes(key), media_type=media_type)


def _check_signature(services: Services, file_id: str, part: str, expires: str, signature: str) -> None:
    problem = services.signer.check_expiring(CONTENT_PURPOSE, f"{file_id}/{part}", expires, signature)
    if problem == "expired":
        raise Forbidden("This URL has expired")
    if problem:
        raise Forbidden("Invalid URL signature")


@get("/v1/files/{file_id:str}/content", opt=SIGNED_URL, tags=["files"], media_type=BYTES,
     operation_class=Binary)
@blocking
def file_content(request: Request, file_id: FromPath[str], expires: FromQuery[str] = "",
                 signature: FromQuery[str] = "") -> Response[Any]:
    services = services_of(request)
    _check_signature(services, file_id, "file", expires, signature)
    file = file_store.get_file(services.db, file_id)
    if file is None or file["status"] == "uploading":
        raise NotFound("File not found")
    if file.get("node_id"):
        try:
            handle = connection_nodes.open_file_bytes(services, file)
        except FileNotFoundError:  # e.g. kept after its object was deleted (source_deleted)
            raise NotFound("The file's object is no longer in its bucket") from None
        return Stream(_iter_handle(handle), media_type=file["content_type"] or "application/octet-stream")
    return _stream_blob(services, file["storage_key"], file["content_type"] or "application/octet-stream", file["filename"])


def _iter_handle(handle: Any) -> Any:
    with handle as src:
        while chunk := src.read(1024 * 1024):
            yield chunk


@get("/v1/files/{file_id:str}/variants/{variant_type:str}/content", opt=SIGNED_URL, tags=["variants"],
     media_type=BYTES, operation_class=Binary)
@blocking
def variant_content(request: Request, file_id: FromPath[str], variant_type: FromPath[str], expires: FromQuery[str] = "",
                    signature: FromQuery[str] = "") -> Response[Any]:
    services = services_of(request)
    _check_signature(services, file_id, variant_type, expires, signature)
    row = variant_store.get_variant(services.db, file_id, variant_type)
    if row is None:
        raise NotFound("Variant not found")
    if row["blob_key"]:
        return _stream_blob(services, row["blob_key"], row["content_type"], None)
    return Response(row["content"] or "", media_type=row["content_type"])


ROUTES = [list_files, get_file, delete_file, delete_files, process_file, process_batch, list_variants, get_variant,
          download_file, file_content, variant_content]
