"""Every HTML route (console and share portal) in one router, with HTML error pages."""

from __future__ import annotations

from litestar import Router

from roset_local.portal import console_admin, console_audit, console_connections, console_pages, console_users, share
from roset_local.portal.web import EXCEPTION_HANDLERS, GUARDS

ROUTES = [
    Router(path="/", route_handlers=[*console_pages.ROUTES, *console_admin.ROUTES, *console_connections.ROUTES,
                                          *console_users.ROUTES, *console_audit.ROUTES,
                                          *share.ROUTES],
           exception_handlers=EXCEPTION_HANDLERS, guards=GUARDS, include_in_schema=False)
]
