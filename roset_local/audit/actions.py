"""The one list of audit action names: every audited change names one of these."""

from __future__ import annotations

from typing import Literal, get_args

Action = Literal[
    "file.deleted",
    "files.batch_deleted",
    "space.deleted",
    "api_key.created",
    "api_key.revoked",
    "org.settings.updated",
    "org.routing_rules.updated",
    "org.provider_key.set",
    "org.provider_key.deleted",
    "webhook.created",
    "webhook.updated",
    "webhook.deleted",
    "webhook.secret_rotated",
    "connection.created",
    "connection.deleted",
    "connection.event_secret_rotated",
    "portal_token.created",
    "portal_token.revoked",
    "console.login",
    "console.login_failed",
    "console.user.created",
    "console.user.role_changed",
    "console.user.password_reset",
    "console.user.disabled",
    "console.user.enabled",
    "backup.created",
    "restore.applied",
]
ACTIONS: tuple[str, ...] = get_args(Action)

ActorType = Literal["api_key", "console_user", "portal_token", "cli", "system"]
ACTOR_TYPES: tuple[str, ...] = get_args(ActorType)
