"""Files and jobs as a caller may read them: 404 for what it may not see, signed content URLs, and
pages of files. The JSON API, the console, the share portal and the MCP tools all read through here."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from roset_local.api.schemas.files import FileList, FileOut

from roset_local.errors import BadRequest, NotFound
from roset_local.handlers import caller
from roset_local.inputs import check_query
from roset_local.pagination import decode_cursor, encode_cursor, parse_limit
from roset_local.services import Services
from roset_local.store import files as file_store
from roset_local.store import jobs as job_store

CONTENT_PURPOSE = "content"
URL_TTL = 3600


def visible_file(services: Services, request: Request, file_id: str) -> dict[str, Any]:
    """The file if it exists and the caller may see its space (404 either way: no existence leak)."""
    file = file_store.get_file(services.db, file_id)
    if file is None or not caller(request).can_see(file["space"]):
        raise NotFound("File not found")
    return file


def visible_job(services: Services, request: Request, job_id: str) -> dict[str, Any]:
    job = job_store.get_job(services.db, job_id)
    if job is None or not caller(request).can_see(job["space"]):
        raise NotFound("Job not found")
    return job


def content_url(services: Services, file_id: str, part: str) -> str:
    """An expiring URL for a file's bytes (part "file") or a binary variant (part = type)."""
    expires, signature = services.signer.expiring(CONTENT_PURPOSE, f"{file_id}/{part}", URL_TTL)
    path = f"/v1/files/{file_id}/content" if part == "file" else f"/v1/files/{file_id}/variants/{part}/content"
    return f"{services.settings.base_url}{path}?expires={expires}&signature={signature}"


def file_page(services: Services, **query: Any) -> dict[str, Any]:
    """:func:`files_page` as plain JSON values (the portal and the MCP tools)."""
    return msgspec.to_builtins(files_page(services, **query))  # type: ignore[no-any-return]


def files_page(services: Services, *, spaces: tuple[str, ...] | None, status: str | None, search: str | None,
               content_ids: list[str] | None, metadata: dict[str, str], sort_by: str, sort_order: str,
               limit: int | None, cursor: str | None) -> FileList:
    """One validated page of files as the API shapes them (the JSON list, the portal and its pages)."""
    check_query(search, "search")
    if sort_by not in file_store.SORT_COLUMNS:
        raise BadRequest(f"sort_by: must be one of {', '.join(file_store.SORT_COLUMNS)}")
    if sort_order not in ("asc", "desc"):
        raise BadRequest("sort_order: must be asc or desc")
    if status is not None and status not in file_store.FILE_STATUSES:
        raise BadRequest(f"status: must be one of {', '.join(file_store.FILE_STATUSES)}")
    lim = parse_limit(limit)
    raw_cursor = decode_cursor(cursor, 4)
    if raw_cursor is not None and raw_cursor[:2] != [sort_by, sort_order]:
        raise BadRequest("cursor: made for another sort order")
    rows = file_store.list_files(
        services.db, spaces=spaces, status=status, search=search, content_ids=content_ids, metadata=metadata,
        sort_by=sort_by, sort_order=sort_order, limit=lim, cursor=raw_cursor[2:] if raw_cursor else None,
    )
    next_cursor = None
    if len(rows) > lim:
        rows = rows[:lim]
        next_cursor = encode_cursor([sort_by, sort_order, rows[-1]["_sort"], rows[-1]["id"]])
    return FileList(files=[FileOut.from_row(r) for r in rows], next_cursor=next_cursor)


def portal_file(services: Services, space: str, file_id: str) -> dict[str, Any]:
    file = file_store.get_file(services.db, file_id)
    if file is None or file["space"] != space:
        raise NotFound("File not found")
    return file


def space_files(services: Services, space: str, *, status: str | None = None, search: str | None = None,
                sort_by: str = "created_at", sort_order: str = "desc", limit: int | None = None,
                cursor: str | None = None) -> FileList:
    """One page of a space's files as the API shapes them (the portal API; its pages take them as JSON)."""
    return files_page(services, spaces=(space,), status=status, search=search, content_ids=None, metadata={},
                      sort_by=sort_by, sort_order=sort_order, limit=limit, cursor=cursor)


def list_space_files(services: Services, space: str, **query: Any) -> dict[str, Any]:
    """:func:`space_files` as plain JSON values (the portal's pages)."""
    return msgspec.to_builtins(space_files(services, space, **query))  # type: ignore[no-any-return]
