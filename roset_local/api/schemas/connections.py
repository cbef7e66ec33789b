"""Storage connections: setup, the connection, its syncs, a live listing of its bucket."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import UNSET, Meta, Struct, UnsetType

from roset_local.api.schemas.common import Shape

Provider = Annotated[str, Meta(description="A provider id from GET /v1/connections/providers",
                               examples=["s3", "gcs", "azure_blob", "local"])]
Credentials = Annotated[dict[str, Any] | None, Meta(
    description="The provider's credential fields, never shown again",
    examples=[{"access_key_id": "AKIA...", "secret_access_key": "..."}])]


DEFAULT_INTERVAL_MINUTES = 60  # the full reconciliation behind live changes


class ConnectionCreate(Struct):
    """POST /v1/connections and /verify. ``sync_interval_minutes``: the full reconciliation behind live
    changes, 5-10080 (default 60; null: manual only); ``on_delete``: what a sync does to the files of
    deleted objects (``remove`` or ``keep``). An S3-compatible connection's answer carries its
    ``event_secret`` (shown once) for ``POST /v1/connections/{id}/events``."""

    provider: Provider
    name: Annotated[str, Meta(examples=["invoices"])]
    bucket: Annotated[str, Meta(description="Bucket, container, or directory for local", examples=["acme-invoices"])]
    region: str | None = None
    prefix: str | None = None
    endpoint_url: str | None = None
    credentials: Credentials = None
    space: str | None = None
    sync_interval_minutes: int | None = DEFAULT_INTERVAL_MINUTES
    process_new_files: bool = False
    on_delete: str = "remove"


class ConnectionStart(Struct):
    provider: Provider
    bucket: str | None = None


class BucketsQuery(Struct):
    provider: Provider
    credentials: Credentials = None
    region: str | None = None
    endpoint_url: str | None = None


class ProviderInfo(Shape, kw_only=True):
    """A storage provider and what a connection to it needs."""

    id: Annotated[str, Meta(examples=["s3"])]
    name: Annotated[str, Meta(examples=["Amazon S3"])]
    auth_type: str
    auth_types: list[str] | UnsetType = UNSET
    credential_fields: list[str]
    alternative_credential_fields: list[str] | UnsetType = UNSET
    default_region: str | None
    region_required: bool
    endpoint: Annotated[str | None, Meta(description="A template such as https://s3.{region}.amazonaws.com")]
    endpoint_required: bool


class ProviderList(Shape):
    providers: list[ProviderInfo]


class SetupOut(Shape):
    provider: str
    instructions: Annotated[dict[str, Any], Meta(description="auth_type, steps and, for the S3 family, a policy")]


class BucketOut(Shape):
    name: str
    region: str | None


class BucketList(Shape):
    buckets: list[BucketOut]


class ConnectionOut(Struct):
    id: str
    provider: str
    name: str
    bucket: str
    region: str | None
    prefix: str | None
    endpoint_url: str | None
    space: str
    status: Annotated[str, Meta(description="pending, active or error")]
    verified: bool
    credentials: Annotated[dict[str, str], Meta(description="The credential names, each value shown as ***")]
    sync_interval_minutes: int | None
    process_new_files: bool
    on_delete: str
    last_synced_at: str | None
    next_sync_at: str | None
    last_error: str | None
    created_at: str
    updated_at: str
    event_secret: Annotated[str | UnsetType, Meta(
        description="S3-compatible connections, in the creation answer only: the secret bucket event "
                    "notifications send as 'Authorization: Bearer <event_secret>'")] = UNSET


class ConnectionList(Struct):
    connections: list[ConnectionOut]
    next_cursor: str | None


class ConnectionDeleted(Struct):
    id: str
    deleted: bool
    files_deleted: int
    files_kept: int


class ConnectionTest(Shape):
    success: bool
    error: str | UnsetType = UNSET


class SyncOut(Struct):
    id: str
    connection_id: str
    status: Annotated[str, Meta(description="queued, syncing, completed or failed")]
    trigger: str
    files_added: int
    files_updated: int
    files_deleted: int
    objects: Annotated[int, Meta(description="Objects listed so far; all of them once completed")]
    error: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None


class SyncStarted(SyncOut):
    sync_id: Annotated[str, Meta(description="The same as id")]


class SyncList(Struct):
    syncs: list[SyncOut]
    next_cursor: str | None


class SyncPreview(Shape):
    new_files: int
    updated_files: int
    deleted_files: int
    total_size_bytes: int


class SyncProgress(Shape):
    status: Annotated[str, Meta(description="idle when never synced")]
    synced: int
    total: int
    percent: int
    eta_seconds: int | None
    started_at: str | None
    completed_at: str | None
    sync_id: str | None
    error: str | None | UnsetType = UNSET


class ObjectOut(Shape):
    key: str
    size_bytes: int
    last_modified: str | None
    etag: str | None
    content_type: str | None


class BrowseOut(Shape):
    objects: list[ObjectOut]
    folders: Annotated[list[str], Meta(description="Prefixes ending in /")]
    prefix: str | None
    next_cursor: str | None


class EventObject(Struct):
    key: Annotated[str, Meta(description="URL-encoded, spaces as '+'")]
    size: int | None = None
    eTag: str | None = None  # noqa: N815 - the S3 event's spelling


class EventBucket(Struct):
    name: str


class EventEntity(Struct):
    bucket: EventBucket
    object: EventObject


class EventRecord(Struct):
    eventName: Annotated[str, Meta(examples=["s3:ObjectCreated:Put", "ObjectRemoved:Delete"])]  # noqa: N815
    s3: EventEntity


class BucketEvents(Struct):
    """An S3/MinIO bucket event notification: ObjectCreated:* and ObjectRemoved:* records are applied."""

    Records: list[EventRecord] = []  # noqa: N815 - the S3 event's spelling


class EventsApplied(Shape):
    received: int
    accepted: Annotated[int, Meta(description="Records of this bucket and prefix, created or removed objects")]
    ignored: Annotated[int, Meta(description="Records of another bucket, outside the prefix, or of another kind")]
    status: Annotated[str, Meta(description="completed, failed, queued (after the sync under way) or nothing_to_do")]
    sync_id: Annotated[str | None, Meta(description="The history entry; null when nothing changed")]
    files_added: int
    files_updated: int
    files_deleted: int
    error: str | UnsetType = UNSET


class EventSecretOut(Shape):
    id: str
    event_secret: str
