"""Index a file: chunk its text, embed the chunks, and replace its chunks, FTS rows and vectors in one write."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from roset_local.index.chunking import Chunk, chunk_document, validate_chunking
from roset_local.index.embedder import canonical_model, get_embedder
from roset_local.index.vectors import sign_bits
from roset_local.positions.chunks import place_chunks, position_json
from roset_local.positions.structure import PageSizes, elements_from_structure
from roset_local.store import chunks as store
from roset_local.store.db import Database
from roset_local.structure.model import Element

EMBED_BATCH = 32  # chunks per embedding call; cancellation is checked between calls


class IndexCancelled(Exception):
    """The job was cancelled while its chunks were being embedded; nothing was written."""


def org_defaults(db: Database) -> tuple[dict[str, Any] | None, str | None]:
    """(default_chunking, default_embedding_model) from the organisation's settings."""
    try:
        from roset_local.store.org import get_org_settings
    except ImportError:
        from roset_local.store.settings import get_setting

        return get_setting(db, "default_chunking"), get_setting(db, "default_embedding_model")
    settings = get_org_settings(db)
    return settings.get("default_chunking"), settings.get("default_embedding_model")


def embedding_text(chunk: Chunk) -> str:
    """What gets embedded: the heading path gives a chunk its context (a section's later chunks too)."""
    if chunk.heading and not chunk.text.lstrip("# ").startswith(chunk.heading.split(" > ")[-1]):
        return f"{chunk.heading}\n{chunk.text}"
    return chunk.text


def embed_chunks(
    services: Any,
    model: str | None,
    chunks: list[Chunk],
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] = lambda fraction: None,
) -> tuple[str, np.ndarray]:
    """(canonical model name, (n, d) vectors). Raises ValueError for a model that is not available."""
    name = canonical_model(model)
    return name, embed_with(get_embedder(services, name), chunks, cancelled, progress)


def embed_with(
    embedder: Any,
    chunks: list[Chunk],
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] = lambda fraction: None,
) -> np.ndarray:
    """(n, d) float32 vectors of the chunks from one embedder, batch by batch; raises IndexCancelled."""
    texts = [embedding_text(c) for c in chunks]
    parts = []
    for start in range(0, len(texts), EMBED_BATCH):
        if cancelled():
            raise IndexCancelled()
        parts.append(embedder.embed(texts[start : start + EMBED_BATCH]))
        progress(min(1.0, (start + EMBED_BATCH) / len(texts)))
    vectors = np.concatenate(parts) if parts else np.zeros((0, embedder.dimensions), np.float32)
    return vectors.astype(np.float32)


def write_index(
    db: Database,
    *,
    file_id: str,
    space: str,
    filename: str,
    chunks: list[Chunk],
    model: str | None,
    vectors: np.ndarray | None,
) -> str | None:
    """Replace the file's chunks (and their FTS rows and vectors) atomically; returns the vec table."""
    with db.write():
        store.delete_file_chunks(db, file_id)
        table = None
        if vectors is not None and len(chunks):
            table = store.ensure_vector_table(db, str(model), int(vectors.shape[1]))
        ids = []
        for seq, c in enumerate(chunks):
            ids.append(
                store.insert_chunk(
                    db,
                    {
                        "file_id": file_id, "space": space, "seq": seq, "text": c.text, "char_start": c.char_start,
                        "char_end": c.char_end, "page": c.page, "heading": c.heading, "ts_start": c.ts_start,
                        "ts_end": c.ts_end, "vector_table": table, "bbox": position_json(c),
                    },
                    filename,
                )
            )
        if table is not None and vectors is not None:
            bits = sign_bits(vectors)
            store.insert_vectors(
                db, table, [(cid, file_id, space, vectors[i].tobytes(), bits[i].tobytes()) for i, cid in enumerate(ids)]
            )
    return table


