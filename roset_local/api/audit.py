"""GET /v1/audit: the audit trail of changes, newest first, filtered and paged."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get
from litestar.params import FromQuery, QueryParameter

from roset_local.api.schemas.audit import AuditList
from roset_local.api.schemas.common import shaped
from roset_local.audit.actions import ACTIONS
from roset_local.audit.query import list_entries, parse_filter
from roset_local.handlers import blocking, caller, services_of
from roset_local.pagination import parse_limit

ACTION_HELP = "An action name, or a prefix ending in '*' (e.g. console.user.*). Actions: " + ", ".join(ACTIONS)


@get("/v1/audit", opt={"scope": "logs:read"}, tags=["audit"],
     description="Who changed what, and when. A space-confined key sees only entries of its spaces "
                 "(org-wide entries have no space and are hidden from it). Actions: " + ", ".join(ACTIONS))
@blocking
def list_audit(
    request: Request,
    action: Annotated[str | None, QueryParameter(description=ACTION_HELP)] = None,
    actor: Annotated[str | None, QueryParameter(description="Actor id or name")] = None,
    space: FromQuery[str | None] = None,
    target_id: FromQuery[str | None] = None,
    since: Annotated[str | None, QueryParameter(description="ISO 8601, inclusive")] = None,
    until: Annotated[str | None, QueryParameter(description="ISO 8601, inclusive")] = None,
    limit: FromQuery[int | None] = None,
    cursor: FromQuery[str | None] = None,
) -> AuditList:
    principal = caller(request)
    if space:
        principal.require_space(space)  # naming another space is a 403, as on every list
    flt = parse_filter(action=action, actor=actor, space=space, target_id=target_id, since=since, until=until)
    entries, next_cursor = list_entries(services_of(request).db, flt, spaces=principal.spaces,
                                        limit=parse_limit(limit), cursor=cursor)
    return shaped({"entries": entries, "next_cursor": next_cursor}, AuditList)


ROUTES = [list_audit]
