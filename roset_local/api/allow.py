"""OPTIONS answers list every method their path serves (the same ``Allow`` as a 405 from that path)."""

from __future__ import annotations

from litestar import Litestar, Request, Response
from litestar.routes import HTTPRoute

ALLOW_OPT = "allow"


def record_allow(app: Litestar) -> None:
    """Store each path's full method list on its OPTIONS handler.

    Litestar 2.25 builds the OPTIONS handler when a path gets its first handler and keeps it when
    more methods join the path, so its ``Allow`` named only the first ones (``OPTIONS /v1/files``
    said ``OPTIONS, POST`` while the path also serves GET and DELETE). Run once the app is built.
    """
    for route in app.routes:
        if isinstance(route, HTTPRoute) and "OPTIONS" in route.route_handler_map:
            handler, _ = route.route_handler_map["OPTIONS"]
            handler.opt[ALLOW_OPT] = ", ".join(sorted(route.methods))


async def answer_options(request: Request) -> Response | None:
    """The app's ``before_request`` hook: an OPTIONS request gets the recorded method list. (A coroutine:
    Litestar would run a sync hook in a worker thread, a hop on every request.)"""
    if request.method != "OPTIONS":
        return None
    allow = request.route_handler.opt.get(ALLOW_OPT)
    if not allow:
        return None
    return Response(content=None, status_code=204, headers={"Allow": allow})
