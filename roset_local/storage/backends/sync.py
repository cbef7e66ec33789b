"""Pure helpers for incremental sync: compare a listing with the previous one, derive folder nodes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from roset_local.storage.backends.model import ObjectInfo, utc

Previous = Mapping[str, tuple[str | None, int | None, Any]]


class ListingDiff(NamedTuple):
    new: list[ObjectInfo]
    updated: list[ObjectInfo]
    deleted: list[str]
    total_size: int  # bytes of new + updated objects: what the sync would bring in


def _moment(value: Any) -> str | None:
    """Compare timestamps at second precision whatever their form (datetime, ISO or contract text)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = utc(value)
        return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else None
    text = str(value).strip().replace("T", " ")
    return text[:19]


def changed(old: tuple[str | None, int | None, Any], new: ObjectInfo) -> bool:
    """True when the object differs from what was recorded.

    The etag decides when both sides have one; otherwise size, then last_modified.
    """
    old_etag, old_size, old_modified = old
    if old_etag and new.etag:
        return old_etag.strip('"') != new.etag or (old_size is not None and old_size != new.size)
    if old_size is not None and old_size != new.size:
        return True
    return _moment(old_modified) != _moment(new.last_modified)


def diff_listing(previous: Previous, current: Iterable[ObjectInfo]) -> ListingDiff:
    """Split a fresh listing into new, updated and deleted keys against ``previous``.

    ``previous`` maps key → (etag, size, last_modified) as recorded by the last sync (the
    timestamp may be a datetime or text). ``current`` is consumed once (e.g. :func:`walk`); a key
    seen twice counts once. Deleted keys come back sorted.
    """
    new: list[ObjectInfo] = []
    updated: list[ObjectInfo] = []
    seen: set[str] = set()
    total = 0
    for info in current:
        if info.key in seen:
            continue
        seen.add(info.key)
        old = previous.get(info.key)
        if old is None:
            new.append(info)
            total += info.size
        elif changed(old, info):
            updated.append(info)
            total += info.size
    deleted = sorted(key for key in previous if key not in seen)
    return ListingDiff(new, updated, deleted, total)


def folders_for(keys: Iterable[str], root: str = "") -> set[str]:
    """Every folder prefix (``a/``, ``a/b/``) above the keys, limited to folders strictly below ``root``.

    ``root`` is usually the connection prefix: ``folders_for(["in/a/x.pdf"], "in/")`` → ``{"in/a/"}``.
    """
    folders: set[str] = set()
    for key in keys:
        end = key.rfind("/")
        while end > 0:
            folder = key[: end + 1]
            if folder in folders:
                break  # its ancestors are already there
            if len(folder) <= len(root) or not folder.startswith(root):
                break
            folders.add(folder)
            end = key.rfind("/", 0, end)
    return folders
