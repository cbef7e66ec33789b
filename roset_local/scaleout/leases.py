"""Job leases across hosts: one Redis key per (job, attempt), renewed by the worker host with a TTL."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from roset_local.scaleout.queues import REMOTE_JOBS, WORKER_PREFIX, lease_key

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
OFFER_TTL = 7 * 24 * 3600  # an order waiting in the queue keeps its lease; only a taken one must be renewed

# Take the lease only while the order is still offered: a cancelled or reclaimed order has no key.
_TAKE = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if cjson.decode(v)['state'] ~= 'queued' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


@dataclass
class Lease:
    state: str
    host: str | None = None
    stage: str | None = None
    progress: int = 0
    since: float = 0.0  # when the lease was last written (time.time()): offered, renewed or finished
    report: dict[str, Any] | None = None  # a finished attempt's commit, kept until the API host applies it


def _encode(state: str, host: str | None = None, stage: str | None = None, progress: int = 0,
            report: dict[str, Any] | None = None) -> str:
    return json.dumps({"state": state, "host": host, "stage": stage, "progress": progress, "since": time.time(),
                       "report": report})


class Leases:
    """Every Redis key of the scale-out protocol besides huey's own; ``redis`` is a redis-py client."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._take = redis.register_script(_TAKE)

    # -- the API host --------------------------------------------------------------------------
    def offer(self, job_id: str, attempt: int) -> None:
        """Before the order is enqueued: the attempt exists and waits for a worker host."""
        def both(pipe: Any) -> None:
            pipe.set(lease_key(job_id, attempt), _encode(QUEUED), ex=OFFER_TTL)
            pipe.sadd(REMOTE_JOBS, f"{job_id}:{attempt}")

        self.redis.transaction(both)

    def withdraw(self, job_id: str, attempt: int) -> None:
        """The attempt is over (committed, discarded, cancelled or lost): a running worker stops at its
        next renewal, and an order still queued is dropped when taken."""
        def both(pipe: Any) -> None:
            pipe.delete(lease_key(job_id, attempt))
            pipe.srem(REMOTE_JOBS, f"{job_id}:{attempt}")

        self.redis.transaction(both)

    def remote_jobs(self) -> list[tuple[str, int]]:
        out = []
        for member in self.redis.smembers(REMOTE_JOBS):
            job_id, _, attempt = (member.decode() if isinstance(member, bytes) else member).rpartition(":")
            if attempt.isdigit():
                out.append((job_id, int(attempt)))
        return out

    def read(self, job_id: str, attempt: int) -> Lease | None:
        raw = self.redis.get(lease_key(job_id, attempt))
        if raw is None:
            return None
        data = json.loads(raw)
        return Lease(data["state"], data.get("host"), data.get("stage"), int(data.get("progress") or 0),
                     float(data.get("since") or 0), data.get("report"))

    # -- a worker host -------------------------------------------------------------------------
    def take(self, job_id: str, attempt: int, host: str, ttl: float) -> bool:
        return bool(self._take(keys=[lease_key(job_id, attempt)],
                               args=[_encode(RUNNING, host, "starting"), max(1, int(ttl))]))

    def renew(self, job_id: str, attempt: int, host: str, ttl: float, stage: str, progress: int) -> bool:
        """Extend a running lease; False once it is gone (withdrawn, or expired: stop working)."""
        return bool(self.redis.set(lease_key(job_id, attempt), _encode(RUNNING, host, stage, progress),
                                   ex=max(1, int(ttl)), xx=True))

    def finish(self, job_id: str, attempt: int, host: str, report: dict[str, Any]) -> bool:
        """The result is stored and its commit about to be queued: the lease no longer expires, so the
        API host does not re-run the job while the commit waits, and it carries the commit itself, so
        the API host applies it even if the queued one is lost (the worker host dies before queueing
        it, or the task fails). False when the lease was lost."""
        return bool(self.redis.set(lease_key(job_id, attempt), _encode(DONE, host, "finishing", 95, report),
                                   ex=OFFER_TTL, xx=True))

    # -- the worker registry -------------------------------------------------------------------
    def beat_worker(self, worker_id: str, info: dict[str, Any], ttl: float) -> None:
        info = {**info, "last_seen": time.time()}
        self.redis.set(WORKER_PREFIX + worker_id, json.dumps(info), ex=max(1, int(ttl)))

    def drop_worker(self, worker_id: str) -> None:
        self.redis.delete(WORKER_PREFIX + worker_id)

    def workers(self) -> list[dict[str, Any]]:
        keys = sorted(self.redis.scan_iter(match=WORKER_PREFIX + "*", count=200))
        values = self.redis.mget(keys) if keys else []
        return [json.loads(v) for v in values if v is not None]
