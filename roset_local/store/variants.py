"""Variants: extraction outputs of a file (markdown, metadata, thumbnail, embeddings, searchable-index, structure)."""

from __future__ import annotations

from typing import Any, Final, Literal, get_args

from roset_local.ids import new_id
from roset_local.store.db import Database, Row
from roset_local.timeutil import now_str

# The one list of variant types (upload options, org defaults and the pipeline import it). `structure`
# is made only where the extraction found elements (structured mode); see roset_local/positions/.
VariantType = Literal["markdown", "embeddings", "thumbnail", "metadata", "searchable-index", "structure"]
VARIANT_TYPES: Final[tuple[VariantType, ...]] = get_args(VariantType)


def replace_variants(db: Database, *, file_id: str, job_id: str, provider: str | None, variants: list[dict[str, Any]]) -> list[str]:
    """Swap in a job's variants (inside db.write()): each type replaces the old one of that type.

    Returns blob keys of replaced binary variants so the caller can delete them after commit.
    """
    old_blobs: list[str] = []
    now = now_str()
    for variant in variants:
        old = db.one("SELECT blob_key FROM variants WHERE file_id = :f AND type = :t", {"f": file_id, "t": variant["type"]})
        if old and old["blob_key"] and old["blob_key"] != variant.get("blob_key"):
            old_blobs.append(old["blob_key"])
        db.execute("DELETE FROM variants WHERE file_id = :f AND type = :t", {"f": file_id, "t": variant["type"]})
        content = variant.get("content")
        db.insert(
            "variants",
            {
                "id": new_id("var"),
                "file_id": file_id,
                "job_id": job_id,
                "type": variant["type"],
                "provider": provider,
                "content": content,
                "blob_key": variant.get("blob_key"),
                "content_type": variant["content_type"],
                "size_bytes": variant.get("size_bytes", len(content.encode()) if content is not None else 0),
                "created_at": now,
            },
        )
    return old_blobs


def delete_variant(db: Database, file_id: str, type_: str) -> None:
    """Drop one text variant (inside db.write())."""
    db.execute("DELETE FROM variants WHERE file_id = :f AND type = :t AND blob_key IS NULL", {"f": file_id, "t": type_})


def list_variants(db: Database, file_id: str, *, with_content: bool = True) -> list[Row]:
    cols = "*" if with_content else "id, file_id, job_id, type, provider, blob_key, content_type, size_bytes, created_at"
    return db.all(f"SELECT {cols} FROM variants WHERE file_id = :f ORDER BY created_at, type", {"f": file_id})


def get_variant(db: Database, file_id: str, type_: str) -> Row | None:
    return db.one("SELECT * FROM variants WHERE file_id = :f AND type = :t", {"f": file_id, "t": type_})


def has_variants(db: Database, file_id: str) -> bool:
    return db.one("SELECT 1 AS found FROM variants WHERE file_id = :f LIMIT 1", {"f": file_id}) is not None


def blob_keys(db: Database, file_id: str) -> list[str]:
    return [r["blob_key"] for r in db.all("SELECT blob_key FROM variants WHERE file_id = :f AND blob_key IS NOT NULL", {"f": file_id})]


def markdown_of(db: Database, file_id: str) -> str | None:
    return db.value("SELECT content FROM variants WHERE file_id = :f AND type = 'markdown'", {"f": file_id})
