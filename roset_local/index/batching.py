"""Cross-file embedding batches: chunks of several jobs that wait at the same time share one model call."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from roset_local.index.embedder import Embedder, local_embedder

MAX_TEXTS = 32  # a full batch goes at once (the model splits it over its sessions)
# How long a partial batch waits for other jobs' chunks: none by default. Calls that arrive while
# the model is busy go together in its next call; waiting 10 ms for more measured no gain on
# MiniLM, whose cost per chunk hardly depends on the batch size (scripts/bench_ingest.py).
WAIT_SECONDS = 0.0


@dataclass(eq=False)
class _Request:
    texts: list[str]
    done: bool = False
    vectors: np.ndarray | None = None
    error: BaseException | None = None


class EmbedBatcher:
    """An embedder whose concurrent ``embed`` calls are merged into one call of the wrapped model.

    Up to ``slots`` calls run side by side, as before (the local model has one session per core).
    A call that finds every slot busy waits; when a slot frees, the first waiting caller takes every
    pending request (up to ``max_texts`` texts; a larger single request whole) into one model call,
    optionally waiting ``wait`` seconds for more, and hands each caller its own rows. So batches
    form exactly when more jobs embed than the model has sessions, and a lone file never waits. If
    the shared call fails, each request of it runs alone: a failure stays with its own file.
    """

    def __init__(self, inner: Embedder, *, slots: int = 2, max_texts: int = MAX_TEXTS,
                 wait: float = WAIT_SECONDS) -> None:
        if slots < 1 or max_texts < 1 or not 0 <= wait <= 1:
            raise ValueError("slots and max_texts must be >= 1 and wait between 0 and 1 s")
        self.inner = inner
        self.slots = slots
        self.max_texts = max_texts
        self.wait = wait
        self.calls = 0  # model calls made (tests and benchmarks read it)
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._running = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return self.inner.embed(texts)
        request = _Request(list(texts))
        with self._cond:
            self._pending.append(request)
            self._cond.notify_all()
            while not request.done:
                if self._running >= self.slots or request not in self._pending:
                    self._cond.wait()  # every slot busy, or our request is already in a running call
                    continue
                self._running += 1
                try:
                    batch = self._collect()
                    self._cond.release()
                    try:
                        self._run(batch)
                    finally:
                        self._cond.acquire()
                finally:
                    self._running -= 1
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error
        assert request.vectors is not None
        return request.vectors

    def _collect(self) -> list[_Request]:
        """Wait (lock held, released while waiting) for a full batch or the deadline; take it."""
        deadline = time.monotonic() + self.wait
        while sum(len(r.texts) for r in self._pending) < self.max_texts:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._cond.wait(left)
        batch: list[_Request] = []
        size = 0
        for r in self._pending:
            if batch and size + len(r.texts) > self.max_texts:
                break
            batch.append(r)
            size += len(r.texts)
        del self._pending[: len(batch)]
        return batch

    def _run(self, batch: list[_Request]) -> None:
        try:
            self.calls += 1
            vectors = self.inner.embed([t for r in batch for t in r.texts])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for r in batch:  # isolate the failing file: every request alone
                    try:
                        self.calls += 1
                        r.vectors = self.inner.embed(r.texts)
                    except Exception as alone:
                        r.error = alone
        else:
            start = 0
            for r in batch:
                r.vectors = vectors[start : start + len(r.texts)]
                start += len(r.texts)
        finally:
            for r in batch:
                if r.vectors is None and r.error is None:  # interrupted (BaseException): never leave a caller waiting
                    r.error = RuntimeError("the shared embedding call was interrupted")
                r.done = True


_SHARED: dict[str, EmbedBatcher] = {}
_SHARED_LOCK = threading.Lock()


def local_batcher() -> EmbedBatcher:
    """The process-wide batcher around the local model (one per model, like the model itself)."""
    with _SHARED_LOCK:
        if "m" not in _SHARED:
            _SHARED["m"] = EmbedBatcher(local_embedder())
        return _SHARED["m"]


def batched(embedder: Any) -> Any:
    """The batching front of ``embedder`` when it is the local model; other embedders as they are."""
    return local_batcher() if embedder is local_embedder() else embedder
