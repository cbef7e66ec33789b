"""The public operations: each takes a ConnectionSpec, picks the provider's backend (a module
implementing :class:`~roset_local.storage.backends.base.Backend`) and turns provider errors into
ConnectionAccessError / ObjectNotFoundError with secrets scrubbed.

All functions are synchronous and safe to call from several threads.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

from roset_local.storage.backends import azure, gcs, local, s3
from roset_local.storage.backends.base import Backend
from roset_local.storage.backends.errors import (
    ConnectionAccessError,
    ConnectionConfigError,
    ObjectNotFoundError,
)
from roset_local.storage.backends.model import ObjectInfo, PresignedUpload
from roset_local.storage.backends.roots import resolve_base
from roset_local.storage.backends.spec import ConnectionSpec, Family, scrub

T = TypeVar("T")

# Each family of spec.PROVIDERS and its backend module; mypy checks every module against Backend.
BACKENDS: dict[Family, Backend] = {"s3": s3, "gcs": gcs, "azure": azure, "local": local}
MAX_BROWSE_LIMIT = 1000
MAX_EXPIRES = 7 * 24 * 3600  # the longest a SigV4 / V4 URL may live
PROBE_TIMEOUT = 3.0
READ_BLOCK = 4 * 1024 * 1024
# Network failures get one fixed message each: the library's text (refused vs reset, a body
# quoted from a non-storage server) would let a caller probe internal hosts through a connection.
GENERIC_REASONS = {
    "unreachable": "Could not reach the storage endpoint",
    "timeout": "The storage endpoint did not answer in time",
    "storage_error": "The storage endpoint gave an answer that is not a storage API's",
}


def _backend(spec: ConnectionSpec) -> Backend:
    return BACKENDS[spec.family]


@contextmanager
def _errors(spec: ConnectionSpec, what: str, key: str | None = None) -> Iterator[None]:
    """Translate provider exceptions; ``what`` says whether a 404 means the bucket or the object."""
    try:
        yield
    except (ConnectionConfigError, ConnectionAccessError) as exc:
        if isinstance(exc, ConnectionAccessError):
            exc.reason = scrub(exc.reason, spec)
            exc.args = (exc.reason,)
        raise
    except Exception as exc:
        mapped = _backend(spec).classify(exc, what)
        if mapped is None:
            if what == "object":
                raise ObjectNotFoundError(f"Object not found: {key}") from None
            mapped = ConnectionAccessError(GENERIC_REASONS["storage_error"])
        if mapped.code in ("unreachable", "timeout"):
            mapped.reason = _generic(spec, mapped.code)
        # Libraries append response bodies on later lines; the first line says what went wrong.
        first_line = (mapped.reason.strip().splitlines() or [GENERIC_REASONS["storage_error"]])[0]
        mapped.reason = scrub(first_line, spec)[:300]
        mapped.args = (mapped.reason,)
        raise mapped from None  # the original may quote a secret: don't chain it


def _need_bucket(spec: ConnectionSpec) -> None:
    if not spec.bucket:
        raise ConnectionConfigError("bucket is required")


def _check_key(spec: ConnectionSpec, key: str) -> str:
    if not isinstance(key, str) or not key or "\x00" in key or key.startswith("/") or key.endswith("/"):
        raise ConnectionConfigError("key must be a non-empty object key (no leading or trailing '/')")
    if len(key.encode()) > 1024:
        raise ConnectionConfigError("key is longer than 1024 bytes")
    if not key.startswith(spec.prefix):
        raise ConnectionConfigError(f"key {key!r} is outside the connection prefix {spec.prefix!r}")
    return key


def _check_expires(expires_in: int) -> int:
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or not 1 <= expires_in <= MAX_EXPIRES:
        raise ConnectionConfigError(f"expires_in must be between 1 and {MAX_EXPIRES} seconds")
    return expires_in


def _probe_address(spec: ConnectionSpec) -> tuple[str, int] | None:
    with _errors(spec, "bucket"):
        url = _backend(spec).endpoint(spec)
    if url is None:
        return None
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _generic(spec: ConnectionSpec, code: str) -> str:
    """The fixed message for ``code``, naming the endpoint as the caller gave it (nothing the network said)."""
    try:
        address = _probe_address(spec)
    except ConnectionAccessError:
        address = None
    where = f" ({address[0]}:{address[1]})" if address else ""
    return GENERIC_REASONS[code] + where


def probe(spec: ConnectionSpec, timeout: float = PROBE_TIMEOUT) -> None:
    """Fail fast with code ``unreachable`` when the endpoint does not accept a TCP connection.

    Client libraries retry connection failures with back-off (gcsfs up to ~30 s), so the
    interactive paths check reachability first.
    """
    address = _probe_address(spec)
    if address is None:
        return
    try:
        with socket.create_connection(address, timeout=timeout):
            pass
    except OSError:
        raise ConnectionAccessError(_generic(spec, "unreachable"), "unreachable") from None


def open_fs(spec: ConnectionSpec) -> Any:
    """The fsspec filesystem behind the connection (paths are ``bucket/key``; for ``local``, keys)."""
    with _errors(spec, "bucket"):
        return _backend(spec).open_fs(spec)


def verify(spec: ConnectionSpec) -> None:
    """Prove the credentials can list the bucket. Raises ConnectionAccessError with the provider's
    reason (``auth_failed``, ``bucket_not_found``, ``unreachable``...); never includes a secret."""
    _need_bucket(spec)
    probe(spec)
    with _errors(spec, "bucket"):
        _backend(spec).verify(spec)


def test(spec: ConnectionSpec, timeout: float = 15.0) -> tuple[bool, str | None]:
    """``(True, None)`` when :func:`verify` passes, else ``(False, reason)``; never raises for
    storage problems and returns within about ``timeout`` seconds even if the server stalls."""
    result: list[tuple[bool, str | None]] = []

    def run() -> None:
        try:
            verify(spec)
            result.append((True, None))
        except ConnectionConfigError as exc:
            result.append((False, exc.message))
        except ConnectionAccessError as exc:
            result.append((False, exc.reason))
        except Exception:  # a backend bug must not turn a test into a 500
            result.append((False, GENERIC_REASONS["storage_error"]))

    worker = threading.Thread(target=run, name="roset-connection-test", daemon=True)
    worker.start()
    worker.join(timeout)
    if not result:
        return False, f"Timed out after {timeout:g} s waiting for the storage to answer"
    return result[0]


def list_buckets(spec: ConnectionSpec) -> list[dict[str, Any]]:
    """``[{"name", "region"}]`` the credentials can see; ``spec.bucket`` may be empty."""
    probe(spec)
    with _errors(spec, "bucket"):
        return list(_backend(spec).list_buckets(spec))


def _encode_cursor(prefix: str, state: dict[str, Any]) -> str:
    raw = json.dumps({"p": prefix, **state}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, prefix: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        raise ConnectionConfigError("Invalid cursor") from None
    if not isinstance(data, dict) or data.pop("p", None) != prefix or not data:
        raise ConnectionConfigError("Invalid cursor")
    if not all(k in ("t", "a") and isinstance(v, str) for k, v in data.items()):
        raise ConnectionConfigError("Invalid cursor")
    return data


def _browse_prefix(spec: ConnectionSpec, prefix: str | None) -> str:
    prefix = (prefix or "").lstrip("/")
    if "\x00" in prefix:
        raise ConnectionConfigError("prefix must not contain NUL characters")
    if prefix.startswith(spec.prefix):
        return prefix
    return spec.prefix + prefix  # relative to the connection prefix


def browse(spec: ConnectionSpec, prefix: str | None = None, limit: int = 50,
           cursor: str | None = None) -> tuple[list[dict[str, Any]], list[str], str | None]:
    """One page of the "folder" ``prefix`` with ``/`` as delimiter: ``(objects, folders, next_cursor)``.

    ``prefix`` is a full key prefix; one that does not start with the connection prefix is taken as
    relative to it. Objects are ``{key, size_bytes, last_modified, etag, content_type}`` (keys are
    full keys); folders are prefixes ending in ``/``. ``limit`` counts objects and folders together
    (at most 1000); a page may hold fewer entries even when ``next_cursor`` is set. A cursor from
    another prefix or a garbled one raises ConnectionConfigError.
    """
    _need_bucket(spec)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ConnectionConfigError("limit must be a positive integer")
    limit = min(limit, MAX_BROWSE_LIMIT)
    full = _browse_prefix(spec, prefix)
    state = _decode_cursor(cursor, full) if cursor else None
    with _errors(spec, "bucket"):
        page = _backend(spec).list_page(spec, full, limit, state)
    next_cursor = _encode_cursor(full, page.state) if page.state else None
    return [o.as_dict() for o in page.objects], page.folders, next_cursor


def walk(spec: ConnectionSpec) -> Iterator[ObjectInfo]:
    """Every object under the connection prefix, streamed page by page (metadata only, no bytes).

    Folder marker keys (ending in ``/``) are skipped. Order is the provider's.
    """
    _need_bucket(spec)
    with _errors(spec, "bucket"):
        yield from _backend(spec).walk(spec)


def walk_scope(spec: ConnectionSpec, keys: Iterable[str], trees: Iterable[str]) -> Iterator[ObjectInfo]:
    """The objects that exist among ``keys`` and under the folder prefixes ``trees`` (what a live change
    touched), limited to the connection prefix; a key that is gone is simply absent. The bucket (a
    ``local`` directory) must still exist, so a vanished one raises instead of reading as "all deleted"."""
    _need_bucket(spec)
    if spec.family == "local":
        with _errors(spec, "bucket"):
            local.verify(spec)
    for key in sorted(set(keys)):
        if not key.startswith(spec.prefix) or key.endswith("/"):
            continue
        try:
            yield stat(spec, key)
        except (ObjectNotFoundError, ConnectionConfigError):
            continue  # gone, or not an object key this connection could hold
    for tree in sorted(set(trees)):
        if tree.startswith(spec.prefix):
            yield from walk(replace(spec, prefix=tree))
        elif spec.prefix.startswith(tree):  # a folder above the prefix: the whole connection
            yield from walk(spec)


def stat(spec: ConnectionSpec, key: str) -> ObjectInfo:
    """Metadata of one object (stored content type included). Missing → ObjectNotFoundError."""
    _need_bucket(spec)
    _check_key(spec, key)
    with _errors(spec, "object", key):
        return _backend(spec).stat(spec, key)


def open_read(spec: ConnectionSpec, key: str, block_size: int = READ_BLOCK) -> IO[bytes]:
    """A binary file object streaming the object in ``block_size`` reads; close it when done."""
    _need_bucket(spec)
    _check_key(spec, key)
    with _errors(spec, "object", key):
        return _backend(spec).open_read(spec, key, block_size)


def presign_download(spec: ConnectionSpec, key: str, expires_in: int = 3600) -> str:
    """A URL that GETs the object without credentials until it expires (S3 SigV4 path-style,
    Azure SAS, GCS V4). Signing is local: it does not check that the object exists. ``local``
    connections have none (ConnectionConfigError): serve :func:`local_path` instead."""
    _need_bucket(spec)
    _check_key(spec, key)
    _check_expires(expires_in)
    with _errors(spec, "bucket"):
        return _backend(spec).presign_download(spec, key, expires_in)


def presign_upload(spec: ConnectionSpec, key: str, content_type: str | None = None,
                   expires_in: int = 3600) -> PresignedUpload:
    """A URL to PUT the object's bytes to; the client must send ``headers`` with the PUT."""
    _need_bucket(spec)
    _check_key(spec, key)
    _check_expires(expires_in)
    with _errors(spec, "bucket"):
        return _backend(spec).presign_upload(spec, key, content_type, expires_in)


def local_path(spec: ConnectionSpec, key: str) -> str:
    """For ``local`` connections: the absolute path of ``key``, refused when it would leave the
    connection directory (``..``, absolute keys, symlinks)."""
    if spec.family != "local":
        raise ConnectionConfigError("local_path is only for local connections")
    _check_key(spec, key)
    return local.local_path(spec, key)


def local_directory(spec: ConnectionSpec) -> str:
    """For ``local`` connections: the real absolute path of the connection directory (inside a root)."""
    if spec.family != "local":
        raise ConnectionConfigError("local_directory is only for local connections")
    return resolve_base(spec)


def guarded(spec: ConnectionSpec, what: str, func: Callable[[], T]) -> T:
    """Run ``func`` with this module's error translation (for callers using :func:`open_fs`)."""
    with _errors(spec, what):
        return func()


test.__test__ = False  # type: ignore[attr-defined]  # pytest: a function named test is not a test
