"""Versioned schema migrations: named sets, each step applied once, in one transaction with its bookkeeping row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlean

from roset_local.store.db import Database
from roset_local.timeutil import now_str

Step = str | Callable[[Database], None]


def split_sql(script: str) -> list[str]:
    """Split a script into statements; trigger bodies with inner ``;`` stay whole."""
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlean.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement: {buf.strip()[:80]}")
    return statements


@dataclass
class Migrations:
    """An ordered list of steps for one area of the schema (``core``, ``files``, ``webhooks`` ...).

    Steps are SQL scripts or functions of the database. Never edit an applied step: add a new one.
    """

    name: str
    steps: list[tuple[str, Step]] = field(default_factory=list)

    def add(self, step_name: str, step: Step) -> None:
        if any(existing == step_name for existing, _ in self.steps):
            raise ValueError(f"duplicate migration {self.name}/{step_name}")
        self.steps.append((step_name, step))

    def __call__(self, step_name: str) -> Callable[[Callable[[Database], None]], Callable[[Database], None]]:
        def register(fn: Callable[[Database], None]) -> Callable[[Database], None]:
            self.add(step_name, fn)
            return fn

        return register


BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS _migrations (
    migration_set TEXT NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY (migration_set, name)
)
"""


def applied(db: Database) -> set[tuple[str, str]]:
    db.execute(BOOKKEEPING)
    return {(r["migration_set"], r["name"]) for r in db.all("SELECT migration_set, name FROM _migrations")}


def apply_migrations(db: Database, sets: list[Migrations]) -> list[str]:
    """Apply every pending step of every set, in order. Returns ``set/step`` names applied."""
    done = applied(db)
    ran: list[str] = []
    for mset in sets:
        for step_name, step in mset.steps:
            if (mset.name, step_name) in done:
                continue
            with db.write():
                if isinstance(step, str):
                    for statement in split_sql(step):
                        db.execute(statement)
                else:
                    step(db)
                db.insert("_migrations", {"migration_set": mset.name, "name": step_name, "applied_at": now_str()})
            ran.append(f"{mset.name}/{step_name}")
    return ran
