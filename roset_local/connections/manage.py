"""Connection records: validate settings, keep credentials encrypted, verify/test against the storage.

A connection belongs to one space. ``local`` connections (directories on this host) are confined
by ``ROSET_LOCAL_ROOTS``: a ``space=/path`` root belongs to that space (only its connections may
use it, whoever creates them; with nested roots the innermost one decides); a plain ``/path`` root
may be used by unconfined keys only. A confined key also never gets a directory that overlaps
another space's ``local`` connection or contains another space's root, and ``list-buckets`` shows
it only the roots of its spaces.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from roset_local import audit
from roset_local.api.schemas.connections import DEFAULT_INTERVAL_MINUTES, ConnectionOut, ProviderInfo
from roset_local.audit import Actor
from roset_local.auth import Principal
from roset_local.errors import BadRequest, Forbidden, NotFound
from roset_local.ids import new_id
from roset_local.netguard import OutboundRefused, check_url
from roset_local.inputs import check_space_name
from roset_local.livesync import secret as events_secret
from roset_local.secrets import SecretError
from roset_local.storage import backends as conn
from roset_local.store import connections as store
from roset_local.timeutil import now_str, to_str, utcnow

if TYPE_CHECKING:
    from roset_local.services import Services

MIN_INTERVAL_MINUTES = 5  # a shorter schedule would mostly re-list unchanged buckets
MAX_INTERVAL_MINUTES = 7 * 24 * 60
ON_DELETE = ("remove", "keep")  # a deleted object's file: removed, or kept flagged source_deleted


def minute_seconds(services: Services) -> float:
    """Length of a schedule "minute": 60 s (``ROSET_SYNC_MINUTE_SECONDS`` shortens it for tests and demos)."""
    return services.settings.sync_minute_seconds


def next_sync_at(services: Services, interval: int | None) -> str | None:
    """When the next scheduled full reconciliation is due (None: manual only)."""
    if not interval:
        return None
    return to_str(utcnow() + timedelta(seconds=interval * minute_seconds(services)))


def providers() -> list[dict[str, Any]]:
    """The public part of each provider's entry: the fields :class:`ProviderInfo` documents."""
    entries: list[Mapping[str, Any]] = list(conn.PROVIDERS)
    return [{k: p[k] for k in ProviderInfo.__struct_fields__ if k in p} for p in entries]


@contextmanager
def storage_errors() -> Iterator[None]:
    """Storage-layer errors as 400s carrying the provider's reason (never a secret) and a machine code."""
    try:
        yield
    except conn.ConnectionConfigError as exc:
        raise BadRequest(exc.message) from None
    except conn.ConnectionAccessError as exc:
        raise BadRequest(exc.reason, reason=exc.code) from None


def local_roots_for(services: Services, spaces: tuple[str, ...] | None, *, plain: bool) -> tuple[str, ...]:
    """Roots a ``local`` connection may use: those mapped to ``spaces`` (None: every mapped root),
    plus the plain roots when ``plain`` (an unconfined creator, or a stored connection in use)."""
    settings = services.settings
    mapped = tuple(path for owner, path in settings.space_roots if spaces is None or owner in spaces)
    return mapped + (settings.local_roots if plain else ())


def spec_from_payload(services: Services, data: Mapping[str, Any], roots: tuple[str, ...]) -> conn.ConnectionSpec:
    """A validated spec whose endpoints pass the outbound guard (checked again at every use: DNS may
    change); ``roots``: the local roots this connection may use (see ``local_roots_for``)."""
    with storage_errors():
        spec = conn.ConnectionSpec.from_dict(data, local_roots=roots)
    for field, url in spec.outbound_urls():
        try:
            check_url(url, allow_private=services.settings.outbound_allow_private, field=field)
        except OutboundRefused as exc:
            raise BadRequest(str(exc)) from None
    return spec


def _context(connection_id: str) -> str:
    return f"connection:{connection_id}"


def spec_of(services: Services, row: Mapping[str, Any]) -> conn.ConnectionSpec:
    """The stored connection's spec, credentials decrypted."""
    creds: dict[str, Any] = {}
    if row.get("credentials"):
        try:
            creds = json.loads(services.secret_box.decrypt(row["credentials"], _context(row["id"])))
        except SecretError:
            raise BadRequest("The connection's credentials cannot be decrypted (was the secret key changed?); "
                             "create the connection again") from None
    data = {k: row.get(k) for k in ("provider", "bucket", "region", "prefix", "endpoint_url")}
    roots = local_roots_for(services, (row["space"],), plain=True)
    return spec_from_payload(services, {**data, "credentials": creds}, roots)


