"""The error answers each operation documents, derived from its route, all in the contract's ErrorOut shape."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, get_args, get_origin

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.routes import HTTPRoute

from roset_local.api.schemas.common import ErrorOut
from roset_local.errors import (
    CODES,
    Conflict,
    Gone,
    NotFound,
    QuotaExceeded,
    RosetError,
    Unavailable,
)

# What each status means to a caller: the contract's table, plus the codes this server adds.
MEANINGS = {
    400: "Invalid request body or parameters",
    401: "Missing or invalid authentication (a missing, unknown, revoked or expired key)",
    402: "Usage quota exceeded for the current billing period",
    403: "Insufficient permissions: the key lacks the scope, the space is outside the key's spaces, or a "
         "signed URL's signature is wrong or expired",
    404: "Resource not found (or in a space the key cannot see)",
    409: "Resource conflict: the resource's state does not allow this now",
    410: "Gone: the single-use URL was used already or has expired",
    413: "Request body too large",
    429: "Too many requests: retry after the delay in the Retry-After header",
    503: "Service unavailable (a subsystem is not ready)",
    507: "Insufficient storage: the server's disk is full; free space, then retry",
}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def route_specific() -> dict[Callable[..., Any], tuple[type[RosetError], ...]]:
    """Outcomes a route's properties do not show: state moves (409), quotas (402), readiness (503),
    single-use URLs (410), a list scoped to an object that must exist (404). Keyed by handler function."""
    from roset_local.api import (
        connections,
        files,
        jobs,
        nodes,
        pages,
        portal,
        search,
        spaces,
        system,
        upload,
        webhooks,
    )

    table = {
        system.ready: (Unavailable,),
        upload.upload: (QuotaExceeded,),
        upload.create_file: (QuotaExceeded,),
        upload.upload_batch: (QuotaExceeded,),
        upload.put_upload: (Gone,),
        files.process_file: (Conflict, QuotaExceeded),
        jobs.cancel_job: (Conflict,),
        jobs.retry_job: (Conflict,),
        spaces.delete_space: (Conflict,),
        pages.page_image: (Conflict,),
        search.search: (Unavailable,),
        search.qa: (Unavailable,),
        portal.portal_search: (Unavailable,),
        portal.portal_qa: (Unavailable,),
        connections.delete_connection: (Conflict,),
        connections.start_sync: (Conflict,),
        nodes.list_nodes: (NotFound,),
        nodes.download_node: (Conflict,),
        nodes.upload_init: (Conflict,),
        nodes.upload_commit: (Conflict,),
        webhooks.replay_webhook: (Conflict,),
    }
    return {handler.fn: raised for handler, raised in table.items()}


def body_fields(handler: HTTPRouteHandler) -> set[str]:
    """Field names of the request body the operation documents: its ``data`` parameter's Struct, or the
    one declared with ``deps.documents_body`` for a handler that decodes the raw bytes itself."""
    types = []
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is not None:
        types.append(data.annotation)
    for provide in handler.resolve_dependencies().values():
        annotations = getattr(provide.dependency, "__annotations__", {})
        if "data" in annotations:
            types.append(annotations["data"])
    fields: set[str] = set()
    for body_type in types:
        if get_origin(body_type) is Annotated:
            body_type = get_args(body_type)[0]
        if isinstance(body_type, type) and issubclass(body_type, msgspec.Struct):
            fields |= set(body_type.__struct_fields__)
    return fields


def error_statuses(handler: HTTPRouteHandler, methods: Iterable[str], *, path_params: bool, query: set[str],
                   reads_body: bool, extra: tuple[type[RosetError], ...] = ()) -> set[int]:
    """Every error status a route can answer, from its guard options, parameters and methods.

    - Authenticated routes (no ``public`` opt): 401 without a valid key, 403 for a missing scope,
      an org-wide route or a space outside the key's, 429 past the key's rate limit.
    - Public routes are counted per address (429) unless ``unmetered``; one that declares its own
      ``security`` (``/metrics``' key, a bucket's event secret) checks it itself (401); a signed URL
      (a ``signature`` query parameter) answers 403 to a wrong or expired signature.
    - Any parameter or body can be invalid (400); a path parameter names something that may not
      exist (404), as can an ``..._id`` body field (an ``..._id`` query parameter is mostly a filter);
      a body can be too large (413); a write can meet a full disk (507).
    """
    methods = set(methods)
    opt = handler.opt
    statuses = set()
    if not opt.get("public"):
        statuses |= {401, 403, 429}
    else:
        if not opt.get("unmetered"):
            statuses.add(429)
        if any(handler.security or ()):  # a public route that declares the credential it checks itself
            statuses.add(401)
    if "signature" in query:
        statuses.add(403)
    if path_params or any(name.endswith("_id") for name in body_fields(handler)):
        statuses.add(404)  # a path parameter, or a body field naming an object by id
    body = reads_body or bool(methods & BODY_METHODS)
    if path_params or query or body:
        statuses.add(400)
    if body:
        statuses.add(413)
    if methods & WRITE_METHODS:
        statuses.add(507)
    statuses |= {error.status for error in extra}
    return statuses


def error_response(status: int) -> ResponseSpec:
    code = CODES[status]
    return ResponseSpec(
        data_container=ErrorOut,
        description=f"{code}: {MEANINGS[status]}",
        generate_examples=False,
        media_type="application/json",
        examples=[Example(summary=code, value={"error": MEANINGS[status].split(":")[0], "code": code,
                                               "requestId": "req-3f2a9c1e00000001"})],
    )


def document_errors(app: Litestar) -> None:
    """Give every documented operation its error responses (replacing Litestar's ``{status_code,
    detail}`` 400): run once the app is built, before the OpenAPI document is first rendered."""
    extras = route_specific()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        by_handler: dict[int, tuple[HTTPRouteHandler, set[str], Any]] = {}
        for method, (handler, kwargs) in route.route_handler_map.items():
            if method in ("OPTIONS", "HEAD") or not handler.resolve_include_in_schema():
                continue
            by_handler.setdefault(id(handler), (handler, set(), kwargs))[1].add(method)
        for handler, methods, kwargs in by_handler.values():
            statuses = error_statuses(
                handler, methods,
                path_params=bool(kwargs.expected_path_params),
                query={p.field_alias for p in kwargs.expected_query_params},
                reads_body=bool({"data", "body"} & set(kwargs.expected_reserved_kwargs)),
                extra=extras.get(handler.fn, ()),
            )
            kept = {status: spec for status, spec in (handler.responses or {}).items() if status < 400}
            handler.responses = {**{status: error_response(status) for status in sorted(statuses)}, **kept}
