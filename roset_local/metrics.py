"""GET /metrics in the Prometheus text format: jobs, files, queue depth, job latency, HTTP traffic.

HTTP figures are collected in this process (since start); job and file figures come from the
analytics rollups, so they survive restarts. Public when ROSET_METRICS_PUBLIC is set, otherwise
the caller needs an unconfined API key with ``analytics:read``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from litestar import Request, Response, get

from roset_local import __version__
from roset_local.handlers import blocking, services_of
from roset_local.auth import authenticate_key
from roset_local.errors import Unauthorized
from roset_local.observe import HTTP_BUCKETS_S
from roset_local.queue import queue_depth
from roset_local.store import analytics as analytics_store
from roset_local.store import keys as key_store

# Litestar appends "; charset=utf-8" to text/ media types itself (naming it here sent it twice).
MEDIA_TYPE = "text/plain; version=0.0.4"


# -- exposition ---------------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _num(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, labels: Iterable[tuple[str, str]] = ()) -> None:
        self.lines.append(f"{name}{_labels(labels)} {_num(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(services: Any) -> str:
    db = services.db
    out = Exposition()
    out.family("roset_info", "gauge", "Roset Local build information.")
    out.sample("roset_info", 1, [("version", __version__)])

    out.family("roset_jobs", "gauge", "Jobs by status.")
    jobs = analytics_store.jobs_by_status(db)
    for status in sorted(set(jobs) | {"queued", "processing", "completed", "failed", "cancelled"}):
        out.sample("roset_jobs", jobs.get(status, 0), [("status", status)])

    out.family("roset_files", "gauge", "Files by status.")
    files = analytics_store.files_by_status(db)
    for status in sorted(set(files) | {"uploading", "uploaded", "processing", "completed", "failed"}):
        out.sample("roset_files", files.get(status, 0), [("status", status)])

    out.family("roset_queue_depth", "gauge", "Tasks waiting in the queue (pending and scheduled).")
    depth = _unless_queue_down(lambda: queue_depth(services.huey))
    if depth is not None:  # a shared queue that does not answer: no sample rather than a failed scrape
        out.sample("roset_queue_depth", depth)

    workers = _unless_queue_down(services.scaleout.status) if services.scaleout is not None else None
    if workers is not None:
        worker_metrics(out, workers)

    out.family("roset_job_duration_seconds", "histogram", "Processing time of completed jobs.")
    buckets, count, ms_sum = analytics_store.duration_histogram(db)
    for bound_ms, cumulative in buckets:
        le = "+Inf" if bound_ms == math.inf else _num(bound_ms / 1000)
        out.sample("roset_job_duration_seconds_bucket", cumulative, [("le", le)])
    out.sample("roset_job_duration_seconds_sum", ms_sum / 1000)
    out.sample("roset_job_duration_seconds_count", count)

    requests, durations = services.http_metrics.snapshot()
    out.family("roset_http_requests_total", "counter", "HTTP requests by method, route template and status.")
    for (method, route, status), n in sorted(requests.items()):
        out.sample("roset_http_requests_total", n, [("method", method), ("route", route), ("status", status)])
    out.family("roset_http_request_duration_seconds", "histogram", "HTTP request duration by method and route template.")
    for (method, route), hist in sorted(durations.items()):
        base = [("method", method), ("route", route)]
        for bound, hits in zip(HTTP_BUCKETS_S, hist):
            out.sample("roset_http_request_duration_seconds_bucket", hits, base + [("le", _num(bound))])
        out.sample("roset_http_request_duration_seconds_bucket", hist[-2], base + [("le", "+Inf")])
        out.sample("roset_http_request_duration_seconds_sum", round(hist[-1], 6), base)
        out.sample("roset_http_request_duration_seconds_count", hist[-2], base)
    return out.text()


def _unless_queue_down(read: Callable[[], Any]) -> Any:
    from roset_local.queue import queue_down_errors

    try:
        return read()
    except queue_down_errors():
        return None


def worker_metrics(out: Exposition, status: dict[str, Any]) -> None:
    """Worker hosts (ROSET_QUEUE_URL): the work queue's depth and each host's jobs and last report."""
    out.family("roset_work_queue_depth", "gauge", "Work orders waiting for a worker host.")
    out.sample("roset_work_queue_depth", status["work_queue_depth"])
    out.family("roset_workers", "gauge", "Worker hosts that reported in the last seconds.")
    out.sample("roset_workers", len(status["workers"]))
    out.family("roset_worker_jobs_running", "gauge", "Jobs running on each worker host.")
    for w in status["workers"]:
        out.sample("roset_worker_jobs_running", w["jobs_running"], [("host", w["host"])])
    out.family("roset_worker_last_seen_seconds", "gauge", "Seconds since each worker host last reported.")
    for w in status["workers"]:
        out.sample("roset_worker_last_seen_seconds", w["last_seen_seconds"], [("host", w["host"])])


def _authorize(request: Request) -> None:
    """Without ROSET_METRICS_PUBLIC: an API key with analytics:read (the route itself is public)."""
    services = services_of(request)
    if services.settings.metrics_public:
        return
    scheme, _, token = (request.headers.get("authorization") or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in {"apikey", "bearer"} or not token.startswith(key_store.KEY_PREFIX):
        raise Unauthorized("Missing Authorization header (use 'ApiKey rsk_...')")
    principal = authenticate_key(services.db, token)
    state = request.scope.setdefault("state", {})
    state.update(principal=principal, auth_type=principal.auth_type, key_id=principal.key_id, key_name=principal.key_name)
    principal.require_scope("analytics:read")
    principal.require_unconfined()  # figures of every space


@get("/metrics", opt={"public": True}, tags=["system"], media_type=MEDIA_TYPE,
     security=[{"ApiKey": []}])  # the route is public to the guard; _authorize asks for the key
@blocking
def metrics(request: Request) -> Response[str]:
    """Prometheus text format. Needs an unconfined API key with ``analytics:read`` unless the server runs
    with ROSET_METRICS_PUBLIC."""
    _authorize(request)
    return Response(render(services_of(request)), media_type=MEDIA_TYPE)


ROUTES = [metrics]
