"""Search over chunks: FTS5 BM25 (text), cosine over embeddings (vector), and their rank fusion (hybrid)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roset_local.index.embedder import get_embedder
from roset_local.index.text import fts_query, query_terms, snippet, stem, words
from roset_local.index.vectors import nearest
from roset_local.positions.chunks import position_fields
from roset_local.store import chunks as store
from roset_local.store.db import Database

MODES = ("text", "vector", "hybrid")
MAX_LIMIT = 100
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al.); see scripts/bench_search.py for the eval


@dataclass
class Filters:
    spaces: tuple[str, ...] | None = None  # None: every space
    content_type: str | None = None  # exact, or "image/*"
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def narrows_files(self) -> bool:
        return bool(self.content_type or self.metadata)


# -- retrieval -----------------------------------------------------------------------------------


def text_hits(db: Database, query: str, filters: Filters, n: int) -> list[tuple[int, float]]:
    """(chunk_id, score in 0..1) by BM25 over chunk text and filename."""
    terms = query_terms(query)
    if not terms:
        return []
    rows = store.fts_search(
        db, fts_query(terms), spaces=filters.spaces, content_type=filters.content_type,
        metadata=filters.metadata, limit=n,
    )
    return [(cid, (-bm) / (1.0 - bm)) for cid, bm in rows]  # bm25 < 0; map to 0..1


def query_vector(services: Any, model: str, query: str) -> np.ndarray:
    cache = services.query_cache
    key = (model, query)
    vec = cache.get(key)
    if vec is None:
        vec = get_embedder(services, model).embed([query])[0]
        cache.put(key, vec)
    return vec


def vector_hits(services: Any, query: str, filters: Filters, n: int) -> list[tuple[int, float]]:
    """(chunk_id, cosine similarity) across every embedding model that has vectors.

    A model whose provider is no longer configured is skipped (its files stay text-searchable).
    """
    db = services.db
    tables = [t for t in store.list_vector_tables(db) if t["version"] > 0]
    if not tables:
        return []
    files = None
    if filters.narrows_files:
        files = store.file_ids_in(db, spaces=filters.spaces, content_type=filters.content_type, metadata=filters.metadata)
        if not files:
            return []
    hits: list[tuple[int, float]] = []
    for table in tables:
        try:
            vec = query_vector(services, table["model"], query)
        except ValueError:
            continue
        if vec.shape[0] != table["dimensions"]:
            continue
        hits.extend(nearest(services, table["name"], table["dimensions"], vec, n, spaces=filters.spaces, files=files))
    hits.sort(key=lambda h: -h[1])
    return hits[:n]


def coverage(db: Database, query: str, hits: list[tuple[int, float]]) -> dict[int, float]:
    """Share of the query's content words (crudely stemmed) that each hit's text contains."""
    q = {stem(t) for t in query_terms(query)}
    if not q:
        return {}
    texts = store.chunk_texts(db, [cid for cid, _ in hits])
    return {cid: len(q & {stem(w) for w in words(text)}) / len(q) for cid, text in texts.items()}


def fuse(
    ranked: Sequence[Sequence[tuple[int, float]]], k: int = RRF_K, weights: Sequence[dict[int, float] | None] = ()
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion, each list's entries optionally weighted; scaled so first everywhere = 1.0."""
    scores: dict[int, float] = {}
    for i, hits in enumerate(ranked):
        weight = weights[i] if i < len(weights) else None
        for rank, (cid, _) in enumerate(hits):
            w = 1.0 if weight is None else weight.get(cid, 0.0)
            scores[cid] = scores.get(cid, 0.0) + w / (k + rank + 1)
    best = len(ranked) / (k + 1)
    return sorted(((cid, s / best) for cid, s in scores.items()), key=lambda h: -h[1])


def ranked_chunks(
    services: Any, query: str, *, mode: str, filters: Filters, limit: int
) -> list[tuple[int, float]]:
    """(chunk_id, score) best first, before the final filter check."""
    depth = max(limit * 2, 50)
    if mode == "text":
        return text_hits(services.db, query, filters, limit)
    if mode == "vector":
        return vector_hits(services, query, filters, limit)
    text = text_hits(services.db, query, filters, depth)
    vector = vector_hits(services, query, filters, depth)
    if not vector:
        return text
    # Plain RRF lets a chunk matching one common query word outrank the semantic best; weighting
    # the text list by how much of the query each hit covers fixed that on the eval (see tests).
    return fuse([text, vector], weights=[coverage(services.db, query, text), None])


def search(
    services: Any,
    query: str,
    *,
    mode: str = "hybrid",
    filters: Filters | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """Results as the API returns them. Raises ValueError for an empty query or an unknown mode."""
    if not query or not query.strip():
        raise ValueError("query: must not be empty")
    if mode not in MODES:
        raise ValueError(f"mode: must be one of {', '.join(MODES)}")
    filters = filters or Filters()
    limit = max(1, min(int(limit), MAX_LIMIT))
    ranked = ranked_chunks(services, query, mode=mode, filters=filters, limit=limit)
    rows = store.chunks_with_files(
        services.db, [cid for cid, _ in ranked[: limit * 2]], spaces=filters.spaces,
        content_type=filters.content_type, metadata=filters.metadata,
    )
    results = []
    for cid, score in ranked:
        row = rows.get(cid)
        if row is None:
            continue
        results.append(result_out(row, score, query))
        if len(results) >= limit:
            break
    return {"results": results, "total": len(results), "query": query, "mode": mode}


def result_out(row: dict[str, Any], score: float, query: str) -> dict[str, Any]:
    return {
        "file_id": row["file_id"],
        "filename": row["filename"],
        "space": row["space"],
        "content_type": row["content_type"],
        "score": round(float(score), 4),
        "snippet": snippet(row["text"], query),
        "chunk_text": row["text"],
        "heading": row["heading"],
        "timestamp": row["ts_start"],
        "timestamp_end": row["ts_end"],
        "char_start": row["char_start"],
        "char_end": row["char_end"],
        **position_fields(row.get("bbox"), row["page"]),
    }


def search_file_ids(db: Database, query: str, spaces: Sequence[str] | None, limit: int = 500) -> list[str]:
    """Files whose content matches the query (full-text), best first; for ``GET /v1/files?search=``."""
    terms = query_terms(query)
    if not terms:
        return []
    rows = store.fts_search(
        db, fts_query(terms), spaces=tuple(spaces) if spaces is not None else None, content_type=None,
        metadata={}, limit=limit * 4,
    )
    found = store.chunks_with_files(db, [cid for cid, _ in rows])
    out: list[str] = []
    seen: set[str] = set()
    for cid, _ in rows:
        row = found.get(cid)
        if row is not None and row["file_id"] not in seen:
            seen.add(row["file_id"])
            out.append(row["file_id"])
    return out[:limit]
