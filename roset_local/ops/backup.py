"""Online backup: SQLite backup API snapshots of both databases, the local blob store, a manifest."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roset_local import __version__
from roset_local.config import Settings
from roset_local.ops.common import (
    APP_DB, BLOBS, FORMAT, MANIFEST, QUEUE_DB, SKIP_NAMES, SKIP_SUFFIXES, connect, sha256_file, walk_files,
)
from roset_local.timeutil import now_str


class BackupError(Exception):
    """The backup cannot be made; the message is for an operator."""


@dataclass
class BackupResult:
    dest: Path
    files: int = 0
    bytes: int = 0
    blobs_copied: bool = False
    missing_blobs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _snapshot(name: str, src: Path, dest: Path) -> None:
    """Copy one live database page by page; the copy is a consistent point-in-time image.

    Each file is opened with the library its owner uses (sqlean for roset.db, stdlib for huey's
    queue.db): two SQLite libraries on one file in one process do not see each other's locks.
    """
    source = connect(name, src)
    target = connect(name, dest)
    try:
        source.backup(target, pages=-1)  # one step: a concurrent writer cannot restart it halfway
        target.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
    finally:
        target.close()
        source.close()


def _referenced_blob_keys(db_path: Path) -> list[str]:
    """Blob keys the snapshot's rows point at, to check they made it into the copy."""
    conn = connect(APP_DB, db_path, readonly=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        keys: list[str] = []
        if "files" in tables:
            # A file registered but never uploaded (no sha256 yet) has no blob to miss.
            keys += [r[0] for r in conn.execute(
                "SELECT storage_key FROM files WHERE storage_key IS NOT NULL AND sha256 IS NOT NULL")]
        if "variants" in tables:
            keys += [r[0] for r in conn.execute("SELECT blob_key FROM variants WHERE blob_key IS NOT NULL")]
        return keys
    finally:
        conn.close()


def _local_blob_root(settings: Settings) -> Path | None:
    url = settings.blob_url
    if url.startswith("file://"):
        return Path(url[len("file://"):])
    if "://" not in url:
        return Path(url)
    return None


def _prepare_dest(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"backup destination {dest} exists and is not an empty directory")
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o700)  # the backup holds key hashes and the secret key


def backup(settings: Settings, dest: Path) -> BackupResult:
    """Snapshot the data directory of a running or stopped instance into the empty folder ``dest``.

    Order matters: databases first, then blobs. A blob uploaded after the snapshot is copied but
    unreferenced (harmless); a blob deleted between the snapshot and its copy is listed in
    ``missing_blobs`` of the manifest (its file row points at nothing after a restore).
    Remote blob stores (s3://, ...) are not copied: the manifest records the URL.
    """
    data = settings.data_dir
    if not (data / APP_DB).is_file():
        raise BackupError(f"no database at {data / APP_DB}: is --data-dir right?")
    _prepare_dest(dest)
    result = BackupResult(dest=dest)
    for name in (APP_DB, QUEUE_DB):
        if (data / name).is_file():
            _snapshot(name, data / name, dest / name)
    # Other state kept in the data dir (secret.key encrypts stored credentials: without it they are lost).
    for entry in sorted(data.iterdir()):
        if entry.name in SKIP_NAMES or entry.name.endswith(SKIP_SUFFIXES) or entry.is_symlink():
            continue
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name, symlinks=False)
        elif entry.is_file():
            shutil.copy2(entry, dest / entry.name)
    blob_root = _local_blob_root(settings)
    if blob_root is not None and blob_root.is_dir():
        shutil.copytree(blob_root, dest / BLOBS, symlinks=False, ignore=shutil.ignore_patterns("*.tmp"),
                        dirs_exist_ok=True)
        result.blobs_copied = True
        result.missing_blobs = [k for k in _referenced_blob_keys(dest / APP_DB) if not (dest / BLOBS / k).is_file()]
    elif blob_root is None:
        result.notes.append(f"blob store {settings.blob_url} is remote: back it up with its provider's tools")
    files = []
    for path in walk_files(dest):
        size = path.stat().st_size
        files.append({"path": path.relative_to(dest).as_posix(), "size": size, "sha256": sha256_file(path)})
        result.bytes += size
    result.files = len(files)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "roset_local_version": __version__,
        "created_at": now_str(),
        "source_data_dir": str(data.resolve()),
        "storage_url": settings.storage_url,
        "blobs_copied": result.blobs_copied,
        "missing_blobs": result.missing_blobs,
        "files": files,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return result
