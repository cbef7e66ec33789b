"""Storage connections: providers, setup, verify/create, test, sync (queued), preview, progress, history, browse,
and bucket event notifications (live sync)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, delete, get, post
from litestar.params import FromPath, FromQuery, RawBody

from roset_local import audit
from roset_local.api.deps import blocking, caller, decode_body, services_of
from roset_local.connections import detach, manage, sync
from roset_local.livesync import events
from roset_local.pagination import decode_cursor, page, parse_limit
from roset_local.storage import connections as conn
from roset_local.store import connections as store

READ = {"scope": "connections:read"}
WRITE = {"scope": "connections:write"}
TAGS = ["connections"]


class ConnectionIn(msgspec.Struct):
    """POST /v1/connections and /verify. ``sync_interval_minutes``: the full reconciliation behind live
    changes, 5-10080 (default 60; null: manual only); ``on_delete``: what a sync does to the files of
    deleted objects (``remove`` or ``keep``). An S3-compatible connection's answer carries its
    ``event_secret`` (shown once) for ``POST /v1/connections/{id}/events``."""

    provider: str
    name: str
    bucket: str
    region: str | None = None
    prefix: str | None = None
    endpoint_url: str | None = None
    credentials: dict[str, Any] | None = None
    space: str | None = None
    sync_interval_minutes: int | None = manage.DEFAULT_INTERVAL_MINUTES
    process_new_files: bool = False
    on_delete: str = "remove"


class StartIn(msgspec.Struct):
    provider: str
    bucket: str | None = None


class ListBucketsIn(msgspec.Struct):
    provider: str
    credentials: dict[str, Any] | None = None
    region: str | None = None
    endpoint_url: str | None = None


def _visible(request: Request, connection_id: str) -> dict[str, Any]:
    return manage.visible_connection(services_of(request), caller(request), connection_id)


@get("/v1/connections/providers", opt=READ, tags=TAGS)
async def list_providers() -> dict[str, Any]:
    return {"providers": manage.providers()}


@post("/v1/connections/start", opt=WRITE, status_code=200, tags=TAGS)
@blocking
def start_connection(body: RawBody) -> dict[str, Any]:
    data = decode_body(body, StartIn)
    return manage.start(data.provider, data.bucket)


@post("/v1/connections/list-buckets", opt=WRITE, status_code=200, tags=TAGS)
@blocking
def list_buckets(request: Request, body: RawBody) -> dict[str, Any]:
    data = decode_body(body, ListBucketsIn)
    return {"buckets": manage.list_buckets(services_of(request), caller(request), msgspec.structs.asdict(data))}


@post("/v1/connections/verify", opt=WRITE, status_code=201, tags=TAGS)
@blocking
def verify_connection(request: Request, body: RawBody) -> dict[str, Any]:
    data = msgspec.structs.asdict(decode_body(body, ConnectionIn))
    row = manage.verify_and_create(services_of(request), caller(request), data, actor=audit.actor_of(request))
    return manage.created_out(row)


@post("/v1/connections", opt=WRITE, status_code=201, tags=TAGS)
@blocking
def create_connection(request: Request, body: RawBody) -> dict[str, Any]:
    data = msgspec.structs.asdict(decode_body(body, ConnectionIn))
    row = manage.create_connection(services_of(request), caller(request), data, actor=audit.actor_of(request))
    return manage.created_out(row)


@get("/v1/connections", opt=READ, tags=TAGS)
@blocking
def list_connections(request: Request, limit: FromQuery[int | None] = None,
                     cursor: FromQuery[str | None] = None) -> dict[str, Any]:
    size = parse_limit(limit)
    rows = store.list_connections(services_of(request).db, caller(request).spaces, size, decode_cursor(cursor, 2))
    rows, next_cursor = page(rows, size, lambda r: (r["created_at"], r["id"]))
    return {"connections": [manage.connection_out(r) for r in rows], "next_cursor": next_cursor}


@get("/v1/connections/{connection_id:str}", opt=READ, tags=TAGS)
@blocking
def get_connection(request: Request, connection_id: FromPath[str]) -> dict[str, Any]:
    return manage.connection_out(_visible(request, connection_id))


@delete("/v1/connections/{connection_id:str}", opt=WRITE, status_code=200, tags=TAGS)
@blocking
def delete_connection(request: Request, connection_id: FromPath[str],
                      cascade: FromQuery[bool] = False) -> dict[str, Any]:
    """``cascade=true`` deletes the connection's files too; otherwise they keep their bytes, copied in first."""
    counts = detach.delete_connection(services_of(request), _visible(request, connection_id), cascade,
                                     audit.actor_of(request))
    return {"id": connection_id, "deleted": True, **counts}


