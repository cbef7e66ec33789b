"""Console pages for spaces and share links, webhooks, API keys (members: their own),
provider keys, settings and routing rules, API logs. Each calls the functions the JSON API calls."""

from __future__ import annotations

import re
from typing import Any

from litestar import Request
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from roset_local import audit, secrets
from roset_local.handlers import blocking, caller
from roset_local.inputs import check_space_name
from roset_local.errors import BadRequest, Forbidden, NotFound, RosetError
from roset_local.pagination import decode_cursor, encode_cursor
from roset_local.portal import roles, tokens
from roset_local.portal.web import (
    action,
    flash_redirect,
    form_action as _do,
    form_of,
    page,
    require_session,
    run,
    services_of,
    template,
)
from roset_local.providers.names import PROVIDER_NAMES
from roset_local.store import console as console_store
from roset_local.store import org as org_store
from roset_local.store import webhooks as webhook_store
from roset_local.store.events import EVENT_TYPES
from roset_local.webhooks import manage
from roset_local.store import files as file_store
from roset_local.store import keys as key_store
from roset_local.store import logs as log_store

_KEY_RE = re.compile(r"^[\x21-\x7e]{1,4096}$")


# -- spaces and share links ----------------------------------------------------------------------


@page("/console/spaces")
@blocking
def spaces_page(request: Request) -> Template:
    services, allowed = services_of(request), caller(request).spaces
    spaces = []
    for row in file_store.list_spaces(services.db, allowed):
        spaces.append(file_store.space_stats(services.db, row["space"]))
    return template(request, "console/spaces.html", nav="spaces", spaces=spaces,
                    tokens=tokens.list_tokens(services, allowed), new_token=request.query_params.get("share"))


@action("/console/spaces/share")
async def share_space(request: Request) -> Redirect:
    def go(services: Any, form: dict[str, Any], session: Any) -> Redirect:
        space = check_space_name(str(form.get("space") or ""))
        session.principal().require_space(space)
        try:
            ttl = int(form.get("ttl") or tokens.DEFAULT_TTL)
        except ValueError:
            raise BadRequest("ttl: a number of seconds") from None
        with audit.recorded(services.db, audit.actor_of(request), "portal_token.created", "portal_token",
                            space=space, changes={"ttl": ttl}) as entry:
            out = tokens.create_token(services, space, ttl, created_by=f"console:{session.username}")
            entry.target_id = out["id"]
        from urllib.parse import quote

        return Redirect(path=f"/console/spaces?share={quote(out['url'])}", status_code=303)

    return await _do(request, "/console/spaces", go, "")


@action("/console/portal-tokens/{token_id:str}/revoke")
async def revoke_share(request: Request, token_id: FromPath[str]) -> Redirect:
    def go(services: Any, form: Any, session: Any) -> None:
        row = tokens.find(services, token_id)
        if row is None or not session.principal().can_see(row["space"]):
            raise NotFound("Share link not found")
        with audit.recorded(services.db, audit.actor_of(request), "portal_token.revoked", "portal_token", row["id"],
                            space=row["space"]):
            tokens.revoke(services, row)

    return await _do(request, "/console/spaces", go, "Share link revoked")


@action("/console/spaces/{name:str}/delete")
async def delete_space(request: Request, name: FromPath[str]) -> Redirect:
    from roset_local.pipeline import lifecycle

    def go(services: Any, form: Any, session: Any) -> int:
        space = check_space_name(name)
        session.principal().require_space(space)
        return lifecycle.delete_space(services, space, True, audit.actor_of(request))

    return await _do(request, "/console/spaces", go, lambda n: f"Deleted space {name} ({n} files)")


# -- webhooks ------------------------------------------------------------------------------------


@page("/console/webhooks", access=roles.ADMIN_ONLY)
@blocking
def webhooks_page(request: Request) -> Template:
    rows = manage.visible_webhooks(services_of(request), caller(request))
    return template(request, "console/webhooks.html", nav="webhooks", webhooks=rows, event_types=EVENT_TYPES,
                    secret=request.query_params.get("secret"))


