"""The operations subcommands: backup DEST, restore SRC, doctor, models."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from roset_local import audit
from roset_local.config import Settings


def cmd_backup(args: argparse.Namespace) -> int:
    from roset_local.ops.backup import BackupError, backup

    try:
        settings = Settings.from_args(args)
        result = backup(settings, Path(args.dest))
    except BackupError as exc:
        print(f"roset-local backup: {exc}", file=sys.stderr)
        return 1
    audit.record_command(settings, audit.cli_actor("backup"), "backup.created", target_type="backup",
                         target_id=str(result.dest.resolve()), changes={"files": result.files, "bytes": result.bytes})
    print(f"backed up {result.files} files ({result.bytes / 1024**2:.1f} MiB) to {result.dest}")
    for note in result.notes:
        print(f"note: {note}")
    if result.missing_blobs:
        print(f"warning: {len(result.missing_blobs)} blob(s) were deleted while the backup ran", file=sys.stderr)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from roset_local.ops.restore import RestoreError, restore

    target = Settings.from_args(args).data_dir
    try:
        result = restore(Path(args.src), target)
    except RestoreError as exc:
        print(f"roset-local restore: {exc}", file=sys.stderr)
        return 1
    # Recorded in the restored database: the trail there shows the restore after the backup's own entries.
    audit.record_command(replace(Settings.from_args(args), data_dir=target), audit.cli_actor("restore"), "restore.applied",
                         target_type="backup", target_id=str(Path(args.src).resolve()),
                         changes={"files": result.files, "bytes": result.bytes})
    print(f"restored {result.files} files ({result.bytes / 1024**2:.1f} MiB) into {result.data_dir}")
    for note in result.notes:
        print(f"note: {note}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from roset_local.ops.doctor import run_doctor

    report = run_doctor(Settings.from_args(args))
    if args.verbose:
        for line in report.ok:
            print(f"ok: {line}")
    for line in report.notes:
        print(f"note: {line}")
    for line in report.warnings:
        print(f"warning: {line}", file=sys.stderr)
    for line in report.problems:
        print(f"problem: {line}", file=sys.stderr)
    if report.healthy:
        print(f"doctor: no problems found ({len(report.ok)} checks passed)")
        return 0
    print(f"doctor: {len(report.problems)} problem(s)", file=sys.stderr)
    return 1


def cmd_models(args: argparse.Namespace) -> int:
    from roset_local.ops.doctor import model_rows

    settings = Settings.from_args(args)
    rows: list[dict[str, Any]] | None = model_rows(settings)
    if rows is None:
        print("the local providers are not part of this build: no models", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max((len(r["name"]) for r in rows), default=4)
        for row in rows:
            note = f"  ({row['note']})" if row.get("note") else ""
            print(f"{row['name']:<{width}}  {row['status']:<7}  {row['size'] / 1024**2:7.1f} MiB  {row['path'] or '-'}{note}")
    return 0 if all(r["status"] == "ok" or r.get("note") for r in rows) else 1


def _data_dir(parser: argparse.ArgumentParser, help_text: str = "data directory (env ROSET_DATA_DIR, default ./data)") -> None:
    parser.add_argument("--data-dir", help=help_text)


def register(sub: Any) -> None:
    """Add the operations commands to the roset-local parser."""
    p = sub.add_parser("backup", help="consistent online backup of the data directory into an empty folder")
    p.add_argument("dest", help="backup folder (must not exist or be empty)")
    _data_dir(p)
    p.set_defaults(fn=cmd_backup)

    p = sub.add_parser("restore", help="restore a backup into an empty data directory (verifies the manifest)")
    p.add_argument("src", help="backup folder made by `roset-local backup`")
    _data_dir(p, "target data directory, must be empty or absent (env ROSET_DATA_DIR, default ./data)")
    p.set_defaults(fn=cmd_restore)

    p = sub.add_parser("doctor", help="check the data directory, databases, models, storage and disk")
    _data_dir(p)
    p.add_argument("-v", "--verbose", action="store_true", help="also list the checks that passed")
    p.set_defaults(fn=cmd_doctor)

    p = sub.add_parser("models", help="list the offline model files and their state")
    _data_dir(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(fn=cmd_models)
