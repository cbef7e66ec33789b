"""Start-up wiring: the guard's portal-token hook and the first console user (a task registrar, no tasks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from roset_local.portal import tokens, users

if TYPE_CHECKING:
    from roset_local.services import Services


def register(services: "Services") -> dict[str, Any]:
    services.extensions["portal_auth"] = lambda raw: tokens.authenticate(services, raw)
    users.ensure_admin(services.db, services.settings.admin_password)
    return {}
