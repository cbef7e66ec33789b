"""Webhooks end to end: a real receiver on 127.0.0.1 verifying with the standardwebhooks library."""

from __future__ import annotations

import base64
import errno
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from roset_local.app import create_app
from roset_local.config import Settings
from roset_local.store import webhooks as webhook_store
from roset_local.store.db import open_database
from roset_local.store.events import record_event
from tests.conftest import ADMIN_KEY, auth, free_port

FAST_SCHEDULE = "0.2,0.2,0.2"  # four attempts; huey's scheduler ticks every second

# -- a real receiver -------------------------------------------------------------------------------
@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on receipt


@dataclass
class Receiver:
    """Answers each POST with the next code of ``script`` (then ``default``); 3xx answers redirect."""

    port: int = field(default_factory=free_port)
    script: list[int] = field(default_factory=list)
    default: int = 200
    on_request: Callable[[Received], None] | None = None
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _url_given: bool = False  # once a test holds the URL, the port can no longer change

    @property
    def url(self) -> str:
        self._url_given = True
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                item = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                time.time())
                with receiver._lock:
                    receiver.requests.append(item)
                    code = receiver.script.pop(0) if receiver.script else receiver.default
                if receiver.on_request is not None:
                    receiver.on_request(item)
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_GET = _handle

            def log_message(self, *args: Any) -> None:
                return None

        for attempt in range(5):
            try:
                self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError as exc:
                # Another process took the port between free_port()'s check and this bind (seen
                # once in a full run): a fresh port, unless the test already handed this one out.
                if exc.errno != errno.EADDRINUSE or self._url_given or attempt == 4:
                    raise
                self.port = free_port()
        assert self._server is not None
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def posts(self, path: str = "/hook") -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy; returns its value or fails the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {"ROSET_WEBHOOK_SCHEDULE": FAST_SCHEDULE}, data_dir=tmp_path / "data", admin_key=ADMIN_KEY, workers=2
    )


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def make_webhook(client, url: str, events: list[str] | None = None) -> dict[str, Any]:
    r = client.post("/v1/webhooks", json={"url": url, "events": events or ["file.processing.completed"]})
    assert r.status_code == 201, r.text
    return r.json()


def emit(services, type_: str, data: dict[str, Any], space: str | None = "default") -> str:
    """What the pipeline does: record the event with the state change, then wake the relay."""
    with services.db.write():
        event_id = record_event(services.db, type_, data, space=space)
    services.hooks.events_committed()
    return event_id


def deliveries(client, webhook_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/v1/webhooks/{webhook_id}/deliveries")
    assert r.status_code == 200
    return r.json()["deliveries"]


def verify(secret: str, item: Received) -> dict[str, Any]:
    return Webhook(secret).verify(item.body, item.headers)


# -- endpoints ---------------------------------------------------------------------------------------
def test_create_shows_secret_once_then_get_list_patch_delete(client, receiver):
    created = make_webhook(client, receiver.url)
    assert created["active"] is True and created["events"] == ["file.processing.completed"]
    assert created["id"].startswith("wh-") and created["created_at"]
    secret = created["secret"]
    assert secret.startswith("whsec_") and 24 <= len(base64.b64decode(secret[len("whsec_"):])) <= 32

    got = client.get(f"/v1/webhooks/{created['id']}").json()
    assert got["url"] == receiver.url and "secret" not in got
    listed = client.get("/v1/webhooks").json()["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]] and "secret" not in listed[0]

    events = ["file.processing.completed", "file.processing.failed"]
    patched = client.patch(f"/v1/webhooks/{created['id']}", json={"events": events})
    assert patched.status_code == 200 and patched.json()["events"] == events and "secret" not in patched.json()
    assert client.patch(f"/v1/webhooks/{created['id']}", json={"events": ["file.exploded"]}).status_code == 400
    assert client.patch(f"/v1/webhooks/{created['id']}", json={"active": False}).json()["active"] is False
    assert client.patch(f"/v1/webhooks/{created['id']}", json={"enabled": True}).json()["active"] is True

    r = client.delete(f"/v1/webhooks/{created['id']}")
    assert r.status_code == 200 and r.json() == {"deleted": True}
    assert client.get(f"/v1/webhooks/{created['id']}").status_code == 404
    assert client.get(f"/v1/webhooks/{created['id']}/deliveries").status_code == 404
    assert client.delete(f"/v1/webhooks/{created['id']}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://127.0.0.1:9/hook", "events": ["file.exploded"]},
        {"url": "http://127.0.0.1:9/hook", "events": []},
        {"url": "http://127.0.0.1:9/hook"},
        {"events": ["file.uploaded"]},
    ],
)
def test_bad_bodies_are_400(client, body):
    r = client.post("/v1/webhooks", json=body)
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"


