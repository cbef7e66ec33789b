"""API keys: create (shown once), list (prefix only), revoke; a confined key manages only keys within its own reach."""

from __future__ import annotations

from litestar import Request, delete, get, post
from litestar.params import FromPath, RawBody

from roset_local import audit
from roset_local.api.deps import decode_body, documents_body
from roset_local.api.schemas.keys import (
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyOut,
    KeyRevoked,
)
from roset_local.auth import check_scopes
from roset_local.errors import BadRequest, Forbidden, NotFound
from roset_local.handlers import blocking, caller, services_of
from roset_local.inputs import check_space_name
from roset_local.store import keys as key_store
from roset_local.timeutil import now_str, parse, to_str


@post("/v1/org/api-keys", opt={"scope": "org:write"}, tags=["org"], dependencies=documents_body(KeyCreate))
@blocking
def create_api_key(request: Request, body: RawBody) -> KeyCreated:
    data = decode_body(body, KeyCreate)
    principal = caller(request)
    name = data.name.strip()
    if not name or len(name) > 200:
        raise BadRequest("name: must be 1-200 characters")
    try:
        scopes = check_scopes(data.scopes) if data.scopes is not None else None
    except ValueError as exc:
        raise BadRequest(f"scopes: {exc}") from None
    if scopes is not None and not scopes:
        raise BadRequest("scopes: must not be empty")
    # A key cannot mint a key more powerful than itself.
    wanted = set(scopes if scopes is not None else key_store.ALL_SCOPES)
    if not wanted <= principal.scopes:
        raise Forbidden("A key cannot grant scopes it does not have")
    if data.spaces is not None and not data.spaces:
        raise BadRequest("spaces: must list at least one space (omit it for a key of every space)")
    spaces = [check_space_name(s) for s in data.spaces] if data.spaces else None
    if principal.spaces is not None and (spaces is None or not set(spaces) <= set(principal.spaces)):
        raise Forbidden("A space-confined key can only create keys confined to its own spaces")
    expires_at = None
    if data.expires_at is not None:
        try:
            expires_at = to_str(parse(data.expires_at))
        except ValueError:
            raise BadRequest("expires_at: must be an ISO 8601 date-time") from None
        if expires_at <= now_str():
            raise BadRequest("expires_at: must be in the future")
    db = services_of(request).db
    grant = {"name": name, "scopes": scopes or list(key_store.ALL_SCOPES), "spaces": spaces, "mode": data.mode,
             "expires_at": expires_at}
    with audit.recorded(db, audit.actor_of(request), "api_key.created", "api_key", changes=grant) as entry:
        row, raw = key_store.create_key(
            db, name=name, scopes=scopes, spaces=spaces, mode=data.mode, expires_at=expires_at
        )
        entry.target_id = row["id"]
    return KeyCreated.with_key(row, raw)


@get("/v1/org/api-keys", opt={"scope": "org:read"}, tags=["org"])
@blocking
def list_api_keys(request: Request) -> KeyList:
    """Every key for an unconfined caller; a confined key sees the keys it could have minted."""
    principal = caller(request)
    rows = key_store.list_keys(services_of(request).db)
    return KeyList([KeyOut.from_row(r) for r in rows if principal.can_manage_key(r)])


@delete("/v1/org/api-keys/{key_id:str}", opt={"scope": "org:write"}, status_code=200, tags=["org"])
@blocking
def revoke_api_key(request: Request, key_id: FromPath[str]) -> KeyRevoked:
    db = services_of(request).db
    row = key_store.get_key(db, key_id)
    if row is None or row["revoked_at"] or not caller(request).can_manage_key(row):
        raise NotFound("API key not found")
    with audit.recorded(db, audit.actor_of(request), "api_key.revoked", "api_key", key_id,
                        changes={"name": row["name"]}):
        key_store.revoke_key(db, key_id)
    services_of(request).key_cache.clear()  # revocation takes effect at once
    return KeyRevoked(deleted=True)


ROUTES = [create_api_key, list_api_keys, revoke_api_key]
