"""GET /v1/analytics/*: read-only figures over the rollups; space-confined keys see their spaces only."""

from __future__ import annotations

from litestar import Request, get
from litestar.params import FromQuery

from roset_local.api.schemas.analytics import (
    FileTypes,
    Overview,
    Processing,
    ProvidersStats,
    RecentFailures,
    SpacesHealth,
    StorageGrowth,
    TopFailures,
    Trends,
    Volume,
)
from roset_local.api.schemas.common import shaped
from roset_local.errors import BadRequest
from roset_local.handlers import blocking, caller, services_of
from roset_local.inputs import check_space_name
from roset_local.store import analytics as store

MAX_DAYS = 365
MAX_LIMIT = 200


def _int_param(name: str, raw: str | None, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise BadRequest(f"{name}: must be an integer from 1 to {maximum}")
    return value


def _spaces(request: Request, space: str | None) -> tuple[str, ...] | None:
    return caller(request).space_filter(check_space_name(space) if space is not None else None)


def _days(raw: str | None) -> list[str]:
    return store.window(_int_param("days", raw, 30, MAX_DAYS))


_OPT = {"scope": "analytics:read"}
_TAGS = ["analytics"]


@get("/v1/analytics/overview", opt=_OPT, tags=_TAGS)
@blocking
def overview(request: Request, space: FromQuery[str | None] = None) -> Overview:
    return shaped(store.overview(services_of(request).db, _spaces(request, space)), Overview)


@get("/v1/analytics/processing", opt=_OPT, tags=_TAGS)
@blocking
def processing(request: Request, days: FromQuery[str | None] = None, space: FromQuery[str | None] = None) -> Processing:
    window = _days(days)
    return shaped(store.processing(services_of(request).db, _spaces(request, space), window), Processing)


@get("/v1/analytics/file-types", opt=_OPT, tags=_TAGS)
@blocking
def file_types(request: Request, space: FromQuery[str | None] = None) -> FileTypes:
    return shaped(store.file_types(services_of(request).db, _spaces(request, space)), FileTypes)


@get("/v1/analytics/spaces", opt=_OPT, tags=_TAGS)
@blocking
def spaces(request: Request, space: FromQuery[str | None] = None) -> SpacesHealth:
    return shaped(store.space_health(services_of(request).db, _spaces(request, space)), SpacesHealth)


@get("/v1/analytics/failures", opt=_OPT, tags=_TAGS)
@blocking
def failures(request: Request, limit: FromQuery[str | None] = None,
             space: FromQuery[str | None] = None) -> RecentFailures:
    lim = _int_param("limit", limit, 20, MAX_LIMIT)
    return shaped(store.recent_failures(services_of(request).db, _spaces(request, space), lim), RecentFailures)


@get("/v1/analytics/volume", opt=_OPT, tags=_TAGS)
@blocking
def volume(request: Request, days: FromQuery[str | None] = None, space: FromQuery[str | None] = None) -> Volume:
    window = _days(days)
    return shaped(store.volume(services_of(request).db, _spaces(request, space), window), Volume)


@get("/v1/analytics/trends", opt=_OPT, tags=_TAGS)
@blocking
def trends(request: Request, days: FromQuery[str | None] = None, space: FromQuery[str | None] = None) -> Trends:
    window = _days(days)
    return shaped(store.trends(services_of(request).db, _spaces(request, space), window), Trends)


@get("/v1/analytics/providers", opt=_OPT, tags=_TAGS)
@blocking
def providers(request: Request, days: FromQuery[str | None] = None,
              space: FromQuery[str | None] = None) -> ProvidersStats:
    window = _days(days)
    return shaped(store.providers(services_of(request).db, _spaces(request, space), window), ProvidersStats)


@get("/v1/analytics/top-failures", opt=_OPT, tags=_TAGS)
@blocking
def top_failures(request: Request, limit: FromQuery[str | None] = None,
                 space: FromQuery[str | None] = None) -> TopFailures:
    lim = _int_param("limit", limit, 10, MAX_LIMIT)
    return shaped(store.top_failures(services_of(request).db, _spaces(request, space), lim), TopFailures)


@get("/v1/analytics/storage-growth", opt=_OPT, tags=_TAGS)
@blocking
def storage_growth(request: Request, days: FromQuery[str | None] = None,
                   space: FromQuery[str | None] = None) -> StorageGrowth:
    window = _days(days)
    return shaped(store.storage_growth(services_of(request).db, _spaces(request, space), window), StorageGrowth)


ROUTES = [overview, processing, file_types, spaces, failures, volume, trends, providers, top_failures, storage_growth]
