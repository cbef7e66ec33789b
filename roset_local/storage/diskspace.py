"""Free disk space: a floor below which the server is not ready and takes no new bytes, and a reserve
that lets deletes (which need a little journal space) run on a full disk."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from roset_local.errors import InsufficientStorage, is_disk_full

log = logging.getLogger("roset_local.storage")

T = TypeVar("T")

RESERVE_NAME = ".space-reserve"
RESERVE_BYTES = 8 * 1024 * 1024  # room for SQLite's journal while a delete frees real space


class DiskSpace:
    """Watches the data directory and the local blob root (they may be different disks)."""

    def __init__(self, data_dir: Path, blob_root: str | None, min_free_bytes: int) -> None:
        self.paths = [Path(data_dir)] + ([Path(blob_root)] if blob_root else [])
        self.min_free_bytes = min_free_bytes
        self.reserve_path = Path(data_dir) / RESERVE_NAME
        self._lock = threading.Lock()

    def lowest_free(self) -> tuple[Path, int]:
        """The watched path with the least free space, and that space in bytes."""
        frees = [(path, shutil.disk_usage(path).free) for path in self.paths if path.exists()]
        return min(frees, key=lambda item: item[1]) if frees else (self.paths[0], 0)

    def check(self) -> dict[str, int]:
        """For /ready: raises below the floor, else the free bytes (and keeps the reserve in place)."""
        _, free = self.lowest_free()
        if free < self.min_free_bytes:
            raise RuntimeError(f"{free} bytes free; the floor is {self.min_free_bytes} (ROSET_MIN_FREE_BYTES)")
        self.ensure_reserve()
        return {"free_bytes": free, "min_free_bytes": self.min_free_bytes}

    def require_room(self) -> None:
        """Refuse new bytes (507) once free space is below the floor: the disk must never fill up."""
        _, free = self.lowest_free()
        if free < self.min_free_bytes:
            raise InsufficientStorage(
                f"Not enough free disk space to store more files ({free} bytes free; the server keeps "
                f"{self.min_free_bytes}). Delete files or free space, then retry."
            )

    def ensure_reserve(self) -> None:
        """Create the reserve file when there is room for it (after a delete used it up)."""
        with self._lock:
            if self.reserve_path.exists():
                return
            if shutil.disk_usage(self.reserve_path.parent).free < self.min_free_bytes + RESERVE_BYTES:
                return
            try:
                fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
            except OSError:
                os.close(fd)
                self.reserve_path.unlink(missing_ok=True)
                return
            os.close(fd)

    def release_reserve(self) -> bool:
        """Give the reserve back to the disk; False when there was none."""
        with self._lock:
            try:
                self.reserve_path.unlink()
            except FileNotFoundError:
                return False
        log.warning("disk full: released the %d-byte space reserve so a delete can run", RESERVE_BYTES)
        return True

    def with_reserve(self, fn: Callable[[], T]) -> T:
        """Run ``fn``; if the disk is full, release the reserve and run it once more."""
        try:
            return fn()
        except Exception as exc:
            if not is_disk_full(exc) or not self.release_reserve():
                raise
        return fn()
