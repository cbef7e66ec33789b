"""Intake of uploads: streaming multipart bodies and signed-URL registrations, ending in a queued job."""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import multipart

from roset_local.auth import Principal
from roset_local.errors import BadRequest, Forbidden, Gone, NotFound, PayloadTooLarge
from roset_local.pipeline import lifecycle
from roset_local.pipeline.options import parse_bool, processing_options, validate_metadata
from roset_local.storage.blobs import BlobTooLarge, BlobWriter, Written
from roset_local.store import batches as batch_store
from roset_local.store import files as file_store
from roset_local.store import uploads as upload_store
from roset_local.store.db import Database
from roset_local import timeutil
from roset_local.inputs import check_space_name

if TYPE_CHECKING:
    from roset_local.services import Services

MAX_FIELD_BYTES = 1024 * 1024
FORM_FIELDS = {"space", "provider", "embedding_model", "chunking", "variants", "skip_processing", "metadata",
               "content_type", "filename", "extraction", "_test_fault"}
UPLOAD_PURPOSE = "upload"
STAGING_PREFIX = "_incoming"


def resolve_space(principal: Principal, requested: str | None) -> str:
    space = check_space_name(requested) if requested else "default"
    principal.require_space(space)
    return space


def staging_key() -> str:
    """Where a multipart body is written while it streams in.

    A folder per upload: moving or deleting one upload's staging blob prunes only its own folder,
    never the shared ``_incoming/`` that another request is between makedirs and open in.
    """
    return f"{STAGING_PREFIX}/{secrets.token_hex(12)}/body"


