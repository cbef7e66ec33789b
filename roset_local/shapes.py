"""Response shapes for files, jobs, variants and uploads (the contract's fields plus documented extras);
the JSON API, the console, the share portal and the MCP tools all answer with them."""

from __future__ import annotations

import json
from typing import Any

TEXT_TYPES = ("text/", "application/json")


def job_out(job: dict[str, Any] | None) -> dict[str, Any] | None:
    if job is None:
        return None
    return {
        "id": job["id"],
        "file_id": job["file_id"],
        "space": job["space"],
        "status": job["status"],
        "provider": job["provider"],
        "engine": job["engine"],
        "stage": job["stage"],
        "progress": job["progress"],
        "attempts": job["attempts"],
        "created_at": job["created_at"],
        "started_at": job["started_at"],
        "completed_at": job["completed_at"],
        "duration_ms": job["duration_ms"],
        "error": job["error"],
        "reason": job["reason"],
    }


def file_out(file: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": file["id"],
        "space": file["space"],
        "filename": file["filename"],
        "content_type": file["content_type"],
        "size_bytes": file["size_bytes"],
        "sha256": file["sha256"],
        "storage_key": file["storage_key"],
        "status": file["status"],
        "metadata": file["metadata"],
        "job_id": file["latest_job_id"],
        "connection_id": file["connection_id"],
        "node_id": file["node_id"],
        "source_deleted": bool(file.get("source_deleted")),
        "created_at": file["created_at"],
        "updated_at": file["updated_at"],
        **({"error": file["error"], "reason": file["reason"]} if file["status"] == "failed" else {}),
    }


def variant_out(variant: dict[str, Any], *, content: bool, url: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": variant["id"],
        "file_id": variant["file_id"],
        "job_id": variant["job_id"],
        "type": variant["type"],
        "provider": variant["provider"],
        "content_type": variant["content_type"],
        "size_bytes": variant["size_bytes"],
        "created_at": variant["created_at"],
    }
    if content and variant.get("content") is not None:
        out["content"] = variant["content"]
        if variant["content_type"] == "application/json":
            try:
                out["data"] = json.loads(variant["content"])
            except ValueError:
                pass
    if variant.get("blob_key"):
        out["url"] = url
    return out


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
