"""GET /v1/api-logs: the request log, newest first, retained for 7 days.

Paths are route templates (``/v1/files/{file_id}``), never a path parameter. A space-confined key
sees only the rows of callers confined within its own spaces (keys and share links of those
spaces); rows of unconfined keys, console users and anonymous requests are for unconfined keys.
"""

from __future__ import annotations

from litestar import Request, get
from litestar.params import FromQuery

from roset_local.api.schemas.logs import LogList, LogOut
from roset_local.errors import BadRequest
from roset_local.handlers import blocking, caller, services_of
from roset_local.pagination import decode_cursor, page, parse_limit
from roset_local.store import logs as log_store

AUTH_TYPES = {"api_key", "jwt", "portal_token", "session"}


@get("/v1/api-logs", opt={"scope": "logs:read"}, tags=["logs"])
@blocking
def list_api_logs(
    request: Request,
    method: FromQuery[str | None] = None,
    status: FromQuery[int | None] = None,
    path: FromQuery[str | None] = None,
    auth_type: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
    cursor: FromQuery[str | None] = None,
) -> LogList:
    if auth_type is not None and auth_type not in AUTH_TYPES:
        raise BadRequest(f"auth_type: must be one of {', '.join(sorted(AUTH_TYPES))}")
    if status is not None and not 100 <= status <= 599:  # also keeps it within SQLite's integers
        raise BadRequest("status: must be an HTTP status code (100-599)")
    lim = parse_limit(limit)
    rows = log_store.list_logs(
        services_of(request).db,
        method=method,
        status=status,
        path=path,
        auth_type=auth_type,
        limit=lim,
        cursor=decode_cursor(cursor, 2),
        within=caller(request).spaces,
    )
    rows, next_cursor = page(rows, lim, lambda r: (r["seq"], r["id"]))
    return LogList([LogOut.from_row(r) for r in rows], next_cursor)


ROUTES = [list_api_logs]
