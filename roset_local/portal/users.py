"""Console users: argon2id passwords, roles and spaces, an atomic sign-in lockout, sessions with a CSRF token."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from roset_local import audit
from roset_local.audit import Actor
from roset_local.auth import Principal
from roset_local.portal import roles
from roset_local.store import console as store
from roset_local.timeutil import parse, to_str, utcnow

if TYPE_CHECKING:
    from roset_local.store.db import Database

MAX_FAILURES = 5
LOCK_WINDOW = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 hashes any length; a cap keeps a sign-in cheap
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
    role: str
    spaces: tuple[str, ...] | None
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == roles.ADMIN

    def principal(self) -> Principal:
        """Who the console acts as when it calls the same functions as the JSON API: the role's
        scopes, confined to the user's spaces (an admin sees every space)."""
        spaces = None if self.role == roles.ADMIN else self.spaces
        if spaces is None and self.role != roles.READ_ONLY and self.role != roles.ADMIN:
            spaces = ()  # a member without spaces (or an unknown role) sees nothing, never everything
        return Principal(auth_type="session", key_id=None, key_name=f"console:{self.username}",
                         scopes=frozenset(roles.SCOPES.get(self.role, ())), spaces=spaces)

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf_token, presented or "")


def check_username(username: str) -> str:
    name = (username or "").strip()
    if not 1 <= len(name) <= 64 or not set(name) <= USERNAME_CHARS:
        raise ValueError("username: 1-64 letters, digits, '.', '_', '@' or '-'")
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValueError(f"password: {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    return password


def create_user(db: "Database", username: str, password: str, *, role: str = roles.READ_ONLY,
                spaces: Iterable[str] | None = None, is_admin: bool = False, actor: Actor | None = None) -> dict:
    """A new console user (``is_admin`` is the older spelling of ``role="admin"``).

    Here and below, ``actor`` gets an audit entry written with the change (None: not audited)."""
    name = check_username(username)
    role, allowed = roles.check_access(roles.ADMIN if is_admin else role, spaces)
    check_password(password)
    if store.get_user_by_name(db, name) is not None:
        raise ValueError(f"user {name!r} already exists")
    password_hash = _hasher.hash(password)  # slow: outside the write lock
    with db.write():
        row = store.insert_user(db, username=name, password_hash=password_hash, role=role, spaces=allowed)
        _audit(db, actor, "console.user.created", row, {"role": role, "spaces": allowed})
    return row


def _audit(db: "Database", actor: Actor | None, action: audit.Action, user: dict, changes: dict | None = None) -> None:
    if actor is not None:
        audit.record(db, actor, action, target_type="console_user", target_id=user["id"],
                     changes={"username": user["username"], **(changes or {})})


def find_user(db: "Database", username_or_id: str) -> dict:
    user = store.get_user(db, username_or_id) or store.get_user_by_name(db, username_or_id)
    if user is None:
        raise ValueError(f"no user {username_or_id!r}")
    return user


def set_password(db: "Database", username: str, password: str, actor: Actor | None = None) -> None:
    user = find_user(db, username)
    check_password(password)
    password_hash = _hasher.hash(password)
    with db.write():
        store.set_password_hash(db, user["id"], password_hash)
        store.delete_user_sessions(db, user["id"])
        _audit(db, actor, "console.user.password_reset", user, {"password": True})


def set_access(db: "Database", username: str, role: str, spaces: Iterable[str] | None,
               actor: Actor | None = None) -> dict:
    """Change a user's role and spaces (effective on their next request: sessions read them each time)."""
    user = find_user(db, username)
    role, allowed = roles.check_access(role, spaces)
    with db.write():
        if not store.set_access(db, user["id"], role, allowed):
            raise ValueError("the last enabled admin cannot be demoted")
        _audit(db, actor, "console.user.role_changed", user,
               {"role": role, "spaces": allowed, "previous_role": user["role"], "previous_spaces": user["spaces"]})
    return find_user(db, user["id"])


def set_disabled(db: "Database", username: str, disabled: bool, actor: Actor | None = None) -> dict:
    """Disable a user (signing them out everywhere; sign-in refused) or enable them again."""
    user = find_user(db, username)
    with db.write():
        if not store.set_disabled(db, user["id"], disabled):
            raise ValueError("the last enabled admin cannot be disabled")
        _audit(db, actor, "console.user.disabled" if disabled else "console.user.enabled", user)
    return find_user(db, user["id"])


def ensure_admin(db: "Database", password: str | None) -> None:
    """ROSET_ADMIN_PASSWORD: the first start creates the console user ``admin`` with it."""
    if password and store.get_user_by_name(db, "admin") is None:
        create_user(db, "admin", password, role=roles.ADMIN)


def lock_remaining(db: "Database", username: str) -> int:
    """Seconds the account stays locked (0 when not locked)."""
    since = to_str(utcnow() - LOCK_WINDOW)
    if store.recent_failures(db, username, since) < MAX_FAILURES:
        return 0
    started = store.nth_recent_failure(db, username, since, MAX_FAILURES)
    if started is None:
        return 0
    remaining = (parse(started) + LOCK_WINDOW - utcnow()).total_seconds()
    return max(1, int(remaining))


def _locked(db: "Database", name: str) -> SignInError:
    minutes = max(1, (lock_remaining(db, name) + 59) // 60)
    return SignInError(f"Too many failed sign-ins: this account is locked for {minutes} more minute(s)", locked=True)


def sign_in(db: "Database", username: str, password: str, origin: Actor | None = None) -> tuple[ConsoleSession, str]:
    """Check the password (and the lock); returns the session and the raw cookie value.

    ``origin`` (the request) gets a ``console.login`` audit entry with the new session, or a
    ``console.login_failed`` one when the attempt is refused.

    The attempt is counted as a failure before the (slow) password check, in one write transaction,
    so concurrent guesses cannot all be checked: once ``MAX_FAILURES`` are counted, the rest are
    refused unchecked. A right password turns its attempt into a success, which resets the count.
    """
    name = (username or "").strip()[:64]
    if not name:
        raise SignInError("Enter your username and password")
    if len(password or "") > MAX_PASSWORD:
        raise SignInError("Wrong username or password")
    try:
        return _sign_in(db, name, password, origin)
    except SignInError as exc:
        if origin is not None:
            with db.write():
                audit.record(db, origin, "console.login_failed", target_type="console_user", target_id=name,
                             changes={"reason": "locked" if exc.locked else str(exc)})
        raise


def _sign_in(db: "Database", name: str, password: str, origin: Actor | None) -> tuple[ConsoleSession, str]:
    attempt, failures = store.reserve_attempt(db, name, to_str(utcnow() - LOCK_WINDOW), MAX_FAILURES)
    if attempt is None:
        raise _locked(db, name)
    user = store.get_user_by_name(db, name)
    try:
        _hasher.verify(user["password_hash"] if user else _DUMMY_HASH, password or "")
        ok = user is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        if failures >= MAX_FAILURES:
            raise _locked(db, name)
        raise SignInError("Wrong username or password")
    assert user is not None
    if user["disabled_at"]:
        raise SignInError("This account is disabled: ask an administrator")
    store.mark_attempt_succeeded(db, attempt)
    store.touch_login(db, user["id"])
    if _hasher.check_needs_rehash(user["password_hash"]):
        store.set_password_hash(db, user["id"], _hasher.hash(password))
    raw = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    token_hash = hash_session(raw)
    with db.write():
        store.insert_session(db, token_hash=token_hash, user_id=user["id"], csrf_token=csrf,
                             expires_at=to_str(utcnow() + SESSION_TTL))
        if origin is not None:
            audit.record(db, replace(origin, id=user["id"], name=user["username"]), "console.login",
                         target_type="console_user", target_id=user["id"], changes={"role": user["role"]})
    store.purge_attempts(db, to_str(utcnow() - timedelta(days=1)))
    return _session(token_hash, user["id"], user["username"], user["role"], user["spaces"], csrf), raw


def hash_session(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def session_from_cookie(db: "Database", raw: str | None) -> ConsoleSession | None:
    if not raw or len(raw) > 200:
        return None
    row = store.get_session(db, hash_session(raw))
    if row is None:
        return None
    spaces = json.loads(row["spaces"]) if row["spaces"] else None
    return _session(row["token_hash"], row["user_id"], row["username"], row["role"], spaces, row["csrf_token"])


def _session(token_hash: str, user_id: str, username: str, role: str, spaces: list[str] | None,
             csrf: str) -> ConsoleSession:
    return ConsoleSession(token_hash, user_id, username, role, tuple(spaces) if spaces is not None else None, csrf)


def sign_out(db: "Database", session: ConsoleSession) -> None:
    store.delete_session(db, session.token_hash)
