"""Errors raised by the connection providers; the API layer maps them to HTTP statuses."""

from __future__ import annotations


class ConnectionConfigError(ValueError):
    """The connection's settings are invalid (unknown provider, missing field, path escape...): a 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConnectionAccessError(Exception):
    """The storage refused or could not be reached. ``reason`` is the provider's message, never a secret.

    ``code`` is machine-readable: ``auth_failed``, ``bucket_not_found``, ``object_not_found``,
    ``unreachable``, ``timeout`` or ``storage_error``.
    """

    def __init__(self, reason: str, code: str = "storage_error") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class ObjectNotFoundError(ConnectionAccessError):
    """The key does not exist in the bucket (a 404 for stat, download and open_read)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "object_not_found")
