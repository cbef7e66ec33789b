"""Probes and identity: /health, /ready, /v1/me."""

from __future__ import annotations

import functools
import time
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

import anyio
from litestar import Request, Response, get
from litestar.params import FromQuery

from roset_local.api.schemas.system import HealthOut, MeOut, ReadyOut
from roset_local.auth import key_principal_or_none
from roset_local.handlers import blocking, caller, services_of
from roset_local.providers.models import list_models
from roset_local.queue import queue_depth
from roset_local.services import Services


def _timed(fn: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = fn()
        status = "ok"
        error = None
    except Exception as exc:  # a probe reports, it never raises
        detail, status, error = None, "error", str(exc) or type(exc).__name__
    result: dict[str, Any] = {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
    if detail:
        result.update(detail)
    if error:
        result["error"] = error
    return result


def _storage(services: Services) -> dict[str, Any]:
    services.blobs.check()
    return {"url": services.blobs.url.split("?")[0]}


def check_subsystems(services: Services, *, models: bool) -> dict[str, dict[str, Any]]:
    checks = {
        "database": _timed(lambda: {"journal_mode": services.db.journal_mode()}),
        "queue": _timed(lambda: {"depth": queue_depth(services.huey)}),
        "storage": _timed(lambda: _storage(services)),
        "disk": _timed(services.disk.check),
    }
    if models:
        checks["models"] = _timed(lambda: _models(services))
        scaleout = services.scaleout
        if scaleout is not None:  # a shared queue: the worker hosts seen lately and the work waiting for them
            checks["workers"] = _timed(scaleout.status)
    return checks


def _models(services: Services) -> dict[str, Any]:
    """Model files with their state; a corrupt one fails the check (a missing one is made on use)."""
    rows = list_models(services.settings.models_dir)
    corrupt = [r["name"] for r in rows if r["status"] == "corrupt"]
    if corrupt:
        raise RuntimeError(f"corrupt model files: {', '.join(corrupt)}")
    return {"models": rows}


def _sees_paths(request: Request) -> bool:
    """Operators (an unconfined key with ``org:read``) see paths and URLs; anonymous probes do not."""
    principal = key_principal_or_none(services_of(request), request.headers.get("authorization"))
    return principal is not None and principal.spaces is None and "org:read" in principal.scopes


def _redact(value: Any, data_dir: str, key: str = "") -> Any:
    """No absolute path or storage URL: model paths become file names, the blob store its scheme."""
    if isinstance(value, dict):
        return {k: _redact(v, data_dir, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, data_dir) for v in value]
    if not isinstance(value, str):
        return value
    if key == "path":
        return PurePath(value).name
    if key == "url":
        return urlsplit(value).scheme or "file"
    return value.replace(data_dir, "DATA")


def _checks_for(request: Request, *, models: bool) -> dict[str, dict[str, Any]]:
    services = services_of(request)
    checks = check_subsystems(services, models=models)
    if _sees_paths(request):
        return checks
    return _redact(checks, str(services.settings.data_dir.resolve()))  # type: ignore[no-any-return]


@get("/health", opt={"public": True, "unmetered": True}, include_in_schema=True, tags=["system"])
async def health(request: Request, full: FromQuery[bool] = False) -> HealthOut:
    """Liveness. ``?full=true`` adds each subsystem with its latency (paths only for an operator's key)."""
    if not full:
        return HealthOut(status="ok")  # a probe: answered on the loop, no thread hop
    checks = await anyio.to_thread.run_sync(functools.partial(_checks_for, request, models=True))
    overall = "ok" if all(c["status"] == "ok" for c in checks.values()) else "degraded"
    return HealthOut(status=overall, checks=checks)


@get("/ready", opt={"public": True, "unmetered": True}, tags=["system"])
@blocking
def ready(request: Request) -> Response[ReadyOut]:
    """Readiness: 200 when database, queue and storage are usable and the disk is above its free-space
    floor (ROSET_MIN_FREE_BYTES), else 503."""
    checks = _checks_for(request, models=False)
    ok = all(c["status"] == "ok" for c in checks.values())
    return Response(ReadyOut(status="ready" if ok else "unavailable", checks=checks), status_code=200 if ok else 503)


@get("/v1/me", tags=["org"])
async def me(request: Request) -> MeOut:
    principal = caller(request)
    body = MeOut(org_id=services_of(request).org_id, auth_type=principal.auth_type, key_name=principal.key_name,
                 scopes=sorted(principal.scopes),
                 spaces=list(principal.spaces) if principal.spaces is not None else None)
    if principal.key_id:
        body.key_id = principal.key_id
        body.mode = principal.mode
    return body


ROUTES = [health, ready, me]
