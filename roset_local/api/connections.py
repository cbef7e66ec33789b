"""Storage connections: providers, setup, verify/create, test, sync (queued), preview, progress, history, browse,
and bucket event notifications (live sync)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, delete, get, post
from litestar.params import FromPath, FromQuery, RawBody

from roset_local import audit
from roset_local.api.deps import decode_body, documents_body
from roset_local.api.schemas.common import shaped
from roset_local.api.schemas.connections import (
    BrowseOut,
    BucketEvents,
    BucketList,
    BucketsQuery,
    ConnectionCreate,
    ConnectionDeleted,
    ConnectionList,
    ConnectionOut,
    ConnectionStart,
    ConnectionTest,
    EventsApplied,
    EventSecretOut,
    ProviderList,
    SetupOut,
    SyncList,
    SyncPreview,
    SyncProgress,
    SyncStarted,
)
from roset_local.connections import detach, manage, sync
from roset_local.handlers import blocking, caller, services_of
from roset_local.livesync import events
from roset_local.pagination import decode_cursor, page, parse_limit
from roset_local.storage import backends as conn
from roset_local.store import connections as store

READ = {"scope": "connections:read"}
WRITE = {"scope": "connections:write"}
TAGS = ["connections"]


def _visible(request: Request, connection_id: str) -> dict[str, Any]:
    return manage.visible_connection(services_of(request), caller(request), connection_id)


@get("/v1/connections/providers", opt=READ, tags=TAGS)
async def list_providers() -> ProviderList:
    return shaped({"providers": manage.providers()}, ProviderList)


@post("/v1/connections/start", opt=WRITE, status_code=200, tags=TAGS, dependencies=documents_body(ConnectionStart))
@blocking
def start_connection(body: RawBody) -> SetupOut:
    data = decode_body(body, ConnectionStart)
    return shaped(manage.start(data.provider, data.bucket), SetupOut)


@post("/v1/connections/list-buckets", opt=WRITE, status_code=200, tags=TAGS, dependencies=documents_body(BucketsQuery))
@blocking
def list_buckets(request: Request, body: RawBody) -> BucketList:
    data = decode_body(body, BucketsQuery)
    buckets = manage.list_buckets(services_of(request), caller(request), msgspec.structs.asdict(data))
    return shaped({"buckets": buckets}, BucketList)


@post("/v1/connections/verify", opt=WRITE, status_code=201, tags=TAGS, dependencies=documents_body(ConnectionCreate))
@blocking
def verify_connection(request: Request, body: RawBody) -> ConnectionOut:
    data = msgspec.structs.asdict(decode_body(body, ConnectionCreate))
    row = manage.verify_and_create(services_of(request), caller(request), data, actor=audit.actor_of(request))
    return manage.created_out(row)


@post("/v1/connections", opt=WRITE, status_code=201, tags=TAGS, dependencies=documents_body(ConnectionCreate))
@blocking
def create_connection(request: Request, body: RawBody) -> ConnectionOut:
    data = msgspec.structs.asdict(decode_body(body, ConnectionCreate))
    row = manage.create_connection(services_of(request), caller(request), data, actor=audit.actor_of(request))
    return manage.created_out(row)


@get("/v1/connections", opt=READ, tags=TAGS)
@blocking
def list_connections(request: Request, limit: FromQuery[int | None] = None,
                     cursor: FromQuery[str | None] = None) -> ConnectionList:
    size = parse_limit(limit)
    rows = store.list_connections(services_of(request).db, caller(request).spaces, size, decode_cursor(cursor, 2))
    rows, next_cursor = page(rows, size, lambda r: (r["created_at"], r["id"]))
    return ConnectionList([manage.connection_out(r) for r in rows], next_cursor)


@get("/v1/connections/{connection_id:str}", opt=READ, tags=TAGS)
@blocking
def get_connection(request: Request, connection_id: FromPath[str]) -> ConnectionOut:
    return manage.connection_out(_visible(request, connection_id))


@delete("/v1/connections/{connection_id:str}", opt=WRITE, status_code=200, tags=TAGS)
@blocking
def delete_connection(request: Request, connection_id: FromPath[str],
                      cascade: FromQuery[bool] = False) -> ConnectionDeleted:
    """``cascade=true`` deletes the connection's files too; otherwise they keep their bytes, copied in first."""
    counts = detach.delete_connection(services_of(request), _visible(request, connection_id), cascade,
                                     audit.actor_of(request))
    return ConnectionDeleted(id=connection_id, deleted=True, **counts)


