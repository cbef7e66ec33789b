"""The ``Backend`` protocol: the functions every storage provider module (s3, gcs, azure, local) provides."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any, Protocol

from roset_local.storage.backends.errors import ConnectionAccessError
from roset_local.storage.backends.model import ObjectInfo, Page, PresignedUpload
from roset_local.storage.backends.spec import ConnectionSpec


class Backend(Protocol):
    """One provider family's storage calls. Each family is a module whose module-level functions have
    these signatures; ``ops.BACKENDS`` maps the family names of ``spec.PROVIDERS`` to those modules,
    typed as this protocol, so mypy holds every module to it.

    Backends are called only through :mod:`roset_local.storage.backends.ops`, which has already
    checked the spec (bucket present, key inside the prefix, expiry in range) and which turns any
    exception a backend raises into ``ConnectionAccessError`` / ``ObjectNotFoundError`` through
    :meth:`classify`. So a backend raises whatever its library raises, and must not catch errors
    only to re-word them. Paths handed to the fsspec filesystem are ``bucket/key`` (``local``: key).
    Every call is synchronous and may run on several threads at once.
    """

    def open_fs(self, spec: ConnectionSpec) -> Any:
        """The fsspec filesystem for the connection (used for streaming reads and by the sync)."""
        ...

    def endpoint(self, spec: ConnectionSpec) -> str | None:
        """The URL the backend will connect to, for a fast reachability probe; None when there is
        no network endpoint (``local``) or none is known yet."""
        ...

    def verify(self, spec: ConnectionSpec) -> None:
        """Prove the credentials can list ``spec.bucket`` under ``spec.prefix`` (one cheap request)."""
        ...

    def list_buckets(self, spec: ConnectionSpec) -> list[dict[str, Any]]:
        """``[{"name", "region"}]`` for every bucket the credentials can see (``spec.bucket`` may be empty)."""
        ...

    def list_page(self, spec: ConnectionSpec, prefix: str, limit: int, state: dict[str, Any] | None) -> Page:
        """One delimiter (``/``) listing page under the full key ``prefix``: at most ``limit`` objects
        and folders together, resuming from ``state`` (what the previous page returned; None: start)."""
        ...

    def walk(self, spec: ConnectionSpec) -> Iterator[ObjectInfo]:
        """Every object under ``spec.prefix``, recursively, metadata only; folder markers (keys
        ending in ``/``) are skipped."""
        ...

    def stat(self, spec: ConnectionSpec, key: str) -> ObjectInfo:
        """One object's metadata with its stored content type; a missing object raises the
        library's not-found error (``classify(exc, "object")`` then returns None)."""
        ...

    def open_read(self, spec: ConnectionSpec, key: str, block_size: int) -> IO[bytes]:
        """A binary file object streaming the object in ``block_size`` reads."""
        ...

    def presign_download(self, spec: ConnectionSpec, key: str, expires_in: int) -> str:
        """A URL that GETs the object without credentials for ``expires_in`` seconds (signed locally)."""
        ...

    def presign_upload(self, spec: ConnectionSpec, key: str, content_type: str | None,
                       expires_in: int) -> PresignedUpload:
        """A URL (and the headers the client must send) to PUT the object's bytes to."""
        ...

    def classify(self, exc: BaseException, what: str) -> ConnectionAccessError | None:
        """Map a library exception to ``ConnectionAccessError`` with a ``code`` (``auth_failed``,
        ``bucket_not_found``, ``unreachable``, ``timeout``...). ``what`` is ``bucket`` or
        ``object``: which one a not-found means. None for an object not found (the caller raises
        ``ObjectNotFoundError``) or an exception the backend does not recognise."""
        ...
