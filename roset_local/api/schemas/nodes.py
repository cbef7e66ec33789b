"""Nodes: the synced objects and folders of a connection, signed downloads and direct uploads."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from roset_local.api.schemas.common import Shape


class NodeOut(Struct):
    id: str
    connection_id: str
    parent_id: str | None
    type: Annotated[str, Meta(description="file or folder")]
    name: str
    path: Annotated[str, Meta(description="The full object key; folders end in /")]
    size_bytes: int | None
    content_type: str | None
    etag: str | None
    last_modified: str | None
    file_id: Annotated[str | None, Meta(description="The processed file, once there is one")]
    status: str
    created_at: str
    updated_at: str


class NodeList(Struct):
    nodes: list[NodeOut]
    next_cursor: str | None


class NodeDeleted(Struct):
    id: str
    deleted: bool


class NodeUploadInit(Struct):
    connection_id: str
    path: Annotated[str, Meta(description="The object key to create", examples=["inbox/report.pdf"])]
    content_type: str | None = None
    size_bytes: int | None = None


class NodeUploadTicket(Shape):
    upload_url: str
    upload_method: Annotated[str, Meta(examples=["PUT"])]
    upload_headers: Annotated[dict[str, str], Meta(description="Send these headers with the upload")]
    node_id: str
    path: str
    expires_in: int


class NodeUploadCommit(Struct):
    node_id: str


class NodeCommitted(Shape):
    node_id: str
    file_id: str
    job_id: str | None
    status: str
