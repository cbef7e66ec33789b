"""`roset-local doctor`: checks an operator can act on, one line per problem."""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from dataclasses import dataclass, field
from typing import Any

from roset_local.config import Settings
from roset_local.ops.common import APP_DB, QUEUE_DB, integrity_problems

MIN_FREE_BYTES = 1024**3  # below 1 GiB free, uploads and the WAL start failing
SECRET_FILES = ("secret.key", "admin-key", "signing.key")
MAX_MODE_SCAN = 200_000  # entries looked at for loose modes (a huge blob store is sampled, not walked whole)
EXAMPLES = 5


@dataclass
class Report:
    ok: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def check_data_dir(settings: Settings, report: Report) -> bool:
    data = settings.data_dir
    if not data.exists():
        report.problems.append(f"data directory {data} does not exist (wrong --data-dir / ROSET_DATA_DIR?)")
        return False
    if not data.is_dir():
        report.problems.append(f"data directory {data} is not a directory")
        return False
    if not os.access(data, os.R_OK | os.W_OK | os.X_OK):
        report.problems.append(f"data directory {data} is not readable and writable by this user (uid {os.getuid()})")
        return False
    mode = stat.S_IMODE(data.stat().st_mode)
    if mode & stat.S_IWOTH:
        report.problems.append(f"data directory {data} is writable by every user (mode {mode:o}); chmod 700 it")
    for name in SECRET_FILES:
        path = data / name
        if path.is_file() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            report.problems.append(f"{path} is readable by other users (mode {stat.S_IMODE(path.stat().st_mode):o}); chmod 600 it")
    report.ok.append(f"data directory {data} is usable")
    check_modes(settings, report)
    return True


def check_modes(settings: Settings, report: Report) -> None:
    """Warn about group/other permission bits in the data directory (it holds keys and every file).

    Only reports; the fix (``chmod -R go-rwx``) is the operator's to run.
    """
    data = settings.data_dir
    loose: list[str] = []
    seen = 0
    mode = stat.S_IMODE(data.stat().st_mode)
    if mode & 0o077:
        loose.append(f"{data} (mode {mode:o})")
    for root, dirs, files in os.walk(data):
        for name in [*dirs, *files]:
            seen += 1
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077 and not stat.S_ISLNK(info.st_mode):  # a link's own mode means nothing
                loose.append(f"{os.path.relpath(path, data)} (mode {mode:o})")
        if seen >= MAX_MODE_SCAN:
            report.notes.append(f"permission check stopped after {MAX_MODE_SCAN} entries")
            break
    if loose:
        shown = ", ".join(loose[:EXAMPLES]) + (f" and {len(loose) - EXAMPLES} more" if len(loose) > EXAMPLES else "")
        report.warnings.append(
            f"{len(loose)} entries in {data} can be read or entered by other users: {shown}; "
            f"run: chmod -R go-rwx {data}"
        )
    else:
        report.ok.append(f"data directory {data} and its files are private to their owner")


def check_databases(settings: Settings, report: Report) -> None:
    databases = [(APP_DB, settings.db_path)]
    if not settings.queue_url:  # a shared queue lives in Redis, not in the data directory
        databases.append((QUEUE_DB, settings.queue_path))
    for name, path in databases:
        if not path.is_file():
            report.problems.append(f"{path} is missing (the server has not run here, or the file was moved away)")
            continue
        bad = integrity_problems(name, path)
        if bad:
            more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
            report.problems.append(f"{path} fails PRAGMA integrity_check: {bad[0]}{more}; restore it from a backup")
        else:
            report.ok.append(f"{path} passes integrity_check")


def model_rows(settings: Settings) -> list[dict[str, Any]] | None:
    """The providers' model list for this data dir, or None when the providers are not installed."""
    try:
        from roset_local.providers.models import list_models
    except ImportError:
        return None
    return list_models(settings.models_dir)


def check_models(settings: Settings, report: Report) -> None:
    rows = model_rows(settings)
    if rows is None:
        report.notes.append("model check skipped: the local providers are not part of this build")
        return
    for row in rows:
        if row["status"] == "ok":
            continue
        if row["status"] == "missing" and row.get("note"):
            report.notes.append(f"model {row['name']}: {row['note']}")
            continue
        where = f" at {row['path']}" if row.get("path") else ""
        report.problems.append(f"model {row['name']} is {row['status']}{where}")
    good = sum(1 for r in rows if r["status"] == "ok")
    report.ok.append(f"{good}/{len(rows)} model files present with the expected sha256")


def check_blob_store(settings: Settings, report: Report) -> None:
    from roset_local.storage.blobs import open_store

    key = f".doctor/{uuid.uuid4().hex}"
    try:
        store = open_store(settings.blob_url)
        store.write_bytes(key, b"roset-doctor")
        if store.read_bytes(key) != b"roset-doctor":
            raise OSError("read back different bytes")
        store.delete(key)  # also removes the probe's now-empty folder on a local store
        report.ok.append(f"blob store {settings.blob_url} is writable")
    except Exception as exc:
        report.problems.append(f"blob store {settings.blob_url} is not usable: {type(exc).__name__}: {exc}")


def check_disk(settings: Settings, report: Report) -> None:
    usage = shutil.disk_usage(settings.data_dir)
    free_gib = usage.free / 1024**3
    if usage.free < MIN_FREE_BYTES:
        report.problems.append(f"only {free_gib:.2f} GiB free on the data directory's disk (need at least 1 GiB)")
    else:
        report.ok.append(f"{free_gib:.1f} GiB free on the data directory's disk")


def run_doctor(settings: Settings) -> Report:
    report = Report()
    if check_data_dir(settings, report):
        check_databases(settings, report)
        check_blob_store(settings, report)
        check_disk(settings, report)
    check_models(settings, report)
    return report
