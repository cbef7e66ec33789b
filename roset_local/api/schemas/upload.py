"""Uploads: the multipart form, the signed-URL registration, batches and the PUT target's answer."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar.datastructures import UploadFile
from msgspec import UNSET, Meta, UnsetType

from roset_local.api.schemas.files import FileId, FileOut, FileStatus, ProcessOptions
from roset_local.api.schemas.jobs import JobOut, job_or_none

Metadata = Annotated[dict[str, str] | None, Meta(description="string values; filter with metadata.<key>",
                                                 examples=[{"team": "legal"}])]


class UploadCreate(ProcessOptions, kw_only=True):
    """Register a file whose bytes follow by PUT to the returned ``upload_url``."""

    filename: Annotated[str, Meta(examples=["report.pdf"])]
    content_type: Annotated[str | None, Meta(examples=["application/pdf"])] = None
    size_bytes: int | None = None
    space: Annotated[str | None, Meta(examples=["default"])] = None
    metadata: Metadata = None
    skip_processing: bool = False


class UploadForm(msgspec.Struct, kw_only=True):
    """A multipart upload: the ``file`` part and optional text fields (JSON text for objects and lists)."""

    file: UploadFile
    space: str | None = None
    filename: Annotated[str | None, Meta(description="overrides the part's file name")] = None
    content_type: str | None = None
    metadata: Annotated[str | None, Meta(examples=['{"team": "legal"}'])] = None
    skip_processing: Annotated[str | None, Meta(examples=["false"])] = None
    provider: str | None = None
    embedding_model: str | None = None
    chunking: Annotated[str | None, Meta(examples=['{"size": 512}'])] = None
    variants: Annotated[str | None, Meta(examples=['["markdown", "chunks"]'])] = None
    extraction: str | None = None


class UploadOut(msgspec.Struct, kw_only=True):
    """The contract's flat fields, plus ``file`` and ``job`` objects (the official SDK reads them).
    ``upload_url`` and ``expires_in`` only for a signed-URL registration."""

    id: FileId
    space: str
    filename: str
    content_type: str | None
    size_bytes: int | None
    storage_key: str | None
    status: FileStatus
    job_id: str | None
    upload_url: str | UnsetType = UNSET
    expires_in: int | UnsetType = UNSET
    file: FileOut
    job: JobOut | None

    @classmethod
    def of(cls, file: dict[str, Any], job: dict[str, Any] | None, *, upload_url: str | UnsetType = UNSET,
           expires_in: int | UnsetType = UNSET) -> UploadOut:
        return cls(id=file["id"], space=file["space"], filename=file["filename"], content_type=file["content_type"],
                   size_bytes=file["size_bytes"], storage_key=file["storage_key"], status=file["status"],
                   job_id=job["id"] if job else None, upload_url=upload_url, expires_in=expires_in,
                   file=FileOut.from_row(file), job=job_or_none(job))


class BatchUpload(msgspec.Struct):
    files: list[UploadCreate]


class BatchUploadItem(msgspec.Struct, kw_only=True):
    id: FileId
    filename: str
    space: str
    upload_url: str
    expires_in: int
    job_id: str | None
    status: FileStatus


class BatchUploadOut(msgspec.Struct, kw_only=True):
    batch_id: str
    files: list[BatchUploadItem]


class BatchFile(msgspec.Struct, kw_only=True):
    id: FileId
    filename: str
    status: FileStatus
    job_id: str | None


class BatchStatus(msgspec.Struct, kw_only=True):
    id: str
    total: int
    completed: int
    failed: int
    in_progress: int
    files: list[BatchFile]


class UploadReceived(msgspec.Struct, kw_only=True):
    """The answer to a PUT on an ``upload_url``: the bytes are stored and processing has started."""

    id: FileId
    status: FileStatus
    size_bytes: int | None
    sha256: str | None
    content_type: str | None
