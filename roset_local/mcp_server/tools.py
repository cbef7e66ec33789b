"""The MCP tools: each one names its scope, describes itself for an agent and calls the REST API's functions."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roset_local.inputs import check_space_name
from roset_local.access import file_page
from roset_local.shapes import job_out, upload_body
from roset_local.auth import Principal
from roset_local.errors import BadRequest, NotFound, PayloadTooLarge, Unavailable
from roset_local.index import qa as qa_engine
from roset_local.index import search as engine
from roset_local.index.indexer import pages_from
from roset_local.pipeline import intake
from roset_local.services import Services
from roset_local.store import chunks as chunk_store
from roset_local.store import files as file_store
from roset_local.store import jobs as job_store
from roset_local.store.keys import Scope
from roset_local.store import variants as variant_store

MAX_HTTP_UPLOAD_BYTES = 20 * 1024 * 1024  # decoded bytes of one base64 upload over HTTP
READ_CHUNK = 1024 * 1024

STDIO, HTTP = "stdio", "http"


@dataclass(frozen=True)
class Call:
    """What a tool runs with: the opened services, the authenticated caller and the transport."""

    services: Services
    principal: Principal
    transport: str


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    scope: Scope
    read_only: bool
    schema: Callable[[str], dict[str, Any]]  # transport -> JSON Schema of the arguments
    run: Callable[[Call, dict[str, Any]], dict[str, Any]]
    markdown_result: bool = False  # the text content is the markdown itself, not JSON


def _obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


SPACE = {"type": "string", "description": "Limit to one space (a namespace of files). Omit for every space the key may see."}
FILE_ID = {"type": "string", "description": "A file id such as 'file_...', from search, list_files or upload."}


def _spaces(call: Call, space: str | None) -> tuple[str, ...] | None:
    if space is not None:
        check_space_name(space)
    return call.principal.space_filter(space)


def visible_file(call: Call, file_id: str) -> dict[str, Any]:
    """As the REST API: 404 for a file in a space the key may not see (no existence leak)."""
    file = file_store.get_file(call.services.db, file_id)
    if file is None or not call.principal.can_see(file["space"]):
        raise NotFound("File not found")
    return file


# -- search and ask --------------------------------------------------------------------------------

def _search_schema(_: str) -> dict[str, Any]:
    return _obj({
        "query": {"type": "string", "minLength": 1, "description": "What to look for, in natural language or keywords."},
        "mode": {"type": "string", "enum": list(engine.MODES), "default": "hybrid",
                 "description": "text = keyword (BM25) match, vector = semantic similarity, hybrid = both fused (best default)."},
        "space": SPACE,
        "limit": {"type": "integer", "minimum": 1, "maximum": engine.MAX_LIMIT, "default": 10,
                  "description": "How many passages to return."},
    }, ["query"])


def _passage(hit: dict[str, Any]) -> dict[str, Any]:
    out = {"file_id": hit["file_id"], "filename": hit["filename"], "space": hit["space"], "page": hit["page"],
           "heading": hit["heading"], "score": hit["score"], "text": hit["chunk_text"]}
    if hit.get("timestamp") is not None:
        out["timestamp"] = hit["timestamp"]
    if hit.get("bbox") is not None:  # where the passage sits on its page: points, origin top-left
        out.update(bbox=hit["bbox"], page_width=hit.get("page_width"), page_height=hit.get("page_height"))
    return out


def run_search(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    filters = engine.Filters(spaces=_spaces(call, args.get("space")))
    try:
        found = engine.search(call.services, args["query"], mode=args.get("mode", "hybrid"), filters=filters,
                              limit=args.get("limit", 10))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return {"query": found["query"], "mode": found["mode"], "total": found["total"],
            "passages": [_passage(hit) for hit in found["results"]]}


def _ask_schema(_: str) -> dict[str, Any]:
    return _obj({
        "question": {"type": "string", "minLength": 1, "description": "The question to answer from the indexed files."},
        "space": SPACE,
        "top_k": {"type": "integer", "minimum": 1, "maximum": qa_engine.MAX_TOP_K, "default": 5,
                  "description": "How many passages the answer may draw on."},
    }, ["question"])


def run_ask(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    filters = engine.Filters(spaces=_spaces(call, args.get("space")))
    try:
        return qa_engine.answer(call.services, args["question"], filters=filters, top_k=args.get("top_k", 5))
    except qa_engine.QAError as exc:
        raise Unavailable(str(exc)) from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


# -- files -----------------------------------------------------------------------------------------

def _list_schema(_: str) -> dict[str, Any]:
    return _obj({
        "space": SPACE,
        "status": {"type": "string", "enum": list(file_store.FILE_STATUSES),
                   "description": "Only files in this state; 'completed' files are searchable and have markdown."},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        "cursor": {"type": "string", "description": "next_cursor from the previous page."},
    }, [])


def run_list_files(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    page = file_page(call.services, spaces=_spaces(call, args.get("space")), status=args.get("status"), search=None,
                     content_ids=None, metadata={}, sort_by="created_at", sort_order="desc",
                     limit=args.get("limit", 20), cursor=args.get("cursor"))
    keep = ("id", "filename", "space", "status", "content_type", "size_bytes", "job_id", "created_at", "error")
    return {"files": [{k: f[k] for k in keep if k in f} for f in page["files"]], "next_cursor": page["next_cursor"]}


def _markdown_schema(_: str) -> dict[str, Any]:
    return _obj({
        "file_id": FILE_ID,
        "page_from": {"type": "integer", "minimum": 1, "description": "First page to return (paged documents such as PDFs)."},
        "page_to": {"type": "integer", "minimum": 1, "description": "Last page to return (inclusive)."},
    }, ["file_id"])


def file_markdown(call: Call, file_id: str) -> tuple[dict[str, Any], str]:
    file = visible_file(call, file_id)
    text = variant_store.markdown_of(call.services.db, file_id)
    if text is None:
        raise NotFound(f"No markdown variant for this file (status: {file['status']})")
    return file, text


def file_pages(call: Call, file_id: str, text: str) -> list[tuple[int, str]]:
    """The markdown cut at page starts: exact from the metadata variant, else from the chunks' pages."""
    meta = variant_store.get_variant(call.services.db, file_id, "metadata")
    starts = json.loads(meta["content"] or "{}").get("page_starts") if meta else None
    if not starts:  # processed before page starts were recorded, or without the metadata variant
        return pages_from(chunk_store.file_chunks(call.services.db, file_id), text)
    bounds = [pos for _, pos in starts[1:]] + [len(text)]
    return [(number, text[pos:end]) for (number, pos), end in zip(starts, bounds)]


