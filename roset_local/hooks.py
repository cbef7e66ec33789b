"""The few calls that go up the layers, as one typed object built where the program is assembled.

Lower layers (the pipeline, the API guard, webhook management) call these without importing the
feature that answers them; ``roset_local.wiring.wire`` sets them. The defaults are safe for a
Services that was opened without the server (a CLI command, a unit test).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from roset_local.auth import Principal
from roset_local.errors import Unauthorized


class ByteStream(Protocol):
    """A readable binary stream used as a context manager (``with opener(file) as src: src.read(n)``)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def __enter__(self) -> "ByteStream": ...

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> object: ...


def _nothing() -> None:
    """Default wake-up: the webhook relay's 0.5 s poll finds committed events anyway."""


def _no_dispatch(delivery_id: str) -> None:
    """Default: a pending delivery is found by the relay's sweep."""


def _no_connections(file: dict[str, Any]) -> ByteStream:
    raise FileNotFoundError("The file lives in a storage connection, and connections are not running")


def _no_portal(token: str) -> Principal:
    raise Unauthorized("Invalid portal token")


class SharedQueue(Protocol):
    """Worker hosts on a shared queue, as the server sees them (``roset_local.scaleout.server.ScaleOut``)."""

    def dispatch(self, job_id: str) -> None:
        """Hand a queued job to the worker hosts."""

    def status(self) -> dict[str, Any]:
        """The worker hosts seen lately and the depth of the queues (for /health and /metrics)."""


class FolderWatch(Protocol):
    """The server's live sync (``roset_local.livesync.runner.LiveSync``), as the layers below call it."""

    def refresh(self) -> None:
        """A local connection was created or deleted: compare the watched directories now."""

    def defer(self, connection_id: str, scope: Any, trigger: str, *, settle: bool = False) -> None:
        """Apply a change scope to a connection soon."""


@dataclass
class Hooks:
    """Upward callbacks: each field names who calls it and who answers."""

    # pipeline / webhook management → webhooks relay: events were committed, deliver them now.
    events_committed: Callable[[], None] = _nothing
    # webhook management (replay) → the relay's dispatcher: attempt this delivery now.
    dispatch_webhook: Callable[[str], None] = _no_dispatch
    # pipeline and file download → connections: the bytes of a file that lives in a connected bucket.
    open_connection_file: Callable[[dict[str, Any]], ByteStream] = _no_connections
    # the API guard (auth) → portal: the read-only principal of a portal token.
    authenticate_portal: Callable[[str], Principal] = _no_portal
