"""Webhook delivery benchmark: deliveries/s and delay from an event row's creation to its receipt.

Starts Roset Local (uvicorn in this process, on a temp data directory) and a local receiver that
verifies every signature, registers a webhook over HTTP, then records events the way the pipeline
does (``record_event`` inside ``db.write()``, then ``events_committed()``), first as a burst
(throughput) and then paced (latency). Goal: p95 delay under 1 s.

    .venv/bin/python scripts/bench_webhooks.py --events 1000 --rate 50
    .venv/bin/python scripts/bench_webhooks.py --no-wake    # the 0.5 s polling fallback only
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import socket
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from roset_local.app import create_app  # noqa: E402
from roset_local.config import Settings  # noqa: E402
from roset_local.store.events import record_event  # noqa: E402

ADMIN_KEY = "rsk_bench_admin_key_0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    """Records the receipt time of each webhook-id after checking its Standard Webhooks signature."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.bad = 0
        self.secret = b""
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                at = time.time()
                msg_id = self.headers.get("webhook-id", "")
                signed = f"{msg_id}.{self.headers.get('webhook-timestamp')}.".encode() + body
                expected = "v1," + base64.b64encode(hmac.new(receiver.secret, signed, hashlib.sha256).digest()).decode()
                with receiver.done:
                    if hmac.compare_digest(expected, self.headers.get("webhook-signature", "")):
                        receiver.received.setdefault(msg_id, at)
                    else:
                        receiver.bad += 1
                    receiver.done.notify_all()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, ids: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.done:
            while not all(i in self.received for i in ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.done.wait(left)
        return True


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def emit(services: Any, created: dict[str, float], wake: bool, i: int) -> str:
    db = services.db
    with db.write():
        t = time.time()
        event_id = record_event(db, "file.processing.completed",
                                {"file_id": f"f-{i}", "job_id": f"j-{i}", "space": "default", "status": "completed"},
                                space="default")
    created[event_id] = t
    if wake:
        services.hooks.events_committed()
    return event_id


def report(name: str, ids: list[str], created: dict[str, float], receiver: Receiver) -> None:
    delays = [receiver.received[i] - created[i] for i in ids if i in receiver.received]
    span = max(receiver.received[i] for i in ids if i in receiver.received) - min(created[i] for i in ids)
    print(f"{name}: {len(delays)}/{len(ids)} delivered in {span:.2f} s = {len(delays) / span:.0f} deliveries/s; "
          f"delay p50 {statistics.median(delays) * 1000:.0f} ms, p95 {pct(delays, 0.95) * 1000:.0f} ms, "
          f"max {max(delays) * 1000:.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500, help="events in the burst and in the paced run")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second in the paced run")
    parser.add_argument("--no-wake", action="store_true", help="do not call events_committed (poll only)")
    args = parser.parse_args()

    receiver = Receiver()
    data_dir = Path(tempfile.mkdtemp(prefix="roset-bench-webhooks-"))
    port = free_port()
    settings = Settings.from_env({}, data_dir=data_dir, admin_key=ADMIN_KEY, port=port, log_level="warning")
    app = create_app(settings)
    services = app.app.state.services
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    with httpx.Client(base_url=base, headers={"Authorization": f"ApiKey {ADMIN_KEY}"}) as api:
        webhook = api.post("/v1/webhooks", json={"url": receiver.url, "events": ["file.processing.completed"]}).json()
    receiver.secret = base64.b64decode(webhook["secret"][len("whsec_"):])
    wake = not args.no_wake
    print(f"server {base}, receiver {receiver.url}, {args.events} events per run, "
          f"{'events_committed() after each commit' if wake else 'polling fallback only'}")

    created: dict[str, float] = {}
    burst = [emit(services, created, wake, i) for i in range(args.events)]
    ok = receiver.wait(burst, timeout=120)
    report("burst ", burst, created, receiver)

    paced: list[str] = []
    start = time.monotonic()
    for i in range(args.events):
        time.sleep(max(0.0, start + i / args.rate - time.monotonic()))
        paced.append(emit(services, created, wake, args.events + i))
    ok = receiver.wait(paced, timeout=120) and ok
    report(f"paced {args.rate:g}/s", paced, created, receiver)
    if receiver.bad:
        print(f"{receiver.bad} requests failed signature verification")
    server.should_exit = True
    time.sleep(0.5)
    return 0 if ok and not receiver.bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