@post("/v1/connections/{connection_id:str}/test", opt=WRITE, status_code=200, tags=TAGS)
@blocking
def test_connection(request: Request, connection_id: FromPath[str]) -> dict[str, Any]:
    return manage.test_connection(services_of(request), _visible(request, connection_id))


@post("/v1/connections/{connection_id:str}/sync", opt=WRITE, status_code=202, tags=TAGS)
@blocking
def start_sync(request: Request, connection_id: FromPath[str]) -> dict[str, Any]:
    row = sync.request_sync(services_of(request), _visible(request, connection_id))
    return {**sync.sync_out(row), "sync_id": row["id"]}


@post("/v1/connections/{connection_id:str}/sync/preview", opt=READ, status_code=200, tags=TAGS)
@blocking
def preview_sync(request: Request, connection_id: FromPath[str]) -> dict[str, Any]:
    return sync.preview(services_of(request), _visible(request, connection_id))


@get("/v1/connections/{connection_id:str}/sync/progress", opt=READ, tags=TAGS)
@blocking
def sync_progress(request: Request, connection_id: FromPath[str]) -> dict[str, Any]:
    return sync.progress(services_of(request), _visible(request, connection_id))


@get("/v1/connections/{connection_id:str}/sync/history", opt=READ, tags=TAGS)
@blocking
def sync_history(request: Request, connection_id: FromPath[str], limit: FromQuery[int | None] = None,
                 cursor: FromQuery[str | None] = None) -> dict[str, Any]:
    row = _visible(request, connection_id)
    size = parse_limit(limit)
    rows = store.list_syncs(services_of(request).db, row["id"], size, decode_cursor(cursor, 2))
    rows, next_cursor = page(rows, size, lambda r: (r["seq"], r["id"]))
    return {"syncs": [sync.sync_out(r) for r in rows], "next_cursor": next_cursor}


@get("/v1/connections/{connection_id:str}/browse", opt=READ, tags=TAGS)
@blocking
def browse(request: Request, connection_id: FromPath[str], prefix: FromQuery[str | None] = None,
           limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None) -> dict[str, Any]:
    services = services_of(request)
    spec = manage.spec_of(services, _visible(request, connection_id))
    with manage.storage_errors():
        objects, folders, next_cursor = conn.browse(spec, prefix, parse_limit(limit, maximum=1000), cursor or None)
    return {"objects": objects, "folders": folders, "prefix": prefix or spec.prefix, "next_cursor": next_cursor}


@post("/v1/connections/{connection_id:str}/events", opt={"public": True}, status_code=200, tags=TAGS)
@blocking
def receive_events(request: Request, connection_id: FromPath[str], body: RawBody) -> dict[str, Any]:
    """S3/MinIO bucket event notifications (``Records[].eventName`` ObjectCreated:* / ObjectRemoved:*),
    applied at once. No API key: send ``Authorization: Bearer <event_secret>`` (a MinIO webhook
    target's ``auth_token``). Records of another bucket or outside the prefix are counted as ignored."""
    return events.receive(services_of(request), connection_id, request.headers.get("authorization"), body)


@post("/v1/connections/{connection_id:str}/rotate-event-secret", opt=WRITE, status_code=200, tags=TAGS)
@blocking
def rotate_event_secret(request: Request, connection_id: FromPath[str]) -> dict[str, Any]:
    """A new event secret for an S3-compatible connection (shown once; the old one stops working)."""
    return manage.rotate_event_secret(services_of(request), _visible(request, connection_id), audit.actor_of(request))


ROUTES = [list_providers, start_connection, list_buckets, verify_connection, create_connection, list_connections,
          get_connection, delete_connection, test_connection, start_sync, preview_sync, sync_progress, sync_history,
          browse, receive_events, rotate_event_secret]
