"""Content type of stored bytes: magic bytes and magika via the providers' detector, else the name."""

from __future__ import annotations

import mimetypes
import os
import tempfile

from roset_local.providers.detect import detect_content_type, extension_type


def from_name(filename: str) -> str | None:
    """The type a file name suggests, for a registration that declared none (the bytes decide later)."""
    return extension_type(filename) or mimetypes.guess_type(filename)[0]


def detect(*, path: str | None, head: bytes, filename: str, declared: str | None) -> str:
    if path is not None and os.path.exists(path):
        return detect_content_type(path, filename, declared)
    # Remote blob store: sniff the first bytes through a small temporary file.
    suffix = os.path.splitext(filename)[1][:16]
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        tmp.write(head)
        tmp.flush()
        detected = detect_content_type(tmp.name, filename, declared)
    if detected == "application/octet-stream":
        return declared or mimetypes.guess_type(filename)[0] or detected
    return detected
