"""A job's variants built from an extraction: no database, so the server and worker hosts share them."""

from __future__ import annotations

import json
import math
from typing import Any

from roset_local.positions.structure import structure_document


def pages_used(content_type: str, metadata: dict[str, Any]) -> int:
    """Billing pages: PDF pages; 1 per image; 1 per started minute of audio/video; else 1."""
    ctype = (content_type or "").lower()
    if ctype == "application/pdf":
        return max(1, int(metadata.get("page_count") or 1))
    if ctype.startswith(("audio/", "video/")):
        return max(1, math.ceil(float(metadata.get("duration_seconds") or 0) / 60))
    return 1


def text_outputs(extraction: Any, elements: Any, page_sizes: Any, wanted: list[str]) -> list[dict[str, Any]]:
    """The ``markdown`` and ``structure`` variants of an extraction (no database: worker hosts too)."""
    outputs: list[dict[str, Any]] = []
    if "markdown" in wanted or {"embeddings", "searchable-index"} & set(wanted):
        outputs.append({"type": "markdown", "content": extraction.markdown, "content_type": "text/markdown"})
    if "structure" in wanted and elements:
        outputs.append({"type": "structure", "content": json.dumps(structure_document(elements, page_sizes)),
                        "content_type": "application/json"})
    return outputs


def index_outputs(index_result: dict[str, Any], wanted: list[str]) -> list[dict[str, Any]]:
    """The ``embeddings`` and ``searchable-index`` variants from what indexing reported."""
    return [{"type": vtype, "content": json.dumps(index_result[vtype]), "content_type": "application/json"}
            for vtype in ("embeddings", "searchable-index") if vtype in wanted and vtype in index_result]


def thumbnail_key(file: dict[str, Any], variant_dir: str, extraction: Any) -> str:
    ext = "webp" if extraction.thumbnail_type == "image/webp" else "png"
    return f"{file['space']}/{file['id']}/variants/{variant_dir}/thumbnail.{ext}"


def thumbnail_output(key: str, extraction: Any) -> dict[str, Any]:
    return {"type": "thumbnail", "blob_key": key, "content": None,
            "content_type": extraction.thumbnail_type or "image/png", "size_bytes": len(extraction.thumbnail)}


def metadata_output(extraction: Any, file: dict[str, Any], *, content_type: str, provider: str, engine: str,
                    mode: str, pages: int, timings: dict[str, float]) -> dict[str, Any]:
    """The ``metadata`` variant: the extraction's metadata with the file's facts and every stage's time."""
    meta = dict(extraction.metadata)
    # Providers time their stages in seconds ("timings"); the variant reports every stage in milliseconds.
    stage_ms = {k: round(float(v) * 1000, 1) for k, v in (meta.pop("timings", None) or {}).items()}
    meta.update({"sha256": file["sha256"], "detected_type": meta.get("detected_type") or content_type,
                 "size_bytes": file["size_bytes"], "filename": file["filename"], "provider": provider,
                 "engine": engine, "pages_billed": pages, "extraction": mode,
                 "timings_ms": {**stage_ms, **(meta.get("timings_ms") or {}), **timings}})
    if extraction.pages:  # where each page begins in the markdown: page ranges of it (MCP get_markdown)
        from roset_local.index.chunking import page_starts

        meta["page_starts"] = page_starts(extraction.markdown, [(p.number, p.markdown) for p in extraction.pages])
    return {"type": "metadata", "content": json.dumps(meta, default=str), "content_type": "application/json"}

