"""Content-addressed reuse: bytes already processed in the same space (same sha256, same options) are
not extracted again; the job copies that file's variants and index entries instead."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from roset_local.store import chunks as chunk_store
from roset_local.store import files as file_store
from roset_local.store import variants as variant_store

if TYPE_CHECKING:
    from roset_local.services import Services


def find_twin(services: Services, file: dict[str, Any], options: dict[str, Any]) -> dict[str, Any] | None:
    """A completed file of the same space with the same bytes, processed with the same options. None
    when this file's own variants already come from these bytes: processing it again asks for a
    fresh extraction, not a copy."""
    if not file.get("sha256") or _made_from(services, file["id"]) == file["sha256"]:
        return None
    for twin in file_store.processed_twins(services.db, file["space"], file["sha256"], file["id"]):
        if json.loads(twin["options"] or "{}") == options:
            return twin
    return None


def _made_from(services: Services, file_id: str) -> str | None:
    """The sha256 of the bytes the file's current variants were made from (its metadata variant)."""
    variant = variant_store.get_variant(services.db, file_id, "metadata")
    try:
        return json.loads(variant["content"]).get("sha256") if variant and variant["content"] else None
    except ValueError:
        return None


def copied_outputs(services: Services, file: dict[str, Any], job: dict[str, Any],
                   twin: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The twin's variants as this job's outputs (binary ones copied to this file's blob keys) and
    the new thumbnail key, if any, for the caller to delete should the swap fail."""
    outputs: list[dict[str, Any]] = []
    thumb_key = None
    for variant in variant_store.list_variants(services.db, twin["id"]):
        out = {"type": variant["type"], "content": variant["content"], "content_type": variant["content_type"],
               "size_bytes": variant["size_bytes"]}
        if variant["blob_key"]:
            name = variant["blob_key"].rsplit("/", 1)[-1]
            thumb_key = f"{file['space']}/{file['id']}/variants/{job['id']}/{name}"
            services.blobs.write_bytes(thumb_key, services.blobs.read_bytes(variant["blob_key"]))
            out["blob_key"] = thumb_key
        elif variant["type"] == "metadata" and variant["content"]:
            meta = json.loads(variant["content"])
            meta.update({"filename": file["filename"], "reused_from": twin["id"], "pages_billed": 0})
            out["content"] = json.dumps(meta, default=str)
            out["size_bytes"] = len(out["content"].encode())
        outputs.append(out)
    return outputs, thumb_key


def copy_index(services: Services, file: dict[str, Any], twin: dict[str, Any]) -> None:
    """Inside the job's final transaction: the twin's chunks, FTS rows and vectors become this file's."""
    chunk_store.copy_file_chunks(services.db, twin["id"], file["id"], file["filename"])
