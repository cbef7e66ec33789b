"""``roset-local audit``: the audit trail as JSON lines (oldest first), for shipping to a SIEM."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from roset_local.errors import BadRequest

PAGE = 200


def cmd_audit(args: argparse.Namespace) -> int:
    from roset_local.audit.query import list_entries, parse_filter
    from roset_local.config import Settings
    from roset_local.services import Services

    try:
        flt = parse_filter(action=args.action, actor=args.actor, space=args.space, target_id=args.target_id,
                           since=args.since, until=args.until)
    except BadRequest as exc:
        print(f"roset-local audit: {exc.message}", file=sys.stderr)
        return 2
    services = Services(Settings.from_env(data_dir=args.data_dir)).open()
    try:
        batch: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:  # pages come newest first; collected, then printed oldest first like a log file
            entries, cursor = list_entries(services.db, flt, spaces=None, limit=PAGE, cursor=cursor)
            batch.extend(entries)
            if cursor is None:
                break
    finally:
        services.db.close()
    for entry in reversed(batch):
        sys.stdout.write(json.dumps(entry, separators=(",", ":")) + "\n")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("audit", help="print audit entries as JSON lines, oldest first (for a SIEM)")
    p.add_argument("--since", help="ISO 8601 date-time, inclusive (e.g. 2026-01-31T00:00:00Z)")
    p.add_argument("--until", help="ISO 8601 date-time, inclusive")
    p.add_argument("--action", help="an action, or a prefix ending in '*' (console.user.*)")
    p.add_argument("--actor", help="actor id or name")
    p.add_argument("--space")
    p.add_argument("--target-id", dest="target_id")
    p.add_argument("--data-dir", help="data directory (env ROSET_DATA_DIR, default ./data)")
    p.set_defaults(fn=cmd_audit)
