"""S3/MinIO bucket event notifications: check the connection's secret, read the records, apply them at once.

The notification is sent with ``Authorization: Bearer <event secret>`` (a MinIO webhook target's
``auth_token``; for AWS, an SNS/EventBridge → HTTPS relay that sets the header). Records name the
changed objects; each is looked up again in the bucket (``stat``) and applied through the sync's
own path, so a late or duplicated event can never leave the nodes wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import msgspec

from roset_local.connections.sync import Scope, apply_scope
from roset_local.errors import BadRequest, Unauthorized
from roset_local.livesync import secret
from roset_local.store import connections as store

if TYPE_CHECKING:
    from roset_local.services import Services

KINDS = ("ObjectCreated", "ObjectRemoved")
MAX_RECORDS = 10_000


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or a header holding only the secret
    (a sender that passes its token as it is); None otherwise."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if not token and scheme.startswith(secret.PREFIX):
        return scheme
    return token.strip() or None if scheme.lower() == "bearer" else None


def _records(body: bytes) -> list[Any]:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise BadRequest("The body must be an S3 event notification (JSON with a Records array)") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object with a Records array")
    records = data.get("Records", [])  # an s3:TestEvent has none
    if not isinstance(records, list):
        raise BadRequest("Records: must be an array")
    if len(records) > MAX_RECORDS:
        raise BadRequest(f"Records: at most {MAX_RECORDS} per notification")
    return records


def _object_key(record: Any, bucket: str, prefix: str) -> str | None:
    """The record's object key when it is a create/remove in this connection's bucket and prefix."""
    if not isinstance(record, dict):
        return None
    name = record.get("eventName")
    s3 = record.get("s3")
    if not isinstance(name, str) or not isinstance(s3, dict):
        return None
    kind = name.removeprefix("s3:").split(":", 1)[0]  # MinIO writes "s3:ObjectCreated:Put", AWS "ObjectCreated:Put"
    target, obj = s3.get("bucket"), s3.get("object")
    if not isinstance(target, dict) or not isinstance(obj, dict):
        return None
    raw_key = obj.get("key")
    if kind not in KINDS or target.get("name") != bucket or not isinstance(raw_key, str):
        return None
    key = unquote_plus(raw_key)  # keys arrive URL-encoded, spaces as '+'
    if not key or key.endswith("/") or not key.startswith(prefix):
        return None
    return key


def receive(services: Services, connection_id: str, authorization: str | None, body: bytes) -> dict[str, Any]:
    """Apply a notification to the connection. 401 for an unknown connection or a wrong or missing
    secret (the same answer: the route names no connection to a stranger)."""
    row = store.get_connection(services.db, connection_id)
    if row is None or not secret.matches(services, row, bearer(authorization)):
        raise Unauthorized("Missing or wrong event secret (send 'Authorization: Bearer <event_secret>')")
    records = _records(body)
    found = [_object_key(r, row["bucket"], row["prefix"] or "") for r in records]
    keys = {k for k in found if k is not None}
    accepted = len(found) - found.count(None)
    out: dict[str, Any] = {"received": len(records), "accepted": accepted, "ignored": len(records) - accepted,
                           "status": "nothing_to_do", "sync_id": None, "files_added": 0, "files_updated": 0,
                           "files_deleted": 0}
    if not keys:
        return out
    scope = Scope(keys=frozenset(keys))
    result = apply_scope(services, row, scope, "event")
    if result is None:  # a full sync is running: the change is applied right after it
        if services.live_sync is not None:
            services.live_sync.defer(row["id"], scope, "event")
        return {**out, "status": "queued"}
    recorded = store.get_sync(services.db, result["id"]) is not None  # a run that changed nothing leaves no row
    return {**out, **_counts(result), "status": result["status"], "sync_id": result["id"] if recorded else None,
            **({"error": result["error"]} if result.get("error") else {})}


def _counts(sync: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(sync.get(k) or 0) for k in ("files_added", "files_updated", "files_deleted")}
