"""Webhook signing secrets at rest: sealed with the instance key (AES-GCM), opened only to sign or to show once.

A stored secret that still starts with ``whsec_`` was written before sealing existed;
:func:`seal_stored_secrets` (run whenever the services open) seals those in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roset_local.secrets import SecretBox
from roset_local.store import webhooks as store
from roset_local.webhooks.signing import SECRET_PREFIX

if TYPE_CHECKING:
    from roset_local.services import Services

CONTEXT = "webhook_secret"


def seal(box: SecretBox, secret: str) -> str:
    return box.encrypt(secret, CONTEXT)


def unseal(box: SecretBox, stored: str) -> str:
    """The ``whsec_`` secret; raises :class:`roset_local.secrets.SecretError` if it cannot be decrypted."""
    if stored.startswith(SECRET_PREFIX):
        return stored
    return box.decrypt(stored, CONTEXT)


def seal_stored_secrets(services: "Services") -> int:
    """Encrypt every plain-text secret in place; returns how many. Idempotent and cheap when none are left."""
    db = services.db
    if not store.has_plaintext_secrets(db, SECRET_PREFIX):
        return 0
    box = services.secret_box
    with db.write():
        rows = store.plaintext_secrets(db, SECRET_PREFIX)
        store.replace_secrets(db, {row["id"]: seal(box, row["secret"]) for row in rows})
    store.truncate_wal(db)
    return len(rows)
