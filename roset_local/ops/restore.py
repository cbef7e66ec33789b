"""Restore a backup folder into an empty data directory, after verifying every file against the manifest."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from roset_local.ops.common import APP_DB, FORMAT, MANIFEST, QUEUE_DB, integrity_problems, sha256_file


class RestoreError(Exception):
    """The backup is unusable or the target is not empty; the message is for an operator."""


@dataclass
class RestoreResult:
    data_dir: Path
    files: int = 0
    bytes: int = 0
    notes: list[str] = field(default_factory=list)


def verify_backup(src: Path) -> dict:
    """The manifest of ``src`` once every listed file has its size and sha256; raises otherwise."""
    manifest_path = src / MANIFEST
    if not manifest_path.is_file():
        raise RestoreError(f"{src} has no {MANIFEST}: not a roset-local backup")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise RestoreError(f"{manifest_path} is not valid JSON: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise RestoreError(f"unsupported backup format {manifest.get('format')!r} (this version reads {FORMAT})")
    problems = []
    listed = set()
    for entry in manifest.get("files", []):
        rel = entry["path"]
        listed.add(rel)
        path = src / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            problems.append(f"{rel}: path escapes the backup folder")
        elif not path.is_file():
            problems.append(f"{rel}: missing")
        elif path.stat().st_size != entry["size"]:
            problems.append(f"{rel}: size {path.stat().st_size}, manifest says {entry['size']}")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{rel}: content differs from the manifest (sha256)")
    if APP_DB not in listed:
        problems.append(f"{APP_DB} is not in the backup")
    if problems:
        raise RestoreError("backup verification failed:\n  " + "\n  ".join(problems))
    return manifest


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _make_private(root: Path) -> None:
    """Folders 0700 and files 0600, whatever modes the backup's copies had."""
    os.chmod(root, 0o700)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o700)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o600)


def restore(src: Path, data_dir: Path) -> RestoreResult:
    """Copy a verified backup into ``data_dir``, which must not exist or be an empty directory.

    Files are copied into a staging folder beside the target and moved into place at the end, so
    an interrupted restore never leaves a half-filled data directory that would start.
    """
    if data_dir.exists() and not _is_empty_dir(data_dir):
        raise RestoreError(f"{data_dir} is not empty: restore only into an empty or new data directory")
    manifest = verify_backup(src)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".roset-restore-", dir=data_dir.parent))
    try:
        result = RestoreResult(data_dir=data_dir)
        for entry in manifest["files"]:
            target = staging / entry["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / entry["path"], target)
            result.files += 1
            result.bytes += entry["size"]
        for name in (APP_DB, QUEUE_DB):
            if (staging / name).is_file():
                bad = integrity_problems(name, staging / name)
                if bad:
                    raise RestoreError(f"{name} fails its integrity check after copying: {bad[0]}")
        if data_dir.exists():
            data_dir.rmdir()  # empty, checked above
        _make_private(staging)
        os.replace(staging, data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if manifest.get("missing_blobs"):
        result.notes.append(
            f"{len(manifest['missing_blobs'])} blob(s) were deleted while the backup ran; their files have no content"
        )
    if manifest.get("storage_url") and not manifest.get("blobs_copied"):
        result.notes.append(f"blobs were not in the backup: the source used {manifest['storage_url']}")
    elif manifest.get("storage_url"):
        result.notes.append(
            f"the source stored blobs at {manifest['storage_url']}; the restored copy is in {data_dir / 'blobs'}: "
            "unset ROSET_STORAGE_URL or point it there"
        )
    return result
