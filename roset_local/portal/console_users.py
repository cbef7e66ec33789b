"""The console's users page (admins only): create users, set their role and spaces, reset passwords,
disable and enable them. The same functions back ``roset-local users``."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.params import FromPath
from litestar.response import Redirect, Template

from roset_local import audit
from roset_local.handlers import blocking
from roset_local.errors import NotFound
from roset_local.portal import roles, users
from roset_local.portal.web import action, form_action, page, services_of, template
from roset_local.store import console as store


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name)
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value or "")


@page("/console/users", access=roles.ADMIN_ONLY)
@blocking
def users_page(request: Request) -> Template:
    return template(request, "console/users.html", nav="users", users=store.list_users(services_of(request).db),
                    roles=roles.ROLES)


@action("/console/users", access=roles.ADMIN_ONLY)
async def create_user(request: Request) -> Redirect:
    def go(services: Any, form: dict[str, Any], session: Any) -> str:
        row = users.create_user(services.db, _text(form, "username"), _text(form, "password"),
                                role=_text(form, "role"), spaces=roles.parse_spaces(_text(form, "spaces")),
                                actor=audit.actor_of(request))
        return f"Created {row['username']} ({row['role']})"

    return await form_action(request, "/console/users", go, lambda message: message)


def _user_or_404(services: Any, user_id: str) -> dict[str, Any]:
    user = store.get_user(services.db, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


@action("/console/users/{user_id:str}/{verb:str}", access=roles.ADMIN_ONLY)
async def user_action(request: Request, user_id: FromPath[str], verb: FromPath[str]) -> Redirect:
    """``access`` (role and spaces), ``password`` (reset; signs the user out), ``disable``, ``enable``."""

    def go(services: Any, form: dict[str, Any], session: Any) -> str:
        user = _user_or_404(services, user_id)
        name, actor = user["username"], audit.actor_of(request)
        if verb == "access":
            row = users.set_access(services.db, user_id, _text(form, "role"), roles.parse_spaces(_text(form, "spaces")),
                                   actor)
            return f"{name} is now {row['role']}" + (f" of {', '.join(row['spaces'])}" if row["spaces"] else "")
        if verb == "password":
            users.set_password(services.db, user_id, _text(form, "password"), actor)
            return f"Password reset for {name}; their sessions were signed out"
        if verb in ("disable", "enable"):
            users.set_disabled(services.db, user_id, verb == "disable", actor)
            return f"{name} {verb}d"
        raise NotFound("Unknown action")

    return await form_action(request, "/console/users", go, lambda message: message)


ROUTES = [users_page, create_user, user_action]