def run_get_markdown(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    file, text = file_markdown(call, args["file_id"])
    first, last = args.get("page_from"), args.get("page_to")
    out: dict[str, Any] = {"file_id": file["id"], "filename": file["filename"]}
    if first is None and last is None:
        return {**out, "markdown": text}
    if first is not None and last is not None and last < first:
        raise BadRequest("page_to: must not be before page_from")
    pages = file_pages(call, file["id"], text)
    if not pages:
        raise BadRequest("page_from/page_to: this file has no page numbers; omit them to get the whole markdown")
    lo, hi = first or 1, last or pages[-1][0]
    chosen = [(n, part) for n, part in pages if lo <= n <= hi]
    if not chosen:
        raise BadRequest(f"page_from/page_to: the file has pages {pages[0][0]} to {pages[-1][0]}")
    return {**out, "pages": [n for n, _ in chosen], "markdown": "".join(part for _, part in chosen).strip()}


# -- upload and jobs -------------------------------------------------------------------------------

def _upload_schema(transport: str) -> dict[str, Any]:
    common = {
        "space": {"type": "string", "description": "The space to put the file in (default 'default')."},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"},
                     "description": "Optional string key/values stored with the file (searchable as filters)."},
    }
    if transport == STDIO:
        return _obj({
            "path": {"type": "string", "description": "Absolute path of a local file to upload (PDF, Office, image, audio, text...)."},
            "filename": {"type": "string", "description": "Name to store it under (default: the path's name)."},
            **common,
        }, ["path"])
    return _obj({
        "filename": {"type": "string", "minLength": 1, "description": "The file's name, with its extension (e.g. report.pdf)."},
        "content_base64": {"type": "string", "description": f"The file's bytes, base64-encoded; at most {MAX_HTTP_UPLOAD_BYTES // (1024 * 1024)} MiB decoded."},
        **common,
    }, ["filename", "content_base64"])


