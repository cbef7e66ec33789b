"""The one object that owns settings, databases, the queue, the blob store and background threads."""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from huey import Huey

from roset_local import queue as queue_mod
from roset_local.auth import KeyCache, RateLimiter
from roset_local.caches import LruCache, Registry
from roset_local.config import Settings
from roset_local.hooks import FolderWatch, Hooks, SharedQueue
from roset_local.observe import HttpMetrics, LogWriter
from roset_local.queue import EmbeddedConsumer, Tasks
from roset_local.queue.leases import LeaseKeeper
from roset_local.secrets import SecretBox, key_material
from roset_local.signing import Signer, load_signing_key
from roset_local.store import keys as key_store
from roset_local.store.db import Database, DatabaseError, open_database
from roset_local.store.migrations import Migrations, apply_migrations
from roset_local.store.settings import get_setting, set_setting
from roset_local.storage.blobs import BlobStore, open_store
from roset_local.storage.diskspace import DiskSpace

if TYPE_CHECKING:
    import numpy as np

    from roset_local.providers.isolation import ExtractionPool

log = logging.getLogger("roset_local")

QUERY_CACHE_ENTRIES = 256  # recent query embeddings: a repeated search skips the model
PAGE_IMAGE_CACHE_BYTES = 64 * 1024 * 1024  # recently rendered page PNGs


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
        # Opened by open(); the placeholders keep every attribute typed as what it is once open.
        self.db: Database = None  # type: ignore[assignment]
        self.blobs: BlobStore = None  # type: ignore[assignment]
        self.disk: DiskSpace = None  # type: ignore[assignment]
        self.huey: Huey = None  # type: ignore[assignment]
        self.signer: Signer = None  # type: ignore[assignment]  # signed URLs (downloads, uploads, nodes)
        self.rate_limiter: RateLimiter = None  # type: ignore[assignment]  # per key / portal token
        # per client address: public routes and failed authentication
        self.anon_limiter: RateLimiter = None  # type: ignore[assignment]
        self.key_cache: KeyCache = None  # type: ignore[assignment]
        self.log_writer: LogWriter = None  # type: ignore[assignment]
        self.consumer: EmbeddedConsumer | None = None
        self.scaleout: SharedQueue | None = None  # set when ROSET_QUEUE_URL shares the queue with worker hosts
        self.org_id = "org-local"
        # Set by roset_local.wiring.wire (the server, the worker and the MCP stdio server).
        self.hooks = Hooks()
        self._tasks: Tasks | None = None
        # Per-process state, one per Services (so each test app has its own).
        self.http_metrics = HttpMetrics()
        self.query_cache: LruCache[tuple[str, str], np.ndarray] = LruCache(QUERY_CACHE_ENTRIES)
        self.page_images: LruCache[tuple[str, str, int, int], bytes] = LruCache(PAGE_IMAGE_CACHE_BYTES, len)
        self.vector_indexes = Registry()  # table -> index.vectors.BitIndex
        self.ann_indexes = Registry()  # table -> index.ann.AnnIndex
        self.connection_files_lock = threading.Lock()  # one file record per connection node
        self._lazy_lock = threading.Lock()
        self._extraction_pool: ExtractionPool | None = None
        self._lease_keeper: LeaseKeeper | None = None  # started by the first job (a CLI command never needs it)
        self._secret_box: SecretBox | None = None
        self._stoppers: list[Callable[[], None]] = []
        self._starters: list[Callable[[], None]] = []
        self.live_sync: FolderWatch | None = None  # the server's live-sync thread (None in workers and tools)

    # -- setup ---------------------------------------------------------------------------------
    @classmethod
    def open_existing(cls, settings: Settings) -> "Services":
        """Services on an existing data directory (commands other than serve/init): a mistyped
        --data-dir must not become a new, empty one."""
        if not settings.data_dir.exists():
            raise StartupError(
                f"no data directory at {settings.data_dir}: check --data-dir (or ROSET_DATA_DIR), or create it with "
                f"`roset-local init --data-dir {settings.data_dir}` (`roset-local serve` also creates it)"
            )
        return cls(settings).open()

    def open(self) -> "Services":
        s = self.settings
        if s.queue_url:
            try:
                queue_mod.check_shared_queue(s)
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
        self.signer = Signer(load_signing_key(s.data_dir))
        self.huey = queue_mod.make_huey(s.queue_path, url=s.queue_url)
        self.rate_limiter = RateLimiter(s.rate_limit_per_minute)
        self.anon_limiter = RateLimiter(s.anon_rate_limit_per_minute)
        self.key_cache = KeyCache()
        self.log_writer = LogWriter(self.db)
        return self

    @property
    def tasks(self) -> Tasks:
        """The queue's tasks; registered by ``roset_local.wiring.wire``."""
        if self._tasks is None:
            raise RuntimeError("no queue tasks: this Services was opened without roset_local.wiring.wire")
        return self._tasks

    @tasks.setter
    def tasks(self, tasks: Tasks) -> None:
        if self._tasks is not None:
            raise RuntimeError("the queue tasks are already registered on this Services")
        self._tasks = tasks

    @property
    def wired(self) -> bool:
        return self._tasks is not None

    @property
    def extraction_pool(self) -> "ExtractionPool":
        """The pool of extraction processes, started on first use (a CLI command never needs it)."""
        with self._lazy_lock:
            if self._extraction_pool is None:
                from roset_local.providers.isolation import pool_for

                self._extraction_pool = pool_for(self.settings)
                self.on_stop(self._extraction_pool.close)
            return self._extraction_pool

    @property
    def lease_keeper(self) -> LeaseKeeper:
        """The thread that keeps the leases of the jobs this process runs, started with the first job."""
        with self._lazy_lock:
            if self._lease_keeper is None:
                self._lease_keeper = LeaseKeeper(lambda: self.db)
                self.on_stop(self._lease_keeper.stop)
            return self._lease_keeper

    @property
    def secret_box(self) -> SecretBox:
        """Encrypts provider keys, connection credentials and webhook secrets; the key file is made on
        first use."""
        with self._lazy_lock:
            if self._secret_box is None:
                self._secret_box = SecretBox(key_material(self.settings))
            return self._secret_box

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
