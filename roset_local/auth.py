"""Who is calling: API keys (``ApiKey``/``Bearer``), portal tokens, scopes, space confinement, rate limits."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from roset_local.errors import Forbidden, RateLimited, Unauthorized
from roset_local.store import keys as key_store
from roset_local.store.db import Database
from roset_local.store.keys import Scope
from roset_local.timeutil import now_str


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. ``spaces`` None means every space (an *unconfined* caller).

    The confinement rule, enforced through these methods and nowhere else:

    - Every object that belongs to a space (files, jobs, variants, batches, connections and their
      nodes and syncs, webhooks and their deliveries and events, portal tokens, API log rows,
      analytics figures) is visible only when the caller may see its space (``can_see``); an
      object of another space answers 404 (its existence is not revealed), a list covers only the
      caller's spaces (``list_filter``), and naming another space explicitly answers 403.
    - Objects that span several spaces (webhooks, API keys, API log rows) carry a list of spaces,
      None meaning all of them; a caller sees such an object only when the list is within its own
      spaces (``covers``): an all-spaces object is visible to unconfined callers only.
    - Org-wide things (org settings, routing rules, provider keys, usage, metrics) need an
      unconfined caller (``require_unconfined``), whatever its scopes: 403 ``FORBIDDEN`` otherwise.
    - API keys: a confined key sees, and may revoke, only keys it could have minted itself (confined
      to a subset of its spaces, with a subset of its scopes), itself included.
    """

    auth_type: str  # api_key | portal_token | session
    key_id: str | None
    key_name: str | None
    scopes: frozenset[str]
    spaces: tuple[str, ...] | None = None
    org_id: str = "org-local"
    mode: str = "live"
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def confined(self) -> bool:
        return self.spaces is not None

    def require_scope(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"This key lacks the '{scope}' scope")

    def require_unconfined(self) -> None:
        if self.spaces is not None:
            raise Forbidden("A space-confined key cannot read or change organisation-wide settings")

    def can_see(self, space: str | None) -> bool:
        """May the caller see an object of ``space``? (None: an object of no space, unconfined only)."""
        if self.spaces is None:
            return True
        return space is not None and space in self.spaces

    def covers(self, spaces: Collection[str] | None) -> bool:
        """Does the caller's confinement include all of ``spaces`` (None = all spaces; an empty list
        belongs to no space and so to unconfined callers only)?"""
        if self.spaces is None:
            return True
        return bool(spaces) and set(spaces or ()) <= set(self.spaces)

    def require_space(self, space: str) -> None:
        if not self.can_see(space):
            raise Forbidden(f"This key is not allowed to access space '{space}'")

    def space_filter(self, requested: str | None) -> tuple[str, ...] | None:
        """Spaces a list may cover: the requested one (checked), else the key's (None = all)."""
        if requested is not None:
            self.require_space(requested)
            return (requested,)
        return self.spaces

    def list_filter(self, requested: str | None, default: str) -> tuple[str, ...]:
        """Like ``space_filter`` for lists whose contract names a default space: a caller that may see
        ``default`` gets it (CONTRACT.md); a confined key without it gets its own spaces, not a 403."""
        if not requested and self.spaces is not None and default not in self.spaces:
            return self.spaces
        return self.space_filter(requested or default) or (default,)

    def claim_spaces(self, requested: Iterable[str] | None) -> list[str] | None:
        """The spaces a new multi-space object (a webhook) may carry: the requested ones (each
        checked), else the caller's own; None (all spaces) only for an unconfined caller."""
        if requested is None:
            return list(self.spaces) if self.spaces is not None else None
        wanted = list(dict.fromkeys(requested))
        for space in wanted:
            self.require_space(space)
        return wanted

    def can_manage_key(self, row: dict) -> bool:
        """May the caller see or revoke this API key (one it could have minted itself)?"""
        if row.get("id") == self.key_id:
            return True
        return self.covers(row.get("spaces")) and set(row.get("scopes") or ()) <= self.scopes


class RateLimiter:
    """Fixed one-minute windows per key; cheap, in memory, exact enough for a single server."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}

    def hit(self, key: str) -> tuple[bool, int, int]:
        """Count one request; returns (allowed, remaining, reset epoch seconds)."""
        now = time.time()
        window = int(now // 60)
        reset = (window + 1) * 60
        with self._lock:
            start, count = self._windows.get(key, (window, 0))
            if start != window:
                start, count = window, 0
            count += 1
            self._windows[key] = (start, count)
            if len(self._windows) > 10_000:
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        remaining = max(0, self.per_minute - count)
        return count <= self.per_minute, remaining, reset


def _parse_header(value: str) -> tuple[str, str] | None:
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if not token:
        return None
    return scheme.lower(), token


class KeyCache:
    """Verified keys for a second: the hot path skips a query and JSON decoding per request.

    Revocation through the API drops the entry at once; a revocation by another process (the CLI)
    takes effect within ``ttl`` seconds. Expiry is checked on every request regardless.
    """

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self._rows: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> dict | None:
        hit = self._rows.get(key_hash)
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            return None
        return hit[1]

    def put(self, key_hash: str, row: dict) -> None:
        with self._lock:
            if len(self._rows) > 10_000:
                self._rows.clear()
            self._rows[key_hash] = (time.monotonic(), row)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


def authenticate_key(db: Database, raw: str, cache: KeyCache | None = None) -> Principal:
    key_hash = key_store.hash_key(raw)
    row = cache.get(key_hash) if cache is not None else None
    if row is None:
        row = key_store.find_by_hash(db, key_hash)
        if row is not None and cache is not None:
            cache.put(key_hash, row)
    if row is None:
        raise Unauthorized("Invalid API key")
    if row["revoked_at"]:
        raise Unauthorized("This API key has been revoked")
    if row["expires_at"] and row["expires_at"] <= now_str():
        raise Unauthorized("This API key has expired")
    spaces = tuple(row["spaces"]) if row["spaces"] else None
    return Principal(
        auth_type="api_key",
        key_id=row["id"],
        key_name=row["name"],
        scopes=frozenset(row["scopes"]),
        spaces=spaces,
        mode=row["mode"],
    )


def route_scope(handler: BaseRouteHandler) -> Scope | None:
    return handler.opt.get("scope")


def client_ip(connection: ASGIConnection) -> str:
    """The peer address (a reverse proxy in front makes every caller share its address)."""
    client = connection.scope.get("client")
    return str(client[0]) if client else "unknown"


def _meter(state: dict, limiter: RateLimiter, key: str) -> None:
    """Count one request against ``key``; 429 with Retry-After once the minute's budget is spent."""
    allowed, remaining, reset = limiter.hit(key)
    state["rate_headers"] = {
        "X-RateLimit-Limit": str(limiter.per_minute),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }
    if not allowed:
        retry = max(1, math.ceil(reset - time.time()))
        raise RateLimited("Rate limit exceeded; retry later", headers={"Retry-After": str(retry)})


