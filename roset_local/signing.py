"""Expiring, tamper-proof URLs served by Roset Local itself (HMAC-SHA256 with a key in the data dir)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from roset_local.errors import BadRequest


def load_signing_key(data_dir: Path) -> bytes:
    """32 random bytes in DATA/signing.key (mode 0600), made on first use."""
    path = data_dir / "signing.key"
    try:
        return base64.b64decode(path.read_bytes())
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(key))
        return key
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"cannot read signing key {path}: {exc}") from exc


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, *parts: str) -> str:
        message = "\n".join(parts).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def verify(self, signature: str, *parts: str) -> bool:
        """Constant-time check. A signature that is not ASCII is malformed input: a 400, not a mismatch."""
        given = signature or ""
        if not given.isascii():
            raise BadRequest("signature: must be ASCII (base64url)")
        return hmac.compare_digest(self.sign(*parts).encode(), given.encode())

    def expiring(self, purpose: str, subject: str, ttl: int) -> tuple[int, str]:
        expires = int(time.time()) + ttl
        return expires, self.sign(purpose, subject, str(expires))

    def check_expiring(self, purpose: str, subject: str, expires: int | str, signature: str) -> str | None:
        """None when valid, else the reason: 'invalid' or 'expired'."""
        if not self.verify(signature, purpose, subject, str(expires)):
            return "invalid"
        try:
            if int(expires) < time.time():
                return "expired"
        except ValueError:
            return "invalid"
        return None
