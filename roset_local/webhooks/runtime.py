"""Webhooks in a running Services: stored secrets sealed, the relay and dispatcher threads started."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from roset_local.webhooks.relay import Dispatcher, Relay
from roset_local.webhooks.sealing import seal_stored_secrets

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.webhooks")


@dataclass
class WebhookRuntime:
    relay: Relay
    dispatcher: Dispatcher

    def start(self) -> None:
        self.dispatcher.start()
        self.relay.start()

    def stop(self) -> None:
        self.relay.stop()
        self.dispatcher.stop()


def build_runtime(services: "Services") -> WebhookRuntime:
    """Seal any secret stored in plain text, then make the relay and dispatcher (not yet started)."""
    sealed = seal_stored_secrets(services)
    if sealed:
        log.info("encrypted %d webhook signing secrets stored in plain text", sealed)
    dispatcher = Dispatcher(services)
    return WebhookRuntime(relay=Relay(services, dispatcher), dispatcher=dispatcher)
