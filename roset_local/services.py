"""The one object that owns settings, databases, the queue, the blob store and background threads."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roset_local import queue as queue_mod
from roset_local.config import Settings
from roset_local.store import keys as key_store
from roset_local.store.db import Database, DatabaseError, open_database
from roset_local.store.migrations import Migrations, apply_migrations
from roset_local.store.settings import get_setting, set_setting
from roset_local.storage.blobs import BlobStore, open_store
from roset_local.storage.diskspace import DiskSpace

if TYPE_CHECKING:
    from roset_local.scaleout.server import ScaleOut

log = logging.getLogger("roset_local")


class StartupError(Exception):
    """A problem an operator must fix before the server can start; printed without a traceback."""


def _check_data_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)  # holds keys, secrets and every file
    except OSError as exc:
        raise StartupError(f"cannot create data directory {path}: {exc.strerror}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise StartupError(f"data directory {path} is not writable by this user")
    probe = path / ".write-probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StartupError(f"data directory {path} is not writable: {exc.strerror}") from exc


def migration_sets() -> list[Migrations]:
    """Every schema area, in dependency order. Each module owns its own set."""
    from roset_local.store import schema

    return list(schema.ALL)


class Services:
    """Built from settings; :meth:`open` prepares everything, :meth:`start`/:meth:`stop` run threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db: Database = None  # type: ignore[assignment]
        self.blobs: BlobStore = None  # type: ignore[assignment]
        self.disk: DiskSpace = None  # type: ignore[assignment]
        self.huey: Any = None
        self.consumer: Any = None
        self.rate_limiter: Any = None  # per key / portal token
        self.anon_limiter: Any = None  # per client address: public routes and failed authentication
        self.key_cache: Any = None
        self.log_writer: Any = None
        self.scaleout: ScaleOut | None = None  # set when ROSET_QUEUE_URL shares the queue with worker hosts
        self.org_id = "org-local"
        self._stoppers: list[Callable[[], None]] = []
        self._starters: list[Callable[[], None]] = []
        self.extensions: dict[str, Any] = {}

    # -- setup ---------------------------------------------------------------------------------
    def open(self) -> "Services":
        from roset_local.auth import RateLimiter
        from roset_local.observe import LogWriter

        s = self.settings
        if s.queue_url:
            from roset_local.scaleout.worker import check_settings

            try:
                check_settings(s)
            except ValueError as exc:
                raise StartupError(str(exc)) from None
        _check_data_dir(s.data_dir)
        try:
            self.db = open_database(s.db_path)
            apply_migrations(self.db, migration_sets())
        except DatabaseError as exc:
            raise StartupError(str(exc)) from exc
        except Exception as exc:  # sqlean raises its own DatabaseError subclasses
            if type(exc).__name__ in {"DatabaseError", "OperationalError"}:
                raise StartupError(
                    f"database {s.db_path} is damaged or unreadable ({exc}). Restore it from a backup "
                    "(roset-local restore) or move it away to start empty."
                ) from exc
            raise
        try:
            self.blobs = open_store(s.blob_url, s.storage_options)
        except Exception as exc:
            raise StartupError(f"cannot open blob store {s.blob_url}: {exc}") from exc
        self.disk = DiskSpace(s.data_dir, self.blobs.root if self.blobs.is_local else None, s.min_free_bytes)
        self.disk.ensure_reserve()
        self.org_id = get_setting(self.db, "org_id") or self._init_org_id()
        from roset_local.signing import Signer, load_signing_key

        self.extensions["signer"] = Signer(load_signing_key(s.data_dir))
        from roset_local.providers.models import list_models

        self.extensions["list_models"] = lambda: list_models(s.models_dir)
        self.huey = queue_mod.make_huey(s.queue_path, url=s.queue_url)
        self.rate_limiter = RateLimiter(s.rate_limit_per_minute)
        self.anon_limiter = RateLimiter(s.anon_rate_limit_per_minute)
        from roset_local.auth import KeyCache

        self.key_cache = KeyCache()
        self.log_writer = LogWriter(self.db)
        from roset_local.tasks import register_tasks

        register_tasks(self)
        return self

    def _init_org_id(self) -> str:
        org_id = "org-" + secrets.token_hex(6)
        set_setting(self.db, "org_id", org_id)
        return org_id

    def ensure_admin_key(self, announce: Callable[[str], None] | None = None) -> None:
        """ROSET_ADMIN_KEY makes that key exist; otherwise the first start creates one and says so."""
        s = self.settings
        if s.admin_key:
            if not s.admin_key.startswith(key_store.KEY_PREFIX) or len(s.admin_key) < 24:
                raise StartupError("ROSET_ADMIN_KEY must start with 'rsk_' and be at least 24 characters")
            key_store.ensure_env_key(self.db, s.admin_key)
            return
        if key_store.count_active(self.db) > 0:
            return
        row, raw = key_store.create_key(self.db, name="admin")
        path = s.data_dir / "admin-key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(raw + "\n")
        os.chmod(path, 0o600)
        message = (
            f"Created the first admin API key (shown once; also saved to {path}):\n\n    {raw}\n\n"
            "Use it as:  Authorization: ApiKey <key>"
        )
        (announce or (lambda m: print(m, file=sys.stderr, flush=True)))(message)

    def authenticate_portal(self, token: str) -> Any:
        handler = self.extensions.get("portal_auth")
        if handler is None:
            from roset_local.errors import Unauthorized

            raise Unauthorized("Invalid portal token")
        return handler(token)

    def on_stop(self, fn: Callable[[], None]) -> None:
        self._stoppers.append(fn)

    def on_start(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the server or a worker starts (after the queue consumer is up)."""
        self._starters.append(fn)

    # -- threads -------------------------------------------------------------------------------
    def start(self, *, consumer: bool | None = None) -> None:
        self.log_writer.start()
        run_consumer = self.settings.consumer if consumer is None else consumer
        if run_consumer:
            self.consumer = queue_mod.start_consumer(self.huey, self.settings.workers)
        for fn in self._starters:
            fn()

    def stop(self) -> None:
        if self.consumer is not None:
            try:
                self.consumer.stop(graceful=True)
            except Exception:  # never block shutdown on a consumer that failed to start
                log.exception("stopping the queue consumer failed")
            self.consumer = None
        for fn in reversed(self._stoppers):
            try:
                fn()
            except Exception:
                log.exception("shutdown step failed")
        if self.log_writer is not None:
            self.log_writer.flush(2)
            self.log_writer.stop()
        if self.db is not None:
            self.db.close()
