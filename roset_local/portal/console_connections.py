"""Console pages for storage connections: set up (provider by provider), list, test, sync with live
progress, sync history, synced nodes with downloads, and a live browser of the bucket.

Every action calls the functions the JSON API calls (``roset_local.connections``), as the signed-in user.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from roset_local import audit
from roset_local.handlers import blocking, caller
from roset_local.connections import detach, manage, nodes, sync
from roset_local.errors import BadRequest, NotFound, RosetError
from roset_local.pagination import decode_cursor
from roset_local.pagination import page as trim_page
from roset_local.portal.web import (
    action,
    flash_redirect,
    form_of,
    page,
    run,
    services_of,
    template,
)
from roset_local.services import Services
from roset_local.storage import backends as conn
from roset_local.storage.backends.spec import family as provider_family
from roset_local.store import connections as store

PAGE_SIZE = 50
BROWSE_SIZE = 50
ACTIVE_SYNC = ("queued", "syncing")

# label, input kind; "secret" values are never written back into a page.
CREDENTIAL_FIELDS: dict[str, tuple[str, str]] = {
    "access_key_id": ("Access key ID", "text"),
    "secret_access_key": ("Secret access key", "secret"),
    "account_id": ("Cloudflare account ID", "text"),
    "project_ref": ("Supabase project ref", "text"),
    "connection_string": ("Connection string", "secret-text"),
    "account_name": ("Storage account name", "text"),
    "account_key": ("Account key", "secret"),
    "service_account_json": ("Service-account key file (JSON)", "secret-text"),
}
SYNC_INTERVALS = [("", "Manual only"), ("15", "Every 15 minutes"), ("60", "Every hour"), ("360", "Every 6 hours"),
                  ("1440", "Every day"), ("10080", "Every week")]
BUCKET_LABEL = {"s3": "Bucket", "gcs": "Bucket", "azure": "Container", "local": "Directory"}


def auth_methods(provider: dict[str, Any]) -> list[dict[str, Any]]:
    """The ways to authenticate with a provider, each with its credential fields."""
    family = provider_family(provider["id"])
    if family == "azure":
        return [{"id": "connection_string", "label": "Use a connection string", "fields": ["connection_string"]},
                {"id": "shared_key", "label": "Use the account name and key", "fields": ["account_name", "account_key"]}]
    if family == "gcs":
        return [{"id": "service_account", "label": "Use a service-account key", "fields": ["service_account_json"]},
                {"id": "anonymous", "label": "Public bucket (anonymous)", "fields": []}]
    if family == "local":
        return []
    return [{"id": "keys", "label": "Access keys", "fields": list(provider["credential_fields"])}]


def _provider(provider_id: str | None) -> dict[str, Any] | None:
    return next((p for p in manage.providers() if p["id"] == provider_id), None)


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name)
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value or "").strip()


def payload_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """The API's connection body from the setup form (credentials only from the chosen method)."""
    provider = _provider(_text(form, "provider"))
    if provider is None:
        raise BadRequest("Choose a provider")
    methods = auth_methods(provider)
    creds: dict[str, Any] = {}
    if methods:
        chosen = next((m for m in methods if m["id"] == _text(form, "auth_method")), methods[0])
        if chosen["id"] == "anonymous":
            creds["anonymous"] = True
        for field in chosen["fields"]:
            raw = form.get(f"cred_{field}")
            value = raw[-1] if isinstance(raw, list) else raw
            if value is not None and str(value).strip():
                creds[field] = str(value).strip()
    interval = _text(form, "sync_interval_minutes")
    try:
        minutes = int(interval) if interval else None
    except ValueError:
        raise BadRequest("Sync interval: a number of minutes") from None
    return {
        "provider": provider["id"], "name": _text(form, "name"), "bucket": _text(form, "bucket"),
        "region": _text(form, "region") or None, "prefix": _text(form, "prefix") or None,
        "endpoint_url": _text(form, "endpoint_url") or None, "credentials": creds,
        "space": _text(form, "space") or "default", "sync_interval_minutes": minutes,
        "process_new_files": _text(form, "process_new_files") in ("1", "on", "true"),
    }