def _read_path(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            yield chunk


def _decoded(raw: str) -> bytes:
    if len(raw) > (MAX_HTTP_UPLOAD_BYTES + 2) // 3 * 4 + 4:
        raise PayloadTooLarge(f"content_base64: file exceeds the maximum of {MAX_HTTP_UPLOAD_BYTES} bytes for MCP uploads")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("content_base64: not valid base64") from None


def run_upload(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    if call.transport == STDIO:
        path = Path(args["path"]).expanduser()
        if not path.is_file():
            raise BadRequest(f"path: no readable file at {path}")
        chunks: Any = _read_path(path)
        filename, limit = args.get("filename") or path.name, None
    else:
        chunks, filename, limit = [_decoded(args["content_base64"])], args["filename"], MAX_HTTP_UPLOAD_BYTES
    file, job = intake.ingest_stream(call.services, call.principal, chunks, filename=filename, space=args.get("space"),
                                     metadata=args.get("metadata"), max_bytes=limit)
    body = upload_body(file, job)
    return {k: body[k] for k in ("id", "space", "filename", "content_type", "size_bytes", "status", "job_id")}


def _job_schema(_: str) -> dict[str, Any]:
    return _obj({
        "job_id": {"type": "string", "description": "A job id such as 'job_...' (upload returns one)."},
        "file_id": {**FILE_ID, "description": "Or a file id: its latest job."},
    }, [])


def run_job_status(call: Call, args: dict[str, Any]) -> dict[str, Any]:
    if bool(args.get("job_id")) == bool(args.get("file_id")):
        raise BadRequest("Give exactly one of job_id or file_id")
    if args.get("job_id"):
        job = job_store.get_job(call.services.db, args["job_id"])
        if job is None or not call.principal.can_see(job["space"]):
            raise NotFound("Job not found")
    else:
        job = job_store.latest_job(call.services.db, visible_file(call, args["file_id"])["id"])
        if job is None:
            raise NotFound("This file has no job")
    out = job_out(job) or {}
    out["done"] = out["status"] in job_store.TERMINAL
    return out


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("search", "Search documents",
             "Search the indexed documents and return the best-matching passages, each with its file id, filename, "
             "page, score and text. Use this to find where something is written; use 'ask' for a direct answer.",
             "search:read", True, _search_schema, run_search),
    ToolSpec("ask", "Answer a question from the documents",
             "Answer a question from the indexed documents, with the cited sources (file id, filename, snippet); the answer marks them [1], [2]. "
             "Without a chat model configured the answer is extractive: the best sentences from the sources.",
             "search:read", True, _ask_schema, run_ask),
    ToolSpec("list_files", "List files",
             "List the files the key may see, newest first, with their processing status. Page with next_cursor.",
             "files:read", True, _list_schema, run_list_files),
    ToolSpec("get_markdown", "Read a file as markdown",
             "Return a processed file's full text as markdown, or only a range of its pages. The file must be "
             "'completed' (see job_status).",
             "files:read", True, _markdown_schema, run_get_markdown, markdown_result=True),
    ToolSpec("upload", "Upload a file",
             "Upload a document to be converted to markdown, chunked and indexed for search. Returns the file id and "
             "its job id; poll job_status until done, then search, ask or get_markdown.",
             "files:write", False, _upload_schema, run_upload),
    ToolSpec("job_status", "Check a processing job",
             "The state of a processing job (queued, processing, completed, failed, cancelled), by job id or by the "
             "file id (its latest job). 'done' is true once it has finished either way.",
             "jobs:read", True, _job_schema, run_job_status),
)

BY_NAME = {tool.name: tool for tool in TOOLS}
