"""The OpenAPI document: its config (security schemes, the vendored docs page) and the few operations
whose bodies litestar cannot infer from a handler's types (an event stream, raw bytes)."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (Components, OpenAPIFormat, OpenAPIMediaType, OpenAPIResponse, OpenAPIType,
                                   Operation, Reference, RequestBody, Schema, SecurityScheme)

from roset_local import __version__
from roset_local.auth import security_requirements

SCHEMES = {
    "ApiKey": SecurityScheme(
        type="apiKey", name="Authorization", security_scheme_in="header",
        description="An API key in the Authorization header: `ApiKey rsk_...` (`Bearer rsk_...` works too).",
    ),
    "PortalToken": SecurityScheme(
        type="apiKey", name="Authorization", security_scheme_in="header",
        description="A share-portal token, accepted by /v1/portal endpoints only: `PortalToken ptk_...` "
                    "(or `Bearer ptk_...`).",
    ),
}


def openapi_config() -> OpenAPIConfig:
    """Served at /schema/openapi.json; the Swagger UI at /docs loads its assets from /static (no CDN)."""
    return OpenAPIConfig(
        title="Roset Local",
        version=__version__,
        description="The Roset file-processing API, self-hosted. Authorize with `ApiKey <your key>`.",
        path="/schema",
        use_handler_docstrings=True,
        components=Components(security_schemes=dict(SCHEMES)),
        security=[{"ApiKey": []}],
        render_plugins=[
            SwaggerRenderPlugin(
                js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
                css_url="/static/vendor/swagger-ui/swagger-ui.css",
                standalone_preset_js_url="/static/vendor/swagger-ui/swagger-ui-standalone-preset.js",
                path="/docs",
                favicon='<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">',
            )
        ],
    )


def declare_security(app: Litestar) -> None:
    """Each operation's security from the same route options the ``authorize`` guard reads.

    Set on the app's own copies of the handlers (litestar copies them when it registers a route), before
    the document is first built; a handler that declares ``security`` itself keeps it.
    """
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if isinstance(handler, HTTPRouteHandler) and handler.security is None:
                handler.security = security_requirements(handler.opt)


EVENT_STREAM = Schema(
    type=OpenAPIType.STRING,
    description="`data: <JSON>` lines, each event one of `{\"type\": \"chunk\", \"content\": ...}` (a piece of "
                "the answer), `{\"type\": \"sources\", \"sources\": [...]}`, `{\"type\": \"done\"}` or "
                "`{\"type\": \"error\", \"error\": ...}`.",
    examples=['data: {"type": "chunk", "content": "The contract ends"}\n\ndata: {"type": "done"}\n\n'],
)


@dataclass
class EventStream(Operation):
    """``POST /v1/qa``: with ``"stream": true`` the 200 is a stream of Server-Sent Events."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            ok.content = {**(ok.content or {}), "text/event-stream": OpenAPIMediaType(schema=EVENT_STREAM)}


@dataclass
class Binary(Operation):
    """An operation whose body or answer is raw bytes (an upload's PUT, a file, a variant's blob, a page
    image): ``format: binary``, which client generators turn into a file object."""

    def __post_init__(self) -> None:
        contents = [r.content for code, r in (self.responses or {}).items()
                    if code.startswith("2") and isinstance(r, OpenAPIResponse)]
        if isinstance(self.request_body, RequestBody):
            contents.append(self.request_body.content)
        for content in contents:
            for media in (content or {}).values():
                if isinstance(media.schema, Schema) and media.schema.type == OpenAPIType.STRING:
                    media.schema.format = OpenAPIFormat.BINARY
