"""Console users: argon2id passwords, sign-in with lockout, server-side sessions with a CSRF token each."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from roset_local.auth import Principal
from roset_local.store import console as store
from roset_local.store import keys as key_store
from roset_local.timeutil import parse, to_str, utcnow

if TYPE_CHECKING:
    from roset_local.store.db import Database

MAX_FAILURES = 5
LOCK_WINDOW = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)
MIN_PASSWORD = 8
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults
_DUMMY_HASH = _hasher.hash("not a real password")  # equalises timing for unknown usernames


class SignInError(Exception):
    """Wrong credentials or a locked account; the message is shown to the user."""

    def __init__(self, message: str, *, locked: bool = False) -> None:
        super().__init__(message)
        self.locked = locked


@dataclass(frozen=True)
class ConsoleSession:
    token_hash: str
    user_id: str
    username: str
    is_admin: bool
    csrf_token: str

    def principal(self) -> Principal:
        """Who the console acts as when it calls the same functions as the JSON API."""
        return Principal(auth_type="session", key_id=None, key_name=f"console:{self.username}",
                         scopes=frozenset(key_store.ALL_SCOPES), spaces=None)

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf_token, presented or "")


def check_username(username: str) -> str:
    name = (username or "").strip()
    if not 1 <= len(name) <= 64 or not set(name) <= USERNAME_CHARS:
        raise ValueError("username: 1-64 letters, digits, '.', '_', '@' or '-'")
    return name


def create_user(db: "Database", username: str, password: str, *, is_admin: bool = False) -> dict:
    name = check_username(username)
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters")
    if store.get_user_by_name(db, name) is not None:
        raise ValueError(f"user {name!r} already exists")
    return store.insert_user(db, username=name, password_hash=_hasher.hash(password), is_admin=is_admin)


def set_password(db: "Database", username: str, password: str) -> None:
    user = store.get_user_by_name(db, username)
    if user is None:
        raise ValueError(f"no user {username!r}")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters")
    store.set_password_hash(db, user["id"], _hasher.hash(password))
    store.delete_user_sessions(db, user["id"])


def ensure_admin(db: "Database", password: str | None) -> None:
    """ROSET_ADMIN_PASSWORD: the first start creates the console user ``admin`` with it."""
    if password and store.get_user_by_name(db, "admin") is None:
        create_user(db, "admin", password, is_admin=True)


def lock_remaining(db: "Database", username: str) -> int:
    """Seconds the account stays locked (0 when not locked)."""
    since = to_str(utcnow() - LOCK_WINDOW)
    failures, _ = store.recent_failures(db, username, since)
    if failures < MAX_FAILURES:
        return 0
    started = store.nth_recent_failure(db, username, since, MAX_FAILURES)
    if started is None:
        return 0
    remaining = (parse(started) + LOCK_WINDOW - utcnow()).total_seconds()
    return max(1, int(remaining))


def sign_in(db: "Database", username: str, password: str) -> tuple[ConsoleSession, str]:
    """Check the password (and the lock); returns the session and the raw cookie value."""
    name = (username or "").strip()[:64]
    if not name:
        raise SignInError("Enter your username and password")
    remaining = lock_remaining(db, name)
    if remaining:
        minutes = max(1, (remaining + 59) // 60)
        raise SignInError(f"Too many failed sign-ins: this account is locked for {minutes} more minute(s)",
                          locked=True)
    user = store.get_user_by_name(db, name)
    try:
        _hasher.verify(user["password_hash"] if user else _DUMMY_HASH, password or "")
        ok = user is not None
    except (VerificationError, InvalidHashError):
        ok = False
    store.record_attempt(db, name, ok)
    if not ok:
        if lock_remaining(db, name):
            raise SignInError("Too many failed sign-ins: this account is locked for 15 minutes", locked=True)
        raise SignInError("Wrong username or password")
    assert user is not None
    if _hasher.check_needs_rehash(user["password_hash"]):
        store.set_password_hash(db, user["id"], _hasher.hash(password))
    raw = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    token_hash = hash_session(raw)
    store.insert_session(db, token_hash=token_hash, user_id=user["id"], csrf_token=csrf,
                         expires_at=to_str(utcnow() + SESSION_TTL))
    store.purge_attempts(db, to_str(utcnow() - timedelta(days=1)))
    return ConsoleSession(token_hash, user["id"], user["username"], bool(user["is_admin"]), csrf), raw


def hash_session(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def session_from_cookie(db: "Database", raw: str | None) -> ConsoleSession | None:
    if not raw or len(raw) > 200:
        return None
    row = store.get_session(db, hash_session(raw))
    if row is None:
        return None
    return ConsoleSession(row["token_hash"], row["user_id"], row["username"], bool(row["is_admin"]), row["csrf_token"])


def sign_out(db: "Database", session: ConsoleSession) -> None:
    store.delete_session(db, session.token_hash)