@action("/console/webhooks", access=roles.ADMIN_ONLY)
async def create_webhook(request: Request) -> Redirect:
    def go(services: Any, form: dict[str, Any], session: Any) -> Redirect:
        events = form.get("events") or []
        events = [events] if isinstance(events, str) else list(events)
        url = str(form.get("url") or "").strip()
        with audit.recorded(services.db, audit.actor_of(request), "webhook.created", "webhook",
                            changes={"url": url, "events": events}) as entry:
            row = manage.create_webhook(services, session.principal(), url, events)
            entry.target_id, entry.space = row["id"], audit.single_space(row["spaces"])
        from urllib.parse import quote

        return Redirect(path=f"/console/webhooks/{row['id']}?secret={quote(row['secret'])}", status_code=303)

    return await _do(request, "/console/webhooks", go, "")


@page("/console/webhooks/{webhook_id:str}", access=roles.ADMIN_ONLY)
@blocking
def webhook_page(request: Request, webhook_id: FromPath[str], cursor: FromQuery[str | None] = None) -> Template:
    services = services_of(request)
    hook = manage.get_or_404(services, caller(request), webhook_id)
    rows = webhook_store.list_deliveries(services.db, webhook_id, limit=50, cursor=decode_cursor(cursor, 2))
    next_cursor = encode_cursor([rows[49]["seq"], rows[49]["id"]]) if len(rows) > 50 else None
    return template(request, "console/webhook.html", nav="webhooks", hook=hook, deliveries=rows[:50],
                    next_cursor=next_cursor, secret=request.query_params.get("secret"))


@action("/console/webhooks/{webhook_id:str}/{verb:str}", access=roles.ADMIN_ONLY)
async def webhook_action(request: Request, webhook_id: FromPath[str], verb: FromPath[str]) -> Redirect:
    back = f"/console/webhooks/{webhook_id}"

    def go(services: Any, form: dict[str, Any], session: Any) -> Any:
        principal = session.principal()
        hook = manage.get_or_404(services, principal, webhook_id)
        actor, space = audit.actor_of(request), audit.single_space(hook["spaces"])
        if verb == "test":
            out = manage.send_test(services, principal, webhook_id)
            return f"Test sent: {out.get('status')} {out.get('status_code') or ''} {out.get('error') or ''}".strip()
        if verb == "rotate":
            from urllib.parse import quote

            with audit.recorded(services.db, actor, "webhook.secret_rotated", "webhook", webhook_id, space=space,
                                changes={"secret": True}):
                row = manage.rotate_secret(services, principal, webhook_id)
            return Redirect(path=f"{back}?secret={quote(row['secret'])}", status_code=303)
        if verb == "replay":
            out = manage.replay(services, principal, webhook_id, since=str(form.get("since") or ""),
                                until=form.get("until") or None, event_types=None)
            return f"Replayed {out['replayed']} events ({out['skipped']} skipped)"
        if verb in ("enable", "disable"):
            with audit.recorded(services.db, actor, "webhook.updated", "webhook", webhook_id, space=space,
                                changes={"active": verb == "enable"}):
                manage.update_webhook(services, principal, webhook_id, url=None, events=None,
                                      active=verb == "enable")
            return f"Webhook {verb}d"
        if verb == "delete":
            with audit.recorded(services.db, actor, "webhook.deleted", "webhook", webhook_id, space=space,
                                changes={"url": hook["url"]}):
                manage.delete_webhook(services, principal, webhook_id)
            return Redirect(path="/console/webhooks?notice=Webhook+deleted", status_code=303)
        raise NotFound("Unknown action")

    return await _do(request, back, go, lambda message: message)


# -- API keys ------------------------------------------------------------------------------------


def _visible_keys(services: Any, session: Any) -> list[dict[str, Any]]:
    """Admins see every key; others only the keys they minted here."""
    rows = key_store.list_keys(services.db)
    if session.is_admin:
        return rows
    mine = console_store.keys_owned_by(services.db, session.user_id)
    return [r for r in rows if r["id"] in mine]


def _keys_template(request: Request, new_key: dict[str, Any] | None) -> Template:
    session, principal = require_session(request), caller(request)
    return template(request, "console/keys.html", nav="keys", keys=_visible_keys(services_of(request), session),
                    scopes=sorted(principal.scopes, key=key_store.ALL_SCOPES.index), allowed_spaces=principal.spaces,
                    new_key=new_key)


