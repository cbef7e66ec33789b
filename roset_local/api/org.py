"""Organisation: settings, routing rules, provider keys (redacted) and monthly usage."""

from __future__ import annotations

import re

from litestar import Request, delete, get, put
from litestar.params import FromPath, RawBody

from roset_local import audit, secrets
from roset_local.api.deps import decode_body, documents_body
from roset_local.api.schemas.common import shaped
from roset_local.api.schemas.org import (
    OrgSettings,
    OrgSettingsPatch,
    ProviderKeyDeleted,
    ProviderKeyIn,
    ProviderKeyList,
    ProviderKeyOut,
    RoutingRules,
    UsageOut,
)
from roset_local.errors import BadRequest, NotFound
from roset_local.handlers import blocking, services_of
from roset_local.providers.names import PROVIDER_NAMES
from roset_local.store import org as org_store

# Org-wide: a space-confined key is refused whatever its scopes (see auth.Principal).
ORG_READ = {"scope": "org:read", "org_wide": True}
ORG_WRITE = {"scope": "org:write", "org_wide": True}
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,4096}$")  # printable ASCII, no spaces


def _check_provider(provider: str) -> str:
    if provider not in PROVIDER_NAMES:
        raise BadRequest(f"provider: must be one of {', '.join(PROVIDER_NAMES)}")
    return provider


@get("/v1/org/settings", opt=ORG_READ, tags=["org"])
@blocking
def get_settings(request: Request) -> OrgSettings:
    return shaped(org_store.get_org_settings(services_of(request).db), OrgSettings)


@put("/v1/org/settings", opt=ORG_WRITE, tags=["org"], dependencies=documents_body(OrgSettingsPatch))
@blocking
def put_settings(request: Request, body: RawBody) -> OrgSettings:
    patch, db = decode_body(body), services_of(request).db
    try:
        with audit.recorded(db, audit.actor_of(request), "org.settings.updated", "org", "settings",
                            changes={"patch": patch}):
            return shaped(org_store.update_org_settings(db, patch), OrgSettings)
    except org_store.InvalidSetting as exc:
        raise BadRequest(str(exc)) from None


@get("/v1/org/routing-rules", opt=ORG_READ, tags=["org"])
@blocking
def get_routing_rules(request: Request) -> RoutingRules:
    return shaped({"rules": org_store.get_routing_rules(services_of(request).db)}, RoutingRules)


@put("/v1/org/routing-rules", opt=ORG_WRITE, tags=["org"], dependencies=documents_body(RoutingRules))
@blocking
def put_routing_rules(request: Request, body: RawBody) -> RoutingRules:
    rules, db = decode_body(body), services_of(request).db
    try:
        with audit.recorded(db, audit.actor_of(request), "org.routing_rules.updated", "org", "routing_rules",
                            changes={"rules": rules}):
            return shaped({"rules": org_store.set_routing_rules(db, rules)}, RoutingRules)
    except org_store.InvalidSetting as exc:
        raise BadRequest(str(exc)) from None


@get("/v1/org/provider-keys", opt=ORG_READ, tags=["org"])
@blocking
def list_provider_keys(request: Request) -> ProviderKeyList:
    return shaped({"provider_keys": secrets.list_provider_keys(services_of(request))}, ProviderKeyList)


@put("/v1/org/provider-keys", opt=ORG_WRITE, tags=["org"], dependencies=documents_body(ProviderKeyIn))
@blocking
def put_provider_key(request: Request, body: RawBody) -> ProviderKeyOut:
    data = decode_body(body, ProviderKeyIn)
    provider = _check_provider(data.provider)
    key = data.key.strip()
    if not _KEY_RE.match(key):
        raise BadRequest("key: must be 1-4096 printable characters without spaces")
    base_url = data.base_url.strip().rstrip("/") if data.base_url else None  # checked by the outbound guard
    services = services_of(request)
    with audit.recorded(services.db, audit.actor_of(request), "org.provider_key.set", "provider_key", provider,
                        changes={"provider": provider, "key": key, "base_url": base_url}):
        return shaped(secrets.save_provider_key(services, provider, key, base_url), ProviderKeyOut)


@delete("/v1/org/provider-keys/{provider:str}", opt=ORG_WRITE, status_code=200, tags=["org"])
@blocking
def delete_provider_key(request: Request, provider: FromPath[str]) -> ProviderKeyDeleted:
    _check_provider(provider)
    db = services_of(request).db
    with audit.recorded(db, audit.actor_of(request), "org.provider_key.deleted", "provider_key", provider,
                        changes={"provider": provider}):
        if not org_store.delete_provider_key(db, provider):
            raise NotFound(f"No {provider} key is configured")
    return ProviderKeyDeleted(deleted=True, provider=provider)


@get("/v1/org/usage", opt=ORG_READ, tags=["org"])
@blocking
def get_usage(request: Request) -> UsageOut:
    return shaped(org_store.usage(services_of(request)), UsageOut)


ROUTES = [
    get_settings,
    put_settings,
    get_routing_rules,
    put_routing_rules,
    list_provider_keys,
    put_provider_key,
    delete_provider_key,
    get_usage,
]