def _safe_values(form: dict[str, Any]) -> dict[str, Any]:
    """What the form may show again after a failure: everything except secret credential values."""
    secret = {f"cred_{k}" for k, (_, kind) in CREDENTIAL_FIELDS.items() if kind.startswith("secret")}
    return {k: _text(form, k) for k in form if k not in secret and k != "_csrf"}


def _list_context(request: Request, provider_id: str | None, cursor: str | None) -> dict[str, Any]:
    services, principal = services_of(request), caller(request)
    rows = store.list_connections(services.db, principal.spaces, PAGE_SIZE, decode_cursor(cursor, 2))
    rows, next_cursor = trim_page(rows, PAGE_SIZE, lambda r: (r["created_at"], r["id"]))
    roots = manage.local_roots_for(services, principal.spaces, plain=not principal.confined)
    providers = manage.providers()
    chosen = _provider(provider_id)
    if provider_id and chosen is None:
        raise NotFound("Unknown provider")
    context: dict[str, Any] = {
        "nav": "connections", "connections": [manage.connection_out(r) for r in rows], "next_cursor": next_cursor,
        "cursor": cursor, "providers": providers, "names": {p["id"]: p["name"] for p in providers},
        "provider": chosen, "local_roots": roots, "intervals": SYNC_INTERVALS,
        "fields": CREDENTIAL_FIELDS, "values": {}, "form_error": None,
    }
    if chosen is not None:
        context["guide"] = manage.start(chosen["id"], "")["instructions"]
        context["family"] = provider_family(chosen["id"])
        context["methods"] = auth_methods(chosen)
        context["bucket_label"] = BUCKET_LABEL[context["family"]]
    return context


@page("/console/connections")
@blocking
def connections_page(request: Request, provider: FromQuery[str | None] = None,
                     cursor: FromQuery[str | None] = None) -> Template:
    return template(request, "console/connections.html", **_list_context(request, provider or None, cursor))


@action("/console/connections")
async def create_connection(request: Request) -> Any:
    """Verify, then create: nothing is recorded when the storage refuses; the form comes back with the reason."""
    _, form = await form_of(request)
    services = services_of(request)

    def go() -> dict[str, Any]:
        return manage.verify_and_create(services, caller(request), payload_from_form(form),
                                        actor=audit.actor_of(request))

    try:
        row = await run(go)
    except RosetError as exc:
        context = await run(_list_context, request, _text(form, "provider") or None, None)
        context.update(values=_safe_values(form), form_error=exc.message)
        response = template(request, "console/connections.html", **context)
        response.status_code = exc.status
        return response
    return flash_redirect(f"/console/connections/{row['id']}", f"Connected {row['name']}: run a first sync below")


def _back(form: dict[str, Any], default: str) -> str:
    target = _text(form, "back")
    return target if target.startswith("/console/connections") and "//" not in target else default


@action("/console/connections/{connection_id:str}/{verb:str}")
async def connection_action(request: Request, connection_id: FromPath[str], verb: FromPath[str]) -> Redirect:
    _, form = await form_of(request)
    services = services_of(request)
    detail = f"/console/connections/{connection_id}"
    back = _back(form, detail)
    try:
        row = await run(manage.visible_connection, services, caller(request), connection_id)
        if verb == "test":
            out = await run(manage.test_connection, services, row)
            if out["success"]:
                return flash_redirect(back, f"{row['name']}: the connection works")
            return flash_redirect(back, f"{row['name']}: test failed: {out.get('error')}", error=True)
        if verb == "sync":
            await run(sync.request_sync, services, row)
            return flash_redirect(detail, "Sync started")
        if verb == "delete":
            counts = await run(detach.delete_connection, services, row, False, audit.actor_of(request))
            return flash_redirect("/console/connections", f"Deleted the connection {row['name']} (the bucket is "
                                  f"untouched; {counts['files_kept']} files kept, their bytes copied in)")
    except RosetError as exc:
        return flash_redirect(back, exc.message, error=True)
    raise NotFound("Unknown action")


def _crumbs(path: str, base: str) -> list[tuple[str, str]]:
    """(label, prefix) for each level of ``path`` below the connection prefix ``base``."""
    out: list[tuple[str, str]] = []
    rest = path.removeprefix(base)
    acc = base
    for part in [p for p in rest.split("/") if p]:
        acc += part + "/"
        out.append((part, acc))
    return out