@page("/console/keys", access=roles.WORK)
@blocking
def keys_page(request: Request) -> Template:
    return _keys_template(request, None)


@action("/console/keys", status_code=200)
async def create_key(request: Request) -> Template:
    """The new key is rendered once in this response (never in a URL, never stored). A key never holds
    more than its minter: a member's keys are confined to the member's spaces, without org scopes."""
    session, form = await form_of(request)
    services, principal = services_of(request), caller(request)
    name = str(form.get("name") or "").strip()
    scopes = form.get("scopes") or []
    scopes = [scopes] if isinstance(scopes, str) else list(scopes)
    spaces = roles.parse_spaces(str(form.get("spaces") or ""))
    actor = audit.actor_of(request)

    def go() -> tuple[dict[str, Any], str]:
        if not name or len(name) > 200:
            raise BadRequest("Name: 1-200 characters")
        bad = [s for s in scopes if s not in key_store.ALL_SCOPES]
        if bad:
            raise BadRequest(f"Unknown scopes: {', '.join(bad)}")
        for s in spaces:
            check_space_name(s)
        try:
            granted, confined = roles.key_grant(scopes, spaces, allowed_scopes=principal.scopes,
                                                allowed_spaces=principal.spaces)
        except ValueError as exc:
            raise Forbidden(str(exc)) from None
        granted = sorted(granted, key=key_store.ALL_SCOPES.index)
        with audit.recorded(services.db, actor, "api_key.created", "api_key",
                            changes={"name": name, "scopes": granted, "spaces": confined}) as entry:
            row, raw = key_store.create_key(services.db, name=name, scopes=granted, spaces=confined)
            console_store.record_key_owner(services.db, row["id"], session.user_id)
            entry.target_id = row["id"]
        return row, raw

    try:
        row, raw = await run(go)
    except Forbidden:
        raise  # more than the minter holds: only a forged form asks for it
    except RosetError as exc:
        return flash_redirect("/console/keys", exc.message, error=True)  # type: ignore[return-value]
    return await run(_keys_template, request, {"raw": raw, "name": row["name"]})


@action("/console/keys/{key_id:str}/revoke")
async def revoke_key(request: Request, key_id: FromPath[str]) -> Redirect:
    def go(services: Any, form: Any, session: Any) -> None:
        visible = {r["id"] for r in _visible_keys(services, session)}
        with audit.recorded(services.db, audit.actor_of(request), "api_key.revoked", "api_key", key_id):
            if key_id not in visible or not key_store.revoke_key(services.db, key_id):
                raise NotFound("API key not found")
        services.key_cache.clear()  # revocation takes effect at once

    return await _do(request, "/console/keys", go, "API key revoked")


# -- provider keys, settings, routing rules ------------------------------------------------------


@page("/console/provider-keys", access=roles.ADMIN_ONLY)
@blocking
def provider_keys_page(request: Request) -> Template:
    rows = secrets.list_provider_keys(services_of(request))
    return template(request, "console/provider_keys.html", nav="provider-keys", providers=rows)


@action("/console/provider-keys", access=roles.ADMIN_ONLY)
async def save_provider_key(request: Request) -> Redirect:
    def go(services: Any, form: dict[str, Any], session: Any) -> str:
        provider = str(form.get("provider") or "")
        if provider not in PROVIDER_NAMES:
            raise BadRequest("Unknown provider")
        key = str(form.get("key") or "").strip()
        if not _KEY_RE.match(key):
            raise BadRequest("Key: 1-4096 printable characters without spaces")
        base_url = str(form.get("base_url") or "").strip().rstrip("/") or None
        if base_url and not re.match(r"^https?://[^\s/?#]+(/\S*)?$", base_url):
            raise BadRequest("Base URL: an http:// or https:// URL")
        with audit.recorded(services.db, audit.actor_of(request), "org.provider_key.set", "provider_key", provider,
                            changes={"provider": provider, "key": key, "base_url": base_url}):
            secrets.save_provider_key(services, provider, key, base_url)
        return f"Saved the {provider} key"

    return await _do(request, "/console/provider-keys", go, lambda m: m)


