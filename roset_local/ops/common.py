"""Helpers shared by backup, restore and doctor: hashing, SQLite file handling, what a data dir holds."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlean

MANIFEST = "manifest.json"
FORMAT = 1
APP_DB = "roset.db"      # sqlean (the application's library: never open it with stdlib sqlite3)
QUEUE_DB = "queue.db"    # stdlib sqlite3 (huey's library)
BLOBS = "blobs"
# Never copied file by file: the databases (copied through the backup API) and re-derivable models.
SKIP_NAMES = {APP_DB, QUEUE_DB, BLOBS, "models", ".write-probe"}
SKIP_SUFFIXES = ("-wal", "-shm", "-journal", ".tmp")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def walk_files(root: Path) -> Iterator[Path]:
    """Regular files under ``root``, sorted, symlinks not followed."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path


def connect_app_db(path: Path, *, readonly: bool = False) -> sqlean.Connection:
    """A bare sqlean connection (no sqlite-vec needed for backup or integrity checks)."""
    if readonly:
        return sqlean.connect(f"file:{path}?mode=ro", uri=True, timeout=30, isolation_level=None)
    return sqlean.connect(str(path), timeout=30, isolation_level=None)


def connect_queue_db(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, isolation_level=None)
    return sqlite3.connect(str(path), timeout=30, isolation_level=None)


def connect(name: str, path: Path, *, readonly: bool = False):  # noqa: ANN201 - either library's connection
    return (connect_app_db if name == APP_DB else connect_queue_db)(path, readonly=readonly)


def integrity_problems(name: str, path: Path) -> list[str]:
    """``PRAGMA integrity_check`` through the library that owns the file; [] when sound."""
    try:
        conn = connect(name, path, readonly=True)
    except Exception as exc:  # both libraries raise their own DatabaseError classes
        return [f"cannot open: {exc}"]
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        return [str(r[0]) for r in rows if r[0] != "ok"]
    except Exception as exc:
        return [str(exc)]
    finally:
        conn.close()
