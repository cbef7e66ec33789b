"""The ``local`` provider: a directory on the host, confined to the configured roots.

Every path is resolved with symlinks followed and must stay inside the connection's directory
(which must itself be inside a root), so neither ``..`` nor a symlink can reach other files.
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import IO, Any

from roset_local.storage.backends.errors import ConnectionAccessError, ConnectionConfigError
from roset_local.storage.backends.model import Page, ObjectInfo, PresignedUpload, guess_type
from roset_local.storage.backends.roots import inside, resolve_base
from roset_local.storage.backends.spec import ConnectionSpec


NO_SIGNED_URLS = "local connections have no signed URLs: serve local_path() instead"


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or "\x00" in key:
        raise ConnectionConfigError("key must be a relative path")
    parts = key.split("/")
    if any(p in ("..", ".") for p in parts) or "" in parts[:-1] or key.endswith("/"):
        raise ConnectionConfigError(f"key {key!r} is not a clean relative path")
    return key


def local_path(spec: ConnectionSpec, key: str) -> str:
    """The absolute path for ``key``, guaranteed inside the connection directory (it may not exist yet).

    Raises ConnectionConfigError for ``..``, absolute keys, or a symlink that leads outside.
    """
    base = resolve_base(spec)
    path = os.path.join(base, *_check_key(key).split("/"))
    if not inside(os.path.realpath(path), base):
        raise ConnectionConfigError(f"key {key!r} leads outside the connection directory")
    return path


def open_fs(spec: ConnectionSpec) -> Any:
    """An fsspec filesystem rooted at the directory. It does not stop symlink escapes: prefer the
    functions of this module, which do."""
    from fsspec.implementations.dirfs import DirFileSystem
    from fsspec.implementations.local import LocalFileSystem

    return DirFileSystem(path=resolve_base(spec), fs=LocalFileSystem())


def endpoint(spec: ConnectionSpec) -> None:
    return None  # no network: nothing to probe


def _info(key: str, st: os.stat_result, *, guess: bool = True) -> ObjectInfo:
    return ObjectInfo(key=key, size=st.st_size, etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
                      content_type=guess_type(key) if guess else None,
                      last_modified=datetime.fromtimestamp(st.st_mtime, timezone.utc))


def verify(spec: ConnectionSpec) -> None:
    base = resolve_base(spec)
    if not os.path.isdir(base):
        raise FileNotFoundError(f"directory {spec.bucket} does not exist")
    if not os.access(base, os.R_OK | os.X_OK):
        raise PermissionError(f"directory {spec.bucket} is not readable")


def list_buckets(spec: ConnectionSpec) -> list[dict[str, Any]]:
    """Each root and the directories directly inside it."""
    out: list[dict[str, Any]] = []
    for root in spec.local_roots:
        real = os.path.realpath(root)
        if not os.path.isdir(real):
            continue
        out.append({"name": real, "region": None})
        with os.scandir(real) as entries:
            out += [{"name": os.path.join(real, e.name), "region": None} for e in sorted(entries, key=lambda e: e.name)
                    if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
    return out


def _entries(base: str, rel_dir: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(key-or-folder, entry) for one directory; symlinks count only when they stay inside ``base``."""
    if rel_dir and any(p in ("", ".", "..") for p in rel_dir.split("/")):
        raise ConnectionConfigError(f"prefix {rel_dir!r} is not a clean relative path")
    directory = os.path.realpath(os.path.join(base, *rel_dir.split("/"))) if rel_dir else base
    if not inside(directory, base):
        raise ConnectionConfigError(f"prefix {rel_dir!r} leads outside the connection directory")
    try:
        scanner = os.scandir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return
    with scanner:
        for entry in scanner:
            key = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.is_symlink():
                if entry.is_dir() or not inside(os.path.realpath(entry.path), base):
                    continue  # never follow linked folders (loops) or links leading out
            if entry.is_dir(follow_symlinks=False):
                yield key + "/", entry
            elif entry.is_file():
                yield key, entry


def list_page(spec: ConnectionSpec, prefix: str, limit: int, state: dict[str, Any] | None) -> Page:
    base = resolve_base(spec)
    rel_dir, _, _ = prefix.rpartition("/")
    after = state["a"] if state else None
    names = sorted((name, entry) for name, entry in _entries(base, rel_dir)
                   if name.startswith(prefix) and (after is None or name > after))
    page = names[:limit]
    objects = [_info(n, e.stat()) for n, e in page if not n.endswith("/")]
    folders = [n for n, _ in page if n.endswith("/")]
    more = len(names) > limit
    return Page(objects, folders, {"a": page[-1][0]} if more and page else None)


def walk(spec: ConnectionSpec) -> Iterator[ObjectInfo]:
    base = resolve_base(spec)
    if not os.path.isdir(base):
        raise FileNotFoundError(f"directory {spec.bucket} does not exist")
    prefix = spec.prefix
    stack = [""]
    while stack:  # depth-first; only folders on the way to the prefix or inside it are entered
        rel_dir = stack.pop()
        for name, entry in _entries(base, rel_dir):
            if name.endswith("/"):
                if name.startswith(prefix) or prefix.startswith(name):
                    stack.append(name[:-1])
            elif name.startswith(prefix):
                yield _info(name, entry.stat(), guess=False)  # typed by whoever records it


def stat(spec: ConnectionSpec, key: str) -> ObjectInfo:
    path = local_path(spec, key)
    st = os.stat(path)
    if not stat_mod.S_ISREG(st.st_mode):
        raise FileNotFoundError(key)
    return _info(key, st)


def open_read(spec: ConnectionSpec, key: str, block_size: int) -> IO[bytes]:
    path = local_path(spec, key)
    if not os.path.isfile(path):
        raise FileNotFoundError(key)
    return open(path, "rb", buffering=block_size)


def presign_download(spec: ConnectionSpec, key: str, expires_in: int) -> str:
    raise ConnectionConfigError(NO_SIGNED_URLS)


def presign_upload(spec: ConnectionSpec, key: str, content_type: str | None, expires_in: int) -> PresignedUpload:
    raise ConnectionConfigError(NO_SIGNED_URLS)


def classify(exc: BaseException, what: str) -> ConnectionAccessError | None:
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        if what == "bucket":
            return ConnectionAccessError(f"Directory not found: {exc.strerror or exc}", "bucket_not_found")
        return None
    if isinstance(exc, PermissionError):
        return ConnectionAccessError(f"Access denied: {exc.strerror or exc}", "auth_failed")
    if isinstance(exc, OSError):
        return ConnectionAccessError(str(exc))
    return None
