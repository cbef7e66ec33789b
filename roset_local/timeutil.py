"""UTC timestamps in the contract's ``YYYY-MM-DD HH:MM:SS`` form, and ISO 8601 parsing for requests."""

from __future__ import annotations

import time
from datetime import datetime, timezone

FORMAT = "%Y-%m-%d %H:%M:%S"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def now_str() -> str:
    return utcnow().strftime(FORMAT)


def to_str(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime(FORMAT)


def from_epoch(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(FORMAT)


def parse(value: str) -> datetime:
    """Parse ISO 8601 (``Z`` allowed) or the contract form; naive values are UTC. Raises ValueError."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def epoch_ms() -> int:
    return int(time.time() * 1000)
