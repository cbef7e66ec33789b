"""Plain result types shared by every provider backend."""

from __future__ import annotations

import functools
import mimetypes
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from roset_local.timeutil import to_str


@dataclass(slots=True)
class ObjectInfo:
    """One object's metadata. ``key`` is the full key in the bucket (prefix included).

    ``etag`` has no quotes. ``content_type`` comes from the listing where the provider returns it
    (GCS, Azure) and is guessed from the extension for S3 and local pages (S3 lists no types;
    :func:`stat` returns the stored one); ``walk`` leaves it None for S3 and local objects rather
    than guess for every unchanged object of a re-sync (use :func:`guess_type` when recording one).
    ``last_modified`` is UTC.
    """

    key: str
    size: int
    etag: str | None = None
    content_type: str | None = None
    last_modified: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """The contract's browse/node shape: ``size_bytes`` and a ``YYYY-MM-DD HH:MM:SS`` timestamp."""
        return {"key": self.key, "size_bytes": self.size,
                "last_modified": to_str(self.last_modified) if self.last_modified else None,
                "etag": self.etag, "content_type": self.content_type}


@dataclass(frozen=True)
class PresignedUpload:
    """Where and how to PUT the bytes: send ``headers`` with the request (Azure needs its blob type)."""

    url: str
    method: str = "PUT"
    headers: dict[str, str] = field(default_factory=dict)
    expires_in: int = 3600


@dataclass
class Page:
    """One page of a delimiter listing, as backends return it (``state`` is the resume point)."""

    objects: list[ObjectInfo]
    folders: list[str]
    state: dict[str, Any] | None


def guess_type(key: str) -> str:
    """The type the key's extensions suggest (``application/octet-stream`` when none is known).

    Only the extensions matter, so the answer is cached per extension chain (``.tar.gz``): a listing
    of 10,000 ``.txt`` keys asks ``mimetypes`` once instead of 10,000 times.
    """
    name = key.rsplit("/", 1)[-1]
    dot = name.find(".", 1)
    return _type_of_extensions(name[dot:] if dot > 0 else "")


@functools.lru_cache(maxsize=4096)
def _type_of_extensions(extensions: str) -> str:
    return mimetypes.guess_type("x" + extensions, strict=False)[0] or "application/octet-stream"


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def clean_etag(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if text.startswith("W/"):
        text = text[2:]
    return text.strip('"') or None
