"""Files and their variants: records, lists, deletes, (re)processing requests and download links."""

from __future__ import annotations

import json
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from roset_local.api.schemas.jobs import JobOut, JobStatus, Timestamp

FileId = Annotated[str, Meta(examples=["file_01hx3k8c9a"])]
FileStatus = Annotated[str, Meta(examples=["completed"],
                                 description="uploading, uploaded, processing, completed or failed")]


class FileOut(msgspec.Struct, kw_only=True):
    """A stored file. ``error`` and ``reason`` are present only when ``status`` is ``failed``."""

    id: FileId
    space: Annotated[str, Meta(examples=["default"])]
    filename: Annotated[str, Meta(examples=["report.pdf"])]
    content_type: Annotated[str | None, Meta(examples=["application/pdf"])]
    size_bytes: int | None
    sha256: str | None
    storage_key: str | None
    status: FileStatus
    metadata: Annotated[dict[str, str], Meta(examples=[{"team": "legal"}])]
    job_id: Annotated[str | None, Meta(description="the latest job")]
    connection_id: str | None
    node_id: str | None
    source_deleted: bool
    created_at: Timestamp
    updated_at: Timestamp
    error: str | None | UnsetType = UNSET
    reason: str | None | UnsetType = UNSET

    @classmethod
    def from_row(cls, file: dict[str, Any]) -> FileOut:
        failed = file["status"] == "failed"
        return cls(
            id=file["id"], space=file["space"], filename=file["filename"], content_type=file["content_type"],
            size_bytes=file["size_bytes"], sha256=file["sha256"], storage_key=file["storage_key"],
            status=file["status"], metadata=file["metadata"], job_id=file["latest_job_id"],
            connection_id=file["connection_id"], node_id=file["node_id"],
            source_deleted=bool(file.get("source_deleted")), created_at=file["created_at"],
            updated_at=file["updated_at"], error=file["error"] if failed else UNSET,
            reason=file["reason"] if failed else UNSET,
        )


class VariantOut(msgspec.Struct, kw_only=True):
    """A derived representation of a file (markdown, text, chunks, embeddings, structure, thumbnail...).

    ``content`` holds a text variant's body (not in a file's own listing); ``data`` the same parsed when
    it is JSON; ``url`` an expiring link to a binary variant's bytes."""

    id: str
    file_id: FileId
    job_id: str | None
    type: Annotated[str, Meta(examples=["markdown"])]
    provider: str | None
    content_type: Annotated[str, Meta(examples=["text/markdown"])]
    size_bytes: int | None
    created_at: Timestamp
    content: str | UnsetType = UNSET
    data: Any | UnsetType = UNSET
    url: str | None | UnsetType = UNSET

    @classmethod
    def from_row(cls, variant: dict[str, Any], *, content: bool, url: str | None = None) -> VariantOut:
        out = cls(id=variant["id"], file_id=variant["file_id"], job_id=variant["job_id"], type=variant["type"],
                  provider=variant["provider"], content_type=variant["content_type"],
                  size_bytes=variant["size_bytes"], created_at=variant["created_at"])
        if content and variant.get("content") is not None:
            out.content = variant["content"]
            if variant["content_type"] == "application/json":
                try:
                    out.data = json.loads(variant["content"])
                except ValueError:
                    pass
        if variant.get("blob_key"):
            out.url = url
        return out


class FileDetail(FileOut, kw_only=True):
    """A file with its variants (without their bodies), its latest job and every job."""

    variants: list[VariantOut]
    job: JobOut | None
    jobs: list[JobOut]


class FileList(msgspec.Struct, kw_only=True):
    files: list[FileOut]
    next_cursor: Annotated[str | None, Meta(description="pass as ?cursor= for the next page; null on the last")]


class VariantList(msgspec.Struct, kw_only=True):
    variants: list[VariantOut]


class Deleted(msgspec.Struct, kw_only=True):
    deleted: bool


class ItemError(msgspec.Struct, kw_only=True):
    """Why one id of a batch was skipped."""

    id: str
    error: str
    code: Annotated[str, Meta(examples=["NOT_FOUND"])]


class FileIds(msgspec.Struct):
    file_ids: Annotated[list[str], Meta(description="1 to 100 file ids")]


class BulkDeleted(msgspec.Struct, kw_only=True):
    deleted: int
    errors: list[ItemError]


class ProcessOptions(msgspec.Struct):
    """Options of a processing run; each omitted one takes the organisation's default."""

    provider: Annotated[str | None, Meta(examples=["local"])] = None
    embedding_model: str | None = None
    chunking: Annotated[dict[str, Any] | None, Meta(examples=[{"size": 512, "overlap": 64}])] = None
    variants: Annotated[list[str] | None, Meta(examples=[["markdown", "chunks", "embeddings"]])] = None
    extraction: Annotated[str | None, Meta(description="fast or structured")] = None


class ProcessBatch(ProcessOptions):
    """Reprocess the listed files and/or every file of a connection."""

    file_ids: list[str] | None = None
    connection_id: str | None = None


class ProcessStarted(msgspec.Struct, kw_only=True):
    job_id: str
    file_id: FileId
    status: JobStatus


class BatchStarted(msgspec.Struct, kw_only=True):
    batch_id: str
    queued: int
    job_ids: list[str]
    errors: list[ItemError]


class DownloadLink(msgspec.Struct, kw_only=True):
    """An expiring URL for a file's bytes; fetching it needs no Authorization header."""

    url: str
    expires_in: Annotated[int, Meta(description="seconds")]
