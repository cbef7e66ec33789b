"""Chunking, embeddings, hybrid search and question answering over processed files."""

from __future__ import annotations

import logging
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

    return {"reembed_file": reembed_file_task}
