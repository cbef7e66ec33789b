"""Console roles: what each role may open and do, and the scopes and spaces its principal carries."""

from __future__ import annotations

from collections.abc import Iterable

from roset_local.store import keys as key_store
from roset_local.inputs import check_space_name

ADMIN = "admin"
MEMBER = "member"
READ_ONLY = "read-only"
ROLES = (ADMIN, MEMBER, READ_ONLY)

# What a console route needs (its ``opt["console"]``); every /console route names one.
ANYONE = "anyone"  # no session needed: the sign-in form, share-portal pages (they check their token)
SIGNED_IN = "signed-in"  # any session, unsafe methods included (signing out)
VIEW = "view"  # any role; a read-only user may only read
WORK = "work"  # admins and members (within their spaces)
ADMIN_ONLY = "admin"  # org settings, routing, provider keys, webhooks, API logs, users
ACCESS = (ANYONE, SIGNED_IN, VIEW, WORK, ADMIN_ONLY)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Members work inside their spaces: no org-wide scope (settings, keys, logs); webhooks stay with admins here
# (a webhook carries spaces, but the console has no form for them yet).
ADMIN_SCOPES = ("webhooks:read", "webhooks:write", "org:read", "org:write", "logs:read")
MEMBER_SCOPES = tuple(s for s in key_store.ALL_SCOPES if s not in ADMIN_SCOPES)
READ_SCOPES = tuple(s for s in MEMBER_SCOPES if s.endswith(":read"))
SCOPES = {ADMIN: tuple(key_store.ALL_SCOPES), MEMBER: MEMBER_SCOPES, READ_ONLY: READ_SCOPES}


def allows(role: str, access: str, method: str) -> bool:
    """Whether a signed-in user of ``role`` may call a route needing ``access`` with ``method``."""
    if access in (ANYONE, SIGNED_IN):
        return True
    if role == READ_ONLY and method.upper() not in SAFE_METHODS:
        return False
    if access == ADMIN_ONLY:
        return role == ADMIN
    if access == WORK:
        return role in (ADMIN, MEMBER)
    return access == VIEW and role in ROLES


def check_access(role: str, spaces: Iterable[str] | None) -> tuple[str, list[str] | None]:
    """A valid (role, spaces) pair. Admins see every space; members need at least one space;
    read-only users see the listed spaces, or every space when none are listed."""
    if role not in ROLES:
        raise ValueError(f"role: one of {', '.join(ROLES)}")
    names = sorted({check_space_name(s.strip()) for s in (spaces or []) if s.strip()})
    if role == ADMIN:
        return role, None
    if role == MEMBER and not names:
        raise ValueError("spaces: a member needs at least one space")
    return role, names or None


def parse_spaces(text: str | None) -> list[str]:
    """A comma-separated list of space names as typed in a form or on the command line."""
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def key_grant(scopes: list[str], spaces: list[str], *, allowed_scopes: Iterable[str],
              allowed_spaces: tuple[str, ...] | None) -> tuple[list[str], list[str] | None]:
    """The scopes and spaces of a key minted by a caller: never more than the caller holds.

    No scope ticked means every scope the caller holds; no space means every space the caller sees
    (so a confined caller always mints a confined key).
    """
    held = list(allowed_scopes)
    beyond = [s for s in scopes if s not in held]
    if beyond:
        raise ValueError(f"scopes: you cannot grant {', '.join(beyond)}")
    if allowed_spaces is not None:
        outside = [s for s in spaces if s not in allowed_spaces]
        if outside:
            raise ValueError(f"spaces: you cannot grant {', '.join(outside)}")
        spaces = spaces or list(allowed_spaces)
    return scopes or held, spaces or None
