"""Organisation settings: named JSON values with defaults."""

from __future__ import annotations

import json
from typing import Any

from roset_local.store.db import Database


def get_setting(db: Database, name: str, default: Any = None) -> Any:
    raw = db.value("SELECT value FROM org_settings WHERE name = :n", {"n": name})
    return default if raw is None else json.loads(raw)


def set_setting(db: Database, name: str, value: Any) -> None:
    with db.write():
        db.execute(
            "INSERT INTO org_settings (name, value) VALUES (:n, :v) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            {"n": name, "v": json.dumps(value)},
        )


def all_settings(db: Database) -> dict[str, Any]:
    return {r["name"]: json.loads(r["value"]) for r in db.all("SELECT name, value FROM org_settings")}
