"""Chunking, embeddings, hybrid search and question answering over processed files."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("roset_local.index")


def register(services: Any) -> dict[str, Any]:
    """Hook the index into the pipeline and the file list, and add the re-embed task."""
    from roset_local.index.indexer import delete_file_index, index_file, reembed_file
    from roset_local.index.search import search_file_ids

    services.extensions["index_file"] = index_file
    services.extensions["delete_file_index"] = delete_file_index
    services.extensions["search_file_ids"] = search_file_ids
    services.extensions["reembed_file"] = reembed_file

    @services.huey.task(name="roset.reembed_file")
    def reembed_file_task(file_id: str, embedding_model: str | None = None) -> None:
        try:
            reembed_file(services, file_id=file_id, embedding_model=embedding_model)
        except LookupError as exc:  # the file went away meanwhile
            log.info("re-embed skipped: %s", exc)

    def warm_vector_indexes() -> None:
        # The first vector query would otherwise load the in-memory bit index (17 s at 1M chunks);
        # do it in the background at start. The embedding model itself stays lazy (idle memory).
        def run() -> None:
            from roset_local.index.vectors import bit_index
            from roset_local.store import chunks as chunk_store

            try:
                for row in chunk_store.list_vector_tables(services.db):
                    bit_index(services, row["name"], int(row["dimensions"])).sync(services.db)
            except Exception:  # a warm-up failure only means the first query loads it
                log.exception("vector index warm-up failed")

        threading.Thread(target=run, name="roset-vector-warmup", daemon=True).start()

    services.on_start(warm_vector_indexes)
    return {"reembed_file": reembed_file_task}
