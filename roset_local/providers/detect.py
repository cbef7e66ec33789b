"""Content-type detection from the bytes: magic numbers first, magika for text, the extension last."""

from __future__ import annotations

import os
import threading
import zipfile
from typing import Any

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

EXTENSIONS: dict[str, str] = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".bmp": "image/bmp",
    ".gif": "image/gif",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".weba": "audio/webm",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".docx": DOCX,
    ".pptx": PPTX,
    ".xlsx": XLSX,
    ".html": "text/html",
    ".htm": "text/html",
    ".csv": "text/csv",
    ".json": "application/json",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".txt": "text/plain",
    ".text": "text/plain",
    ".eml": "message/rfc822",
    ".zip": "application/zip",
}

# magika labels for the text formats it tells apart better than an extension does.
_MAGIKA_TEXT = {
    "csv": "text/csv",
    "json": "application/json",
    "jsonl": "application/json",
    "markdown": "text/markdown",
    "html": "text/html",
    "eml": "message/rfc822",
    "txt": "text/plain",
}
_GENERIC = {"", "application/octet-stream", "binary/octet-stream", "text/plain", "application/unknown"}


class _MagikaHolder:
    """Loads magika once per process, on first use (its model costs ~0.3 s to load)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._magika: Any = None
        self._failed = False

    def get(self) -> Any:
        with self._lock:
            if self._magika is None and not self._failed:
                try:
                    from magika import Magika

                    self._magika = Magika()
                except Exception:  # a broken model must not stop detection: the extension still works
                    self._failed = True
            return self._magika


_MAGIKA = _MagikaHolder()


def extension_type(filename: str) -> str | None:
    return EXTENSIONS.get(os.path.splitext(filename.lower())[1])


def _sniff_zip(path: str, ext_type: str | None) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        # A damaged container keeps its OOXML name, so the extractor reports it as corrupt.
        return ext_type if ext_type in (DOCX, PPTX, XLSX) else "application/zip"
    if "word/document.xml" in names:
        return DOCX
    if "ppt/presentation.xml" in names:
        return PPTX
    if "xl/workbook.xml" in names:
        return XLSX
    return "application/zip"


def _sniff_ftyp(head: bytes, ext_type: str | None, declared: str) -> str:
    brand = head[8:12]
    if brand in (b"M4A ", b"M4B ", b"F4A "):
        return "audio/mp4"
    if brand == b"qt  ":
        return "video/quicktime"
    if ext_type == "audio/mp4" or declared.startswith("audio/"):
        return "audio/mp4"
    return "video/mp4"


def sniff_magic(path: str, filename: str = "", declared: str = "") -> str | None:
    """The type given by the file's leading bytes, or None when they say nothing definite."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    ext_type = extension_type(filename)
    if head.startswith(b"%PDF-") or b"%PDF-" in head[:32]:
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head.startswith(b"BM") and len(head) >= 26 and head[6:10] == b"\x00\x00\x00\x00":
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "video/ogg" if b"theora" in head.lower() else "audio/ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return _sniff_ftyp(head, ext_type, declared)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        if b"webm" in head:
            return "audio/webm" if ext_type == "audio/webm" or declared.startswith("audio/") else "video/webm"
        return "video/x-matroska"
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(path, ext_type)
    return None


def detect_content_type(path: str, filename: str, declared: str | None) -> str:
    """Best content type for the file at `path`.

    Binary formats are recognised by their magic bytes, whatever the name or the declared type says.
    Text formats go to magika; when it only says "text" the extension, then the declared type, decide.
    An empty file keeps its extension's type (the extractor then reports it as corrupt).
    """
    declared = (declared or "").split(";")[0].strip().lower()
    ext_type = extension_type(filename)
    try:
        size = os.path.getsize(path)
    except OSError:
        return ext_type or declared or "application/octet-stream"
    if size == 0:
        return ext_type or declared or "application/octet-stream"
    magic = sniff_magic(path, filename, declared)
    if magic:
        return magic
    textual = _looks_textual(path)
    label = _magika_label(path) if textual else None
    if label in _MAGIKA_TEXT and label not in ("txt", "markdown"):
        return _MAGIKA_TEXT[label]
    # magika confuses markdown and plain text often enough: a text-like extension settles those.
    if ext_type and (ext_type.startswith("text/") or ext_type in ("application/json", "message/rfc822")):
        return ext_type
    if label in ("txt", "markdown"):
        return _MAGIKA_TEXT[label]
    if ext_type:
        return ext_type
    if declared and declared not in _GENERIC:
        return declared
    return "text/plain" if textual else "application/octet-stream"


def _looks_textual(path: str, sample: int = 8192) -> bool:
    """True when the first bytes decode as text (magika calls random bytes "txt" at low confidence)."""
    with open(path, "rb") as fh:
        head = fh.read(sample)
    if b"\x00" in head:
        return head.startswith((b"\xff\xfe", b"\xfe\xff"))  # UTF-16 with a BOM
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the sample's end
            text = head.decode("latin-1")
            controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f") + sum(
                1 for ch in text if 0x7F <= ord(ch) < 0xA0
            )
            return controls < 0.02 * max(len(text), 1)
        text = head[: exc.start].decode("utf-8")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    return controls < 0.02 * max(len(text), 1)


def _magika_label(path: str) -> str | None:
    magika = _MAGIKA.get()
    if magika is None:
        return None
    try:
        result = magika.identify_path(path)
    except Exception:
        return None
    if getattr(result, "status", "ok") != "ok":
        return None
    label = str(result.output.label)
    if label in _MAGIKA_TEXT:
        return label
    return "other:" + label
