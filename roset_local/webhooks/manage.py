"""The operations behind /v1/webhooks: validated create/update, rotation, test sends and replays."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from roset_local.errors import BadRequest, Conflict, NotFound
from roset_local.secrets import secret_box
from roset_local.store import webhooks as store
from roset_local.store.db import Row
from roset_local.store.events import EVENT_TYPES, record_event
from roset_local.timeutil import now_str, parse, to_str
from roset_local.webhooks.delivery import TEST_EVENT
from roset_local.webhooks.runtime import runtime_of
from roset_local.webhooks.sealing import seal
from roset_local.webhooks.signing import generate_secret
from roset_local.netguard import OutboundRefused, check_url

if TYPE_CHECKING:
    from roset_local.services import Services

MAX_REPLAY_EVENTS = 10_000
TEST_WAIT_MARGIN = 5.0


def check_event_types(events: list[str], field: str = "events") -> list[str]:
    """Known event types, de-duplicated in order; unknown or empty → 400."""
    if not events:
        raise BadRequest(f"{field}: must list at least one event type")
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise BadRequest(f"{field}: unknown event types {', '.join(unknown)} (known: {', '.join(EVENT_TYPES)})")
    return list(dict.fromkeys(events))


def _checked_url(services: "Services", url: str) -> str:
    try:
        return check_url(url, allow_private=services.settings.outbound_allow_private)
    except OutboundRefused as exc:
        raise BadRequest(str(exc)) from None


def get_or_404(services: "Services", webhook_id: str) -> Row:
    row = store.get_webhook(services.db, webhook_id)
    if row is None:
        raise NotFound("Webhook not found")
    return row


def _fresh_secret(services: "Services") -> tuple[str, str]:
    """(plain, sealed): the plain one goes back to the caller once, only the sealed one is stored."""
    secret = generate_secret()
    return secret, seal(secret_box(services), secret)


def create_webhook(services: "Services", url: str, events: list[str]) -> Row:
    """A new active webhook with a fresh secret (the returned row is the only place it is shown)."""
    checked = _checked_url(services, url)
    secret, sealed = _fresh_secret(services)
    row = store.insert_webhook(services.db, url=checked, events=check_event_types(events), secret=sealed)
    return {**row, "secret": secret}


def update_webhook(
    services: "Services", webhook_id: str, *, url: str | None, events: list[str] | None, active: bool | None
) -> Row:
    get_or_404(services, webhook_id)
    row = store.update_webhook(
        services.db,
        webhook_id,
        url=_checked_url(services, url) if url is not None else None,
        events=check_event_types(events) if events is not None else None,
        active=active,
    )
    if row is None:
        raise NotFound("Webhook not found")
    return row


def rotate_secret(services: "Services", webhook_id: str) -> Row:
    """Replace the secret; the next attempt of anything pending is signed with the new one only."""
    get_or_404(services, webhook_id)
    secret, sealed = _fresh_secret(services)
    row = store.update_webhook(services.db, webhook_id, secret=sealed)
    if row is None:
        raise NotFound("Webhook not found")
    return {**row, "secret": secret}


def send_test(services: "Services", webhook_id: str) -> dict[str, Any]:
    """Record a ``webhook.test`` event for this webhook (any subscription) and wait for its first attempt."""
    get_or_404(services, webhook_id)
    db = services.db
    with db.write():
        event_id = record_event(
            db, TEST_EVENT, {"webhook_id": webhook_id, "message": "Test event from Roset Local"}, space=None
        )
    services.extensions["events_committed"]()
    deadline = time.monotonic() + services.settings.webhook_timeout_seconds + TEST_WAIT_MARGIN
    first = None
    while time.monotonic() < deadline:
        first = store.first_delivery_for_event(db, webhook_id, event_id)
        if first is not None and first["status"] != "pending":
            break
        time.sleep(0.05)
    status = first["status"] if first else "pending"
    return {
        "success": status == "delivered",
        "event_id": event_id,
        "webhook_id": webhook_id,
        "delivery_id": first["id"] if first else None,
        "status": status,
        "status_code": first["status_code"] if first else None,
        "duration_ms": first["duration_ms"] if first else None,
        "error": first["error"] if first else None,
    }


def _time(value: str, field: str) -> str:
    try:
        return to_str(parse(value))
    except (ValueError, TypeError):
        raise BadRequest(f"{field}: must be an ISO 8601 date-time") from None


def replay(
    services: "Services", webhook_id: str, *, since: str, until: str | None, event_types: list[str] | None
) -> dict[str, int]:
    """Send stored events of [since, until] to this webhook again (same ``webhook-id`` as before).

    Events of types the webhook subscribes to are ``replayed``; the others are ``skipped``. Test
    events aimed at other webhooks are not counted.
    """
    webhook = get_or_404(services, webhook_id)
    start = _time(since, "since")
    end = _time(until, "until") if until is not None else now_str()
    if start > end:
        raise BadRequest("since: must not be after until")
    types = check_event_types(event_types, "event_types") if event_types is not None else None
    if not webhook["active"]:
        raise Conflict("The webhook is disabled; re-enable it (PATCH active: true) before replaying")
    db = services.db
    events = store.events_between(db, start, end, types, limit=MAX_REPLAY_EVENTS + 1)
    if len(events) > MAX_REPLAY_EVENTS:
        raise BadRequest(f"More than {MAX_REPLAY_EVENTS} events in that range; replay a narrower range")
    replayed = skipped = 0
    created: list[str] = []
    with db.write():
        for event in events:
            if event["type"] == TEST_EVENT and (event["data"] or {}).get("webhook_id") != webhook_id:
                continue
            if event["type"] not in webhook["events"]:
                skipped += 1
                continue
            replayed += 1
            delivery_id = store.queue_message(db, webhook_id, event)
            if delivery_id:
                created.append(delivery_id)
    dispatcher = runtime_of(services).dispatcher
    for delivery_id in created:
        dispatcher.dispatch(delivery_id)
    return {"replayed": replayed, "skipped": skipped}
