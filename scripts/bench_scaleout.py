#!/usr/bin/env python3
"""Scale-out benchmark (issue 17): worker hosts against single-host mode, and the single writer's ceiling.

1. Jobs/s for N ten-page PDFs (default variants: markdown, structure, index, embeddings, thumbnail,
   metadata) in single-host mode (SQLite queue, local blobs), then with a Redis queue and the S3 test
   server with 1 and with 2 worker processes (``roset-local worker --queue ... --storage ...``, no data
   directory), all in this run on this machine. Each configuration first processes a warm-up batch.
2. The commit ceiling: the API host applying synthetic results of ten-page documents with their
   embeddings (chunks, FTS rows, 384-d vectors, variants, events) one after another, read from the
   object store as worker hosts leave them: commits/s.
3. commits/s ÷ one worker process's jobs/s = how many such worker processes one API host can feed.

On a 2-core machine the worker processes share the API host's cores, so step 1 shows the protocol's
overhead and scaling shape, not the gain of real extra machines.

Usage: .venv/bin/python scripts/bench_scaleout.py [--files 12] [--commits 60]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import LiveServer, server_env  # noqa: E402
from tests.samplegen import PdfPage, pdf_bytes  # noqa: E402
from tests.scaleout_cluster import STORAGE_URL, start_backends, start_cluster, timed_batch  # noqa: E402
from tests.test_webhooks import wait_for  # noqa: E402

WORDS = ("revenue", "harbour", "copper", "ledger", "quarter", "invoice", "freight", "timber", "glacier", "orchard")
PAGES = 10


def page_text(doc: int, page: int) -> list[str]:
    lines = []
    for line in range(12):
        w = [WORDS[(doc + page + line + k) % len(WORDS)] for k in range(9)]
        lines.append(f"Document {doc} page {page + 1} line {line}: " + " ".join(w) + ".")
    return lines


def ten_page_pdfs(count: int, tag: str) -> list[tuple[str, bytes, str]]:
    return [(f"{tag}-{i}.pdf", pdf_bytes([PdfPage(lines=page_text(i, p)) for p in range(PAGES)], title=f"{tag} {i}"),
             "application/pdf") for i in range(count)]


def jobs_per_second(http: Any, files: int, tag: str) -> float:
    timed_batch(http, ten_page_pdfs(3, f"warm-{tag}"))
    return files / timed_batch(http, ten_page_pdfs(files, tag))


def single_host(base: Path, files: int) -> float:
    server = LiveServer(data_dir=base / "single" / "data", env=server_env(ROSET_RATE_LIMIT="100000"))
    (base / "single").mkdir()
    server.start()
    try:
        with server.client() as http:
            return jobs_per_second(http, files, "single")
    finally:
        server.stop()


def worker_hosts(base: Path, files: int) -> tuple[float, float]:
    cluster = start_cluster(base / "cluster", workers=1)
    try:
        with cluster.api.client() as http:
            one = jobs_per_second(http, files, "one")
            cluster.start_worker()
            wait_for(lambda: len(cluster.health_workers(http)) == 2, 60, interval=0.2)
            two = jobs_per_second(http, files, "two")
        return one, two
    finally:
        cluster.stop()


def commit_ceiling(base: Path, commits: int) -> tuple[float, int]:
    """Commits/s of synthetic ten-page results with embeddings, applied by the API host's commit path."""
    from roset_local.config import Settings
    from roset_local.index.chunking import validate_chunking
    from roset_local.index.indexer import chunk_text, embeddings_content, text_index_content
    from roset_local.pipeline.lifecycle import create_file
    from roset_local.pipeline.process import LEASE_SECONDS
    from roset_local.scaleout.queues import owner_of, result_key
    from roset_local.scaleout.results import Result
    from roset_local.scaleout.server import attach
    from roset_local.services import Services
    from roset_local.store import jobs as job_store

    redis, s3, options = start_backends(base / "commit")
    settings = Settings.from_env({}, data_dir=base / "commit-data", queue_url=redis.url, storage_url=STORAGE_URL,
                                 storage_options=json.dumps(options), consumer=False)
    services = Services(settings).open()
    scaleout = attach(services)  # the commit path alone: no consumer, no HTTP server
    try:
        assert scaleout is not None
        rng = np.random.default_rng(7)
        cfg = validate_chunking(None)
        reports = []
        chunk_count = 0
        for i in range(commits):
            pages = [(p + 1, "\n".join(page_text(i, p)) + "\n\n") for p in range(PAGES)]
            markdown = "".join(text for _, text in pages)
            chunks = chunk_text(markdown=markdown, pages=pages, segments=[], cfg=cfg)
            vectors = rng.standard_normal((len(chunks), 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            chunk_count = len(chunks)
            file, job = create_file(services, space="bench", filename=f"doc-{i}.pdf", content_type="application/pdf",
                                    size_bytes=1000, metadata={}, options={}, skip_processing=False)
            assert job is not None
            with services.db.write():
                job_store.claim(services.db, job["id"], owner_of(job["id"], 1), LEASE_SECONDS)
            outputs = [
                {"type": "markdown", "content": markdown, "content_type": "text/markdown"},
                {"type": "searchable-index", "content": json.dumps(text_index_content(chunks, cfg)),
                 "content_type": "application/json"},
                {"type": "embeddings", "content": json.dumps(embeddings_content("all-minilm-l6-v2", 384, chunks, cfg)),
                 "content_type": "application/json"},
                {"type": "metadata", "content": json.dumps({"page_count": PAGES}), "content_type": "application/json"},
            ]
            key = result_key(file, job["id"], 1)
            services.blobs.write_bytes(key, Result(provider="local", engine="local", outputs=outputs, pages=PAGES,
                                                   indexed=True, chunks=chunks, model="all-minilm-l6-v2",
                                                   vectors=vectors).encode())
            reports.append({"job_id": job["id"], "attempt": 1, "host": "bench", "error": None, "result_key": key,
                            "thumb_key": None, "elapsed_ms": 1000})
        started = time.perf_counter()
        for report in reports:
            scaleout.apply_commit(report)
        elapsed = time.perf_counter() - started
        done = services.db.value("SELECT count(*) FROM jobs WHERE status = 'completed'")
        assert done == commits, done
        return commits / elapsed, chunk_count
    finally:
        services.stop()
        redis.stop()
        s3.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=12, help="ten-page PDFs per configuration")
    parser.add_argument("--commits", type=int, default=60, help="synthetic results for the commit ceiling")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    try:
        single = single_host(base, args.files)
        one, two = worker_hosts(base, args.files)
        ceiling, chunks = commit_ceiling(base, args.commits)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"ten-page PDFs, {args.files} per configuration, default variants (embeddings included)")
    print(f"  single-host mode (SQLite queue, local blobs): {single:.3f} jobs/s")
    print(f"  Redis + S3, 1 worker process:                 {one:.3f} jobs/s  ({one / single:.2f}x single-host)")
    print(f"  Redis + S3, 2 worker processes:               {two:.3f} jobs/s  ({two / one:.2f}x one worker)")
    print(f"commit ceiling of the single writer: {ceiling:.1f} commits/s "
          f"(ten-page results, {chunks} chunks with 384-d vectors each, read from S3)")
    print(f"worker processes one API host can feed: {ceiling / one:.0f} (commits/s / one worker's jobs/s)")


if __name__ == "__main__":
    main()
