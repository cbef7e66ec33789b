"""What every HTML route shares: the session check, CSRF, rendering, and HTML error pages."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import anyio
from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from roset_local.errors import Forbidden, RosetError, handle_exception, request_id_of
from roset_local.portal import render, roles
from roset_local.portal.users import ConsoleSession, session_from_cookie
from roset_local.services import Services

SESSION_COOKIE = "roset_session"
LOGIN_CSRF_COOKIE = "roset_login_csrf"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"
PUBLIC = {"public": True}  # the API's key guard skips these; ``console_guard`` checks console routes
CONSOLE_OPT = "console"
NO_STORE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                       "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"}


# The console menu: (nav key, path, label, the access its page requires); shown only where allowed.
NAV = (("dashboard", "/console", "Dashboard", roles.VIEW), ("files", "/console/files", "Files", roles.VIEW),
       ("jobs", "/console/jobs", "Jobs", roles.VIEW), ("search", "/console/search", "Search", roles.VIEW),
       ("qa", "/console/qa", "Q&A", roles.VIEW), ("spaces", "/console/spaces", "Spaces", roles.VIEW),
       ("connections", "/console/connections", "Connections", roles.VIEW),
       ("webhooks", "/console/webhooks", "Webhooks", roles.ADMIN_ONLY),
       ("keys", "/console/keys", "API keys", roles.WORK),
       ("provider-keys", "/console/provider-keys", "Provider keys", roles.ADMIN_ONLY),
       ("settings", "/console/settings", "Settings", roles.ADMIN_ONLY),
       ("logs", "/console/logs", "API logs", roles.ADMIN_ONLY), ("audit", "/console/audit", "Audit", roles.ADMIN_ONLY),
       ("users", "/console/users", "Users", roles.ADMIN_ONLY))


class NeedSignIn(Exception):
    """No valid session: pages redirect to the sign-in form, console JSON endpoints answer 401."""


class CsrfRejected(RosetError):
    status, code = 403, "FORBIDDEN"


def page(path: str | list[str], access: str = roles.VIEW, **kwargs: Any) -> Callable[..., Any]:
    """A GET route; ``access`` is what the console guard requires (see ``roles``)."""
    return get(path, opt={**PUBLIC, CONSOLE_OPT: access}, include_in_schema=False, **kwargs)


def action(path: str | list[str], access: str = roles.WORK, **kwargs: Any) -> Callable[..., Any]:
    """A POST route (a form or XHR action); read-only users are refused whatever ``access`` says."""
    kwargs.setdefault("status_code", 303)
    return post(path, opt={**PUBLIC, CONSOLE_OPT: access}, include_in_schema=False, **kwargs)


async def console_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The one check of every console route: a session (else sign in), then the role against the
    route's access. The session's principal (role scopes, user spaces) is what handlers act as.
    A /console route that names no access is refused, so a new route cannot be left open."""
    access = handler.opt.get(CONSOLE_OPT)
    path = connection.scope["path"]
    if access is None:
        if path == "/console" or path.startswith("/console/"):
            raise Forbidden("This console page declares no access rule")
        return
    if access == roles.ANYONE:
        return
    session = await run(current_session, connection)
    if session is None:
        raise NeedSignIn()
    scope = connection.scope
    method = scope["method"] if scope["type"] == ScopeType.HTTP else "GET"  # the guard runs on HTTP routes only
    if not roles.allows(session.role, access, method):
        raise Forbidden("Your console role does not allow this" if session.role != roles.READ_ONLY
                        else "Your console role is read-only: you can look but not change anything")
    connection.scope.setdefault("state", {})["principal"] = session.principal()


def services_of(request: ASGIConnection) -> Services:
    return request.app.state.services


def is_https(request: Request) -> bool:
    settings = services_of(request).settings
    return request.url.scheme == "https" or bool(settings.public_url and settings.public_url.startswith("https://"))


def current_session(request: ASGIConnection) -> ConsoleSession | None:
    cached = request.scope.get("state", {}).get("console_session")
    if cached is not None:
        return cached
    session = session_from_cookie(services_of(request).db, request.cookies.get(SESSION_COOKIE))
    if session is not None:
        state = request.scope.setdefault("state", {})
        state["console_session"] = session
        state["auth_type"] = "session"
        state["key_name"] = f"console:{session.username}"
    return session


