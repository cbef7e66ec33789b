"""The console's audit page: the same filters and listing as GET /v1/audit, for admins."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request
from litestar.params import FromQuery
from litestar.response import Template

from roset_local.handlers import blocking
from roset_local.audit.actions import ACTIONS
from roset_local.audit.query import list_entries, parse_filter
from roset_local.errors import BadRequest
from roset_local.portal import roles
from roset_local.portal.web import page, services_of, template

PAGE_SIZE = 100


@page("/console/audit", access=roles.ADMIN_ONLY)
@blocking
def audit_page(request: Request, action: FromQuery[str | None] = None, actor: FromQuery[str | None] = None,
               space: FromQuery[str | None] = None, target_id: FromQuery[str | None] = None,
               since: FromQuery[str | None] = None, until: FromQuery[str | None] = None,
               cursor: FromQuery[str | None] = None) -> Template:
    raw: dict[str, Any] = {"action": action or "", "actor": actor or "", "space": space or "",
                           "target_id": target_id or "", "since": since or "", "until": until or ""}
    entries: list[dict[str, Any]] = []
    next_cursor, problem = None, None
    try:
        flt = parse_filter(**raw)
        entries, next_cursor = list_entries(services_of(request).db, flt, spaces=None, limit=PAGE_SIZE,
                                            cursor=cursor)
    except BadRequest as exc:
        problem = exc.message
    query = urlencode({k: v for k, v in raw.items() if v})
    response = template(request, "console/audit.html", nav="audit", entries=entries, next_cursor=next_cursor,
                        actions=ACTIONS, f=raw, query=query, error=problem or request.query_params.get("error"))
    if problem:
        response.status_code = 400
    return response


ROUTES = [audit_page]