@action("/console/provider-keys/{provider:str}/delete", access=roles.ADMIN_ONLY)
async def delete_provider_key(request: Request, provider: FromPath[str]) -> Redirect:
    def go(services: Any, form: Any, session: Any) -> None:
        with audit.recorded(services.db, audit.actor_of(request), "org.provider_key.deleted", "provider_key",
                            provider, changes={"provider": provider}):
            if not org_store.delete_provider_key(services.db, provider):
                raise NotFound(f"No {provider} key is configured")

    return await _do(request, "/console/provider-keys", go, f"Removed the {provider} key")


SETTING_FIELDS = ("default_embedding_model", "default_chunking.strategy", "default_chunking.chunk_size",
                  "default_chunking.chunk_overlap", "default_variants", "chat_model", "pages_limit",
                  "default_extraction")
EMBEDDING_MODELS = ("all-minilm-l6-v2", "text-embedding-3-small", "text-embedding-3-large")
BLANK_RULES = 2  # empty rows to add rules without JavaScript


def _text(form: dict[str, Any], name: str) -> str:
    value = form.get(name)
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value or "").strip()


def _values(form: dict[str, Any], name: str) -> list[str]:
    value = form.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def settings_patch(form: dict[str, Any]) -> dict[str, Any]:
    """The settings form as a PUT /v1/org/settings body (validated by the org module, not here)."""
    def integer(name: str) -> int | None:
        raw = _text(form, name)
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise org_store.InvalidSetting(f"{name}: must be a whole number") from None

    return {
        "default_embedding_model": _text(form, "default_embedding_model"),
        "default_chunking": {"strategy": _text(form, "default_chunking.strategy"),
                             "chunk_size": integer("default_chunking.chunk_size"),
                             "chunk_overlap": integer("default_chunking.chunk_overlap")},
        "default_variants": _values(form, "default_variants"),
        "chat_model": _text(form, "chat_model") or None,
        "pages_limit": integer("pages_limit"),
        **({"default_extraction": _text(form, "default_extraction")} if _text(form, "default_extraction") else {}),
    }