def test_scopes_read_and_write(client, receiver):
    key = client.post("/v1/org/api-keys", json={"name": "ro", "scopes": ["webhooks:read"]}).json()["key"]
    make_webhook(client, receiver.url)
    assert client.get("/v1/webhooks", headers=auth(key)).status_code == 200
    r = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["file.uploaded"]}, headers=auth(key))
    assert r.status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/hook",
        "file:///etc/passwd",
        "not a url",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://169.254.10.1/",  # link-local
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",  # metadata behind an IPv4-mapped address
        "http://2852039166/",  # metadata as one decimal number
    ],
)
def test_refused_targets_are_400(client, url):
    r = client.post("/v1/webhooks", json={"url": url, "events": ["file.uploaded"]})
    assert r.status_code == 400, r.text
    assert client.get("/v1/webhooks").json()["webhooks"] == []


def test_private_targets_refused_when_disallowed(settings, tmp_path, receiver):
    strict = replace(settings, outbound_allow_private=False, data_dir=tmp_path / "strict")
    strict_app = create_app(strict)
    with TestClient(strict_app, base_url="http://127.0.0.1:8700") as strict_client:
        strict_client.headers.update(auth())
        for url in (receiver.url, "http://localhost:9/", "http://10.1.2.3/", "http://[::1]:9/"):
            assert strict_client.post("/v1/webhooks", json={"url": url, "events": ["file.uploaded"]}).status_code == 400
        # A name that passed when saved but resolves to a private address at delivery (DNS rebinding)
        services = strict_app.app.state.services
        sneaky = webhook_store.insert_webhook(services.db, url=f"http://localhost:{receiver.port}/hook",
                                              events=["file.uploaded"], secret="whsec_" + "A" * 32)
        result = strict_client.post(f"/v1/webhooks/{sneaky['id']}/test").json()
        assert result["success"] is False and "refused" in result["error"]
        assert receiver.requests == []


# -- delivery ----------------------------------------------------------------------------------------
def test_test_event_is_signed_and_verifies(client, receiver):
    webhook = make_webhook(client, receiver.url)  # not subscribed to webhook.test: sent anyway
    result = client.post(f"/v1/webhooks/{webhook['id']}/test").json()
    assert result["success"] is True and result["status_code"] == 200
    (item,) = receiver.posts()
    assert item.headers["webhook-id"] == result["event_id"]
    assert item.headers["webhook-signature"].startswith("v1,")
    body = verify(webhook["secret"], item)
    assert body["type"] == "webhook.test" and body["data"]["webhook_id"] == webhook["id"]
    assert body["timestamp"].endswith("Z") and "T" in body["timestamp"]
    tampered = Received(item.method, item.path, item.headers, item.body.replace(b"test", b"tost"), item.at)
    with pytest.raises(WebhookVerificationError):
        verify(webhook["secret"], tampered)

    (row,) = deliveries(client, webhook["id"])
    assert row["status"] == "delivered" and row["status_code"] == 200 and row["attempt"] == 1
    assert row["event_type"] == "webhook.test" and row["duration_ms"] >= 0 and row["attempted_at"]


def test_outbox_events_reach_subscribers_only(client, services, receiver):
    completed = make_webhook(client, receiver.url, ["file.processing.completed"])
    other = Receiver().start()
    try:
        failed_only = make_webhook(client, other.url, ["file.processing.failed"])
        data = {"file_id": "f-1", "job_id": "job-1", "space": "default", "status": "completed"}
        event_id = emit(services, "file.processing.completed", data)
        item = wait_for(lambda: receiver.posts() and receiver.posts()[0])
        body = verify(completed["secret"], item)
        assert item.headers["webhook-id"] == event_id
        assert body["type"] == "file.processing.completed" and body["data"] == data
        failure = {"file_id": "f-2", "job_id": "job-2", "space": "default", "status": "failed", "error": "corrupt"}
        emit(services, "file.processing.failed", failure)
        other_item = wait_for(lambda: other.posts() and other.posts()[0])
        assert verify(failed_only["secret"], other_item)["data"]["error"] == "corrupt"
        time.sleep(0.3)  # give a wrong delivery the chance to show up
        assert len(receiver.posts()) == 1 and len(other.posts()) == 1
    finally:
        other.stop()


def test_unknown_event_type_cannot_be_recorded(services):
    with pytest.raises(ValueError), services.db.write():
        record_event(services.db, "file.exploded", {})