def chunk_file(
    db: Database,
    *,
    markdown: str,
    pages: list[tuple[int, str]],
    segments: list[tuple[float, float, str]],
    chunking: dict | None,
    elements: Sequence[Element] = (),
    page_sizes: PageSizes | None = None,
) -> tuple[list[Chunk], dict[str, Any]]:
    """(chunks with their page boxes, the chunking config used). Raises ValueError for a bad config."""
    default_chunking, _ = org_defaults(db)
    cfg = validate_chunking(chunking or default_chunking)
    return chunk_text(markdown=markdown, pages=pages, segments=segments, cfg=cfg, elements=elements,
                      page_sizes=page_sizes), cfg


def chunk_text(
    *,
    markdown: str,
    pages: list[tuple[int, str]],
    segments: list[tuple[float, float, str]],
    cfg: dict[str, Any],
    elements: Sequence[Element] = (),
    page_sizes: PageSizes | None = None,
) -> list[Chunk]:
    """Chunks with their page boxes for a validated config (no database: worker hosts chunk too)."""
    chunks = chunk_document(markdown or "", pages=pages or (), segments=segments or (), config=cfg)
    if elements:
        place_chunks(chunks, elements, page_sizes or {})
    return chunks


def text_index_content(chunks: list[Chunk], cfg: dict[str, Any]) -> dict[str, Any]:
    """The ``searchable-index`` variant's content."""
    return {"chunk_count": len(chunks), "fts": True, "chunking": cfg}


def embeddings_content(model: str, dimensions: int, chunks: list[Chunk], cfg: dict[str, Any]) -> dict[str, Any]:
    """The ``embeddings`` variant's content."""
    return {"model": model, "dimensions": dimensions, "chunk_count": len(chunks), "chunking": cfg}