@page("/console/connections/{connection_id:str}")
@blocking
def connection_page(request: Request, connection_id: FromPath[str], node: FromQuery[str | None] = None,
                    cursor: FromQuery[str | None] = None) -> Template:
    services = services_of(request)
    # One snapshot for the whole page: a sync finishing meanwhile must not show as completed in
    # the progress box while the history, read a moment earlier, still says syncing.
    with services.db.read():
        return _connection_page(request, services, connection_id, node, cursor)


def _connection_page(request: Request, services: Services, connection_id: str, node: str | None,
                     cursor: str | None) -> Template:
    row = manage.visible_connection(services, caller(request), connection_id)
    folder = None
    if node:
        folder = store.get_node(services.db, node)
        if folder is None or folder["connection_id"] != connection_id or folder["type"] != "folder":
            raise NotFound("Folder not found")
    rows = store.list_nodes(services.db, connection_ids=None, connection_id=connection_id,
                            parent_id=folder["id"] if folder else None, root_only=folder is None,
                            limit=PAGE_SIZE, cursor=decode_cursor(cursor, 2))
    rows, next_cursor = trim_page(rows, PAGE_SIZE, lambda r: (r["path"], r["id"]))
    parents: list[dict[str, Any]] = []
    up = folder
    while up is not None and up["parent_id"]:
        up = store.get_node(services.db, up["parent_id"])
        if up is not None:
            parents.insert(0, up)
    history = store.list_syncs(services.db, connection_id, 20, None)[:20]
    return template(request, "console/connection.html", nav="connections", c=manage.connection_out(row),
                    provider_name=(_provider(row["provider"]) or {}).get("name", row["provider"]),
                    live=manage.live_mode(services, row),
                    progress=sync.progress(services, row), history=[sync.sync_out(s) for s in history],
                    nodes=[nodes.node_out(r) for r in rows], folder=folder, parents=parents,
                    next_cursor=next_cursor, cursor=cursor, tab="overview", active=ACTIVE_SYNC)


@page("/console/connections/{connection_id:str}/browse")
@blocking
def browse_page(request: Request, connection_id: FromPath[str], prefix: FromQuery[str | None] = None,
                cursor: FromQuery[str | None] = None) -> Template:
    """A live listing of the bucket (not the synced nodes), one "folder" at a time."""
    services = services_of(request)
    row = manage.visible_connection(services, caller(request), connection_id)
    objects: list[dict[str, Any]] = []
    folders: list[str] = []
    next_cursor = problem = None
    base = row["prefix"] or ""
    current = prefix or base
    try:
        spec = manage.spec_of(services, row)
        base = spec.prefix
        with manage.storage_errors():
            objects, folders, next_cursor = conn.browse(spec, prefix or None, BROWSE_SIZE, cursor or None)
        asked = (prefix or "").lstrip("/")
        current = asked if asked.startswith(base) else base + asked  # as conn.browse reads it
    except RosetError as exc:
        problem = exc.message
    return template(request, "console/connection_browse.html", nav="connections", c=manage.connection_out(row),
                    provider_name=(_provider(row["provider"]) or {}).get("name", row["provider"]),
                    live=manage.live_mode(services, row),
                    objects=objects, folders=folders, next_cursor=next_cursor, cursor=cursor, prefix=current,
                    base=base, crumbs=_crumbs(current, base), problem=problem, tab="browse",
                    name_of=lambda key: key.rstrip("/").rsplit("/", 1)[-1])


@page("/console/api/connections/{connection_id:str}/progress")
@blocking
def progress_json(request: Request, connection_id: FromPath[str]) -> dict[str, Any]:
    """The latest sync's progress (the same as GET /v1/connections/{id}/sync/progress), for the progress bar."""
    services = services_of(request)
    return sync.progress(services, manage.visible_connection(services, caller(request), connection_id))


@page("/console/nodes/{node_id:str}/download")
@blocking
def node_download(request: Request, node_id: FromPath[str]) -> Redirect:
    """Redirect to the provider's signed URL (local: an expiring URL served by Roset Local)."""
    services = services_of(request)
    node, row = nodes.visible_node(services, caller(request), node_id)
    return Redirect(path=nodes.download_url(services, row, node)["url"], status_code=303)


ROUTES = [connections_page, create_connection, connection_action, connection_page, browse_page, progress_json,
          node_download]
