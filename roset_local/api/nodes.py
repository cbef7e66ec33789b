"""Nodes: synced objects and folders, signed downloads, direct uploads into a connected bucket."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath, FromQuery, RawBody
from litestar.response import Stream

from roset_local.api.deps import SIGNED_URL, decode_body, documents_body
from roset_local.api.schemas.common import shaped
from roset_local.api.schemas.files import DownloadLink
from roset_local.api.schemas.nodes import (
    NodeCommitted,
    NodeDeleted,
    NodeList,
    NodeOut,
    NodeUploadCommit,
    NodeUploadInit,
    NodeUploadTicket,
)
from roset_local.connections import manage, nodes
from roset_local.errors import BadRequest
from roset_local.handlers import blocking, caller, services_of, with_body
from roset_local.pagination import decode_cursor, page, parse_limit
from roset_local.store import connections as store

READ = {"scope": "connections:read"}
WRITE = {"scope": "connections:write"}
TAGS = ["nodes"]


def _type(value: str | None) -> str | None:
    if value is not None and value not in ("file", "folder"):
        raise BadRequest("type must be 'file' or 'folder'")
    return value


def _node_page(rows: list[dict[str, Any]], size: int) -> NodeList:
    rows, next_cursor = page(rows, size, lambda r: (r["path"], r["id"]))
    return NodeList([nodes.node_out(r) for r in rows], next_cursor)


@get("/v1/nodes", opt=READ, tags=TAGS)
@blocking
def list_nodes(request: Request, connection_id: FromQuery[str | None] = None, parent_id: FromQuery[str | None] = None,
               type: FromQuery[str | None] = None, limit: FromQuery[int | None] = None,
               cursor: FromQuery[str | None] = None) -> NodeList:
    services, principal = services_of(request), caller(request)
    size = parse_limit(limit)
    if connection_id is not None:
        manage.visible_connection(services, principal, connection_id)
    if parent_id is not None:
        parent, _ = nodes.visible_node(services, principal, parent_id)
        if connection_id is not None and parent["connection_id"] != connection_id:
            return NodeList([], None)
    visible = None
    if principal.spaces is not None and connection_id is None and parent_id is None:
        visible = store.connection_ids_in_spaces(services.db, principal.spaces)
    rows = store.list_nodes(services.db, connection_ids=visible, connection_id=connection_id, parent_id=parent_id,
                            type_=_type(type), limit=size, cursor=decode_cursor(cursor, 2))
    return _node_page(rows, size)


@get("/v1/nodes/{node_id:str}", opt=READ, tags=TAGS)
@blocking
def get_node(request: Request, node_id: FromPath[str]) -> NodeOut:
    node, _ = nodes.visible_node(services_of(request), caller(request), node_id)
    return nodes.node_out(node)


@get("/v1/nodes/{node_id:str}/children", opt=READ, tags=TAGS)
@blocking
def node_children(request: Request, node_id: FromPath[str], type: FromQuery[str | None] = None,
                  limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None) -> NodeList:
    services = services_of(request)
    node, _ = nodes.visible_node(services, caller(request), node_id)
    if node["type"] != "folder":
        raise BadRequest("Only folder nodes have children")
    size = parse_limit(limit)
    rows = store.list_nodes(services.db, connection_ids=None, connection_id=node["connection_id"], parent_id=node_id,
                            type_=_type(type), limit=size, cursor=decode_cursor(cursor, 2))
    return _node_page(rows, size)


@delete("/v1/nodes/{node_id:str}", opt=WRITE, status_code=200, tags=TAGS)
@blocking
def delete_node(request: Request, node_id: FromPath[str]) -> NodeDeleted:
    services = services_of(request)
    node, _ = nodes.visible_node(services, caller(request), node_id)
    nodes.delete_node(services, node)
    return NodeDeleted(id=node_id, deleted=True)


@get("/v1/nodes/{node_id:str}/download", opt=READ, tags=TAGS)
@blocking
def download_node(request: Request, node_id: FromPath[str]) -> DownloadLink:
    services = services_of(request)
    node, row = nodes.visible_node(services, caller(request), node_id)
    return shaped(nodes.download_url(services, row, node), DownloadLink)


@post("/v1/nodes/upload/init", opt=WRITE, status_code=200, tags=TAGS, dependencies=documents_body(NodeUploadInit))
@blocking
def upload_init(request: Request, body: RawBody) -> NodeUploadTicket:
    data = decode_body(body, NodeUploadInit)
    services = services_of(request)
    row = manage.visible_connection(services, caller(request), data.connection_id)
    return shaped(nodes.upload_init(services, row, data.path, data.content_type, data.size_bytes), NodeUploadTicket)


@post("/v1/nodes/upload/commit", opt=WRITE, status_code=200, tags=TAGS, dependencies=documents_body(NodeUploadCommit))
@blocking
def upload_commit(request: Request, body: RawBody) -> NodeCommitted:
    data = decode_body(body, NodeUploadCommit)
    return shaped(nodes.upload_commit(services_of(request), caller(request), data.node_id), NodeCommitted)


def _iter_handle(handle: Any) -> Any:
    with handle as src:
        while chunk := src.read(1024 * 1024):
            yield chunk


@get("/v1/nodes/{node_id:str}/content", opt=SIGNED_URL, tags=TAGS, include_in_schema=False)
@blocking
def node_content(request: Request, node_id: FromPath[str], expires: FromQuery[str] = "",
                 signature: FromQuery[str] = "") -> Response:
    """Target of a ``local`` connection's download URL (the URL is the credential)."""
    handle, node = nodes.read_local(services_of(request), node_id, expires, signature)
    return Stream(_iter_handle(handle), media_type=node["content_type"] or "application/octet-stream")


@put("/v1/nodes/{node_id:str}/content", opt=SIGNED_URL, request_max_body_size=None, tags=TAGS,
     include_in_schema=False)
async def put_node_content(request: Request, node_id: FromPath[str], expires: FromQuery[str] = "",
                           signature: FromQuery[str] = "") -> Response:
    """Target of a ``local`` connection's upload URL; commit with POST /v1/nodes/upload/commit."""
    services = services_of(request)
    size = await with_body(request, lambda chunks: nodes.write_local(services, node_id, expires, signature, chunks))
    return Response({"node_id": node_id, "size_bytes": size}, status_code=200)


ROUTES = [list_nodes, get_node, node_children, delete_node, download_node, upload_init, upload_commit, node_content,
          put_node_content]