def _token_bucket(token: str) -> str:
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]


async def authorize(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The one guard: resolves the caller, checks the route's scope, counts the rate limits.

    A coroutine on purpose: Litestar runs a sync guard in a worker thread, and that hop cost more CPU
    than the guard's work (a cached key lookup; on a miss, one indexed SQLite read).

    Route ``opt``: ``public`` (no auth), ``scope`` (required scope), ``org_wide`` (unconfined
    callers only, see ``Principal``), ``portal`` (portal tokens accepted), ``unmetered`` (a public route outside the per-address limit: probes, static assets,
    signed URLs whose signature is the credential). Public routes (console and share pages,
    ``/metrics``, token ``verify``) and requests whose key is missing or wrong count against the
    caller's address (``ROSET_ANON_RATE_LIMIT``); a share page also against its token. A valid key
    or portal token counts against itself (``ROSET_RATE_LIMIT``).
    """
    opt = handler.opt
    if connection.scope["path"].startswith("/schema"):
        return
    state = connection.scope.setdefault("state", {})
    services = connection.app.state.services
    if opt.get("public"):
        if opt.get("unmetered"):
            return
        _meter(state, services.anon_limiter, "ip:" + client_ip(connection))
        token = connection.path_params.get("token")
        if isinstance(token, str) and token:
            _meter(state, services.rate_limiter, _token_bucket(token))
        return
    header = connection.headers.get("authorization")
    parsed = _parse_header(header) if header else None
    try:
        principal, token = _authenticate(services, opt, parsed)
    except Unauthorized:
        _meter(state, services.anon_limiter, "ip:" + client_ip(connection))
        raise
    state["principal"] = principal
    state["auth_type"] = principal.auth_type
    state["key_id"] = principal.key_id
    state["key_name"] = principal.key_name
    _meter(state, services.rate_limiter, principal.key_id or _token_bucket(token))
    scope = route_scope(handler)
    if scope and principal.auth_type != "portal_token":
        principal.require_scope(scope)
    if opt.get("org_wide"):
        principal.require_unconfined()


def security_requirements(opt: dict) -> list[dict[str, list[str]]]:
    """What the OpenAPI document says a route needs, from the route options :func:`authorize` reads:
    nothing for a public route, an API key or a portal token for a portal route, else an API key."""
    if opt.get("public"):
        return [{}]
    if opt.get("portal"):
        return [{"ApiKey": []}, {"PortalToken": []}]
    return [{"ApiKey": []}]


def _authenticate(services: Any, opt: dict, parsed: tuple[str, str] | None) -> tuple[Principal, str]:
    if parsed is None:
        raise Unauthorized("Missing Authorization header (use 'ApiKey rsk_...')")
    scheme, token = parsed
    if scheme in {"apikey", "bearer"} and token.startswith(key_store.KEY_PREFIX):
        return authenticate_key(services.db, token, services.key_cache), token
    if scheme in {"portaltoken", "bearer"} and token.startswith("ptk_"):
        if not opt.get("portal"):
            raise Unauthorized("Portal tokens are only accepted by /v1/portal endpoints")
        return services.hooks.authenticate_portal(token), token
    raise Unauthorized("Unsupported Authorization scheme (use 'ApiKey rsk_...')")


def key_principal_or_none(services: Any, header: str | None) -> Principal | None:
    """The API key in an optional ``Authorization`` header, or None (missing, malformed or invalid)."""
    parsed = _parse_header(header) if header else None
    if parsed is None or parsed[0] not in {"apikey", "bearer"} or not parsed[1].startswith(key_store.KEY_PREFIX):
        return None
    try:
        return authenticate_key(services.db, parsed[1], services.key_cache)
    except Unauthorized:
        return None


def principal_of(connection: ASGIConnection) -> Principal:
    principal = connection.scope.get("state", {}).get("principal")
    if principal is None:
        raise Unauthorized("Authentication required")
    return principal


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """Validate a requested scope list; returns it as a list or raises ValueError."""
    result = list(scopes)
    unknown = [s for s in result if s not in key_store.ALL_SCOPES]
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(unknown)} (valid scopes: {', '.join(key_store.ALL_SCOPES)})")
    return result
