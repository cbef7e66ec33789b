"""Console users, their sessions and sign-in attempts, and share-portal tokens (all secrets stored hashed)."""

from __future__ import annotations

from typing import Any

from roset_local.ids import new_id
from roset_local.store.db import Database, Row, in_list
from roset_local.store.migrations import Migrations
from roset_local.timeutil import now_str

console = Migrations("console")
console.add(
    "0001_users_sessions_portal_tokens",
    """
    CREATE TABLE console_users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,       -- argon2id
        is_admin INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE console_sessions (
        token_hash TEXT PRIMARY KEY,       -- sha256 of the cookie value
        user_id TEXT NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX console_sessions_user ON console_sessions (user_id);
    CREATE TABLE console_login_attempts (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL COLLATE NOCASE,
        succeeded INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX console_login_attempts_user ON console_login_attempts (username, created_at);
    CREATE TABLE portal_tokens (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,   -- sha256 of the token
        prefix TEXT NOT NULL,
        space TEXT NOT NULL,
        created_by TEXT,
        expires_at TEXT NOT NULL,
        revoked_at TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX portal_tokens_created ON portal_tokens (created_at, id);
    """,
)


# -- users ---------------------------------------------------------------------------------------


def insert_user(db: Database, *, username: str, password_hash: str, is_admin: bool) -> Row:
    now = now_str()
    row = {"id": new_id("usr"), "username": username, "password_hash": password_hash, "is_admin": int(is_admin),
           "created_at": now, "updated_at": now}
    with db.write():
        db.insert("console_users", row)
    return row


def get_user_by_name(db: Database, username: str) -> Row | None:
    return db.one("SELECT * FROM console_users WHERE username = :u", {"u": username})


def get_user(db: Database, user_id: str) -> Row | None:
    return db.one("SELECT * FROM console_users WHERE id = :id", {"id": user_id})


def set_password_hash(db: Database, user_id: str, password_hash: str) -> None:
    with db.write():
        db.update("console_users", {"id": user_id}, {"password_hash": password_hash, "updated_at": now_str()})


def count_users(db: Database) -> int:
    return int(db.value("SELECT count(*) FROM console_users") or 0)


def list_users(db: Database) -> list[Row]:
    return db.all("SELECT id, username, is_admin, created_at FROM console_users ORDER BY username")


# -- sign-in attempts ------------------------------------------------------------------------------


def record_attempt(db: Database, username: str, succeeded: bool) -> None:
    with db.write():
        db.insert("console_login_attempts", {"username": username, "succeeded": int(succeeded), "created_at": now_str()})


def recent_failures(db: Database, username: str, since: str) -> tuple[int, str | None]:
    """(failures since ``since`` and after the last success, time of the oldest counted one)."""
    row = db.one(
        "SELECT count(*) AS n, min(created_at) AS first FROM console_login_attempts "
        "WHERE username = :u AND succeeded = 0 AND created_at >= :since AND created_at >= coalesce("
        "(SELECT max(created_at) FROM console_login_attempts WHERE username = :u AND succeeded = 1), '')",
        {"u": username, "since": since},
    )
    return (int(row["n"]), row["first"]) if row else (0, None)


def nth_recent_failure(db: Database, username: str, since: str, n: int) -> str | None:
    """Time of the ``n``-th most recent failure since ``since`` (the one that started the lock)."""
    return db.value(
        "SELECT created_at FROM console_login_attempts WHERE username = :u AND succeeded = 0 "
        "AND created_at >= :since ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET :off",
        {"u": username, "since": since, "off": n - 1},
    )


def purge_attempts(db: Database, before: str) -> None:
    with db.write():
        db.execute("DELETE FROM console_login_attempts WHERE created_at < :t", {"t": before})


# -- sessions -----------------------------------------------------------------------------------


def insert_session(db: Database, *, token_hash: str, user_id: str, csrf_token: str, expires_at: str) -> None:
    with db.write():
        db.execute("DELETE FROM console_sessions WHERE expires_at < :now", {"now": now_str()})
        db.insert("console_sessions", {"token_hash": token_hash, "user_id": user_id, "csrf_token": csrf_token,
                                       "created_at": now_str(), "expires_at": expires_at})


def get_session(db: Database, token_hash: str) -> Row | None:
    return db.one(
        "SELECT s.token_hash, s.user_id, s.csrf_token, s.expires_at, u.username, u.is_admin "
        "FROM console_sessions s JOIN console_users u ON u.id = s.user_id "
        "WHERE s.token_hash = :h AND s.expires_at > :now",
        {"h": token_hash, "now": now_str()},
    )


def delete_session(db: Database, token_hash: str) -> None:
    with db.write():
        db.execute("DELETE FROM console_sessions WHERE token_hash = :h", {"h": token_hash})


def delete_user_sessions(db: Database, user_id: str) -> None:
    with db.write():
        db.execute("DELETE FROM console_sessions WHERE user_id = :u", {"u": user_id})


# -- portal tokens --------------------------------------------------------------------------------


def insert_portal_token(db: Database, *, token_hash: str, prefix: str, space: str, expires_at: str,
                        created_by: str | None) -> Row:
    row = {"id": new_id("ptk"), "token_hash": token_hash, "prefix": prefix, "space": space, "created_by": created_by,
           "expires_at": expires_at, "revoked_at": None, "created_at": now_str()}
    with db.write():
        db.insert("portal_tokens", row)
    return row


def find_portal_token(db: Database, token_hash: str) -> Row | None:
    return db.one("SELECT * FROM portal_tokens WHERE token_hash = :h", {"h": token_hash})


def get_portal_token(db: Database, token_id: str) -> Row | None:
    return db.one("SELECT * FROM portal_tokens WHERE id = :id", {"id": token_id})


def revoke_portal_token(db: Database, token_id: str) -> bool:
    with db.write():
        cur = db.execute("UPDATE portal_tokens SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
                         {"now": now_str(), "id": token_id})
    return cur.rowcount > 0


def list_portal_tokens(db: Database, *, spaces: tuple[str, ...] | None, active_only: bool, limit: int = 200
                       ) -> list[Row]:
    params: dict[str, Any] = {"now": now_str(), "limit": limit}
    where = []
    if active_only:
        where.append("revoked_at IS NULL AND expires_at > :now")
    if spaces is not None:
        where.append(in_list("space", spaces, params, "sp"))
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    return db.all(
        f"SELECT id, prefix, space, created_by, expires_at, revoked_at, created_at FROM portal_tokens {clause} "
        "ORDER BY created_at DESC, id DESC LIMIT :limit",
        params,
    )
