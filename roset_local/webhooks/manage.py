"""The operations behind /v1/webhooks: validated create/update, rotation, test sends and replays.

A webhook belongs to spaces (``spaces``: a list, or None for every space): it receives only events
of those spaces, and a caller reaches it only when the caller's confinement covers all of them
(``Principal.covers``), so an all-space webhook is an unconfined caller's alone.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from roset_local.auth import Principal
from roset_local.errors import BadRequest, Conflict, Forbidden, NotFound
from roset_local.store import webhooks as store
from roset_local.store.db import Row
from roset_local.store.events import EVENT_TYPES, record_event
from roset_local.timeutil import now_str, parse, to_str
from roset_local.webhooks.delivery import TEST_EVENT
from roset_local.webhooks.sealing import seal
from roset_local.webhooks.signing import generate_secret
from roset_local.netguard import OutboundRefused, check_url
from roset_local.inputs import check_space_name

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


def get_or_404(services: "Services", principal: Principal, webhook_id: str) -> Row:
    """The webhook if the caller's confinement covers its spaces (404 otherwise: no existence leak)."""
    row = store.get_webhook(services.db, webhook_id)
    if row is None or not principal.covers(row["spaces"]):
        raise NotFound("Webhook not found")
    return row


def visible_webhooks(services: "Services", principal: Principal) -> list[Row]:
    return store.list_webhooks(services.db, within=principal.spaces)


def check_spaces(principal: Principal, spaces: list[str] | None) -> list[str] | None:
    """Validated spaces for a webhook: the given ones (within the caller's), else the caller's own."""
    if spaces is not None:
        if not spaces:
            raise BadRequest("spaces: must list at least one space (omit it for the key's own spaces)")
        spaces = [check_space_name(s) for s in spaces]
    return principal.claim_spaces(spaces)


def _fresh_secret(services: "Services") -> tuple[str, str]:
    """(plain, sealed): the plain one goes back to the caller once, only the sealed one is stored."""
    secret = generate_secret()
    return secret, seal(services.secret_box, secret)


def create_webhook(services: "Services", principal: Principal, url: str, events: list[str],
                   spaces: list[str] | None = None) -> Row:
    """A new active webhook with a fresh secret (the returned row is the only place it is shown).

    ``spaces`` None: the caller's spaces (every space for an unconfined caller)."""
    checked = _checked_url(services, url)
    secret, sealed = _fresh_secret(services)
    row = store.insert_webhook(services.db, url=checked, events=check_event_types(events), secret=sealed,
                               spaces=check_spaces(principal, spaces))
    return {**row, "secret": secret}


def update_webhook(
    services: "Services", principal: Principal, webhook_id: str, *, url: str | None, events: list[str] | None,
    active: bool | None, spaces: list[str] | None = None, all_spaces: bool = False,
) -> Row:
    """Change the given fields. ``spaces`` narrows or moves the webhook within the caller's spaces;
    ``all_spaces`` (every space) needs an unconfined caller."""
    get_or_404(services, principal, webhook_id)
    if all_spaces and principal.confined:
        raise Forbidden("A space-confined key cannot make a webhook receive every space's events")
    row = store.update_webhook(
        services.db,
        webhook_id,
        url=_checked_url(services, url) if url is not None else None,
        events=check_event_types(events) if events is not None else None,
        active=active,
        spaces=check_spaces(principal, spaces) if spaces is not None else None,
        all_spaces=all_spaces,
    )
    if row is None:
        raise NotFound("Webhook not found")
    return row


def rotate_secret(services: "Services", principal: Principal, webhook_id: str) -> Row:
    """Replace the secret; the next attempt of anything pending is signed with the new one only."""
    get_or_404(services, principal, webhook_id)
    secret, sealed = _fresh_secret(services)
    row = store.update_webhook(services.db, webhook_id, secret=sealed)
    if row is None:
        raise NotFound("Webhook not found")
    return {**row, "secret": secret}


def send_test(services: "Services", principal: Principal, webhook_id: str) -> dict[str, Any]:
    """Record a ``webhook.test`` event for this webhook (any subscription) and wait for its first attempt."""
    get_or_404(services, principal, webhook_id)
    db = services.db
    with db.write():
        event_id = record_event(
            db, TEST_EVENT, {"webhook_id": webhook_id, "message": "Test event from Roset Local"}, space=None
        )
    services.hooks.events_committed()
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
    services: "Services", principal: Principal, webhook_id: str, *, since: str, until: str | None,
    event_types: list[str] | None
) -> dict[str, int]:
    """Send stored events of [since, until] to this webhook again (same ``webhook-id`` as before).

    Events of types the webhook subscribes to are ``replayed``; the others are ``skipped``. Test
    events aimed at other webhooks, and events of spaces the webhook does not cover, are not counted.
    """
    webhook = get_or_404(services, principal, webhook_id)
    start = _time(since, "since")
    end = _time(until, "until") if until is not None else now_str()
    if start > end:
        raise BadRequest("since: must not be after until")
    types = check_event_types(event_types, "event_types") if event_types is not None else None
    if not webhook["active"]:
        raise Conflict("The webhook is disabled; re-enable it (PATCH active: true) before replaying")
    db = services.db
    events = store.events_between(db, start, end, types, limit=MAX_REPLAY_EVENTS + 1, spaces=webhook["spaces"])
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
    for delivery_id in created:
        services.hooks.dispatch_webhook(delivery_id)
    return {"replayed": replayed, "skipped": skipped}


def delete_webhook(services: "Services", principal: Principal, webhook_id: str) -> None:
    get_or_404(services, principal, webhook_id)
    store.delete_webhook(services.db, webhook_id)
