"""The share portal's JSON API: tokens (create, verify, revoke, list) and read-only, space-confined access."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, RawBody
from litestar.response import ServerSentEvent

from roset_local import audit
from roset_local.access import URL_TTL, content_url, portal_file, space_files
from roset_local.api.deps import decode_body, documents_body
from roset_local.api.files import variant_shape
from roset_local.api.openapi import EventStream
from roset_local.api.schemas.common import shaped
from roset_local.api.schemas.files import DownloadLink, FileList, FileOut
from roset_local.api.schemas.portal import (
    PortalAnswer,
    PortalFile,
    PortalQuestion,
    PortalSearch,
    PortalTokenCheck,
    PortalTokenCreate,
    PortalTokenCreated,
    PortalTokenList,
    PortalTokenRevoked,
)
from roset_local.api.schemas.search import SearchOut
from roset_local.errors import BadRequest, NotFound
from roset_local.handlers import blocking, caller, services_of
from roset_local.inputs import check_space_name
from roset_local.portal import features, tokens
from roset_local.services import Services
from roset_local.store import variants as variant_store

PORTAL = {"portal": True, "scope": "files:read"}


@post("/v1/portal/tokens", opt={"scope": "portal:write"}, status_code=201, tags=["portal"],
      dependencies=documents_body(PortalTokenCreate))
@blocking
def create_token(request: Request, body: RawBody) -> PortalTokenCreated:
    data = decode_body(body, PortalTokenCreate)
    space = check_space_name(data.space)
    principal = caller(request)
    principal.require_space(space)
    services = services_of(request)
    with audit.recorded(services.db, audit.actor_of(request), "portal_token.created", "portal_token", space=space,
                        changes={"ttl": data.ttl}) as entry:
        out = tokens.create_token(services, space, data.ttl, created_by=principal.key_name)
        entry.target_id = out["id"]
    return PortalTokenCreated(token=out["token"], expires_at=out["expires_at"], space=out["space"], url=out["url"],
                              id=out["id"])


@get("/v1/portal/tokens", opt={"scope": "portal:write"}, tags=["portal"])
@blocking
def list_tokens(request: Request, active: FromQuery[bool] = False) -> PortalTokenList:
    rows = tokens.list_tokens(services_of(request), caller(request).spaces, active_only=active)
    return shaped({"tokens": rows}, PortalTokenList)


@delete("/v1/portal/tokens/{token:str}", opt={"scope": "portal:write"}, status_code=200, tags=["portal"])
@blocking
def revoke_token(request: Request, token: FromPath[str]) -> PortalTokenRevoked:
    services = services_of(request)
    row = tokens.find(services, token)
    if row is None or row["revoked_at"] or not caller(request).can_see(row["space"]):
        raise NotFound("Portal token not found")
    with audit.recorded(services.db, audit.actor_of(request), "portal_token.revoked", "portal_token", row["id"],
                        space=row["space"]):
        tokens.revoke(services, row)
    return PortalTokenRevoked(revoked=True, id=row["id"])


@get("/v1/portal/tokens/{token:str}/verify", opt={"public": True}, tags=["portal"])
@blocking
def verify_token(request: Request, token: FromPath[str]) -> PortalTokenCheck:
    return shaped(tokens.verify(services_of(request), token), PortalTokenCheck)


def portal_space(request: Request, space: str | None) -> str:
    """The token's space; an API key (for previews) names one with ``space`` (default: the key's one
    space when it is confined to one, else ``default``)."""
    principal = caller(request)
    if principal.auth_type == "portal_token":
        assert principal.spaces
        return principal.spaces[0]
    if not space and principal.spaces is not None:
        if len(principal.spaces) != 1:
            raise BadRequest("space: required for a key confined to several spaces")
        return principal.spaces[0]
    name = check_space_name(space or "default")
    principal.require_space(name)
    return name


def file_detail(services: Services, file: dict[str, Any]) -> PortalFile:
    variants = [variant_shape(services, v, content=True) for v in variant_store.list_variants(services.db, file["id"])
                if v["type"] != "embeddings"]
    return PortalFile(**msgspec.structs.asdict(FileOut.from_row(file)), variants=variants)


@get("/v1/portal/files", opt=PORTAL, tags=["portal"])
@blocking
def portal_files(request: Request, space: FromQuery[str | None] = None, status: FromQuery[str | None] = None,
                 search: FromQuery[str | None] = None, sort_by: FromQuery[str] = "created_at",
                 sort_order: FromQuery[str] = "desc", limit: FromQuery[int | None] = None,
                 cursor: FromQuery[str | None] = None) -> FileList:
    services = services_of(request)
    return space_files(services, portal_space(request, space), status=status, search=search, sort_by=sort_by,
                       sort_order=sort_order, limit=limit, cursor=cursor)


@get("/v1/portal/files/{file_id:str}", opt=PORTAL, tags=["portal"])
@blocking
def portal_get_file(request: Request, file_id: FromPath[str], space: FromQuery[str | None] = None) -> PortalFile:
    services = services_of(request)
    return file_detail(services, portal_file(services, portal_space(request, space), file_id))


@get("/v1/portal/files/{file_id:str}/download", opt=PORTAL, tags=["portal"])
@blocking
def portal_download(request: Request, file_id: FromPath[str], space: FromQuery[str | None] = None) -> DownloadLink:
    services = services_of(request)
    file = portal_file(services, portal_space(request, space), file_id)
    if file["status"] == "uploading":
        raise NotFound("The file's bytes have not been uploaded yet")
    return DownloadLink(url=content_url(services, file_id, "file"), expires_in=URL_TTL)


@post("/v1/portal/search", opt={"portal": True, "scope": "search:read"}, status_code=200, tags=["portal"],
      dependencies=documents_body(PortalSearch))
@blocking
def portal_search(request: Request, body: RawBody, space: FromQuery[str | None] = None) -> SearchOut:
    data = decode_body(body, PortalSearch)
    name = portal_space(request, space)
    return SearchOut.of(features.search(services_of(request), data.query, spaces=(name,), mode=data.mode,
                                        limit=max(1, min(data.limit, 100))))


@post("/v1/portal/qa", opt={"portal": True, "scope": "search:read"}, status_code=200, tags=["portal"],
      dependencies=documents_body(PortalQuestion),
      responses={200: ResponseSpec(PortalAnswer, description="The answer, or with `stream` an event stream")},
      operation_class=EventStream)
async def portal_qa(request: Request, space: FromQuery[str | None] = None) -> Response[Any]:
    data = decode_body(await request.body(), PortalQuestion)
    services = services_of(request)
    name = portal_space(request, space)
    limit = max(1, min(data.limit, 20))

    def events() -> Any:
        return features.answer_events(services, data.question, spaces=(name,), limit=limit)

    if data.stream:
        first = await anext_or_error(events)
        return ServerSentEvent(_sse(first))
    import anyio

    result = await anyio.to_thread.run_sync(lambda: features.collect_answer(events()))
    return Response(PortalAnswer.of(result), status_code=200)


async def anext_or_error(make: Any) -> Any:
    """Start the stream before answering so bad input or a missing module still gets a JSON error."""
    stream = features.in_thread(make)
    first = await stream.__anext__()
    return first, stream


async def _sse(started: Any) -> Any:
    first, rest = started
    yield json.dumps(first)
    async for event in rest:
        yield json.dumps(event)


ROUTES = [create_token, list_tokens, revoke_token, verify_token, portal_files, portal_get_file, portal_download,
          portal_search, portal_qa]
