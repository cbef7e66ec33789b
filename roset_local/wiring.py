"""Assembles the running program on an opened Services: queue tasks, upward hooks, start/stop steps.

The HTTP server (``create_app``), the queue worker (``roset-local worker``) and the MCP stdio server
call :func:`wire`, so all of them run the same tasks with the same hooks.
"""

from __future__ import annotations

import functools
import logging
import threading

from roset_local.connections import nodes as connection_nodes
from roset_local.connections.sync import start_scheduler
from roset_local.hooks import Hooks
from roset_local.index import warm_vector_indexes
from roset_local.pipeline.process import recover
from roset_local.portal import tokens as portal_tokens
from roset_local.portal import users as portal_users
from roset_local.scaleout.server import attach as attach_scaleout
from roset_local.services import Services
from roset_local.tasks import register_tasks
from roset_local.webhooks.runtime import build_runtime

log = logging.getLogger("roset_local")


def wire(services: Services) -> Services:
    """Register the tasks on the services' huey, set its hooks and its start/stop steps; returns it."""
    portal_users.ensure_admin(services.db, services.settings.admin_password)
    webhooks = build_runtime(services)
    services.tasks = register_tasks(services, webhooks.dispatcher)
    attach_scaleout(services)  # a shared queue (ROSET_QUEUE_URL): commits from worker hosts, their leases
    webhooks.dispatcher.task = services.tasks.deliver_webhook
    services.hooks = Hooks(
        events_committed=webhooks.relay.wake,
        dispatch_webhook=webhooks.dispatcher.dispatch,
        open_connection_file=functools.partial(connection_nodes.open_file_bytes, services),
        authenticate_portal=functools.partial(portal_tokens.authenticate, services),
    )
    # In this order at start (after the queue consumer is up); stop steps run in reverse.
    services.on_start(functools.partial(_recover_jobs, services))
    services.on_start(webhooks.start)
    services.on_stop(webhooks.stop)
    services.on_start(functools.partial(start_scheduler, services))
    services.on_start(functools.partial(warm_vector_indexes, services))
    services.on_start(functools.partial(_prestart_extraction, services))
    return services


def _prestart_extraction(services: Services) -> None:
    """The extraction worker processes start in the background, as a pre-forking server's do: the
    first files do not wait for them (0.4-0.8 s each on a busy machine), start-up and /health do not
    either. Only where this process runs jobs (its queue consumer is up)."""
    if services.consumer is None or not services.settings.prestart_extraction:
        return

    def run() -> None:
        try:
            services.extraction_pool.start()
        except Exception:  # the first job starts its worker itself
            log.exception("starting the extraction workers failed")

    threading.Thread(target=run, name="roset-extract-prestart", daemon=True).start()


def _recover_jobs(services: Services) -> None:
    """Jobs whose lease lapsed and uploads cut off while nothing ran are settled at once, not in a minute."""
    result = recover(services)
    if any(result.values()):
        log.info("recovered after start: %s", result)