def require_session(request: ASGIConnection) -> ConsoleSession:
    session = current_session(request)
    if session is None:
        raise NeedSignIn()
    return session


def check_csrf(request: Request, session: ConsoleSession, form: Any = None) -> None:
    presented = request.headers.get(CSRF_HEADER) or (form.get(CSRF_FIELD) if form is not None else None)
    if not session.csrf_ok(presented):
        raise CsrfRejected("Missing or wrong CSRF token: reload the page and try again")


async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


async def form_of(request: Request) -> tuple[ConsoleSession, dict[str, Any]]:
    """The signed-in session and the posted form, after the CSRF check (for every unsafe console request)."""
    session = await run(require_session, request)
    form = await request.form()
    data = {k: form.getall(k) if len(form.getall(k)) > 1 else form.get(k) for k in form.keys()}
    check_csrf(request, session, data)
    return session, data


async def form_action(request: Request, back: str, fn: Any, ok: str | Any) -> Redirect:
    """Run one form action ``fn(services, form, session)`` in a thread (after the session and CSRF checks);
    errors come back as a notice on ``back``; ``ok`` is the success notice (or makes it from the result)."""
    session, form = await form_of(request)
    try:
        result = await run(fn, services_of(request), form, session)
    except (RosetError, ValueError) as exc:
        return flash_redirect(back, getattr(exc, "message", None) or str(exc), error=True)
    if isinstance(result, Redirect):
        return result
    return flash_redirect(back, ok(result) if callable(ok) else ok)


def flash_redirect(path: str, message: str | None = None, error: bool = False) -> Redirect:
    if message:
        sep = "&" if "?" in path else "?"
        path = f"{path}{sep}{'error' if error else 'notice'}={quote(message)}"
    return Redirect(path=path, status_code=303)


def template(request: Request, name: str, **context: Any) -> Template:
    session = request.scope.get("state", {}).get("console_session")
    context.setdefault("session", session)
    context.setdefault("csrf", session.csrf_token if session else "")
    context.setdefault("notice", request.query_params.get("notice"))
    context.setdefault("error", request.query_params.get("error"))
    context.setdefault("path", request.url.path)
    context.setdefault("h", render)
    role = session.role if session else None
    context.setdefault("can_change", bool(role and roles.allows(role, roles.WORK, "POST")))
    context.setdefault("nav_links", [(key, href, label) for key, href, label, access in NAV
                                     if role and roles.allows(role, access, "GET")])
    return Template(template_name=name, context=context, headers=NO_STORE, media_type="text/html")


def session_cookie(request: Request, raw: str | None, max_age: int) -> Cookie:
    """HttpOnly, SameSite=Lax, Secure when served over https; an empty value with max_age 0 clears it."""
    return Cookie(key=SESSION_COOKIE, value=raw or "", path="/", httponly=True, samesite="lax",
                  secure=is_https(request), max_age=max_age if raw else 0)


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def handle_page_error(request: Request, exc: Exception) -> Response:
    """HTML pages get HTML errors (or a redirect to sign in); console JSON endpoints keep the JSON shape."""
    path = request.url.path
    wants_json = "/api/" in path or request.headers.get("accept", "").startswith("application/json")
    if isinstance(exc, NeedSignIn):
        if wants_json:
            return Response({"error": "Sign in first", "code": "UNAUTHORIZED", "requestId": request_id_of(request)},
                            status_code=401, media_type="application/json")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(path=f"/console/login?next={quote(target)}", status_code=303)
    if wants_json or not isinstance(exc, RosetError):
        return handle_exception(request, exc)
    response = template(request, "console/error.html" if path.startswith("/console") else "portal/error.html",
                        status=exc.status, message=exc.message)
    response.status_code = exc.status
    response.headers.update(exc.headers)  # e.g. Retry-After on a 429
    return response


EXCEPTION_HANDLERS: ExceptionHandlersMap = {NeedSignIn: handle_page_error, RosetError: handle_page_error}
GUARDS = [console_guard]
