"""The OpenAPI document: its config (security schemes, the vendored docs page) and the few operations
whose bodies litestar cannot infer from a handler's types (an event stream, raw bytes)."""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
    SecurityScheme,
)

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
    "EventSecret": SecurityScheme(
        type="http", scheme="bearer",
        description="A connection's event secret (`rsevt_...`, from its creation answer or rotate-event-secret), "
                    "for POST /v1/connections/{id}/events only: `Bearer rsevt_...`.",
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


def _event(kind: str, **fields: Schema) -> Schema:
    return Schema(type=OpenAPIType.OBJECT, required=["type", *fields],
                  properties={"type": Schema(const=kind), **fields})


# In OpenAPI 3.1 the schema of text/event-stream describes one event (3.2's itemSchema), as
# schemathesis reads it: its ``data`` line holds one JSON object.
EVENT_STREAM = Schema(
    type=OpenAPIType.OBJECT,
    description="One Server-Sent Event; the stream is `data: <JSON>` lines: `chunk`s (pieces of the answer), "
                "then `sources`, then `done`, or an `error`.",
    required=["data"],
    properties={
        "data": Schema(
            type=OpenAPIType.STRING,
            content_media_type="application/json",
            content_schema=Schema(one_of=[
                _event("chunk", content=Schema(type=OpenAPIType.STRING)),
                _event("sources", sources=Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT))),
                _event("done"),
                _event("error", error=Schema(type=OpenAPIType.STRING)),
            ]),
        ),
        "event": Schema(type=OpenAPIType.STRING),
    },
    examples=[{"data": '{"type": "chunk", "content": "The contract ends"}'}, {"data": '{"type": "done"}'}],
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
            for media_type, media in (content or {}).items():
                if not media_type.startswith("application/json"):
                    media.schema = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)


@dataclass
class OptionalBody(Operation):
    """An operation whose JSON body may be left out (every field of it has a default)."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False
