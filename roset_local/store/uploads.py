"""Upload tokens: the single-use nonces behind signed upload URLs."""

from __future__ import annotations

from typing import Literal

from roset_local.store.db import Database
from roset_local.timeutil import now_str

ClaimOutcome = Literal["claimed", "unknown", "used"]


def create_upload_token(db: Database, *, nonce: str, file_id: str, expires_at: int) -> None:
    """Record a fresh, unused token for ``file_id`` that expires at ``expires_at`` (Unix seconds)."""
    with db.write():
        db.insert("upload_tokens", {"id": nonce, "file_id": file_id, "expires_at": expires_at, "used_at": None})


def claim_upload_token(db: Database, *, nonce: str, file_id: str) -> ClaimOutcome:
    """Mark the token used, atomically: ``unknown`` when it does not exist or belongs to another file,
    ``used`` when it was claimed before (nothing changes then), else ``claimed``."""
    with db.write():
        token = db.one("SELECT file_id, used_at FROM upload_tokens WHERE id = :id", {"id": nonce})
        if token is None or token["file_id"] != file_id:
            return "unknown"
        if token["used_at"]:
            return "used"
        db.execute("UPDATE upload_tokens SET used_at = :now WHERE id = :id", {"now": now_str(), "id": nonce})
        return "claimed"


def release_upload_token(db: Database, nonce: str) -> None:
    """Make a claimed token usable again (the upload it was claimed for kept nothing)."""
    with db.write():
        db.execute("UPDATE upload_tokens SET used_at = NULL WHERE id = :id", {"id": nonce})
