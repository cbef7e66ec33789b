"""Secrets at rest: AES-256-GCM with a key from ROSET_SECRET_KEY or DATA/secret.key (created 0600).

``services.secret_box`` gives the process's :class:`SecretBox`; other modules (connection
credentials) may use it too, each with its own ``context`` string (bound as associated data, so a
ciphertext moved to another row or purpose does not decrypt). Nothing here logs a plaintext.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from roset_local.config import Settings
from roset_local.errors import BadRequest
from roset_local.netguard import OutboundRefused, check_url
from roset_local.providers.names import PROVIDER_NAMES
from roset_local.store import org as org_store

log = logging.getLogger("roset_local.secrets")

KEY_FILE = "secret.key"
_VERSION = "v1"


class SecretError(Exception):
    """A ciphertext that cannot be decrypted (damaged, or the secret key changed)."""


def _load_or_create_key_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s is readable by other users (mode %o); chmod 600 it", path, mode)
        raw = path.read_text().strip()
        try:
            material = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except ValueError:
            material = b""
        if len(material) < 32:
            raise SecretError(f"{path} does not hold a usable key; restore it from a backup") from None
        return material
    material = os.urandom(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.urlsafe_b64encode(material).decode() + "\n")
    os.chmod(path, 0o600)
    return material


def key_material(settings: Settings) -> bytes:
    """The raw secret: ROSET_SECRET_KEY when set, else DATA/secret.key (created on first use)."""
    if settings.secret_key:
        return settings.secret_key.encode()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return _load_or_create_key_file(settings.data_dir / KEY_FILE)


class SecretBox:
    """Encrypts short strings; the output is ``v1.<base64url(nonce || ciphertext || tag)>``."""

    def __init__(self, material: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"roset-local", info=b"secrets-v1").derive(material)
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}." + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def decrypt(self, token: str, context: str) -> str:
        version, _, body = token.partition(".")
        if version != _VERSION or not body:
            raise SecretError("unknown ciphertext format")
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return self._aead.decrypt(blob[:12], blob[12:], context.encode()).decode()
        except (InvalidTag, ValueError):
            raise SecretError("cannot decrypt (was the secret key changed?)") from None


# -- provider keys --------------------------------------------------------------------------------


def key_preview(key: str) -> str:
    """Enough to recognise a key, never enough to use it: ``sk-…abcd``."""
    if len(key) >= 12:
        return f"{key[:3]}…{key[-4:]}"
    if len(key) >= 6:
        return f"…{key[-2:]}"
    return "…"


def _context(provider: str) -> str:
    return f"provider_key:{provider}"


def check_base_url(services: Any, base_url: str | None) -> str | None:
    """A provider base URL the outbound guard accepts (400 otherwise); None keeps the provider's own."""
    if base_url is None:
        return None
    try:
        return check_url(base_url, allow_private=services.settings.outbound_allow_private, field="base_url")
    except OutboundRefused as exc:
        raise BadRequest(str(exc)) from None


def save_provider_key(services: Any, provider: str, key: str, base_url: str | None) -> dict[str, Any]:
    base_url = check_base_url(services, base_url)
    ciphertext = services.secret_box.encrypt(key, _context(provider))
    row = org_store.save_provider_key(services.db, provider, ciphertext, key_preview(key), base_url)
    return provider_key_out(row)


def provider_key_out(row: dict[str, Any] | None, provider: str | None = None) -> dict[str, Any]:
    if row is None:
        return {"provider": provider, "configured": False, "key_preview": None, "base_url": None, "updated_at": None}
    return {
        "provider": row["provider"],
        "configured": True,
        "key_preview": row["key_preview"],
        "base_url": row["base_url"],
        "updated_at": row["updated_at"],
    }


def list_provider_keys(services: Any) -> list[dict[str, Any]]:
    rows = {r["provider"]: r for r in org_store.list_provider_keys(services.db)}
    return [provider_key_out(rows.get(p), p) for p in PROVIDER_NAMES]


def get_hosted_keys(services: Any) -> dict[str, dict[str, str | None]]:
    """Decrypted ``{provider: {"key", "base_url"}}`` for every configured provider (pipeline use).

    A key that no longer decrypts (secret key changed) is left out, with a warning naming only
    the provider, so that provider falls back to its local engine.
    """
    box = services.secret_box
    out: dict[str, dict[str, str | None]] = {}
    for row in org_store.list_provider_keys(services.db):
        try:
            key = box.decrypt(row["ciphertext"], _context(row["provider"]))
        except SecretError:
            log.warning("the saved %s key cannot be decrypted; save it again", row["provider"])
            continue
        out[row["provider"]] = {"key": key, "base_url": row["base_url"]}
    return out
