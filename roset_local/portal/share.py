"""The share portal: read-only pages for one space, opened with a portal token in the URL."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, ServerSentEvent, Template

from roset_local.access import content_url, list_space_files, portal_file
from roset_local.handlers import blocking
from roset_local.errors import NotFound, RosetError
from roset_local.portal import features, render, roles, tokens
from roset_local.portal.console_pages import sse_events
from roset_local.portal.web import page, run, services_of, template
from roset_local.positions.pages import DEFAULT_WIDTH, page_png
from roset_local.positions.view import page_view
from roset_local.store import variants as variant_store

PORTAL_HEADERS = {"Referrer-Policy": "no-referrer"}  # the token is in the URL: never leak it to other sites


def _portal(request: Request, token: str, name: str, **context: Any) -> Template:
    response = template(request, name, token=token, **context)
    response.headers.update(PORTAL_HEADERS)
    return response


def _invalid(request: Request, token: str) -> Template:
    response = _portal(request, token, "portal/invalid.html")
    response.status_code = 401
    return response


@page("/portal/{token:str}", access=roles.ANYONE)
@blocking
def portal_home(request: Request, token: FromPath[str], q: FromQuery[str | None] = None,
                cursor: FromQuery[str | None] = None) -> Template:
    services = services_of(request)
    row = tokens.lookup(services, token)
    if row is None:
        return _invalid(request, token)
    space = row["space"]
    listing = list_space_files(services, space, limit=50, cursor=cursor)
    result, problem = None, None
    if q and q.strip():
        try:
            result = features.search(services, q, spaces=(space,), mode="hybrid", limit=20)
        except RosetError as exc:
            problem = exc.message
    return _portal(request, token, "portal/index.html", space=space, expires_at=row["expires_at"],
                   files=listing["files"], next_cursor=listing["next_cursor"], q=q or "", result=result,
                   problem=problem)


@page("/portal/{token:str}/files/{file_id:str}", access=roles.ANYONE)
@blocking
def portal_file_page(request: Request, token: FromPath[str], file_id: FromPath[str],
                     page: FromQuery[int | None] = None, bbox: FromQuery[str | None] = None) -> Template:
    """``?page=N&bbox=x0,y0,x1,y1`` (a search hit, a Q&A source) shows that page with the region marked."""
    services = services_of(request)
    row = tokens.lookup(services, token)
    if row is None:
        return _invalid(request, token)
    with services.db.read():  # one snapshot: the file's status and its variants agree
        file = portal_file(services, row["space"], file_id)
        types = {v["type"]: v for v in variant_store.list_variants(services.db, file_id, with_content=False)}
        thumb = content_url(services, file_id, "thumbnail") if types.get("thumbnail", {}).get("blob_key") else None
        meta = variant_store.get_variant(services.db, file_id, "metadata")
        extracted = None
        if meta and meta.get("content"):
            try:
                extracted = json.loads(meta["content"])
            except ValueError:
                pass
        return _portal(request, token, "portal/file.html", space=row["space"], file=file, thumbnail=thumb,
                       markdown_html=render.markdown(variant_store.markdown_of(services.db, file_id)),
                       extracted=extracted,
                       pageview=page_view(services, file, extracted, page, bbox,
                                          f"/portal/{token}/files/{file_id}/pages"))


@page("/portal/{token:str}/files/{file_id:str}/pages/{number:int}", access=roles.ANYONE)
@blocking
def portal_page_image(request: Request, token: FromPath[str], file_id: FromPath[str], number: FromPath[int],
                      width: FromQuery[int] = DEFAULT_WIDTH) -> Response | Template:
    services = services_of(request)
    row = tokens.lookup(services, token)
    if row is None:
        return _invalid(request, token)
    png = page_png(services, portal_file(services, row["space"], file_id), number, width)
    return Response(png, media_type="image/png", headers={**PORTAL_HEADERS, "Cache-Control": "private, max-age=3600"})


@page("/portal/{token:str}/files/{file_id:str}/download", access=roles.ANYONE)
@blocking
def portal_download(request: Request, token: FromPath[str], file_id: FromPath[str]) -> Redirect | Template:
    services = services_of(request)
    row = tokens.lookup(services, token)
    if row is None:
        return _invalid(request, token)
    file = portal_file(services, row["space"], file_id)
    if file["status"] == "uploading":
        raise NotFound("The file's bytes have not been uploaded yet")
    return Redirect(path=content_url(services, file_id, "file"), status_code=303)


@page("/portal/{token:str}/qa/stream", access=roles.ANYONE)
async def portal_qa_stream(request: Request, token: FromPath[str], question: FromQuery[str] = "") -> Any:
    services = services_of(request)
    row = await run(tokens.lookup, services, token)
    if row is None:
        return _invalid(request, token)
    spaces = (row["space"],)
    return ServerSentEvent(sse_events(lambda: features.answer_events(services, question, spaces=spaces)))


ROUTES = [portal_home, portal_file_page, portal_page_image, portal_download, portal_qa_stream]
