"""Plain-dict forms of the API's shapes for code that builds JSON by hand (console, portal, MCP tools).

The fields of each shape are listed once, in its Struct under ``api/schemas``."""

from __future__ import annotations

from typing import Any

import msgspec

from roset_local.api.schemas.files import FileOut, VariantOut
from roset_local.api.schemas.jobs import JobOut
from roset_local.api.schemas.upload import UploadOut


def job_out(job: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if job is None else msgspec.to_builtins(JobOut.from_row(job))  # type: ignore[no-any-return]


def file_out(file: dict[str, Any]) -> dict[str, Any]:
    return msgspec.to_builtins(FileOut.from_row(file))  # type: ignore[no-any-return]


def variant_out(variant: dict[str, Any], *, content: bool, url: str | None = None) -> dict[str, Any]:
    return msgspec.to_builtins(VariantOut.from_row(variant, content=content, url=url))  # type: ignore[no-any-return]


def upload_body(file: dict[str, Any], job: dict[str, Any] | None) -> dict[str, Any]:
    """:class:`UploadOut` as plain JSON values (the console's upload and the MCP tools)."""
    return msgspec.to_builtins(UploadOut.of(file, job))  # type: ignore[no-any-return]
