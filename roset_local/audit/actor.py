"""Who made a change: built from the request's principal, the console session, or the command line."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection

from roset_local.audit.actions import ActorType
from roset_local.auth import client_ip


@dataclass(frozen=True)
class Actor:
    """The author of an audited change and where the request came from (None outside a request)."""

    type: ActorType
    id: str | None
    name: str | None
    request_id: str | None = None
    ip: str | None = None


def actor_of(connection: ASGIConnection) -> Actor:
    """The caller of this request: a console user (session), an API key or a portal token."""
    state: dict[str, Any] = connection.scope.get("state", {})
    rid, ip = state.get("request_id"), client_ip(connection)
    session = state.get("console_session")
    if session is not None:
        return Actor("console_user", session.user_id, session.username, rid, ip)
    principal = state.get("principal")
    if principal is None:
        return Actor("system", None, None, rid, ip)
    if principal.auth_type == "portal_token":
        return Actor("portal_token", principal.key_id, principal.key_name, rid, ip)
    return Actor("api_key", principal.key_id, principal.key_name, rid, ip)


def anonymous(connection: ASGIConnection, username: str | None) -> Actor:
    """Someone not signed in (a failed console sign-in), named by what they typed."""
    state: dict[str, Any] = connection.scope.get("state", {})
    return Actor("console_user", None, username, state.get("request_id"), client_ip(connection))


def cli_actor(command: str) -> Actor:
    """An operator at the command line: the OS account and the command they ran."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers with an arbitrary uid)
        user = None
    return Actor("cli", user, f"roset-local {command}")

