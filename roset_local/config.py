"""Settings: one frozen object, built from the environment and CLI flags, never at import time."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

DEFAULT_PORT = 8700
_SPACE_ROOT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,62})=(.+)$")


def parse_local_roots(raw: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """``ROSET_LOCAL_ROOTS`` (entries joined by ``os.pathsep``): plain ``/path`` entries (for
    unconfined keys only) and ``space=/path`` entries (a root that belongs to one space)."""
    plain: list[str] = []
    mapped: list[tuple[str, str]] = []
    for entry in (e.strip() for e in raw.split(os.pathsep)):
        match = _SPACE_ROOT.match(entry)
        if match:
            mapped.append((match.group(1), match.group(2)))
        elif entry:
            plain.append(entry)
    return tuple(plain), tuple(mapped)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _floats(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise SystemExit(f"{name} must be comma-separated seconds, got {raw!r}") from None


def shared_models_dir(env: Mapping[str, str]) -> Path:
    """ROSET_MODELS_DIR, else this user's cache: one copy of the offline models for every data directory."""
    if env.get("ROSET_MODELS_DIR"):
        return Path(env["ROSET_MODELS_DIR"])
    cache = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(cache) / "roset-local" / "models"


# Standard-Webhooks-style schedule: ~5 s, 30 s, then back off to 24 h in total.
DEFAULT_WEBHOOK_SCHEDULE = (5.0, 30.0, 120.0, 900.0, 3600.0, 7200.0, 14400.0, 28800.0, 28800.0)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    storage_url: str | None = None  # fsspec URL of the blob store; None → file://DATA/blobs
    storage_options: str | None = None  # JSON object of fsspec options for storage_url (endpoint, keys)
    admin_key: str | None = None
    secret_key: str | None = None  # encrypts provider keys / credentials; None → DATA/secret.key
    log_format: str = "text"
    log_level: str = "info"
    rate_limit_per_minute: int = 600
    anon_rate_limit_per_minute: int = 300  # per client address: public pages, bad or missing keys
    max_upload_bytes: int = 5 * 1024**3
    workers: int = field(default_factory=lambda: os.cpu_count() or 2)
    consumer: bool = True  # run the queue consumer inside the server process
    # Start the extraction worker processes in the background right after start-up (with the consumer).
    prestart_extraction: bool = True
    job_timeout_seconds: int = 1800
    upload_url_ttl_seconds: int = 3600
    public_url: str | None = None  # base of absolute URLs handed out; None → http://host:port
    local_roots: tuple[str, ...] = ()  # roots any unconfined key may use for ``local`` connections
    space_roots: tuple[tuple[str, str], ...] = ()  # (space, root): roots that belong to one space
    webhook_schedule: tuple[float, ...] = DEFAULT_WEBHOOK_SCHEDULE
    # The Whisper model is ~140 MB once joined: shared, not copied into each data directory.
    models_dir: Path = field(default_factory=lambda: shared_models_dir(os.environ))
    webhook_timeout_seconds: float = 10.0
    outbound_allow_private: bool = True  # private/loopback targets for webhooks, providers, connections
    metrics_public: bool = False
    pages_limit: int | None = None
    log_retention_days: int = 7
    audit_retention_days: int = 365
    admin_password: str | None = None
    ann_min_vectors: int = 20_000  # below this many vectors a table is searched exactly, without the ANN graph
    ann_save_seconds: float = 60.0  # the ANN index is saved at most this often while it changes (and at shutdown)
    min_free_bytes: int = 256 * 1024**2  # below this: /ready 503 and uploads 507 (the disk never fills)
    test_faults: bool = False  # lets tests make extraction crash/hang on purpose; never in production
    # Connection sync schedule: how often the scheduler looks at most, and the length of a schedule
    # "minute" (ROSET_SYNC_MINUTE_SECONDS: tests and demos shorten it; the scheduler then looks sooner).
    sync_tick_seconds: float = 30.0
    sync_minute_seconds: float = 60.0
    live_sync: bool = True  # the server watches local connections' directories (changes applied in seconds)
    queue_url: str | None = None  # None → huey on DATA/queue.db; redis://host:port/db → a queue worker hosts share
    worker_lease_seconds: float = 30.0  # a worker host's job lease in Redis (renewed every fifth of it)

    @classmethod
    def from_args(cls, args: object) -> "Settings":
        """Settings for a command: ``ROSET_*`` variables, then whichever common flags the command has."""
        flags = {"data_dir": "data_dir", "host": "host", "port": "port", "log_format": "log_format",
                 "workers": "workers", "queue_url": "queue", "storage_url": "storage"}
        return cls.from_env(**{field: getattr(args, flag, None) for field, flag in flags.items()})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> "Settings":
        """Build settings from ``ROSET_*`` variables; keyword overrides (CLI flags) win."""
        env = os.environ if env is None else env
        data_dir = Path(env.get("ROSET_DATA_DIR") or "data")
        pages_limit = _int(env, "ROSET_PAGES_LIMIT", 0)
        roots, space_roots = parse_local_roots(env.get("ROSET_LOCAL_ROOTS") or "")
        settings = cls(
            data_dir=data_dir,
            host=env.get("ROSET_HOST") or "127.0.0.1",
            port=_int(env, "ROSET_PORT", DEFAULT_PORT),
            storage_url=env.get("ROSET_STORAGE_URL") or None,
            storage_options=env.get("ROSET_STORAGE_OPTIONS") or None,
            admin_key=env.get("ROSET_ADMIN_KEY") or None,
            secret_key=env.get("ROSET_SECRET_KEY") or None,
            log_format=env.get("ROSET_LOG_FORMAT") or "text",
            log_level=env.get("ROSET_LOG_LEVEL") or "info",
            rate_limit_per_minute=_int(env, "ROSET_RATE_LIMIT", 600),
            anon_rate_limit_per_minute=_int(env, "ROSET_ANON_RATE_LIMIT", 300),
            max_upload_bytes=_int(env, "ROSET_MAX_UPLOAD_BYTES", 5 * 1024**3),
            workers=_int(env, "ROSET_WORKERS", os.cpu_count() or 2),
            job_timeout_seconds=_int(env, "ROSET_JOB_TIMEOUT", 1800),
            public_url=env.get("ROSET_PUBLIC_URL") or None,
            local_roots=roots,
            space_roots=space_roots,
            webhook_schedule=_floats(env, "ROSET_WEBHOOK_SCHEDULE", DEFAULT_WEBHOOK_SCHEDULE),
            # One policy for every outbound target; the older webhook-only name still works.
            outbound_allow_private=_bool(
                env, "ROSET_OUTBOUND_ALLOW_PRIVATE", _bool(env, "ROSET_WEBHOOK_ALLOW_PRIVATE", True)
            ),
            metrics_public=_bool(env, "ROSET_METRICS_PUBLIC", False),
            pages_limit=pages_limit or None,
            audit_retention_days=_int(env, "ROSET_AUDIT_RETENTION_DAYS", 365),
            admin_password=env.get("ROSET_ADMIN_PASSWORD") or None,
            min_free_bytes=_int(env, "ROSET_MIN_FREE_BYTES", 256 * 1024**2),
            test_faults=_bool(env, "ROSET_TEST_FAULTS", False),
            ann_min_vectors=_int(env, "ROSET_ANN_MIN_VECTORS", 20_000),
            ann_save_seconds=float(_int(env, "ROSET_ANN_SAVE_SECONDS", 60)),
            consumer=_bool(env, "ROSET_CONSUMER", True),
            prestart_extraction=_bool(env, "ROSET_PRESTART_EXTRACTION", True),
            live_sync=_bool(env, "ROSET_LIVE_SYNC", True),
            sync_minute_seconds=_floats(env, "ROSET_SYNC_MINUTE_SECONDS", (60.0,))[0],
            queue_url=env.get("ROSET_QUEUE_URL") or None,
            worker_lease_seconds=float(_int(env, "ROSET_WORKER_LEASE_SECONDS", 30)),
            models_dir=shared_models_dir(env),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        for name in ("data_dir", "models_dir"):
            if name in clean:
                clean[name] = Path(str(clean[name]))
        return replace(settings, **clean)  # type: ignore[arg-type]

    @property
    def db_path(self) -> Path:
        return self.data_dir / "roset.db"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def blob_url(self) -> str:
        return self.storage_url or f"file://{(self.data_dir / 'blobs').resolve()}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host
        return f"http://{host}:{self.port}"