def test_retries_keep_the_webhook_id_and_every_attempt_is_a_row(client, services, receiver):
    receiver.script = [500, 503]
    webhook = make_webhook(client, receiver.url)
    event_id = emit(services, "file.processing.completed", {"file_id": "f", "job_id": "j", "space": "default",
                                                            "status": "completed"})
    wait_for(lambda: len(receiver.posts()) == 3)
    rows = wait_for(lambda: [r for r in deliveries(client, webhook["id"]) if r["status"] != "pending"]
                    if all(r["status"] != "pending" for r in deliveries(client, webhook["id"])) else None)
    assert [(r["attempt"], r["status"], r["status_code"]) for r in reversed(rows)] == [
        (1, "failed", 500), (2, "failed", 503), (3, "delivered", 200)
    ]
    assert {r.headers["webhook-id"] for r in receiver.posts()} == {event_id}
    for item in receiver.posts():  # each attempt is signed afresh and verifies
        verify(webhook["secret"], item)
    (event,) = client.get("/v1/webhook-events").json()["events"]
    assert event["id"] == event_id and event["webhook_id"] == webhook["id"] and event["delivered"] is True
    assert client.get(f"/v1/webhooks/{webhook['id']}").json()["active"] is True


def test_failing_for_the_whole_schedule_disables_until_patched(client, services, receiver):
    receiver.default = 500
    webhook = make_webhook(client, receiver.url)
    emit(services, "file.processing.completed", {"file_id": "f", "job_id": "j", "space": "default",
                                                 "status": "completed"})
    got = wait_for(lambda: (w := client.get(f"/v1/webhooks/{webhook['id']}").json()) and not w["active"] and w)
    assert "failed" in got["disabled_reason"]
    rows = deliveries(client, webhook["id"])
    assert [r["status"] for r in rows] == ["failed"] * 4 and len(receiver.posts()) == 4
    (event,) = client.get("/v1/webhook-events").json()["events"]
    assert event["delivered"] is False and event["status"] == "failed"

    # While disabled, new events are not sent; PATCH re-enables.
    emit(services, "file.processing.completed", {"file_id": "g", "job_id": "k", "space": "default",
                                                 "status": "completed"})
    time.sleep(0.8)
    assert len(receiver.posts()) == 4
    r = client.patch(f"/v1/webhooks/{webhook['id']}", json={"active": True})
    assert r.json()["active"] is True and r.json()["disabled_reason"] is None
    receiver.default = 200
    emit(services, "file.processing.completed", {"file_id": "h", "job_id": "l", "space": "default",
                                                 "status": "completed"})
    wait_for(lambda: len(receiver.posts()) == 5)


def test_redirects_are_not_followed(client, receiver):
    receiver.default = 302
    webhook = make_webhook(client, receiver.url)
    result = client.post(f"/v1/webhooks/{webhook['id']}/test").json()
    assert result["success"] is False and result["status_code"] == 302 and "redirect" in result["error"]
    client.delete(f"/v1/webhooks/{webhook['id']}")  # stop the retries
    time.sleep(0.3)
    assert receiver.posts("/elsewhere") == [] and len(receiver.posts()) == 1


def test_rotate_secret_invalidates_the_old_one_at_once(client, receiver):
    webhook = make_webhook(client, receiver.url)
    r = client.post(f"/v1/webhooks/{webhook['id']}/rotate-secret")
    assert r.status_code == 200
    rotated = r.json()
    assert rotated["id"] == webhook["id"] and rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != webhook["secret"]
    assert "secret" not in client.get(f"/v1/webhooks/{webhook['id']}").json()
    assert client.post(f"/v1/webhooks/{webhook['id']}/test").json()["success"] is True
    (item,) = receiver.posts()
    verify(rotated["secret"], item)
    with pytest.raises(WebhookVerificationError):
        verify(webhook["secret"], item)
    assert client.post("/v1/webhooks/wh-nope/rotate-secret").status_code == 404


