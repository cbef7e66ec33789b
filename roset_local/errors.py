"""One exception hierarchy, mapped to the contract's error shape in one place."""

from __future__ import annotations

import errno
import itertools
import re
import logging
import secrets
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = logging.getLogger("roset_local")

CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    402: "QUOTA_EXCEEDED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    410: "GONE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
    507: "INSUFFICIENT_STORAGE",
}


class RosetError(Exception):
    """An error a client caused or can act on. ``status`` and ``code`` follow the contract's table."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.extra = extra


class BadRequest(RosetError):
    status, code = 400, "BAD_REQUEST"


class Unauthorized(RosetError):
    status, code = 401, "UNAUTHORIZED"


class QuotaExceeded(RosetError):
    status, code = 402, "QUOTA_EXCEEDED"


class Forbidden(RosetError):
    status, code = 403, "FORBIDDEN"


class NotFound(RosetError):
    status, code = 404, "NOT_FOUND"


class Conflict(RosetError):
    status, code = 409, "CONFLICT"


class Gone(RosetError):
    status, code = 410, "GONE"


class PayloadTooLarge(RosetError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class RateLimited(RosetError):
    status, code = 429, "RATE_LIMITED"


class Unavailable(RosetError):
    status, code = 503, "SERVICE_UNAVAILABLE"


class InsufficientStorage(RosetError):
    """The disk is full (or below ROSET_MIN_FREE_BYTES).

    The contract's code table has no storage code: 402 QUOTA_EXCEEDED is about the billing period
    and 500 INTERNAL_ERROR tells the client nothing it can act on, so this is HTTP 507 (WebDAV's
    Insufficient Storage) with the code INSUFFICIENT_STORAGE, in the contract's error shape.
    Retrying after space is freed succeeds.
    """

    status, code = 507, "INSUFFICIENT_STORAGE"


def is_disk_full(exc: BaseException | None) -> bool:
    """True for ENOSPC/EDQUOT and SQLite's "database or disk is full", also when wrapped once."""
    for err in (exc, getattr(exc, "__cause__", None), getattr(exc, "__context__", None)):
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if err is not None and type(err).__name__ in ("OperationalError", "DatabaseError") and "disk is full" in str(err):
            return True
    return False


class ClientGone(BadRequest):
    """The client closed the connection mid-body: nothing is kept, the answer goes nowhere, no alarm."""


# Absolute paths (…/blobs/default/<id>/bogus.wav) in a message become their last part: error texts
# go to clients and job records, and the layout of the server's disk is none of their business.
# A path starts at a "/" that follows neither a word character, ":" nor "/" (so URLs stay whole);
# the API's own routes (/v1/...) are not paths on disk.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.])/(?!v1/)(?:[^\s'\"/:,;()\[\]]+/)+([^\s'\"/:,;()\[\]]+)")


def scrub_paths(text: str) -> str:
    """``text`` with every absolute filesystem path cut to its file name (one rule for all errors)."""
    return _ABSOLUTE_PATH.sub(r"\1", text) if "/" in text else text


_ID_PREFIX = secrets.token_hex(4)  # per process: ids stay unique across restarts and workers
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    # A counter behind a random per-process prefix: unique, cheap (no syscall per request).
    return f"req-{_ID_PREFIX}{next(_ID_COUNTER):08x}"


def request_id_of(request: Request) -> str:
    rid = request.scope.get("state", {}).get("request_id")
    if not rid:
        rid = new_request_id()
        request.scope.setdefault("state", {})["request_id"] = rid
    return rid


def error_body(message: str, code: str, request_id: str, **extra: Any) -> dict[str, Any]:
    return {"error": message, "code": code, "requestId": request_id, **extra}


def _validation_message(exc: ValidationException) -> str:
    extra = exc.extra
    if isinstance(extra, list) and extra:
        parts = []
        for item in extra:
            if isinstance(item, dict):
                key = item.get("key") or ""
                msg = item.get("message") or ""
                parts.append(f"{key}: {msg}" if key else str(msg))
        if parts:
            return "Invalid request: " + "; ".join(parts)
    detail = exc.detail or "Invalid request"
    return detail if detail != "Bad Request" else "Invalid request"


def handle_exception(request: Request, exc: Exception) -> Response:
    rid = request_id_of(request)
    headers = {"X-Request-Id": rid}
    if isinstance(exc, ClientGone):
        log.info("client disconnected mid-body", extra={"request_id": rid, "path": request.url.path})
    if isinstance(exc, RosetError):
        headers.update(exc.headers)
        status, body = exc.status, error_body(scrub_paths(exc.message), exc.code, rid, **exc.extra)
    elif isinstance(exc, ValidationException):
        status, body = 400, error_body(_validation_message(exc), "BAD_REQUEST", rid)
    elif isinstance(exc, NotFoundException):
        status, body = 404, error_body("Not found", "NOT_FOUND", rid)
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        message = scrub_paths(exc.detail) if exc.detail else "HTTP error"
        if status == 413:
            message = "Request body too large"
        body = error_body(message, CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR"), rid)
        headers.update(exc.headers or {})
    elif is_disk_full(exc):
        log.error("disk full: %s", exc, extra={"request_id": rid, "path": request.url.path})
        status, body = 507, error_body("The server's disk is full. Delete files or free space, then retry.",
                                       InsufficientStorage.code, rid)
    else:
        log.exception("unhandled error", extra={"request_id": rid, "path": request.url.path})
        status = HTTP_500_INTERNAL_SERVER_ERROR
        body = error_body("Internal server error", "INTERNAL_ERROR", rid)
    request.scope.setdefault("state", {})["error_code"] = body["code"]
    return Response(content=body, status_code=status, headers=headers, media_type="application/json")
