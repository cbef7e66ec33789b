"""build_server(services, caller, transport): the low-level MCP server with Roset Local's tools and resources."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import jsonschema
import mcp.types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from roset_local import __version__
from roset_local.auth import Principal
from roset_local.errors import BadRequest, NotFound, RosetError
from roset_local.mcp_server import tools as tool_defs
from roset_local.mcp_server.tools import Call, ToolSpec
from roset_local.services import Services

RESOURCE_PREFIX = "roset://files/"
RESOURCE_SUFFIX = "/markdown"
RESOURCE_TEMPLATE = RESOURCE_PREFIX + "{file_id}" + RESOURCE_SUFFIX
RESOURCE_PAGE = 100

INSTRUCTIONS = (
    "Roset Local holds the user's documents converted to markdown and indexed. To answer from them, use 'ask' "
    "(an answer with cited sources) or 'search' (passages with file and page). To add a document, 'upload' it, "
    "then poll 'job_status' until done. 'get_markdown' (or the roset://files/{id}/markdown resources) returns "
    "a whole processed file."
)

# Who is calling, resolved per request: from the HTTP request's state, or the stdio process's key.
CallerOf = Callable[[ServerRequestContext[Any, Any]], Principal]


def tool_error(exc: RosetError) -> types.CallToolResult:
    """A tool error the agent can read and act on, in the contract's error shape."""
    body = {"error": exc.message, "code": exc.code, "status": exc.status}
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(body))], structured_content=body,
                                is_error=True)


def _protocol_error(exc: RosetError) -> MCPError:
    code = types.INVALID_PARAMS if isinstance(exc, NotFound) else types.INVALID_REQUEST
    return MCPError(code, exc.message, {"code": exc.code, "status": exc.status})


def _tool(spec: ToolSpec, transport: str) -> types.Tool:
    return types.Tool(
        name=spec.name, title=spec.title, description=spec.description, input_schema=spec.schema(transport),
        annotations=types.ToolAnnotations(title=spec.title, read_only_hint=spec.read_only,
                                          destructive_hint=False, open_world_hint=False),
    )


def _check_arguments(spec: ToolSpec, transport: str, arguments: dict[str, Any]) -> None:
    try:
        jsonschema.validate(arguments, spec.schema(transport))
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "arguments"
        raise BadRequest(f"{where}: {exc.message}") from None  # as a REST body that does not validate


def _result(spec: ToolSpec, value: dict[str, Any]) -> types.CallToolResult:
    text = value["markdown"] if spec.markdown_result else json.dumps(value, ensure_ascii=False, default=str)
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=value)


def build_server(services: Services, caller: CallerOf, transport: str) -> Server[Any]:
    """One server object per transport; every handler authenticates through ``caller`` first."""

    def call_of(ctx: ServerRequestContext[Any, Any]) -> Call:
        return Call(services, caller(ctx), transport)

    async def list_tools(ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListToolsResult:
        try:
            principal = caller(ctx)
        except RosetError as exc:
            raise _protocol_error(exc) from None
        return types.ListToolsResult(
            tools=[_tool(spec, transport) for spec in tool_defs.TOOLS if spec.scope in principal.scopes]
        )

    async def call_tool(ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        spec = tool_defs.BY_NAME.get(params.name)
        arguments = dict(params.arguments or {})
        try:
            if spec is None:
                raise NotFound(f"Unknown tool '{params.name}'; the tools are: {', '.join(tool_defs.BY_NAME)}")
            call = call_of(ctx)
            call.principal.require_scope(spec.scope)
            _check_arguments(spec, transport, arguments)
            value = await anyio.to_thread.run_sync(spec.run, call, arguments)
        except RosetError as exc:
            return tool_error(exc)
        return _result(spec, value)

    async def list_resources(ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListResourcesResult:
        cursor = getattr(params, "cursor", None) if params is not None else None

        def page() -> dict[str, Any]:
            call = call_of(ctx)
            call.principal.require_scope("files:read")
            return tool_defs.run_list_files(call, {"status": "completed", "limit": RESOURCE_PAGE, "cursor": cursor})

        try:
            listed = await anyio.to_thread.run_sync(page)
        except RosetError as exc:
            raise _protocol_error(exc) from None
        resources = [
            types.Resource(uri=f"{RESOURCE_PREFIX}{f['id']}{RESOURCE_SUFFIX}", name=f["filename"],
                           title=f["filename"], description=f"Markdown of {f['filename']} (space {f['space']})",
                           mime_type="text/markdown")
            for f in listed["files"]
        ]
        return types.ListResourcesResult(resources=resources, next_cursor=listed["next_cursor"])

    async def list_templates(ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[types.ResourceTemplate(
            uri_template=RESOURCE_TEMPLATE, name="file-markdown", title="A processed file as markdown",
            description="The markdown Roset Local extracted from a completed file.", mime_type="text/markdown",
        )])

    async def read_resource(ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        file_id = uri[len(RESOURCE_PREFIX):-len(RESOURCE_SUFFIX)]
        if not (uri.startswith(RESOURCE_PREFIX) and uri.endswith(RESOURCE_SUFFIX) and file_id and "/" not in file_id):
            raise MCPError(types.INVALID_PARAMS, f"Unknown resource {uri}; use {RESOURCE_TEMPLATE}")

        def read() -> str:
            call = call_of(ctx)
            call.principal.require_scope("files:read")
            return tool_defs.file_markdown(call, file_id)[1]

        try:
            text = await anyio.to_thread.run_sync(read)
        except RosetError as exc:
            raise _protocol_error(exc) from None
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type="text/markdown", text=text)])

    return Server(
        "roset-local", version=__version__, title="Roset Local", instructions=INSTRUCTIONS,
        on_list_tools=list_tools, on_call_tool=call_tool, on_list_resources=list_resources,
        on_list_resource_templates=list_templates, on_read_resource=read_resource,
    )
