"""Spaces: namespaces of files. Listed from the files in them; deleting one may cascade."""

from __future__ import annotations

from litestar import Request, delete, get
from litestar.params import FromPath, FromQuery

from roset_local import audit
from roset_local.api.schemas.spaces import SpaceDeleted, SpaceList, SpaceOut, SpaceStats
from roset_local.errors import NotFound
from roset_local.handlers import blocking, caller, services_of
from roset_local.inputs import check_space_name
from roset_local.pipeline import lifecycle
from roset_local.store import files as file_store


@get("/v1/spaces", opt={"scope": "spaces:read"}, tags=["spaces"])
@blocking
def list_spaces(request: Request) -> SpaceList:
    rows = file_store.list_spaces(services_of(request).db, caller(request).spaces)
    return SpaceList(spaces=[SpaceOut(space=r["space"], file_count=r["file_count"]) for r in rows])


@get("/v1/spaces/{name:str}/stats", opt={"scope": "spaces:read"}, tags=["spaces"])
@blocking
def space_stats(request: Request, name: FromPath[str]) -> SpaceStats:
    check_space_name(name)
    caller(request).require_space(name)
    stats = file_store.space_stats(services_of(request).db, name)
    if stats["total_files"] == 0:
        raise NotFound(f"Space '{name}' not found")
    return SpaceStats.of(stats)


@delete("/v1/spaces/{name:str}", opt={"scope": "spaces:write"}, status_code=200, tags=["spaces"])
@blocking
def delete_space(request: Request, name: FromPath[str], cascade: FromQuery[bool] = False) -> SpaceDeleted:
    check_space_name(name)
    caller(request).require_space(name)
    deleted = lifecycle.delete_space(services_of(request), name, cascade, audit.actor_of(request))
    return SpaceDeleted(deleted=True, files_deleted=deleted)


ROUTES = [list_spaces, space_stats, delete_space]