def _boundary(content_type: str) -> str:
    _, params = multipart.parse_options_header(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise BadRequest("multipart/form-data body without a boundary")
    return boundary


def ingest_multipart(
    services: "Services", principal: Principal, content_type: str, chunks: Iterator[bytes], query_space: str | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Parse a multipart body as it streams; the file part goes straight to a staging blob.

    The file record is made only once the whole body is read and the fields validated, so an
    aborted or invalid upload leaves neither rows nor bytes behind.
    """
    lifecycle.check_quota(services)
    services.disk.require_room()
    parser = multipart.PushMultipartParser(_boundary(content_type), max_header_count=16)
    body = _MultipartBody(services, staging_key())
    with body.aborted_on_error():
        for chunk in chunks:
            body.feed(parser.parse(chunk))
        written = body.finish(parser)
    return _finish_upload(services, principal, body.staging, written, body.fields, body.file_name, body.file_type,
                          query_space)


class _MultipartBody:
    """The parts of one multipart body as they stream in: the first ``file`` part to a staging blob,
    the known form fields into ``fields``, anything else skipped."""

    def __init__(self, services: "Services", staging: str) -> None:
        self.services = services
        self.staging = staging
        self.fields: dict[str, str] = {}
        self.writer: BlobWriter | None = None
        self.file_name: str | None = None
        self.file_type: str | None = None
        self._current: str | None = None  # "file", a field name, or "skip"
        self._value = bytearray()

    def feed(self, events: Iterable[multipart.MultipartSegment | bytes | None]) -> None:
        for event in events:
            if isinstance(event, multipart.MultipartSegment):
                self._start_part(event)
            elif event is None:
                self._end_part()
            elif self._current == "file":
                assert self.writer is not None
                self.writer.write(event)
            elif self._current in FORM_FIELDS:
                self._value.extend(event)
                if len(self._value) > MAX_FIELD_BYTES:
                    raise BadRequest(f"{self._current}: field too large")

    def _start_part(self, segment: multipart.MultipartSegment) -> None:
        if segment.name == "file" and segment.filename is not None and self.writer is None:
            self._current = "file"
            self.file_name, self.file_type = segment.filename, segment.content_type
            self.writer = self.services.blobs.writer(self.staging, max_bytes=self.services.settings.max_upload_bytes)
        elif segment.name in FORM_FIELDS and segment.filename is None:
            self._current = segment.name
            self._value = bytearray()
        else:
            self._current = "skip"

    def _end_part(self) -> None:
        if self._current in FORM_FIELDS:
            self.fields[self._current] = self._value.decode("utf-8", "replace")
        self._current = None

    def finish(self, parser: multipart.PushMultipartParser) -> Written:
        """Check the body ended properly and had a file part; close the staging blob."""
        for _ in parser.parse(b""):
            pass
        if not parser.closed:
            raise BadRequest("multipart body ended early")
        if self.writer is None:
            raise BadRequest("file: a file part named 'file' is required")
        return self.writer.close()

    @contextlib.contextmanager
    def aborted_on_error(self) -> Iterator[None]:
        """Any failure drops the staged bytes; a too large file is a 413, a malformed body a 400."""
        try:
            yield
        except BlobTooLarge as exc:
            self._abort()
            raise PayloadTooLarge(str(exc)) from None
        except multipart.MultipartError as exc:
            self._abort()
            raise BadRequest(f"malformed multipart body: {exc}") from None
        except BaseException:
            self._abort()
            raise

    def _abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


def _finish_upload(
    services: "Services", principal: Principal, staging: str, written: Written, fields: dict[str, str],
    file_name: str | None, file_type: str | None, query_space: str | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Validate the fields, create the file record, move the staged bytes into place, queue the job."""
    try:
        space = resolve_space(principal, query_space or fields.get("space"))
        metadata = validate_metadata(fields.get("metadata"))
        options = processing_options(fields)
        if services.settings.test_faults and fields.get("_test_fault"):
            options["_test_fault"] = fields["_test_fault"]  # test builds only: make extraction misbehave
        skip = parse_bool("skip_processing", fields.get("skip_processing"))
        file, job = lifecycle.create_file(
            services, space=space, filename=fields.get("filename") or file_name or "file",
            content_type=fields.get("content_type") or file_type, size_bytes=written.size, metadata=metadata,
            options=options, skip_processing=skip,
        )
    except BaseException:
        services.blobs.delete(staging)
        raise
    try:
        services.blobs.move(staging, file["storage_key"])
        ctype = lifecycle.detect_type(services, file, written.head, fields.get("content_type") or file_type)
        file = lifecycle.mark_uploaded(services, file, size=written.size, sha256=written.sha256, content_type=ctype)
    except BaseException:
        services.blobs.delete(staging)
        lifecycle.discard_file(services, file["id"])
        raise
    return file, job


def ingest_stream(
    services: "Services", principal: Principal, chunks: Iterable[bytes], *, filename: str, space: str | None,
    metadata: dict[str, str] | None = None, max_bytes: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Upload bytes that are not a multipart body (the MCP tools): staged, then the same steps as above."""
    lifecycle.check_quota(services)
    limit = min(max_bytes or services.settings.max_upload_bytes, services.settings.max_upload_bytes)
    staging = f"_incoming/{secrets.token_hex(12)}"
    writer = services.blobs.writer(staging, max_bytes=limit)
    try:
        for chunk in chunks:
            writer.write(chunk)
        written = writer.close()
    except BlobTooLarge as exc:
        writer.abort()
        raise PayloadTooLarge(str(exc)) from None
    except BaseException:
        writer.abort()
        raise
    fields = {"metadata": json.dumps(metadata)} if metadata else {}
    return _finish_upload(services, principal, staging, written, fields, filename, None, space)


def issue_upload_url(services: "Services", file_id: str) -> tuple[str, int]:
    """Where the client PUTs the bytes.

    With an object-store blob store, that store's own presigned URL (the bytes never pass through
    Roset Local) and a queued wait for the object; otherwise a single-use URL served here.
    """
    ttl = services.settings.upload_url_ttl_seconds
    file = file_store.get_file(services.db, file_id)
    direct = services.blobs.presign_put(file["storage_key"], ttl) if file else None
    if direct:
        services.tasks.await_upload.schedule(args=(file_id, 0), delay=1)
        return direct, ttl
    nonce = secrets.token_urlsafe(16)
    expires = int(time.time()) + ttl
    signature = services.signer.sign(UPLOAD_PURPOSE, file_id, nonce, str(expires))
    upload_store.create_upload_token(services.db, nonce=nonce, file_id=file_id, expires_at=expires)
    url = (f"{services.settings.base_url}/v1/uploads/{file_id}?token={nonce}&expires={expires}"
           f"&signature={signature}")
    return url, ttl


def register_upload(services: "Services", principal: Principal, body: dict[str, Any], *, batch_id: str | None = None
                    ) -> tuple[dict[str, Any], dict[str, Any] | None, str, int]:
    """The JSON flow: a file record in ``uploading`` with a queued job, and its upload URL."""
    filename = body.get("filename")
    if not isinstance(filename, str) or not filename.strip():
        raise BadRequest("filename: required")
    size = body.get("size_bytes")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise BadRequest("size_bytes: must be a non-negative integer")
    if size is not None and size > services.settings.max_upload_bytes:
        raise PayloadTooLarge(f"size_bytes: exceeds the maximum of {services.settings.max_upload_bytes} bytes")
    ctype = body.get("content_type")
    if ctype is not None and (not isinstance(ctype, str) or "/" not in ctype):
        raise BadRequest("content_type: must be a MIME type such as application/pdf")
    space = resolve_space(principal, body.get("space"))
    services.disk.require_room()
    file, job = lifecycle.create_file(
        services, space=space, filename=filename, content_type=ctype, size_bytes=size,
        metadata=validate_metadata(body.get("metadata")), options=processing_options(body),
        skip_processing=parse_bool("skip_processing", body.get("skip_processing")), batch_id=batch_id,
    )
    url, ttl = issue_upload_url(services, file["id"])
    return file, job, url, ttl


def _hash_blob(services: "Services", key: str) -> tuple[str, bytes]:
    """sha256 and the first bytes (for type sniffing) of a stored blob."""
    digest = hashlib.sha256()
    head = b""
    for chunk in services.blobs.iter_bytes(key):
        digest.update(chunk)
        if len(head) < 8192:
            head += chunk[: 8192 - len(head)]
    return digest.hexdigest(), head


def settle_interrupted_uploads(services: "Services") -> dict[str, int]:
    """At server start, before any request: no upload can be in flight, so none may stay half-done.

    An upload cut off by a crash left its file ``uploading`` (with a queued job). Its bytes are
    either complete (a multipart body is moved into place only once whole; a PUT of a declared
    size can be checked) and are hashed and processed now, or the row, its job and any partial
    bytes go. A registration whose upload URL was never used is untouched: it still waits for its
    PUT. Leftover staging blobs of cut-off multipart bodies are removed.
    """
    kept = removed = 0
    if services.blobs.is_local:
        services.blobs.delete_prefix(STAGING_PREFIX)
    for file in file_store.uploading_files(services.db):
        if file["tokens"] and not file["tokens_used"]:
            continue  # a signed-URL registration still waiting for its PUT
        if not file["tokens"] and not services.blobs.is_local:
            continue  # an object-store presigned PUT: the await_upload task watches it
        key = file["storage_key"]
        size = services.blobs.size(key)
        whole = size is not None and (not file["tokens"] or file["size_bytes"] == size)
        if whole:
            sha256, head = _hash_blob(services, key)
            ctype = lifecycle.detect_type(services, file, head, file["content_type"])
            lifecycle.mark_uploaded(services, file, size=size, sha256=sha256, content_type=ctype)  # type: ignore[arg-type]
            kept += 1
        else:
            lifecycle.discard_file(services, file["id"])
            removed += 1
    return {"uploads_completed": kept, "uploads_removed": removed}


AWAIT_MAX_DELAY = 30.0


def await_direct_upload(services: "Services", file_id: str, attempt: int) -> float | None:
    """Check whether a presigned PUT has landed; returns the delay before the next check, or None.

    A stored object of the wrong declared size is deleted (nothing kept) and the wait goes on, so
    the client can PUT again while its URL is valid; past the URL's lifetime the job fails with
    ``upload_timeout`` (see pipeline.process.recover).
    """
    file = file_store.get_file(services.db, file_id)
    if file is None or file["status"] != "uploading":
        return None
    key = file["storage_key"]
    size = services.blobs.size(key)
    if size is not None:
        declared = file["size_bytes"]
        if declared is not None and size != declared:
            services.blobs.delete(key)
        else:
            sha256, head = _hash_blob(services, key)
            ctype = lifecycle.detect_type(services, file, head, file["content_type"])
            lifecycle.mark_uploaded(services, file, size=size, sha256=sha256, content_type=ctype)
            return None
    age = time.time() - timeutil.parse(file["created_at"]).timestamp()
    if age > services.settings.upload_url_ttl_seconds:
        return None
    return min(AWAIT_MAX_DELAY, 0.5 * (2 ** min(attempt, 10)))


def _claim_token(db: Database, file_id: str, nonce: str) -> None:
    outcome = upload_store.claim_upload_token(db, nonce=nonce, file_id=file_id)
    if outcome == "unknown":
        raise Forbidden("Invalid upload URL")
    if outcome == "used":
        raise Gone("This upload URL has already been used")


def receive_signed_put(services: "Services", file_id: str, token: str, expires: str, signature: str,
                       content_type: str | None, chunks: Iterator[bytes]) -> dict[str, Any]:
    """A PUT to an upload URL: check signature, expiry and single use, then store the bytes."""
    if not services.signer.verify(signature, UPLOAD_PURPOSE, file_id, token, expires):
        raise Forbidden("Invalid upload URL signature")
    try:
        if int(expires) < time.time():
            raise Gone("This upload URL has expired")
    except ValueError:
        raise Forbidden("Invalid upload URL") from None
    db = services.db
    file = file_store.get_file(db, file_id)
    if file is None:
        raise NotFound("File not found")
    services.disk.require_room()
    _claim_token(db, file_id, token)
    declared = file["size_bytes"] if file["size_bytes"] is not None else None
    try:
        return lifecycle.receive_bytes(services, file, chunks, declared_content_type=file["content_type"] or content_type,
                                       expected_size=declared)
    except BaseException:
        upload_store.release_upload_token(db, token)  # nothing was kept: the same URL may be used again
        raise


def create_batch(services: "Services", principal: Principal, items: Any) -> dict[str, Any]:
    if not isinstance(items, list) or not (1 <= len(items) <= 50):
        raise BadRequest("files: must be an array of 1 to 50 file descriptions")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"files[{i}]: must be an object")
        resolve_space(principal, item.get("space"))
    batch_id = batch_store.create_batch(services.db, "upload")
    out = []
    for i, item in enumerate(items):
        try:
            file, job, url, ttl = register_upload(services, principal, item, batch_id=batch_id)
        except BadRequest as exc:
            raise BadRequest(f"files[{i}].{exc.message}") from None
        batch_store.add_batch_item(services.db, batch_id, file["id"], job["id"] if job else None)
        out.append({"id": file["id"], "filename": file["filename"], "space": file["space"], "upload_url": url,
                    "expires_in": ttl, "job_id": job["id"] if job else None, "status": file["status"]})
    return {"batch_id": batch_id, "files": out}


def batch_status(db: Database, batch_id: str, principal: Principal) -> dict[str, Any]:
    """A batch's files the caller may see; a confined caller seeing none of them gets 404 (a batch
    has no space of its own: it belongs to the spaces of its files)."""
    if not batch_store.batch_exists(db, batch_id):
        raise NotFound("Batch not found")
    rows = [r for r in batch_store.batch_files(db, batch_id) if principal.can_see(r["space"])]
    if principal.confined and not rows:
        raise NotFound("Batch not found")
    completed = sum(1 for r in rows if r["status"] == "completed")
    failed = sum(1 for r in rows if r["status"] == "failed")
    return {
        "id": batch_id,
        "total": len(rows),
        "completed": completed,
        "failed": failed,
        "in_progress": len(rows) - completed - failed,
        "files": [{"id": r["id"], "filename": r["filename"], "status": r["status"], "job_id": r["job_id"]} for r in rows],
    }
