"""The blob store: uploaded bytes and binary variants, on any fsspec URL (default file://DATA/blobs)."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from fsspec.core import url_to_fs

CHUNK = 1024 * 1024


class BlobTooLarge(Exception):
    pass


class BlobSizeMismatch(Exception):
    pass


@dataclass
class Written:
    size: int
    sha256: str
    head: bytes  # first bytes, for content-type sniffing


class BlobStore:
    """Keys are ``space/file_id/name`` paths relative to the store root."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, root = url_to_fs(url)
        self.root = root.rstrip("/")
        self.is_local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        if self.is_local:
            self.fs.makedirs(self.root, exist_ok=True)

    def path(self, key: str) -> str:
        clean = posixpath.normpath("/" + key).lstrip("/")
        return f"{self.root}/{clean}"

    def write_stream(self, key: str, chunks: Iterator[bytes], *, max_bytes: int | None = None,
                     expected_size: int | None = None) -> Written:
        """Stream chunks into ``key``, hashing on the way. On any failure nothing is left behind."""
        path = self.path(key)
        digest = hashlib.sha256()
        size = 0
        head = b""
        if self.is_local:
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        try:
            with self.fs.open(path, "wb") as out:
                for chunk in chunks:
                    if not chunk:
                        continue
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise BlobTooLarge(f"file exceeds the maximum of {max_bytes} bytes")
                    if expected_size is not None and size > expected_size:
                        raise BlobSizeMismatch(f"received more than the declared {expected_size} bytes")
                    if len(head) < 8192:
                        head += chunk[: 8192 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
            if expected_size is not None and size != expected_size:
                raise BlobSizeMismatch(f"received {size} bytes, declared {expected_size}")
        except BaseException:
            self.delete(key)
            raise
        return Written(size=size, sha256=digest.hexdigest(), head=head)

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self.path(key)
        if self.is_local:
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        self.fs.pipe_file(path, data)

    def open(self, key: str, mode: str = "rb") -> IO[Any]:
        return self.fs.open(self.path(key), mode)

    def read_bytes(self, key: str) -> bytes:
        return self.fs.cat_file(self.path(key))

    def iter_bytes(self, key: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        with self.open(key) as handle:
            while True:
                chunk = handle.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    def local_path(self, key: str) -> str | None:
        """A filesystem path for the blob when the store is local (no copy needed), else None."""
        return self.path(key) if self.is_local else None

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    def size(self, key: str) -> int | None:
        try:
            return int(self.fs.size(self.path(key)))
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self.path(key))
        except FileNotFoundError:
            pass
        if self.is_local:  # tidy the now-empty per-file folder
            parent = posixpath.dirname(self.path(key))
            try:
                if not self.fs.ls(parent):
                    self.fs.rmdir(parent)
            except (FileNotFoundError, OSError):
                pass

    def delete_prefix(self, prefix: str) -> None:
        path = self.path(prefix)
        try:
            self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass

    def total_bytes(self) -> int:
        try:
            return int(self.fs.du(self.root))
        except FileNotFoundError:
            return 0

    def check(self) -> None:
        """Raise if the store is not usable (writes and deletes a probe object)."""
        probe = ".roset-probe"
        self.write_bytes(probe, b"ok")
        self.delete(probe)


def open_store(url: str) -> BlobStore:
    return BlobStore(url)