def index_text(db: Database, *, file_id: str, space: str, filename: str, chunks: list[Chunk],
               cfg: dict[str, Any], guard: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """First stage: the file's chunks go into FTS5 (no vectors yet); returns the ``searchable-index`` content.

    ``guard`` runs inside the write transaction and may raise to write nothing (a job no longer ours).
    """
    with db.write():
        guard()
        write_index(db, file_id=file_id, space=space, filename=filename, chunks=chunks, model=None, vectors=None)
    return text_index_content(chunks, cfg)


def index_vectors(
    services: Any,
    *,
    file_id: str,
    space: str,
    filename: str,
    chunks: list[Chunk],
    cfg: dict[str, Any],
    embedding_model: str | None,
    cancelled: Callable[[], bool],
    progress: Callable[[float], None] = lambda fraction: None,
    guard: Callable[[], None] = lambda: None,
) -> dict[str, Any] | None:
    """Later stage: embed the chunks and swap them in with their vectors; the ``embeddings`` content.

    The chunks are written again (new ids) rather than given vectors in place, so vector ids keep
    growing with every insert batch, which the vector indexes rely on. None when cancelled.
    """
    _, default_model = org_defaults(services.db)
    try:
        model, vectors = embed_chunks(services, embedding_model or default_model, chunks, cancelled, progress)
    except IndexCancelled:
        return None
    if cancelled():
        return None
    with services.db.write():
        guard()
        write_index(services.db, file_id=file_id, space=space, filename=filename, chunks=chunks, model=model,
                    vectors=vectors)
    dims = int(vectors.shape[1]) if len(chunks) else int(get_embedder(services, model).dimensions)
    return embeddings_content(model, dims, chunks, cfg)


def index_file(
    services: Any,
    *,
    file_id: str,
    space: str,
    filename: str,
    content_type: str,
    metadata: dict,
    markdown: str,
    pages: list[tuple[int, str]],
    segments: list[tuple[float, float, str]],
    chunking: dict | None,
    embedding_model: str | None,
    with_embeddings: bool,
    cancelled: Callable[[], bool],
    elements: Sequence[Element] = (),
    page_sizes: PageSizes | None = None,
) -> dict:
    """Chunk, embed and index one file in one step, replacing whatever it had (re-embedding).

    Returns the content of the ``embeddings`` and ``searchable-index`` variants. Embedding runs
    before the write so the transaction stays short; a cancelled job writes nothing. Raises
    ValueError for an invalid chunking config or an embedding model that is not configured.
    """
    db = services.db
    chunks, cfg = chunk_file(db, markdown=markdown, pages=pages, segments=segments, chunking=chunking,
                             elements=elements, page_sizes=page_sizes)
    result: dict[str, Any] = {"searchable-index": text_index_content(chunks, cfg)}
    if with_embeddings:
        embeddings = index_vectors(services, file_id=file_id, space=space, filename=filename, chunks=chunks,
                                   cfg=cfg, embedding_model=embedding_model, cancelled=cancelled)
        if embeddings is None:
            return {}
        result["embeddings"] = embeddings
    elif cancelled():
        return {}
    else:
        index_text(db, file_id=file_id, space=space, filename=filename, chunks=chunks, cfg=cfg)
    return result


def delete_file_index(db: Database, file_id: str) -> None:
    """Remove everything searchable about a file (chunks, FTS rows, vectors). Inside the caller's write."""
    store.delete_file_chunks(db, file_id)


def reembed_file(services: Any, *, file_id: str, embedding_model: str | None) -> dict:
    """Re-chunk and re-embed from the stored ``markdown`` variant, without extracting again.

    Chunking follows the file's own options (else the organisation's default). Raises LookupError
    when the file or its markdown variant is missing, ValueError for an unavailable model.
    """
    db = services.db
    file = store.file_for_index(db, file_id)
    if file is None:
        raise LookupError(f"file {file_id} not found")
    markdown = store.markdown_of(db, file_id)
    if markdown is None:
        raise LookupError(f"file {file_id} has no markdown variant to re-embed")
    options = json.loads(file.get("options") or "{}")
    old = store.file_chunks(db, file_id)
    model = embedding_model or options.get("embedding_model")
    if any(r["ts_start"] is not None for r in old):
        # Media: the transcript's segment times exist only in the chunks, so keep their boundaries.
        chunks = [
            Chunk(r["text"], r["char_start"], r["char_end"], r["page"], r["heading"], r["ts_start"], r["ts_end"])
            for r in old
        ]
        name, vectors = embed_chunks(services, model, chunks)
        write_index(db, file_id=file_id, space=file["space"], filename=file["filename"], chunks=chunks,
                    model=name, vectors=vectors)
        return {
            "searchable-index": {"chunk_count": len(chunks), "fts": True},
            "embeddings": {"model": name, "dimensions": int(vectors.shape[1]), "chunk_count": len(chunks)},
        }
    elements, sizes = _stored_structure(db, file_id)  # chunk boxes survive a re-embed
    return index_file(
        services, file_id=file_id, space=file["space"], filename=file["filename"],
        content_type=file["content_type"] or "", metadata=json.loads(file.get("metadata") or "{}"),
        markdown=markdown, pages=pages_from(old, markdown), segments=[], chunking=options.get("chunking"),
        embedding_model=model, with_embeddings=True, cancelled=lambda: False, elements=elements, page_sizes=sizes,
    )


def _stored_structure(db: Database, file_id: str) -> tuple[list[Element], PageSizes]:
    raw = store.structure_of(db, file_id)
    if not raw:
        return [], {}
    try:
        return elements_from_structure(json.loads(raw))
    except (ValueError, TypeError, KeyError):
        return [], {}


def pages_from(rows: list[dict[str, Any]], markdown: str) -> list[tuple[int, str]]:
    """Rebuild (page, text) parts from stored chunk offsets so page numbers survive a re-embed."""
    starts: dict[int, int] = {}
    for r in rows:
        if r["page"] is not None:
            starts[r["page"]] = min(starts.get(r["page"], r["char_start"]), r["char_start"])
    ordered = sorted(starts.items(), key=lambda kv: kv[1])
    out = []
    for i, (page, start) in enumerate(ordered):
        end = ordered[i + 1][1] if i + 1 < len(ordered) else len(markdown)
        out.append((page, markdown[start:end]))
    return out
