"""Chunking, embeddings, hybrid search and question answering over processed files."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.index")


def warm_vector_indexes(services: "Services") -> None:
    """At start: load the in-memory bit index of every vector table in a background thread.

    The first vector query would otherwise load it (17 s at 1M chunks); the embedding model itself
    stays lazy (idle memory).
    """

    def run() -> None:
        from roset_local.index.vectors import bit_index
        from roset_local.store import chunks as chunk_store

        try:
            for row in chunk_store.list_vector_tables(services.db):
                bit_index(services, row["name"], int(row["dimensions"])).sync(services.db)
        except Exception:  # a warm-up failure only means the first query loads it
            log.exception("vector index warm-up failed")

    threading.Thread(target=run, name="roset-vector-warmup", daemon=True).start()