def test_replay_resends_subscribed_events_in_range(client, services, receiver):
    webhook = make_webhook(client, receiver.url, ["file.processing.completed"])
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
    ids = [emit(services, "file.processing.completed", {"file_id": f"f{i}", "job_id": f"j{i}", "space": "default",
                                                        "status": "completed"}) for i in range(2)]
    emit(services, "file.uploaded", {"file_id": "f9", "space": "default", "status": "uploaded"})
    wait_for(lambda: len(receiver.posts()) == 2)

    r = client.post(f"/v1/webhooks/{webhook['id']}/replay", json={"since": before})
    assert r.status_code == 200 and r.json() == {"replayed": 2, "skipped": 1}
    wait_for(lambda: len(receiver.posts()) == 4)
    assert sorted(i.headers["webhook-id"] for i in receiver.posts()[2:]) == sorted(ids)
    for item in receiver.posts():
        verify(webhook["secret"], item)

    only = client.post(f"/v1/webhooks/{webhook['id']}/replay",
                       json={"since": before, "event_types": ["file.uploaded"]}).json()
    assert only == {"replayed": 0, "skipped": 1}
    old = client.post(f"/v1/webhooks/{webhook['id']}/replay",
                      json={"since": "2000-01-01T00:00:00Z", "until": "2000-01-02T00:00:00Z"}).json()
    assert old == {"replayed": 0, "skipped": 0}
    for body in ({"since": "yesterday"}, {"since": before, "event_types": ["nope"]}, {},
                 {"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}):
        assert client.post(f"/v1/webhooks/{webhook['id']}/replay", json=body).status_code == 400


def test_webhook_events_filter_and_pages(client, services, receiver):
    webhook = make_webhook(client, receiver.url, ["file.processing.completed", "file.deleted"])
    for i in range(3):
        emit(services, "file.processing.completed", {"file_id": f"f{i}", "job_id": f"j{i}", "space": "default",
                                                     "status": "completed"})
    emit(services, "file.deleted", {"file_id": "f0", "space": "default"})
    wait_for(lambda: len(receiver.posts()) == 4)
    wait_for(lambda: all(e["delivered"] for e in client.get("/v1/webhook-events").json()["events"]))

    seen, cursor = [], None
    while True:
        params = {"limit": 2, "event_type": "file.processing.completed"} | ({"cursor": cursor} if cursor else {})
        body = client.get("/v1/webhook-events", params=params).json()
        seen += body["events"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 3 and len({e["id"] for e in seen}) == 3
    assert all(e["type"] == "file.processing.completed" and e["webhook_id"] == webhook["id"] for e in seen)
    assert [e["data"]["file_id"] for e in seen] == ["f2", "f1", "f0"]  # newest first
    assert client.get("/v1/webhook-events", params={"event_type": "nope"}).status_code == 400
    assert client.get("/v1/webhook-events", params={"cursor": "garbage!"}).status_code == 400
    page1 = client.get(f"/v1/webhooks/{webhook['id']}/deliveries", params={"limit": 3}).json()
    page2 = client.get(f"/v1/webhooks/{webhook['id']}/deliveries",
                       params={"limit": 3, "cursor": page1["next_cursor"]}).json()
    assert len(page1["deliveries"]) == 3 and len(page2["deliveries"]) == 1 and page2["next_cursor"] is None


def test_deleting_a_webhook_stops_its_retries(client, services, receiver):
    receiver.default = 500
    webhook = make_webhook(client, receiver.url)
    emit(services, "file.processing.completed", {"file_id": "f", "job_id": "j", "space": "default",
                                                 "status": "completed"})
    wait_for(lambda: len(receiver.posts()) >= 1)
    assert client.delete(f"/v1/webhooks/{webhook['id']}").status_code == 200
    count = len(receiver.posts())
    time.sleep(1.5)  # past the next scheduled retry
    assert len(receiver.posts()) == count
    assert client.get("/v1/webhook-events").json()["events"] == []


# -- crash safety (the real server, SIGKILL) -----------------------------------------------------------
def test_event_survives_sigkill_between_state_change_and_delivery(make_live_server):
    receiver = Receiver()  # port reserved, not listening yet: the receiver is down
    server = make_live_server(ROSET_WEBHOOK_SCHEDULE="3,0.2,0.2")
    with server.client() as api:
        webhook = api.post("/v1/webhooks", json={"url": receiver.url, "events": ["file.processing.completed"]}).json()
        result = api.post(f"/v1/webhooks/{webhook['id']}/test").json()
        assert result["success"] is False and result["error"]  # connection refused; retry due in 3 s
    server.kill()
    # The queue loses its scheduled retry too: delivery must rest on the database alone.
    for path in server.data_dir.glob("queue.db*"):
        path.unlink()
    # A state change committed with its event, and the server died before relaying it.
    db = open_database(server.data_dir / "roset.db")
    with db.write():
        file_event = record_event(db, "file.processing.completed",
                                  {"file_id": "f-1", "job_id": "j-1", "space": "default", "status": "completed"},
                                  space="default")
    db.close()

    receiver.start()
    try:
        server.start()
        wait_for(lambda: len(receiver.posts()) == 2, timeout=30)
        by_id = {item.headers["webhook-id"]: verify(webhook["secret"], item) for item in receiver.posts()}
        assert by_id[result["event_id"]]["type"] == "webhook.test"
        assert by_id[file_event]["data"]["file_id"] == "f-1"
        with server.client() as api:
            rows = wait_for(lambda: [r for r in api.get(f"/v1/webhooks/{webhook['id']}/deliveries").json()
                                     ["deliveries"] if r["event_id"] == result["event_id"]
                                     and r["status"] == "delivered"] and api.get(
                f"/v1/webhooks/{webhook['id']}/deliveries").json()["deliveries"])
        test_rows = sorted((r["attempt"], r["status"]) for r in rows if r["event_id"] == result["event_id"])
        assert test_rows == [(1, "failed"), (2, "delivered")]
        assert webhook["secret"] not in server.logs()
    finally:
        receiver.stop()