@post("/v1/connections/{connection_id:str}/test", opt=WRITE, status_code=200, tags=TAGS)
@blocking
def test_connection(request: Request, connection_id: FromPath[str]) -> ConnectionTest:
    return shaped(manage.test_connection(services_of(request), _visible(request, connection_id)), ConnectionTest)


@post("/v1/connections/{connection_id:str}/sync", opt=WRITE, status_code=202, tags=TAGS)
@blocking
def start_sync(request: Request, connection_id: FromPath[str]) -> SyncStarted:
    row = sync.request_sync(services_of(request), _visible(request, connection_id))
    return SyncStarted(**msgspec.structs.asdict(sync.sync_out(row)), sync_id=row["id"])


@post("/v1/connections/{connection_id:str}/sync/preview", opt=READ, status_code=200, tags=TAGS)
@blocking
def preview_sync(request: Request, connection_id: FromPath[str]) -> SyncPreview:
    return shaped(sync.preview(services_of(request), _visible(request, connection_id)), SyncPreview)


@get("/v1/connections/{connection_id:str}/sync/progress", opt=READ, tags=TAGS)
@blocking
def sync_progress(request: Request, connection_id: FromPath[str]) -> SyncProgress:
    return shaped(sync.progress(services_of(request), _visible(request, connection_id)), SyncProgress)


@get("/v1/connections/{connection_id:str}/sync/history", opt=READ, tags=TAGS)
@blocking
def sync_history(request: Request, connection_id: FromPath[str], limit: FromQuery[int | None] = None,
                 cursor: FromQuery[str | None] = None) -> SyncList:
    row = _visible(request, connection_id)
    size = parse_limit(limit)
    rows = store.list_syncs(services_of(request).db, row["id"], size, decode_cursor(cursor, 2))
    rows, next_cursor = page(rows, size, lambda r: (r["seq"], r["id"]))
    return SyncList([sync.sync_out(r) for r in rows], next_cursor)


@get("/v1/connections/{connection_id:str}/browse", opt=READ, tags=TAGS)
@blocking
def browse(request: Request, connection_id: FromPath[str], prefix: FromQuery[str | None] = None,
           limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None) -> BrowseOut:
    services = services_of(request)
    spec = manage.spec_of(services, _visible(request, connection_id))
    with manage.storage_errors():
        objects, folders, next_cursor = conn.browse(spec, prefix, parse_limit(limit, maximum=1000), cursor or None)
    listing = {"objects": objects, "folders": folders, "prefix": prefix or spec.prefix, "next_cursor": next_cursor}
    return shaped(listing, BrowseOut)


@post("/v1/connections/{connection_id:str}/events", opt={"public": True}, status_code=200, tags=TAGS,
      dependencies=documents_body(BucketEvents), security=[{"EventSecret": []}])
@blocking
def receive_events(request: Request, connection_id: FromPath[str], body: RawBody) -> EventsApplied:
    """S3/MinIO bucket event notifications (``Records[].eventName`` ObjectCreated:* / ObjectRemoved:*),
    applied at once. No API key: send ``Authorization: Bearer <event_secret>`` (a MinIO webhook
    target's ``auth_token``). Records of another bucket or outside the prefix are counted as ignored."""
    applied = events.receive(services_of(request), connection_id, request.headers.get("authorization"), body)
    return shaped(applied, EventsApplied)


@post("/v1/connections/{connection_id:str}/rotate-event-secret", opt=WRITE, status_code=200, tags=TAGS)
@blocking
def rotate_event_secret(request: Request, connection_id: FromPath[str]) -> EventSecretOut:
    """A new event secret for an S3-compatible connection (shown once; the old one stops working)."""
    row = _visible(request, connection_id)
    return shaped(manage.rotate_event_secret(services_of(request), row, audit.actor_of(request)), EventSecretOut)


ROUTES = [list_providers, start_connection, list_buckets, verify_connection, create_connection, list_connections,
          get_connection, delete_connection, test_connection, start_sync, preview_sync, sync_progress, sync_history,
          browse, receive_events, rotate_event_secret]
