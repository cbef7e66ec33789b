"""The blob store: uploaded bytes and binary variants, on any fsspec URL (default file://DATA/blobs)."""

from __future__ import annotations

import hashlib
import json
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

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.fs, root = url_to_fs(url, **(options or {}))
        self.root = root.rstrip("/")
        self.is_local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        if self.is_local:
            self.fs.makedirs(self.root, exist_ok=True)

    def path(self, key: str) -> str:
        clean = posixpath.normpath("/" + key).lstrip("/")
        return f"{self.root}/{clean}"

    def writer(self, key: str, *, max_bytes: int | None = None, expected_size: int | None = None) -> "BlobWriter":
        return BlobWriter(self, key, max_bytes=max_bytes, expected_size=expected_size)

    def write_stream(self, key: str, chunks: Iterator[bytes], *, max_bytes: int | None = None,
                     expected_size: int | None = None) -> Written:
        """Stream chunks into ``key``, hashing on the way. On any failure nothing is left behind."""
        with self.writer(key, max_bytes=max_bytes, expected_size=expected_size) as out:
            for chunk in chunks:
                out.write(chunk)
        return out.result

    def move(self, source: str, target: str) -> None:
        """Rename within the store (a rename on local disks, copy + delete on object stores)."""
        dest = self.path(target)
        if self.is_local:
            self.fs.makedirs(posixpath.dirname(dest), exist_ok=True)
        self.fs.mv(self.path(source), dest)
        if self.is_local:
            self._prune(posixpath.dirname(self.path(source)))

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
            self._prune(posixpath.dirname(self.path(key)))

    def _prune(self, folder: str) -> None:
        """Remove ``folder`` if it is empty (local stores only): rmdir refuses a non-empty folder, so no
        listing first (an ``ls`` stats every entry, on every upload's staging folder)."""
        try:
            if folder.rstrip("/") != self.root:
                self.fs.rmdir(folder)
        except (FileNotFoundError, OSError):
            pass

    def delete_prefix(self, prefix: str) -> None:
        path = self.path(prefix)
        try:
            self.fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass

    def presign_put(self, key: str, expires_in: int) -> str | None:
        """The object store's own presigned PUT URL (S3 family), or None when the store cannot sign."""
        if self.is_local or not hasattr(self.fs, "set_session"):
            return None
        from fsspec.asyn import sync

        s3 = sync(self.fs.loop, self.fs.set_session)
        bucket, _, obj = self.path(key).partition("/")
        return sync(self.fs.loop, s3.generate_presigned_url, "put_object",
                    Params={"Bucket": bucket, "Key": obj}, ExpiresIn=expires_in)

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


class BlobWriter:
    """Incremental writes to one blob with size limits and a running sha256.

    Use as a context manager: an exception inside the block (or :meth:`abort`) removes the blob.
    """

    def __init__(self, store: BlobStore, key: str, *, max_bytes: int | None, expected_size: int | None) -> None:
        self.store, self.key = store, key
        self.max_bytes, self.expected_size = max_bytes, expected_size
        self._digest = hashlib.sha256()
        self.size = 0
        self.head = b""
        path = store.path(key)
        if store.is_local:
            store.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        self._handle = store.fs.open(path, "wb")
        self.result: Written = Written(0, "", b"")

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise BlobTooLarge(f"file exceeds the maximum of {self.max_bytes} bytes")
        if self.expected_size is not None and self.size > self.expected_size:
            raise BlobSizeMismatch(f"received more than the declared {self.expected_size} bytes")
        if len(self.head) < 8192:
            self.head += chunk[: 8192 - len(self.head)]
        self._digest.update(chunk)
        self._handle.write(chunk)

    def close(self) -> Written:
        self._handle.close()
        if self.expected_size is not None and self.size != self.expected_size:
            self.store.delete(self.key)
            raise BlobSizeMismatch(f"received {self.size} bytes, declared {self.expected_size}")
        self.result = Written(size=self.size, sha256=self._digest.hexdigest(), head=self.head)
        return self.result

    def abort(self) -> None:
        try:
            self._handle.close()
        finally:
            self.store.delete(self.key)

    def __enter__(self) -> "BlobWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
            return
        self.close()


def open_store(url: str, options_json: str | None = None) -> BlobStore:
    """Open the store; ``options_json`` is a JSON object of fsspec options (endpoint, credentials)."""
    options = json.loads(options_json) if options_json else None
    if options is not None and not isinstance(options, dict):
        raise ValueError("ROSET_STORAGE_OPTIONS must be a JSON object")
    return BlobStore(url, options)


