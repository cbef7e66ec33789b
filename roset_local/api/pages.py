"""GET /v1/files/:id/pages/:n: a page of a processed PDF or image as a PNG (where a search hit's bbox sits)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery

from roset_local.access import visible_file
from roset_local.api.openapi import Binary
from roset_local.handlers import blocking, services_of
from roset_local.positions.pages import DEFAULT_WIDTH, page_png


@get("/v1/files/{file_id:str}/pages/{number:int}", opt={"scope": "files:read"}, tags=["files"], media_type="image/png",
     operation_class=Binary)
@blocking
def page_image(request: Request, file_id: FromPath[str], number: FromPath[int],
               width: FromQuery[int] = DEFAULT_WIDTH) -> Response[Any]:
    """``width`` in pixels (100-2000); a result's ``bbox`` scales by width / ``page_width``."""
    services = services_of(request)
    png = page_png(services, visible_file(services, request, file_id), number, width)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


ROUTES = [page_image]
