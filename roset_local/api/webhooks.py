"""/v1/webhooks and /v1/webhook-events: endpoints, delivery history, test, rotation, replay."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, RawBody

from roset_local import audit
from roset_local.api.deps import blocking, caller, decode_body, services_of
from roset_local.errors import BadRequest
from roset_local.pagination import decode_cursor, page, parse_limit
from roset_local.store import webhooks as store
from roset_local.store.events import EVENT_TYPES
from roset_local.webhooks import manage


class WebhookCreate(msgspec.Struct):
    url: str
    events: list[str]
    spaces: list[str] | None = None  # omitted: the key's own spaces (every space for an unconfined key)


class WebhookUpdate(msgspec.Struct):
    url: str | None = None
    events: list[str] | None = None
    active: bool | None = None
    enabled: bool | None = None  # the official SDK's name for ``active``
    spaces: list[str] | None | msgspec.UnsetType = msgspec.UNSET  # null: every space (unconfined keys only)


class ReplayRequest(msgspec.Struct):
    since: str
    until: str | None = None
    event_types: list[str] | None = None


def webhook_out(row: dict[str, Any], *, with_secret: bool = False) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "url": row["url"],
        "events": row["events"],
        "spaces": row["spaces"],
        "active": row["active"],
        "disabled_reason": row["disabled_reason"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    if with_secret:
        out["secret"] = row["secret"]
    return out


def delivery_out(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "webhook_id", "event_id", "event_type", "attempt", "status", "status_code", "duration_ms",
            "error", "attempted_at")
    return {k: row[k] for k in keys}


def event_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["event_id"],
        "type": row["event_type"],
        "webhook_id": row["webhook_id"],
        "delivered": row["status"] == "delivered",
        "status": row["status"],
        "attempts": row["attempts"],
        "space": row["space"],
        "data": row["data"],
        "created_at": row["created_at"],
    }


@post("/v1/webhooks", opt={"scope": "webhooks:write"}, tags=["webhooks"])
@blocking
def create_webhook(request: Request, body: RawBody) -> Response:
    data = decode_body(body, WebhookCreate)
    services, principal = services_of(request), caller(request)
    with audit.recorded(services.db, audit.actor_of(request), "webhook.created", "webhook",
                        changes={"url": data.url, "events": data.events, "spaces": data.spaces}) as entry:
        row = manage.create_webhook(services, principal, data.url, data.events, data.spaces)
        entry.target_id, entry.space = row["id"], audit.single_space(row["spaces"])
    return Response(webhook_out(row, with_secret=True), status_code=201)


@get("/v1/webhooks", opt={"scope": "webhooks:read"}, tags=["webhooks"])
@blocking
def list_webhooks(request: Request) -> dict[str, Any]:
    return {"webhooks": [webhook_out(r) for r in manage.visible_webhooks(services_of(request), caller(request))]}


@get("/v1/webhooks/{webhook_id:str}", opt={"scope": "webhooks:read"}, tags=["webhooks"])
@blocking
def get_webhook(request: Request, webhook_id: FromPath[str]) -> dict[str, Any]:
    return webhook_out(manage.get_or_404(services_of(request), caller(request), webhook_id))


@patch("/v1/webhooks/{webhook_id:str}", opt={"scope": "webhooks:write"}, tags=["webhooks"])
@blocking
def update_webhook(request: Request, webhook_id: FromPath[str], body: RawBody) -> dict[str, Any]:
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
    return webhook_out(row)


@delete("/v1/webhooks/{webhook_id:str}", opt={"scope": "webhooks:write"}, status_code=200, tags=["webhooks"])
@blocking
def delete_webhook(request: Request, webhook_id: FromPath[str]) -> dict[str, Any]:
    services, principal = services_of(request), caller(request)
    hook = manage.get_or_404(services, principal, webhook_id)
    with audit.recorded(services.db, audit.actor_of(request), "webhook.deleted", "webhook", webhook_id,
                        space=audit.single_space(hook["spaces"]), changes={"url": hook["url"]}):
        manage.delete_webhook(services, principal, webhook_id)
    return {"deleted": True}


@get("/v1/webhooks/{webhook_id:str}/deliveries", opt={"scope": "webhooks:read"}, tags=["webhooks"])
@blocking
def list_deliveries(
    request: Request,
    webhook_id: FromPath[str],
    limit: FromQuery[int | None] = None,
    cursor: FromQuery[str | None] = None,
) -> dict[str, Any]:
    services = services_of(request)
    manage.get_or_404(services, caller(request), webhook_id)
    lim = parse_limit(limit)
    rows = store.list_deliveries(services.db, webhook_id, limit=lim, cursor=decode_cursor(cursor, 2))
    rows, next_cursor = page(rows, lim, lambda r: (r["seq"], r["id"]))
    return {"deliveries": [delivery_out(r) for r in rows], "next_cursor": next_cursor}


@post("/v1/webhooks/{webhook_id:str}/test", opt={"scope": "webhooks:write"}, status_code=200, tags=["webhooks"])
@blocking
def test_webhook(request: Request, webhook_id: FromPath[str]) -> dict[str, Any]:
    return manage.send_test(services_of(request), caller(request), webhook_id)


@post("/v1/webhooks/{webhook_id:str}/rotate-secret", opt={"scope": "webhooks:write"}, status_code=200,
      tags=["webhooks"])
@blocking
def rotate_secret(request: Request, webhook_id: FromPath[str]) -> dict[str, Any]:
    services = services_of(request)
    with audit.recorded(services.db, audit.actor_of(request), "webhook.secret_rotated", "webhook", webhook_id,
                        changes={"secret": True}) as entry:
        row = manage.rotate_secret(services, caller(request), webhook_id)
        entry.space = audit.single_space(row["spaces"])
    return {"id": row["id"], "secret": row["secret"]}


@post("/v1/webhooks/{webhook_id:str}/replay", opt={"scope": "webhooks:write"}, status_code=200, tags=["webhooks"])
@blocking
def replay_webhook(request: Request, webhook_id: FromPath[str], body: RawBody) -> dict[str, int]:
    data = decode_body(body, ReplayRequest)
    return manage.replay(
        services_of(request), caller(request), webhook_id, since=data.since, until=data.until,
        event_types=data.event_types,
    )


@get("/v1/webhook-events", opt={"scope": "webhooks:read"}, tags=["webhooks"])
@blocking
def list_webhook_events(
    request: Request,
    event_type: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
    cursor: FromQuery[str | None] = None,
) -> dict[str, Any]:
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
    return {"events": [event_out(r) for r in rows], "next_cursor": next_cursor}


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
