"""Console users, their sessions and sign-in attempts, and share-portal tokens (all secrets stored hashed)."""

from __future__ import annotations

import json
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
# Roles replace is_admin (kept in step for older readers). Users that were not admins become read-only
# over every space: they keep seeing what they saw, and change nothing until an admin grants more.
console.add(
    "0002_console-roles_role_spaces",
    """
    ALTER TABLE console_users ADD COLUMN role TEXT NOT NULL DEFAULT 'read-only';
    ALTER TABLE console_users ADD COLUMN spaces TEXT;        -- JSON array; NULL = every space
    ALTER TABLE console_users ADD COLUMN disabled_at TEXT;
    ALTER TABLE console_users ADD COLUMN last_login_at TEXT;
    UPDATE console_users SET role = 'admin' WHERE is_admin = 1;
    CREATE TABLE console_user_keys (
        key_id TEXT PRIMARY KEY,           -- an API key minted in the console
        user_id TEXT NOT NULL REFERENCES console_users (id) ON DELETE CASCADE
    );
    CREATE INDEX console_user_keys_user ON console_user_keys (user_id);
    """,
)


# -- users ---------------------------------------------------------------------------------------

USER_COLUMNS = "id, username, role, spaces, disabled_at, last_login_at, created_at, updated_at"


def _user(row: Row | None) -> Row | None:
    if row is not None and "spaces" in row:
        row["spaces"] = json.loads(row["spaces"]) if row["spaces"] else None
    return row


def insert_user(db: Database, *, username: str, password_hash: str, role: str, spaces: list[str] | None) -> Row:
    now = now_str()
    row = {"id": new_id("usr"), "username": username, "password_hash": password_hash, "is_admin": int(role == "admin"),
           "role": role, "spaces": json.dumps(spaces) if spaces is not None else None, "created_at": now,
           "updated_at": now}
    with db.write():
        db.insert("console_users", row)
    return _user(dict(row)) or row


def get_user_by_name(db: Database, username: str) -> Row | None:
    return _user(db.one("SELECT * FROM console_users WHERE username = :u", {"u": username}))


def get_user(db: Database, user_id: str) -> Row | None:
    return _user(db.one("SELECT * FROM console_users WHERE id = :id", {"id": user_id}))


def set_password_hash(db: Database, user_id: str, password_hash: str) -> None:
    with db.write():
        db.update("console_users", {"id": user_id}, {"password_hash": password_hash, "updated_at": now_str()})


def set_access(db: Database, user_id: str, role: str, spaces: list[str] | None) -> bool:
    """Set a user's role and spaces; refused (False) when it would demote the last enabled admin."""
    with db.write():
        if role != "admin" and _last_admin(db, user_id):
            return False
        db.update("console_users", {"id": user_id}, {"role": role, "is_admin": int(role == "admin"),
                                                     "spaces": json.dumps(spaces) if spaces is not None else None,
                                                     "updated_at": now_str()})
    return True


def set_disabled(db: Database, user_id: str, disabled: bool) -> bool:
    """Disable (signing every session out) or enable a user; refused (False) for the last enabled admin."""
    with db.write():
        if disabled and _last_admin(db, user_id):
            return False
        db.update("console_users", {"id": user_id}, {"disabled_at": now_str() if disabled else None,
                                                     "updated_at": now_str()})
        if disabled:
            db.execute("DELETE FROM console_sessions WHERE user_id = :u", {"u": user_id})
    return True


def _last_admin(db: Database, user_id: str) -> bool:
    """Whether this user is an enabled admin and no other enabled admin exists."""
    rows = db.all("SELECT id FROM console_users WHERE role = 'admin' AND disabled_at IS NULL LIMIT 2")
    return [r["id"] for r in rows] == [user_id]


def touch_login(db: Database, user_id: str) -> None:
    with db.write():
        db.update("console_users", {"id": user_id}, {"last_login_at": now_str()})


def count_users(db: Database) -> int:
    return int(db.value("SELECT count(*) FROM console_users") or 0)


def list_users(db: Database) -> list[Row]:
    return [_user(r) or r for r in db.all(f"SELECT {USER_COLUMNS} FROM console_users ORDER BY username")]


# -- API keys minted in the console (who may see and revoke them) -----------------------------------


def record_key_owner(db: Database, key_id: str, user_id: str) -> None:
    with db.write():
        db.insert("console_user_keys", {"key_id": key_id, "user_id": user_id})


def keys_owned_by(db: Database, user_id: str) -> set[str]:
    return {r["key_id"] for r in db.all("SELECT key_id FROM console_user_keys WHERE user_id = :u", {"u": user_id})}


# -- sign-in attempts ------------------------------------------------------------------------------

_FAILURES = (
    "SELECT count(*) FROM console_login_attempts WHERE username = :u AND succeeded = 0 AND created_at >= :since "
    "AND id > coalesce((SELECT max(id) FROM console_login_attempts WHERE username = :u AND succeeded = 1), 0)"
)


def reserve_attempt(db: Database, username: str, since: str, limit: int) -> tuple[int | None, int]:
    """Count an attempt as failed before its password is checked, in one write transaction.

    Returns (the attempt's id, failures counted with it); the id is None when ``limit`` failures
    were already counted, so the caller refuses without checking the password at all.
    """
    with db.write():
        failures = int(db.value(_FAILURES, {"u": username, "since": since}) or 0)
        if failures >= limit:
            return None, failures
        cur = db.execute("INSERT INTO console_login_attempts (username, succeeded, created_at) VALUES (:u, 0, :t)",
                         {"u": username, "t": now_str()})
    return cur.lastrowid, failures + 1


def mark_attempt_succeeded(db: Database, attempt_id: int) -> None:
    """The password was right: the attempt stops counting and resets the count (failures before it)."""
    with db.write():
        db.execute("UPDATE console_login_attempts SET succeeded = 1 WHERE id = :id", {"id": attempt_id})


def recent_failures(db: Database, username: str, since: str) -> int:
    """Failures since ``since`` and after the last success."""
    return int(db.value(_FAILURES, {"u": username, "since": since}) or 0)


def nth_recent_failure(db: Database, username: str, since: str, n: int) -> str | None:
    """Time of the ``n``-th most recent failure since ``since`` (the one that started the lock)."""
    return db.value(
        "SELECT created_at FROM console_login_attempts WHERE username = :u AND succeeded = 0 "
        "AND created_at >= :since ORDER BY id DESC LIMIT 1 OFFSET :off",
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
        "SELECT s.token_hash, s.user_id, s.csrf_token, s.expires_at, u.username, u.role, u.spaces "
        "FROM console_sessions s JOIN console_users u ON u.id = s.user_id "
        "WHERE s.token_hash = :h AND s.expires_at > :now AND u.disabled_at IS NULL",
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
