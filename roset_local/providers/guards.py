"""Checks that turn hostile or broken input into a clear ExtractionError before a library sees it."""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
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
    """Rejects zip bombs by the bytes their members really inflate to, not the sizes they declare.

    A member's declared size can lie: zipfile trusts it, and a library that calls ``read()`` on a
    member declared as 1 KiB gets all of its (say) 1 GiB at once. So every member is inflated here
    in bounded steps, counting the output and stopping as soon as it passes the member's declared
    size (a lie) or the archive's limits; memory stays at one step.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_zip_entries:
                raise ExtractionError("too_large",
                                      f"archive has {len(infos)} entries; the limit is {limits.max_zip_entries}")
            packed = sum(i.compress_size for i in infos) or 1
            _check_total(sum(i.file_size for i in infos), packed, limits)  # honest bombs, without inflating
            for info in infos:  # liars: no member may inflate past its declared size
                if _inflated_size(zf, info, info.file_size) > info.file_size:
                    raise ExtractionError("too_large", f"archive member {info.filename!r} inflates past its "
                                          f"declared {info.file_size} bytes: refused as a decompression bomb")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as exc:
        if isinstance(exc, ExtractionError):
            raise
        raise ExtractionError("corrupt_file", f"not a readable zip container: {exc}") from exc


def _check_total(total: int, packed: int, limits: Limits) -> None:
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


INFLATE_STEP = 256 * 1024


def _inflated_size(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> int:
    """Bytes the member inflates to, counted in bounded steps; stops once past ``cap``."""
    if info.compress_type == zipfile.ZIP_STORED:
        return info.compress_size
    if info.compress_type != zipfile.ZIP_DEFLATED:  # bzip2/lzma: zipfile's reader, bounded reads
        count = 0
        with zf.open(info) as member:
            while chunk := member.read(INFLATE_STEP):
                count += len(chunk)
        return count
    assert zf.fp is not None
    zf.fp.seek(info.header_offset)
    header = zf.fp.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename!r}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    zf.fp.seek(info.header_offset + 30 + name_len + extra_len)
    inflater = zlib.decompressobj(-15)
    left, count = info.compress_size, 0
    while left > 0 and not inflater.eof and count <= cap:
        data = zf.fp.read(min(INFLATE_STEP, left))
        if not data:
            break
        left -= len(data)
        count += len(inflater.decompress(data, INFLATE_STEP))
        while inflater.unconsumed_tail and count <= cap and not inflater.eof:
            count += len(inflater.decompress(inflater.unconsumed_tail, INFLATE_STEP))
    return count
