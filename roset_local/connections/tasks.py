"""Queue tasks and hooks of the connections feature; ``register`` is called at startup (roset_local.tasks)."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from roset_local.connections import nodes, sync
from roset_local.store import connections as store

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.connections")


def register(services: Services) -> dict[str, Any]:
    huey = services.huey

    @huey.task(name="roset.connection_sync")
    def connection_sync(sync_id: str) -> None:
        sync.run_sync(services, sync_id)

    services.extensions["open_file_bytes"] = functools.partial(nodes.open_file_bytes, services)
    services.extensions["connection_file_ids"] = nodes.connection_file_ids

    def start_scheduler() -> None:
        if services.settings.consumer:
            with services.db.write():
                failed = store.fail_interrupted_syncs(services.db, "Interrupted: the server stopped during the sync")
            if failed:
                log.info("marked %d interrupted syncs as failed", failed)
        scheduler = sync.Scheduler(services)
        scheduler.start()
        services.on_stop(scheduler.stop)

    services.on_start(start_scheduler)
    return {"connection_sync": connection_sync}
