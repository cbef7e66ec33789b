"""Wires webhooks into a Services instance: the huey tasks, the relay and dispatcher threads, hooks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from huey import crontab

from roset_local.store import webhooks as store
from roset_local.timeutil import to_str, utcnow
from roset_local.webhooks.relay import Dispatcher, Relay
from roset_local.webhooks.sealing import seal_stored_secrets

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.webhooks")

HISTORY_DAYS = 30


@dataclass
class WebhookRuntime:
    relay: Relay
    dispatcher: Dispatcher


def runtime_of(services: "Services") -> WebhookRuntime:
    return services.extensions["webhooks"]


def register(services: "Services") -> dict[str, Any]:
    """Task registrar (see ``roset_local.tasks``): tasks plus the relay's start/stop hooks."""
    sealed = seal_stored_secrets(services)
    if sealed:
        log.info("encrypted %d webhook signing secrets stored in plain text", sealed)
    dispatcher = Dispatcher(services)
    relay = Relay(services, dispatcher)

    @services.huey.task(name="roset.deliver_webhook")
    def deliver_webhook(delivery_id: str) -> None:
        dispatcher.handle(delivery_id)

    @services.huey.periodic_task(crontab(minute="23", hour="3"), name="roset.purge_webhook_history")
    def purge_webhook_history() -> None:
        removed = store.purge_finished(services.db, to_str(utcnow() - timedelta(days=HISTORY_DAYS)))
        if removed:
            log.info("purged %d finished webhook messages older than %d days", removed, HISTORY_DAYS)

    dispatcher.task = deliver_webhook
    services.extensions["webhooks"] = WebhookRuntime(relay=relay, dispatcher=dispatcher)
    services.extensions["events_committed"] = relay.wake

    def start() -> None:
        dispatcher.start()
        relay.start()

    def stop() -> None:
        relay.stop()
        dispatcher.stop()

    services.on_start(start)
    services.on_stop(stop)
    return {"deliver_webhook": deliver_webhook, "purge_webhook_history": purge_webhook_history}