def rules_from_form(form: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """(the rules to save, every row as shown with its form index); blank and removed rows are dropped."""
    patterns, providers = _values(form, "rule_content_type"), _values(form, "rule_provider")
    removed = set(_values(form, "rule_remove"))
    rows: list[dict[str, Any]] = []
    keep: list[dict[str, str]] = []
    for i, pattern in enumerate(patterns):
        provider = providers[i] if i < len(providers) else ""
        row: dict[str, Any] = {"content_type": pattern.strip(), "provider": provider, "index": i,
                               "removed": str(i) in removed}
        rows.append(row)
        if row["content_type"] and not row["removed"]:
            row["rule"] = len(keep)
            keep.append({"content_type": row["content_type"], "provider": provider})
    return keep, rows


def _settings_template(request: Request, *, values: dict[str, Any] | None = None,
                       rows: list[dict[str, Any]] | None = None, settings_error: str | None = None,
                       rules_error: str | None = None, bad_rule: int | None = None) -> Template:
    services = services_of(request)
    current = org_store.get_org_settings(services.db)
    if values is None:
        chunking = current["default_chunking"]
        values = {"default_embedding_model": current["default_embedding_model"],
                  "default_chunking.strategy": chunking["strategy"],
                  "default_chunking.chunk_size": chunking["chunk_size"],
                  "default_chunking.chunk_overlap": chunking["chunk_overlap"],
                  "default_variants": current["default_variants"], "chat_model": current["chat_model"] or "",
                  "pages_limit": "" if current["pages_limit"] is None else current["pages_limit"],
                  "default_extraction": current["default_extraction"]}
    if rows is None:
        rows = [{**r, "index": i} for i, r in enumerate(org_store.get_routing_rules(services.db))]
    start = max((r["index"] for r in rows), default=-1) + 1
    rows = [*rows, *({"content_type": "", "provider": "", "index": start + i, "blank": True}
                     for i in range(BLANK_RULES))]
    bad_field = settings_error.split(":", 1)[0] if settings_error else None
    response = template(request, "console/settings.html", nav="settings", values=values, rows=rows,
                        usage=org_store.usage(services), settings_error=settings_error, rules_error=rules_error,
                        bad_field=bad_field, bad_rule=bad_rule, variant_types=org_store.VARIANT_TYPES,
                        strategies=org_store.CHUNK_STRATEGIES, providers=PROVIDER_NAMES,
                        embedding_models=EMBEDDING_MODELS, extraction_modes=org_store.EXTRACTION_MODES)
    if settings_error or rules_error:
        response.status_code = 400
    return response


@page("/console/settings", access=roles.ADMIN_ONLY)
@blocking
def settings_page(request: Request) -> Template:
    return _settings_template(request)


@action("/console/settings/org", access=roles.ADMIN_ONLY)
async def save_settings(request: Request) -> Any:
    """Save the settings form; a value the org module refuses comes back next to its field (400)."""
    _, form = await form_of(request)
    db = services_of(request).db
    try:
        await run(_audited_settings, db, audit.actor_of(request), settings_patch(form))
    except org_store.InvalidSetting as exc:
        values: dict[str, Any] = {name: _text(form, name) for name in SETTING_FIELDS}
        values["default_variants"] = _values(form, "default_variants")
        problem = str(exc)
        return await run(lambda: _settings_template(request, values=values, settings_error=problem))
    return flash_redirect("/console/settings", "Settings saved")


@action("/console/settings/routing", access=roles.ADMIN_ONLY)
async def save_routing(request: Request) -> Any:
    """Save the routing rule rows (or restore the defaults); errors point at the row."""
    _, form = await form_of(request)
    db = services_of(request).db
    actor = audit.actor_of(request)
    if _text(form, "reset"):
        await run(_audited_rules, db, actor, [])
        return flash_redirect("/console/settings", "Routing rules restored to the defaults")
    rules, rows = rules_from_form(form)
    try:
        await run(_audited_rules, db, actor, rules)
    except org_store.InvalidSetting as exc:
        match = re.match(r"rules\[(\d+)\]", str(exc))
        bad = next((r["index"] for r in rows if match and r.get("rule") == int(match.group(1))), None)
        message = str(exc)
        if bad is not None and match:
            field, _, reason = message[match.end():].lstrip(".").partition(":")
            message = f"Rule {bad + 1}{', ' + field.replace('_', ' ') if field else ''}:{reason}"
        shown = [r for r in rows if r["content_type"] or r["provider"]]
        return await run(lambda: _settings_template(request, rows=shown, rules_error=message, bad_rule=bad))
    return flash_redirect("/console/settings", "Routing rules saved")


def _audited_settings(db: Any, actor: audit.Actor, patch: dict[str, Any]) -> None:
    with audit.recorded(db, actor, "org.settings.updated", "org", "settings", changes={"patch": patch}):
        org_store.update_org_settings(db, patch)


def _audited_rules(db: Any, actor: audit.Actor, rules: list[dict[str, Any]]) -> None:
    with audit.recorded(db, actor, "org.routing_rules.updated", "org", "routing_rules", changes={"rules": rules}):
        org_store.set_routing_rules(db, {"rules": rules})


# -- API logs ------------------------------------------------------------------------------------


@page("/console/logs", access=roles.ADMIN_ONLY)
@blocking
def logs_page(request: Request, method: FromQuery[str | None] = None, status: FromQuery[str | None] = None,
              path: FromQuery[str | None] = None, cursor: FromQuery[str | None] = None) -> Template:
    try:
        code = int(status) if status else None
    except ValueError:
        raise BadRequest("status: a number such as 404") from None
    rows = log_store.list_logs(services_of(request).db, method=method or None, status=code, path=path or None,
                               auth_type=None, limit=100, cursor=decode_cursor(cursor, 2))
    next_cursor = encode_cursor([rows[99]["seq"], rows[99]["id"]]) if len(rows) > 100 else None
    return template(request, "console/logs.html", nav="logs", logs=rows[:100], next_cursor=next_cursor,
                    f_method=method or "", f_status=status or "", f_path=path or "")


ROUTES = [spaces_page, share_space, revoke_share, delete_space, webhooks_page, create_webhook,
          webhook_page, webhook_action, keys_page, create_key, revoke_key, provider_keys_page, save_provider_key,
          delete_provider_key, settings_page, save_settings, save_routing, logs_page]
