"""Checks that turn hostile or broken input into a clear ExtractionError before a library sees it."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from typing import Any

from .base import ExtractionError

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Input limits; a request may tighten any of them through `options["limits"]`, never loosen."""

    max_file_bytes: int = 2048 * MiB
    max_image_pixels: int = 100_000_000  # ~ an A3 page at 600 dpi
    max_zip_uncompressed_bytes: int = 512 * MiB
    max_zip_ratio: float = 100.0  # only enforced past zip_ratio_floor_bytes
    zip_ratio_floor_bytes: int = 32 * MiB
    max_zip_entries: int = 20_000
    max_pdf_pages: int = 20_000
    max_media_seconds: float = 6 * 3600.0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "Limits":
        overrides = options.get("limits") or {}
        base = cls()
        tightened: dict[str, Any] = {}
        for name, value in overrides.items():
            if name in cls.__dataclass_fields__ and isinstance(value, (int, float)) and not isinstance(value, bool):
                tightened[name] = type(getattr(base, name))(min(value, getattr(base, name)))
        return cls(**tightened)


def check_file(path: str, limits: Limits) -> int:
    """Size of the file; raises when it is missing, empty or over the size limit."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ExtractionError("corrupt_file", f"file cannot be read: {exc.strerror}") from exc
    if size == 0:
        raise ExtractionError("corrupt_file", "file is empty")
    if size > limits.max_file_bytes:
        raise ExtractionError("too_large", f"file is {size} bytes; the limit is {limits.max_file_bytes}")
    return size


def check_pixels(width: int, height: int, limits: Limits, what: str = "image") -> None:
    if width <= 0 or height <= 0:
        raise ExtractionError("corrupt_file", f"{what} has no pixels ({width}x{height})")
    if width * height > limits.max_image_pixels:
        raise ExtractionError(
            "too_large",
            f"{what} is {width}x{height} pixels; the limit is {limits.max_image_pixels} pixels",
        )


def check_zip(path: str, limits: Limits) -> None:
    """Rejects zip bombs by the sizes the central directory declares.

    Python's zipfile never inflates an entry past its declared size, so the declared sizes bound
    what markitdown (python-docx, python-pptx, openpyxl) can ever decompress.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ExtractionError("corrupt_file", f"not a readable zip container: {exc}") from exc
    if len(infos) > limits.max_zip_entries:
        raise ExtractionError("too_large", f"archive has {len(infos)} entries; the limit is {limits.max_zip_entries}")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > limits.max_zip_uncompressed_bytes:
        raise ExtractionError(
            "too_large",
            f"archive expands to {total} bytes; the limit is {limits.max_zip_uncompressed_bytes}",
        )
    if total > limits.zip_ratio_floor_bytes and total / packed > limits.max_zip_ratio:
        raise ExtractionError(
            "too_large",
            f"archive expands {total / packed:.0f}x ({total} bytes): refused as a decompression bomb",
        )
