"""/v1/webhooks and /v1/webhook-events: endpoints, delivery history, test, rotation, replay."""

from __future__ import annotations

import msgspec
from litestar import Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, RawBody

from roset_local import audit
from roset_local.api.deps import decode_body, documents_body
from roset_local.api.schemas.common import shaped
from roset_local.api.schemas.webhooks import (
    DeliveryList,
    DeliveryOut,
    ReplayOut,
    ReplayRequest,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookDeleted,
    WebhookEventList,
    WebhookEventOut,
    WebhookList,
    WebhookOut,
    WebhookTestOut,
    WebhookUpdate,
)
from roset_local.errors import BadRequest
from roset_local.handlers import blocking, caller, services_of
from roset_local.pagination import decode_cursor, page, parse_limit
from roset_local.store import webhooks as store
from roset_local.store.events import EVENT_TYPES
from roset_local.webhooks import manage


@post("/v1/webhooks", opt={"scope": "webhooks:write"}, tags=["webhooks"], dependencies=documents_body(WebhookCreate))
@blocking
def create_webhook(request: Request, body: RawBody) -> WebhookCreated:
    data = decode_body(body, WebhookCreate)
    services, principal = services_of(request), caller(request)
    with audit.recorded(services.db, audit.actor_of(request), "webhook.created", "webhook",
                        changes={"url": data.url, "events": data.events, "spaces": data.spaces}) as entry:
        row = manage.create_webhook(services, principal, data.url, data.events, data.spaces)
        entry.target_id, entry.space = row["id"], audit.single_space(row["spaces"])
    return WebhookCreated.with_secret(row)


@get("/v1/webhooks", opt={"scope": "webhooks:read"}, tags=["webhooks"])
@blocking
def list_webhooks(request: Request) -> WebhookList:
    return WebhookList([WebhookOut.from_row(r) for r in manage.visible_webhooks(services_of(request), caller(request))])


@get("/v1/webhooks/{webhook_id:str}", opt={"scope": "webhooks:read"}, tags=["webhooks"])
@blocking
def get_webhook(request: Request, webhook_id: FromPath[str]) -> WebhookOut:
    return WebhookOut.from_row(manage.get_or_404(services_of(request), caller(request), webhook_id))


@patch("/v1/webhooks/{webhook_id:str}", opt={"scope": "webhooks:write"}, tags=["webhooks"],
       dependencies=documents_body(WebhookUpdate))
@blocking
def update_webhook(request: Request, webhook_id: FromPath[str], body: RawBody) -> WebhookOut:
    data = decode_body(body, WebhookUpdate)
    if data.active is not None and data.enabled is not None and data.active != data.enabled:
        raise BadRequest("active and enabled disagree; send one of them")
    active = data.active if data.active is not None else data.enabled
    spaces = data.spaces if data.spaces is not msgspec.UNSET else None
    services, principal = services_of(request), caller(request)
    changes = {k: v for k, v in {"url": data.url, "events": data.events, "active": active}.items() if v is not None}
    if data.spaces is not msgspec.UNSET:
        changes["spaces"] = data.spaces
    with audit.recorded(services.db, audit.actor_of(request), "webhook.updated", "webhook", webhook_id,
                        changes=changes) as entry:
        row = manage.update_webhook(services, principal, webhook_id, url=data.url, events=data.events,
                                    active=active, spaces=spaces, all_spaces=data.spaces is None)
        entry.space = audit.single_space(row["spaces"])
    return WebhookOut.from_row(row)


@delete("/v1/webhooks/{webhook_id:str}", opt={"scope": "webhooks:write"}, status_code=200, tags=["webhooks"])
@blocking
def delete_webhook(request: Request, webhook_id: FromPath[str]) -> WebhookDeleted:
    services, principal = services_of(request), caller(request)
    hook = manage.get_or_404(services, principal, webhook_id)
    with audit.recorded(services.db, audit.actor_of(request), "webhook.deleted", "webhook", webhook_id,
                        space=audit.single_space(hook["spaces"]), changes={"url": hook["url"]}):
        manage.delete_webhook(services, principal, webhook_id)
    return WebhookDeleted(deleted=True)


@get("/v1/webhooks/{webhook_id:str}/deliveries", opt={"scope": "webhooks:read"}, tags=["webhooks"])
@blocking
def list_deliveries(
    request: Request,
    webhook_id: FromPath[str],
    limit: FromQuery[int | None] = None,
    cursor: FromQuery[str | None] = None,
) -> DeliveryList:
    services = services_of(request)
    manage.get_or_404(services, caller(request), webhook_id)
    lim = parse_limit(limit)
    rows = store.list_deliveries(services.db, webhook_id, limit=lim, cursor=decode_cursor(cursor, 2))
    rows, next_cursor = page(rows, lim, lambda r: (r["seq"], r["id"]))
    return DeliveryList([DeliveryOut.from_row(r) for r in rows], next_cursor)


@post("/v1/webhooks/{webhook_id:str}/test", opt={"scope": "webhooks:write"}, status_code=200, tags=["webhooks"])
@blocking
def test_webhook(request: Request, webhook_id: FromPath[str]) -> WebhookTestOut:
    return shaped(manage.send_test(services_of(request), caller(request), webhook_id), WebhookTestOut)


@post("/v1/webhooks/{webhook_id:str}/rotate-secret", opt={"scope": "webhooks:write"}, status_code=200,
      tags=["webhooks"])
@blocking
def rotate_secret(request: Request, webhook_id: FromPath[str]) -> SecretRotated:
    services = services_of(request)
    with audit.recorded(services.db, audit.actor_of(request), "webhook.secret_rotated", "webhook", webhook_id,
                        changes={"secret": True}) as entry:
        row = manage.rotate_secret(services, caller(request), webhook_id)
        entry.space = audit.single_space(row["spaces"])
    return SecretRotated(id=row["id"], secret=row["secret"])


@post("/v1/webhooks/{webhook_id:str}/replay", opt={"scope": "webhooks:write"}, status_code=200, tags=["webhooks"],
      dependencies=documents_body(ReplayRequest))
@blocking
def replay_webhook(request: Request, webhook_id: FromPath[str], body: RawBody) -> ReplayOut:
    data = decode_body(body, ReplayRequest)
    counts = manage.replay(services_of(request), caller(request), webhook_id, since=data.since, until=data.until,
                           event_types=data.event_types)
    return shaped(counts, ReplayOut)


@get("/v1/webhook-events", opt={"scope": "webhooks:read"}, tags=["webhooks"])
@blocking
def list_webhook_events(
    request: Request,
    event_type: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
    cursor: FromQuery[str | None] = None,
) -> WebhookEventList:
    if event_type is not None and event_type not in EVENT_TYPES:
        raise BadRequest(f"event_type: unknown event type {event_type}")
    lim = parse_limit(limit)
    rows = store.list_messages(
        services_of(request).db,
        event_type=event_type,
        spaces=caller(request).spaces,
        limit=lim,
        cursor=decode_cursor(cursor, 2),
    )
    rows, next_cursor = page(rows, lim, lambda r: (r["event_seq"], r["id"]))
    return WebhookEventList([WebhookEventOut.from_row(r) for r in rows], next_cursor)


ROUTES = [
    create_webhook,
    list_webhooks,
    get_webhook,
    update_webhook,
    delete_webhook,
    list_deliveries,
    test_webhook,
    rotate_secret,
    replay_webhook,
    list_webhook_events,
]
