"""One delivery attempt: claim the pending row, sign, POST to the checked address, record the outcome."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx

from roset_local import __version__
from roset_local.config import Settings
from roset_local.netguard import IPAddress, OutboundRefused, Target, pinned_address
from roset_local.secrets import SecretBox, SecretError
from roset_local.store import webhooks as store
from roset_local.store.db import Database, Row
from roset_local.store.events import get_event
from roset_local.timeutil import from_epoch
from roset_local.webhooks.sealing import unseal
from roset_local.webhooks.signing import signed_headers

log = logging.getLogger("roset_local.webhooks")

TEST_EVENT = "webhook.test"
USER_AGENT = f"Roset-Local-Webhooks/{__version__}"
MAX_ERROR = 300


@dataclass(frozen=True)
class FollowUp:
    """The next attempt a failed one scheduled: run ``delivery_id`` after ``delay`` seconds."""

    delivery_id: str
    delay: float


def iso_timestamp(contract_time: str) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) → ISO 8601 ``YYYY-MM-DDTHH:MM:SSZ``."""
    return contract_time.replace(" ", "T") + "Z"


def payload(event: Row) -> bytes:
    """The request body, identical for every attempt of one event: ``{"type","timestamp","data"}``."""
    body = {"type": event["type"], "timestamp": iso_timestamp(event["created_at"]), "data": event["data"]}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class Sender:
    """HTTP for attempts: never follows redirects, ignores proxy variables, connects to a pinned address.

    Plain-http receivers share one connection pool (the Host header carries the name). Each https
    host name gets its own small pool, so a TLS session verified for one name is never reused for
    another name that happens to resolve to the same address.
    """

    MAX_TLS_POOLS = 32

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._plain = self._client()
        self._tls: OrderedDict[str, httpx.Client] = OrderedDict()

    def _client(self) -> httpx.Client:
        return httpx.Client(
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            headers={"user-agent": USER_AGENT},
        )

    def _client_for(self, target: Target) -> httpx.Client:
        if target.url.scheme == "http":
            return self._plain
        key = f"{target.host}:{target.port}"
        with self._lock:
            client = self._tls.get(key)
            if client is None:
                client = self._tls[key] = self._client()
                while len(self._tls) > self.MAX_TLS_POOLS:
                    self._tls.popitem(last=False)[1].close()
            self._tls.move_to_end(key)
            return client

    def post(self, target: Target, address: IPAddress, headers: dict[str, str], body: bytes) -> tuple[int, str | None]:
        """POST ``body`` to ``address``; returns (status code, Location header). Raises httpx errors."""
        client = self._client_for(target)
        url = target.url.copy_with(host=str(address))
        host_header = target.url.netloc.decode("ascii")
        extensions: dict[str, Any] = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        request = client.build_request(
            "POST", url, headers={**headers, "host": host_header}, content=body, extensions=extensions
        )
        response = client.send(request, stream=True)  # the receiver's body is never read
        try:
            return response.status_code, response.headers.get("location")
        finally:
            response.close()

    def close(self) -> None:
        with self._lock:
            self._plain.close()
            for client in self._tls.values():
                client.close()
            self._tls.clear()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:MAX_ERROR]


def send_attempt(settings: Settings, sender: Sender, webhook: Row, event: Row) -> tuple[bool, int | None, str | None]:
    """Sign and send one attempt; returns (delivered, status code, error). Never raises for the network."""
    body = payload(event)
    try:
        target, address = pinned_address(webhook["url"], allow_private=settings.outbound_allow_private)
        # A fresh timestamp per attempt (receivers reject old ones); the id stays the event's.
        headers = signed_headers(webhook["secret"], event["id"], int(time.time()), body)
        status, location = sender.post(target, address, headers, body)
    except OutboundRefused as exc:
        return False, None, f"target refused: {exc}"
    except httpx.TimeoutException:
        return False, None, f"timed out after {settings.webhook_timeout_seconds:g} s"
    except (httpx.HTTPError, OSError) as exc:
        return False, None, _describe(exc)
    if 200 <= status < 300:
        return True, status, None
    if 300 <= status < 400:
        return False, status, f"HTTP {status}: redirects are not followed (Location: {location or '-'})"[:MAX_ERROR]
    return False, status, f"HTTP {status}"


def covers_space(webhook: Row, space: str | None) -> bool:
    """Does the webhook receive events of ``space``? An event of no space only reaches all-space webhooks."""
    spaces = webhook.get("spaces")
    return spaces is None or (space is not None and space in spaces)


def run_attempt(
    db: Database, settings: Settings, sender: Sender, delivery_id: str, box: SecretBox
) -> FollowUp | None:
    """Make the attempt ``delivery_id`` if it is due and nobody else holds it.

    Returns the follow-up attempt when this one failed and the schedule has another step; the
    caller dispatches it after ``delay``. A webhook whose attempts fail for the whole schedule, with
    no successful delivery since, is set inactive.
    """
    token = secrets.token_hex(8)
    lease = settings.webhook_timeout_seconds * 3 + 15
    row = store.claim_delivery(db, delivery_id, token=token, lease=lease)
    if row is None:
        return None
    webhook = store.get_webhook(db, row["webhook_id"])
    event = get_event(db, row["event_id"])
    started = time.time()
    retry = True
    status: int | None
    error: str | None
    if webhook is None or event is None:
        ok, status, error, retry = False, None, "the webhook or the event no longer exists", False
    elif not webhook["active"] and row["event_type"] != TEST_EVENT:
        ok, status, error, retry = False, None, "the webhook is disabled", False
    elif row["event_type"] != TEST_EVENT and not covers_space(webhook, event.get("space")):
        # its spaces were narrowed after this event was queued (or a replay crossed them)
        ok, status, error, retry = False, None, "the webhook no longer covers this event's space", False
    else:
        try:
            secret = unseal(box, webhook["secret"])
        except SecretError:
            ok, status, error, retry = False, None, "the signing secret cannot be decrypted; rotate it", False
        else:
            ok, status, error = send_attempt(settings, sender, {**webhook, "secret": secret}, event)
    duration_ms = int((time.time() - started) * 1000)
    return _record(db, settings, row, token, ok, status, error, duration_ms, started, retry)


def _record(
    db: Database, settings: Settings, row: Row, token: str, ok: bool, status: int | None, error: str | None,
    duration_ms: int, started: float, retry: bool,
) -> FollowUp | None:
    schedule = settings.webhook_schedule
    attempt = int(row["attempt"])
    with db.write():
        done = store.complete_attempt(
            db, row["id"], token=token, status="delivered" if ok else "failed", status_code=status,
            duration_ms=duration_ms, error=error, attempted_at=from_epoch(started),
        )
        if not done:  # our lease ran out and another worker took the attempt over
            return None
        if ok:
            store.set_message_status(db, row["message_id"], "delivered")
            return None
        if retry and attempt <= len(schedule):
            delay = float(schedule[attempt - 1])
            next_id = store.add_attempt(
                db, row["message_id"], row["webhook_id"], row["event_id"], row["event_type"],
                attempt=attempt + 1, due=time.time() + delay,
            )
            store.set_message_status(db, row["message_id"], "pending")
            return FollowUp(next_id, delay)
        store.set_message_status(db, row["message_id"], "failed")
        if retry and not store.delivered_since_round(db, row["webhook_id"], row["message_id"]):
            reason = f"{attempt} delivery attempts failed (last: {error})"[:MAX_ERROR]
            if store.disable_webhook(db, row["webhook_id"], reason):
                log.warning("webhook %s disabled: %s", row["webhook_id"], reason)
    return None