def connection_out(row: Mapping[str, Any]) -> ConnectionOut:
    return ConnectionOut(
        id=row["id"],
        provider=row["provider"],
        name=row["name"],
        bucket=row["bucket"],
        region=row["region"],
        prefix=row["prefix"] or None,
        endpoint_url=row["endpoint_url"],
        space=row["space"],
        status=row["status"],
        verified=row["verified"],
        credentials={k: "***" for k in row["credential_fields"]},
        sync_interval_minutes=row["sync_interval_minutes"],
        process_new_files=row["process_new_files"],
        on_delete=row["on_delete"],
        last_synced_at=row["last_synced_at"],
        next_sync_at=row["next_sync_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def live_mode(services: Services, row: Mapping[str, Any]) -> str | None:
    """How changes reach the connection between reconciliations: ``watch`` (its directory is watched),
    ``events`` (bucket notifications to its events URL) or None (syncs only)."""
    if row["provider"] == "local":
        return "watch" if services.settings.live_sync else None
    return "events" if events_secret.takes_events(row["provider"]) else None


def created_out(row: Mapping[str, Any]) -> ConnectionOut:
    """A new connection's answer: its record, plus the event secret (S3-compatible only) this once."""
    out = connection_out(row)
    if (row.get("event_secret") or "").startswith(events_secret.PREFIX):
        out = msgspec.structs.replace(out, event_secret=row["event_secret"])
    return out


def check_interval(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not MIN_INTERVAL_MINUTES <= value <= MAX_INTERVAL_MINUTES:
        raise BadRequest(f"sync_interval_minutes: must be null or an integer from {MIN_INTERVAL_MINUTES} "
                         f"to {MAX_INTERVAL_MINUTES}")
    return value


def check_on_delete(value: Any) -> str:
    if value is None:
        return "remove"
    if value not in ON_DELETE:
        raise BadRequest(f"on_delete: must be one of {', '.join(ON_DELETE)}")
    return str(value)


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def _root_owner(services: Services, directory: str) -> str | None:
    """The space of the deepest configured root holding ``directory`` (None: a plain root): with
    nested roots, the innermost mapping decides who a directory belongs to."""
    settings = services.settings
    roots: list[tuple[str, str | None]] = [(os.path.realpath(path), owner) for owner, path in settings.space_roots]
    roots += [(os.path.realpath(path), None) for path in settings.local_roots]
    holding = [(len(root), owner) for root, owner in roots if _inside(directory, root)]
    return max(holding, key=lambda h: h[0])[1] if holding else None


def _check_local_directory(services: Services, principal: Principal, space: str, spec: conn.ConnectionSpec) -> None:
    """The directory must belong to the connection's space (or to a plain root, for an unconfined
    creator); a confined creator's must also keep off other spaces' roots and ``local`` connections."""
    with storage_errors():
        base = conn.local_directory(spec)
    owner = _root_owner(services, base)
    if owner != space and (owner is not None or principal.confined):
        raise Forbidden("This directory belongs to another space's local root")
    if not principal.confined:
        return
    for other_space, root in services.settings.space_roots:
        if other_space != space and _inside(os.path.realpath(root), base):
            raise Forbidden("This directory contains another space's local root")
    for row in store.local_connections_outside(services.db, space):
        try:
            other = conn.local_directory(spec_of(services, row))
        except (BadRequest, conn.ConnectionConfigError):
            continue  # its root is no longer configured: it reaches nothing
        if _inside(base, other) or _inside(other, base):
            raise Forbidden("This directory is used by a connection of another space")


def new_spec(services: Services, principal: Principal, data: Mapping[str, Any]) -> tuple[str, conn.ConnectionSpec]:
    """The checked space and spec of a connection ``principal`` asks to create."""
    space = check_space_name(data.get("space") or "default")
    principal.require_space(space)
    spec = spec_from_payload(services, data, local_roots_for(services, (space,), plain=not principal.confined))
    if spec.family == "local":
        _check_local_directory(services, principal, space, spec)
    return space, spec


def create_connection(services: Services, principal: Principal, data: Mapping[str, Any], *,
                      verified: bool = False, checked: tuple[str, conn.ConnectionSpec] | None = None,
                      actor: Actor | None = None) -> dict[str, Any]:
    """Record a connection (``pending``, or ``active`` when ``verified``). ``data`` is the validated body;
    ``checked``, when given, is :func:`new_spec`'s answer for the same caller and body; ``actor`` gets a
    ``connection.created`` audit entry in the same transaction."""
    name = (data.get("name") or "").strip()
    if not name or len(name) > 200:
        raise BadRequest("name: must be 1-200 characters")
    interval = check_interval(data.get("sync_interval_minutes"))
    on_delete = check_on_delete(data.get("on_delete"))
    space, spec = checked or new_spec(services, principal, data)
    connection_id = new_id("conn")
    creds = dict(spec.credentials)
    now = now_str()
    event_secret = events_secret.generate() if events_secret.takes_events(spec.provider) else None
    row = {
        "id": connection_id, "name": name, "provider": spec.provider, "bucket": spec.bucket,
        "region": spec.region, "prefix": spec.prefix, "endpoint_url": spec.endpoint_url,
        "credentials": services.secret_box.encrypt(json.dumps(creds), _context(connection_id)) if creds else None,
        "credential_fields": sorted(creds), "space": space,
        "status": "active" if verified else "pending", "verified": verified,
        "sync_interval_minutes": interval, "process_new_files": bool(data.get("process_new_files")),
        "on_delete": on_delete, "last_error": None, "last_synced_at": None,
        "next_sync_at": next_sync_at(services, interval), "created_at": now, "updated_at": now,
        "event_secret": events_secret.seal(services, connection_id, event_secret) if event_secret else None,
    }
    with services.db.write():
        store.insert_connection(services.db, row)
        if actor is not None:
            audit.record(services.db, actor, "connection.created", target_type="connection", target_id=connection_id,
                         space=space, changes={"name": name, "provider": spec.provider, "bucket": spec.bucket,
                                               "prefix": spec.prefix, "credential_fields": sorted(creds)})
    created = store.get_connection(services.db, connection_id)
    assert created is not None
    if spec.family == "local" and services.live_sync is not None:
        services.live_sync.refresh()  # watched from now on, without waiting for the next look
    return {**created, "event_secret": event_secret} if event_secret else created


def rotate_event_secret(services: Services, row: Mapping[str, Any], actor: Actor | None = None) -> dict[str, Any]:
    """A new event secret for an S3-compatible connection (the old one stops working); shown only here."""
    if not events_secret.takes_events(row["provider"]):
        raise BadRequest("Only S3-compatible connections receive bucket event notifications")
    fresh = events_secret.generate()
    with services.db.write():
        store.set_connection_fields(services.db, row["id"], event_secret=events_secret.seal(services, row["id"], fresh))
        if actor is not None:
            audit.record(services.db, actor, "connection.event_secret_rotated", target_type="connection",
                         target_id=row["id"], space=row["space"], changes={})
    return {"id": row["id"], "event_secret": fresh}


def verify_and_create(services: Services, principal: Principal, data: Mapping[str, Any], *,
                      actor: Actor | None = None) -> dict[str, Any]:
    """Check the credentials reach the bucket, then create the connection as active; nothing on failure."""
    checked = new_spec(services, principal, data)
    with storage_errors():
        conn.verify(checked[1])
    return create_connection(services, principal, data, verified=True, checked=checked, actor=actor)


def visible_connection(services: Services, principal: Principal, connection_id: str) -> dict[str, Any]:
    row = store.get_connection(services.db, connection_id)
    if row is None or not principal.can_see(row["space"]):
        raise NotFound("Connection not found")
    return row


def test_connection(services: Services, row: Mapping[str, Any]) -> dict[str, Any]:
    """``{"success": bool, "error"?}``; the status follows (active on success, error on failure)."""
    error: str | None
    try:
        spec = spec_of(services, row)
    except BadRequest as exc:
        ok, error = False, exc.message
    else:
        ok, error = conn.test(spec)
    with services.db.write():
        if ok:
            store.set_connection_fields(services.db, row["id"], status="active", last_error=None)
        else:
            store.set_connection_fields(services.db, row["id"], status="error", last_error=error)
    return {"success": True} if ok else {"success": False, "error": error}


test_connection.__test__ = False  # type: ignore[attr-defined]


def list_buckets(services: Services, principal: Principal, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Buckets the credentials see; for ``local``, the roots (and their directories) the caller may use."""
    roots = local_roots_for(services, principal.spaces, plain=not principal.confined)
    spec = spec_from_payload(services, {**data, "bucket": data.get("bucket") or ""}, roots)
    if spec.family == "local" and not roots:
        if principal.confined and (services.settings.local_roots or services.settings.space_roots):
            raise Forbidden("No local root belongs to this key's spaces (ROSET_LOCAL_ROOTS entries 'space=/path')")
        return []
    with storage_errors():
        buckets = conn.list_buckets(spec)
    if spec.family == "local" and principal.spaces is not None:  # nested roots: hide other spaces' folders
        buckets = [b for b in buckets if _root_owner(services, os.path.realpath(b["name"])) in principal.spaces]
    return buckets


def start(provider: str, bucket: str | None) -> dict[str, Any]:
    with storage_errors():
        return {"provider": provider, "instructions": conn.setup_instructions(provider, bucket or "")}
