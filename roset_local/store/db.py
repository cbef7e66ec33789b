"""The application database: sqlean connections with sqlite-vec, one per thread, explicit transactions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlean
import sqlite_utils
import sqlite_vec

Row = dict[str, Any]
SCHEMA_PROBE = "SELECT 1 FROM sqlite_schema LIMIT 0"


class DatabaseError(Exception):
    """The database file cannot be opened or is damaged; the message is for an operator."""


def _connect(path: Path) -> sqlean.Connection:
    conn = sqlean.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlean.Row
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class Database:
    """Owns the database file; hands each thread its own connection.

    Writes go through :meth:`write`, which holds ``BEGIN IMMEDIATE`` for the whole block so a
    state change and the rows that follow from it (job + event outbox) commit together.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlean.Connection] = []
        self._lock = threading.Lock()

    @property
    def conn(self) -> sqlean.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = _connect(self.path)
            except sqlean.DatabaseError as exc:
                raise DatabaseError(f"cannot open database {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @property
    def utils(self) -> sqlite_utils.Database:
        """A sqlite-utils view of this thread's connection (schema helpers, migrations)."""
        return sqlite_utils.Database(self.conn)

    @contextmanager
    def read(self) -> Iterator[sqlean.Connection]:
        """One read snapshot: every query in the block sees the database as of its first read, so a
        page built from several queries never shows half of a change another thread commits
        meanwhile (WAL readers do not block writers). Inside :meth:`write` it joins that transaction;
        a write inside a read block is refused (the snapshot could not be upgraded safely)."""
        conn = self.conn
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN DEFERRED")
        self._local.reading = True
        try:
            yield conn
        finally:
            self._local.reading = False
            if conn.in_transaction:
                conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlean.Connection]:
        """One write transaction. Nested calls join the outer transaction."""
        conn = self.conn
        if getattr(self._local, "reading", False):
            raise RuntimeError("a write inside a read snapshot: open the write transaction first")
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        # If another connection changed the schema (a new vector table), this connection's copy is
        # stale, and SQLite 3.50 fails a DELETE that is the first statement of a transaction with
        # "no such table" instead of re-reading the schema. Any SELECT re-reads it (cheap, cached).
        conn.execute(SCHEMA_PROBE)
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (SQLITE_FULL does), and a failed COMMIT must not
            # leave the connection inside a transaction that later writes would silently join.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def one(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> Row | None:
        row = self.conn.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> list[Row]:
        return [dict(row) for row in self.conn.execute(sql, params).fetchall()]

    def value(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row is not None else None

    def execute(self, sql: str, params: Mapping[str, Any] | Sequence[Any] = ()) -> sqlean.Cursor:
        return self.conn.execute(sql, params)

    def insert(self, table: str, row: Mapping[str, Any]) -> None:
        """INSERT one row from a dict; safe inside :meth:`write` (sqlite-utils' insert commits)."""
        cols = ", ".join(f"[{c}]" for c in row)
        marks = ", ".join(f":{c}" for c in row)
        self.conn.execute(f"INSERT INTO [{table}] ({cols}) VALUES ({marks})", dict(row))

    def update(self, table: str, key: Mapping[str, Any], values: Mapping[str, Any]) -> int:
        sets = ", ".join(f"[{c}] = :v_{c}" for c in values)
        where = " AND ".join(f"[{c}] = :k_{c}" for c in key)
        params = {f"v_{c}": v for c, v in values.items()} | {f"k_{c}": v for c, v in key.items()}
        return self.conn.execute(f"UPDATE [{table}] SET {sets} WHERE {where}", params).rowcount

    @property
    def in_transaction(self) -> bool:
        """Whether this thread's connection is inside :meth:`write`."""
        return bool(self.conn.in_transaction)

    def journal_mode(self) -> str:
        """``wal`` once the database is open (``delete``, ``memory``... for other set-ups)."""
        return str(self.value("PRAGMA journal_mode"))

    def integrity_check(self) -> list[str]:
        rows = self.conn.execute("PRAGMA quick_check").fetchall()
        return [r[0] for r in rows if r[0] != "ok"]

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlean.ProgrammingError:  # closed from its own thread already
                    pass
            self._all.clear()
        self._local = threading.local()


def open_database(path: Path) -> Database:
    """Open (creating if needed) and check the file is a usable SQLite database."""
    db = Database(path)
    try:
        db.value("SELECT count(*) FROM sqlite_master")
    except (sqlean.DatabaseError, DatabaseError) as exc:
        db.close()
        raise DatabaseError(
            f"{path} is not a usable SQLite database ({exc}). Restore it from a backup "
            "(roset-local restore) or move it away to start empty."
        ) from exc
    return db


def in_list(column: str, values: Sequence[Any], params: dict[str, Any], prefix: str) -> str:
    """``column IN (:prefix0, :prefix1, ...)`` with the values bound in ``params``.

    An empty list yields ``column IN (NULL)``, which matches nothing (an empty confinement).
    """
    marks = []
    for i, value in enumerate(values):
        params[f"{prefix}{i}"] = value
        marks.append(f":{prefix}{i}")
    return f"{column} IN ({', '.join(marks) or 'NULL'})"


def within_spaces(column: str, spaces: Sequence[str], params: dict[str, Any], name: str = "within") -> str:
    """SQL that holds when ``column`` (a JSON list of spaces, NULL = every space) lies within
    ``spaces``; a NULL row never does (it reaches beyond any confinement), nor an empty list (a
    caller of no space is nobody's peer)."""
    params[name] = json.dumps(list(spaces))
    return (f"({column} IS NOT NULL AND json_array_length({column}) > 0 AND NOT EXISTS "
            f"(SELECT 1 FROM json_each({column}) WHERE value NOT IN (SELECT value FROM json_each(:{name}))))")
