"""Approximate nearest neighbours at scale: a usearch HNSW graph per vector table, persisted in DATA/index.

The graph holds int8-quantised copies of the vectors (keys are chunk ids) and only proposes
candidates; every answer is re-scored exactly against the float vectors in SQLite, and filtered
there by space and file, so quantisation and stale keys never leak into results. The graph follows
``vector_log`` (every vector added, every chunk deleted, in order): a search first applies the
entries after the graph's high-water mark. The file is saved atomically (temp file + rename) at
most every ``ann_save_seconds`` while it changes and at shutdown, with the mark beside it in
``<table>.json``; after a crash (kill -9) the saved graph is loaded and the log replayed from its
mark, and a missing or unreadable file is rebuilt from the float vectors.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from roset_local.store import chunks as store
from roset_local.store.db import Database

log = logging.getLogger(__name__)

DTYPE = "i8"  # f16 gave the same recall at 1M (0.66 vs 0.68) with 1.7x the memory; see the README
# Clustered corpora need a well-linked graph and a wide beam. At 1M (scripts/bench_search.py) M=16
# with ef_add 64 needed a beam of 1024 for recall@10 0.97; M=32 with ef_add 128 reaches it with 448,
# in two thirds of the graph walk, for twice the build time and a third more memory (README).
CONNECTIVITY = 32
EXPANSION_ADD = 128
EXPANSION_SEARCH = 448
BUILD_PAGE = 50_000
MAX_FETCH = 4096  # beyond this many graph candidates a filtered search goes to the exact/coarse path
# Graph candidates re-scored in float, each a row read from SQLite. At 1M the graph's best 30 held
# every true top-10 neighbour its best 100 held: the miss is the graph's, never the re-score's, so
# re-scoring more only costs row reads (20 lost 0.002-0.004 of recall@10).
RESCORE = 30


@dataclass(frozen=True)
class AnnConfig:
    data_dir: Path | None  # None: memory only (never saved)
    min_vectors: int = 20_000  # tables with fewer vectors are searched without a graph
    save_seconds: float = 60.0

    @classmethod
    def of(cls, services: Any) -> "AnnConfig":
        s = getattr(services, "settings", None)
        if s is None:  # a bare stand-in (benchmarks' baseline): no graph at all
            return cls(None, min_vectors=2**62)
        return cls(Path(s.data_dir) / "index", s.ann_min_vectors, s.ann_save_seconds)


def _new_index(dimensions: int) -> Any:
    # onnxruntime must be loaded before usearch: `import usearch.index; import onnxruntime` segfaults
    # (usearch 2.26.6, onnxruntime 1.2x), and the embedder may load after the first graph is built.
    import onnxruntime  # noqa: F401
    from usearch.index import Index

    return Index(
        ndim=dimensions, metric="cos", dtype=DTYPE, connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH,
    )


class AnnIndex:
    """The graph of one vector table; searches and log replay are serialised by one lock."""

    def __init__(self, table: str, dimensions: int, config: AnnConfig) -> None:
        self.table = table
        self.dimensions = dimensions
        self.config = config
        self.index: Any = None
        self.seq = 0  # vector_log entries up to here are in the graph
        self.saved_seq = -1
        self.saved_at = time.monotonic()
        self.ready = False
        self.recovered = ""  # how the graph came to be: "built", "loaded", "loaded+replayed N"
        self.followed: object = None  # the table state (insert/delete counters) the log was last applied at
        self._lock = threading.RLock()

    @property
    def path(self) -> Path | None:
        return self.config.data_dir / f"{self.table}.usearch" if self.config.data_dir else None

    def __len__(self) -> int:
        return len(self.index) if self.index is not None else 0

    # -- building and loading -----------------------------------------------------------------

    def open(self, db: Database, threads: int = 0) -> None:
        """Load the saved graph and replay the log after it, or build it from the float vectors.

        ``threads``: 0 uses every core (benchmarks); the server builds on one so the API keeps one.
        """
        if not self._load():
            self.build(db, threads)
            self.save(db, force=True)
            return
        replayed = self.apply_log(db)
        self.recovered = f"loaded+replayed {replayed}" if replayed else "loaded"
        self.ready = True

    def _load(self) -> bool:
        path = self.path
        if path is None or not path.exists():
            return False
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            # A graph of another layout (graphs saved before "connectivity" was recorded are M=16)
            # would need another beam for the same recall: rebuild it rather than search it badly.
            layout = (meta.get("dimensions"), meta.get("dtype"), meta.get("connectivity", 16))
            if layout != (self.dimensions, DTYPE, CONNECTIVITY):
                log.info("ANN index %s has layout %s, not %s; rebuilding it", path, layout,
                         (self.dimensions, DTYPE, CONNECTIVITY))
                return False
            index = _new_index(self.dimensions)
            index.load(str(path))
        except Exception:  # a torn or foreign file: rebuild rather than fail the search
            log.warning("ANN index %s unreadable; rebuilding it", path, exc_info=True)
            return False
        self.index, self.seq, self.saved_seq = index, int(meta["seq"]), int(meta["seq"])
        return True

    def build(self, db: Database, threads: int = 0) -> None:
        """A fresh graph over every stored vector (the log mark is taken first, so nothing is missed)."""
        seq = store.vector_log_last(db)
        index = _new_index(self.dimensions)
        after = 0
        while True:
            rows = store.vectors_after(db, self.table, after, BUILD_PAGE)
            if not rows:
                break
            keys = np.fromiter((r[0] for r in rows), np.uint64, len(rows))
            matrix = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(len(rows), -1)
            index.add(keys, matrix, threads=threads)
            after = rows[-1][0]
        with self._lock:
            self.index, self.seq, self.followed = index, seq, None
            self.recovered = "built"
        self.apply_log(db)  # entries written while building (adds already present are skipped)
        self.ready = True

    def apply_log(self, db: Database) -> int:
        """Apply vector_log entries after the mark; returns how many."""
        total = 0
        with self._lock:
            while True:
                entries = store.vector_log_after(db, self.table, self.seq, 20_000)
                if not entries:
                    return total
                added = [e[1] for e in entries if e[2] and not self.index.contains(e[1])]
                if added:
                    # A vector deleted since it was logged is simply absent here.
                    rows = [r for r in store.candidate_vectors(db, self.table, added)]
                    if rows:
                        keys = np.fromiter((r[0] for r in rows), np.uint64, len(rows))
                        matrix = np.frombuffer(b"".join(r[3] for r in rows), np.float32).reshape(len(rows), -1)
                        self.index.add(keys, matrix, threads=1)
                gone = [e[1] for e in entries if not e[2]]
                if gone:
                    self.index.remove(np.asarray(gone, np.uint64))
                self.seq = int(entries[-1][0])
                total += len(entries)

    def follow(self, db: Database, state: object) -> None:
        """Apply the log unless the table's state (read before this call) is the one last followed.

        Every log entry is written in the transaction that bumps the table's insert or delete
        counter, so an unchanged state means no new entries: a search then skips the log query.
        """
        if state is not None and state == self.followed:
            return
        with self._lock:
            self.apply_log(db)
            self.followed = state

    def save(self, db: Database, *, force: bool = False) -> bool:
        """Write the graph atomically if it changed (and the cadence allows); then prune the log."""
        path = self.path
        if path is None or self.index is None:
            return False
        with self._lock:
            if self.seq == self.saved_seq:
                return False
            if not force and time.monotonic() - self.saved_at < self.config.save_seconds:
                return False
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            self.index.save(str(tmp))
            _fsync(tmp)
            os.replace(tmp, path)
            meta = {"seq": self.seq, "dimensions": self.dimensions, "dtype": DTYPE, "connectivity": CONNECTIVITY,
                    "count": len(self.index)}
            tmp_meta = path.with_suffix(".json.tmp")
            tmp_meta.write_text(json.dumps(meta))
            _fsync(tmp_meta)
            os.replace(tmp_meta, path.with_suffix(".json"))
            self.saved_seq, self.saved_at = self.seq, time.monotonic()
        store.prune_vector_log(db, self.table, self.saved_seq)
        return True

    # -- searching ----------------------------------------------------------------------------

    def search(self, query: np.ndarray, count: int) -> np.ndarray:
        """Chunk ids of about ``count`` graph neighbours (approximate, unfiltered)."""
        with self._lock:
            n = len(self.index)
            if n == 0:
                return np.zeros(0, np.int64)
            matches = self.index.search(query, min(count, n), threads=1)
            return np.asarray(matches.keys, np.int64)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def ann_index(services: Any, table: str, dimensions: int, vectors: int, state: object = None) -> AnnIndex | None:
    """The process's ready graph for a table, or None while the exact path serves it.

    Tables under ``min_vectors`` never get a graph. Above it the first search opens or builds it:
    in the caller for a small table, in a background thread for a large one (searches take the
    exact/coarse path until it is ready). ``state``: the table's counters, read before this call
    (see ``AnnIndex.follow``); None always reads the log.
    """
    ann = services.ann_indexes.get(AnnIndex, table)
    if ann is not None and ann.ready and vectors >= ann.config.min_vectors:  # the per-query path
        ann.follow(services.db, state)
        ann.save(services.db)
        return ann
    config = AnnConfig.of(services)
    if vectors < config.min_vectors:
        return None
    registry = services.ann_indexes
    with registry.lock:
        ann, start = registry.get_or_create(AnnIndex, table, lambda: AnnIndex(table, dimensions, config))
        on_stop = getattr(services, "on_stop", None)
        if start and on_stop is not None:
            on_stop(lambda: ann.save(services.db, force=True))
    if start:
        if vectors <= 100_000:
            _open_logged(ann, services.db)
        else:
            threading.Thread(target=_open_logged, args=(ann, services.db), name=f"ann-{table}", daemon=True).start()
    if not ann.ready:
        return None
    ann.follow(services.db, state)
    ann.save(services.db)
    return ann


def prune_unindexed_logs(services: Any) -> int:
    """Drop the log of tables that have no graph, saved or in memory; returns how many tables.

    A graph is only ever built from the stored float vectors, so a table without one never needs
    its log: without this, a table that stays under ``min_vectors`` logs every insert forever.
    """
    config = AnnConfig.of(services)
    registry = services.ann_indexes
    pruned = 0
    with registry.lock:  # no graph starts (and sets its mark) while the log is cut
        for table in store.vector_log_tables(services.db):
            saved = config.data_dir is not None and (config.data_dir / f"{table}.usearch").exists()
            if table in registry or saved:
                continue
            store.prune_vector_log(services.db, table, store.vector_log_last(services.db))
            pruned += 1
    return pruned


def _open_logged(ann: AnnIndex, db: Database) -> None:
    try:
        t = time.monotonic()
        ann.open(db, threads=1)
        log.info("ANN index %s ready (%s, %d vectors, %.1f s)", ann.table, ann.recovered, len(ann), time.monotonic() - t)
    except Exception:
        log.exception("building the ANN index %s failed; searches stay on the exact path", ann.table)


def fetch_size(k: int, allowed: int, total: int, rescore: int) -> int | None:
    """Graph candidates to ask for so that about ``rescore`` pass the filter; None: too many, go exact."""
    want = max(k, rescore)
    if allowed >= total:
        return want
    want = max(2 * k, rescore // 2)  # the filter already cost an over-fetch: re-score fewer
    need = math.ceil(want * total / max(allowed, 1) * 1.3)
    return need if need <= MAX_FETCH else None
