"""The streamable HTTP transport at /mcp, mounted in the Litestar app behind the same API-key guard."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.handlers import asgi
from litestar.types import Receive, Scope, Send
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from roset_local.auth import Principal
from roset_local.errors import RosetError, Unauthorized, Unavailable
from roset_local.mcp_server.server import build_server
from roset_local.mcp_server.tools import HTTP, MAX_HTTP_UPLOAD_BYTES
from roset_local.services import Services

PATH = "/mcp"
# A base64 upload of MAX_HTTP_UPLOAD_BYTES grows by 4/3, plus the JSON-RPC envelope.
MAX_BODY_BYTES = MAX_HTTP_UPLOAD_BYTES * 4 // 3 + 64 * 1024


class MethodNotAllowed(RosetError):
    status, code = 405, "METHOD_NOT_ALLOWED"


def principal_of_request(ctx: ServerRequestContext[Any, Any]) -> Principal:
    """The caller the route guard authenticated for this HTTP request (the key is checked on every request)."""
    request = ctx.request
    state = request.scope.get("state", {}) if request is not None else {}
    principal = state.get("principal")
    if principal is None:
        raise Unauthorized("Authentication required")
    return principal


def mount(services: Services) -> tuple[Any, Callable[[Litestar], AbstractAsyncContextManager[None]]]:
    """The route handler for /mcp and the lifespan that runs its session manager.

    Stateless with JSON responses: every POST carries the API key and is answered on its own, so no
    session outlives a revoked key and any number of server processes can answer behind a balancer.
    Host/Origin checks are left off: a browser page cannot send the Authorization header cross-origin.
    """
    server = build_server(services, principal_of_request, HTTP)
    running: list[StreamableHTTPSessionManager] = []  # a manager runs once: a new one per lifespan

    # opt without a scope: the guard authenticates and rate-limits; each tool checks its own scope.
    @asgi(PATH, is_mount=True, copy_scope=True, opt={"mcp": True})
    async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "POST":  # no server-initiated stream and no session to delete
            raise MethodNotAllowed("/mcp is stateless: send JSON-RPC messages with POST", headers={"Allow": "POST"})
        if not running:
            raise Unavailable("The MCP endpoint is not running")
        await running[-1].handle_request(scope, receive, send)  # type: ignore[arg-type]

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        manager = StreamableHTTPSessionManager(app=server, json_response=True, stateless=True,
                                               max_request_body_size=MAX_BODY_BYTES)
        async with manager.run():
            running.append(manager)
            try:
                yield
            finally:
                running.remove(manager)

    return mcp_endpoint, lifespan
