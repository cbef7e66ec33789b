"""Queue tasks: thin, explicitly named wrappers around service functions (arguments are ids)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from huey import crontab

from roset_local.store import audit as audit_store
from roset_local.store import logs as log_store
from roset_local.timeutil import to_str, utcnow

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.tasks")


def purge_old_logs(services: "Services") -> int:
    cutoff = to_str(utcnow() - timedelta(days=services.settings.log_retention_days))
    return log_store.purge_logs(services.db, cutoff)


def purge_old_audit(services: "Services") -> int:
    cutoff = to_str(utcnow() - timedelta(days=services.settings.audit_retention_days))
    return audit_store.purge_events(services.db, cutoff)


def register_tasks(services: "Services") -> None:
    """Attach every task to this instance's huey (no module-level huey: see STYLE.md)."""
    huey = services.huey
    tasks: dict[str, object] = {}

    @huey.periodic_task(crontab(minute="*/10"), name="roset.purge_api_logs")
    def purge_api_logs() -> None:
        removed = purge_old_logs(services)
        if removed:
            log.info("purged %d API log entries", removed)
        removed = purge_old_audit(services)
        if removed:
            log.info("purged %d audit entries older than %d days", removed, services.settings.audit_retention_days)
        from roset_local.index.ann import prune_unindexed_logs

        prune_unindexed_logs(services)

    tasks["purge_api_logs"] = purge_api_logs
    for register in _feature_registrars():
        tasks.update(register(services) or {})
    services.extensions["tasks"] = tasks


def _feature_registrars() -> list:
    """Feature modules that add tasks (explicit list; no auto-discovery)."""
    from roset_local.pipeline import tasks as pipeline_tasks

    from roset_local.webhooks import runtime as webhooks_runtime

    from roset_local.api import org as org_hooks

    from roset_local.portal import setup as portal_setup

    from roset_local.connections import tasks as connection_tasks

    from roset_local import index as search_index

    from roset_local.scaleout import server as scaleout_server

    return [portal_setup.register, pipeline_tasks.register, webhooks_runtime.register, org_hooks.register,
            connection_tasks.register, search_index.register, scaleout_server.register]
