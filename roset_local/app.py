"""create_app(settings): the only factory. Lifespan opens the services and starts/stops the consumer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.config.response_cache import ResponseCacheConfig
from litestar.static_files import create_static_files_router
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from roset_local.api import allow, errors_doc, files, jobs, keys, logs, spaces, system, upload, webhooks
from roset_local.api.openapi import declare_security, openapi_config
from roset_local.auth import authorize
from roset_local.config import Settings
from roset_local.errors import handle_exception
from roset_local.heap import freeze_startup_heap
from roset_local.observe import RequestContext
from roset_local.services import Services
from roset_local.wiring import wire

log = logging.getLogger("roset_local")

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def web_dir() -> Path:
    """Templates and static assets: inside the frozen bundle, beside the package in a checkout, or
    under ``<prefix>/share/roset-local/web`` for a wheel install."""
    import sys

    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "web"
    if WEB_DIR.is_dir():
        return WEB_DIR
    for prefix in (sys.prefix, sys.base_prefix):
        installed = Path(prefix) / "share" / "roset-local" / "web"
        if installed.is_dir():
            return installed
    return WEB_DIR


def route_modules() -> list[Any]:
    """Every JSON route module, explicitly (no auto-discovery)."""
    from roset_local import metrics
    from roset_local.api import analytics, org
    from roset_local.api import audit as audit_routes
    from roset_local.api import connections as connection_routes, nodes as node_routes

    from roset_local.api import portal as portal_api
    from roset_local.portal import routes as html_routes

    from roset_local.api import search as search_routes
    from roset_local.api import pages as page_routes

    return [system, keys, logs, upload, files, jobs, spaces, webhooks, org, analytics, metrics, portal_api, html_routes,
            connection_routes, node_routes, search_routes, page_routes, audit_routes]


def build_litestar(services: Services) -> Litestar:
    handlers: list[Any] = []
    for module in route_modules():
        handlers.extend(module.ROUTES)
    from roset_local.mcp_server import http as mcp_http

    mcp_endpoint, mcp_lifespan = mcp_http.mount(services)
    handlers.append(mcp_endpoint)
    static_dir = web_dir() / "static"
    handlers.append(
        create_static_files_router(path="/static", directories=[static_dir], opt={"public": True, "unmetered": True}, include_in_schema=False)
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from roset_local.pipeline.intake import settle_interrupted_uploads
        from roset_local.pipeline.lifecycle import delete_scheduled_blobs

        settled = settle_interrupted_uploads(services)  # the HTTP server alone receives uploads
        if any(settled.values()):
            log.info("settled uploads cut off by the last stop: %s", settled)
        if swept := delete_scheduled_blobs(services):
            log.info("deleted the stored bytes of %d removals cut off by the last stop", swept)
        services.start()
        from roset_local.livesync.runner import LiveSync

        watcher = LiveSync(services, watch=services.settings.live_sync)  # the server's, not a worker's
        services.live_sync = watcher
        watcher.start()
        freeze_startup_heap()
        try:
            yield
        finally:
            watcher.stop()  # its own: two apps built on one Services (tests) each stop theirs
            if services.live_sync is watcher:
                services.live_sync = None
            services.stop()

    app = Litestar(
        route_handlers=handlers,
        guards=[authorize],
        exception_handlers={Exception: handle_exception},
        before_request=allow.answer_options,
        openapi_config=openapi_config(),
        lifespan=[lifespan, mcp_lifespan],
        request_max_body_size=10 * 1024 * 1024,
        template_config=TemplateConfig(directory=web_dir() / "templates", engine=JinjaTemplateEngine,
                                       engine_callback=_template_filters),
        response_cache_config=ResponseCacheConfig(),
        debug=False,
        logging_config=None,
    )
    declare_security(app)
    app.state.services = services
    allow.record_allow(app)
    errors_doc.document_errors(app)
    return app


def _template_filters(engine: JinjaTemplateEngine) -> None:
    from roset_local.portal import render

    engine.engine.filters["highlight"] = render.highlight


def create_app(settings: Settings, *, services: Services | None = None) -> Any:
    """Open the data directory and build the ASGI app (the Litestar app wrapped in RequestContext)."""
    services = wire(services or Services(settings).open())
    services.ensure_admin_key()
    litestar_app = build_litestar(services)
    return RequestContext(litestar_app, lambda: services.log_writer, observe=services.http_metrics.observe)
