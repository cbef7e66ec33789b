"""The local model keeps every session busy: one call is split over all of them, and the calls of two
files (through the cross-file batcher) run side by side; the vectors stay those of one-by-one calls."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from roset_local.index.batching import EmbedBatcher
from roset_local.index.embedder import LocalMiniLM, local_embedder, split_batches

TEXTS = [f"Invoice {i}: the {w} freight left the harbour in week {i + 2} and was paid in full."
         for i, w in enumerate(("copper", "timber", "grain", "wool", "salt", "amber"))]


@pytest.mark.parametrize(("count", "batch_size", "sessions", "sizes"), [
    (1, 4, 2, [1]),
    (3, 4, 2, [2, 1]),  # fewer texts than a batch: still on both sessions
    (10, 16, 2, [5, 5]),  # was one 10-text batch on one session
    (21, 16, 2, [11, 10]),  # was 16 + 5
    (9, 4, 2, [3, 2, 2, 2]),  # whole rounds: every session gets as many batches
    (8, 4, 2, [4, 4]),
    (5, 4, 1, [3, 2]),  # one session: only the batch size cuts
    (7, 4, 3, [3, 2, 2]),
])
def test_batches_are_even_and_cover_every_session(count, batch_size, sessions, sizes):
    parts = split_batches(count, batch_size, sessions)
    assert [p.stop - p.start for p in parts] == sizes
    assert parts[0].start == 0 and parts[-1].stop == count
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
    assert split_batches(0, batch_size, sessions) == []


class MeetingSession:
    """Wraps a real session; its first run waits (bounded) until another session runs too, so a call
    that never uses two sessions at once fails instead of passing by luck."""

    def __init__(self, inner: Any, meeting: threading.Barrier) -> None:
        self.inner, self.meeting, self.met = inner, meeting, False

    def run(self, *args: Any) -> Any:
        if not self.met:
            self.met = True
            self.meeting.wait()  # BrokenBarrierError after the timeout when no other session runs meanwhile
        return self.inner.run(*args)


@pytest.fixture(scope="module")
def model() -> LocalMiniLM:
    return LocalMiniLM(sessions=2, batch_size=4)


def meeting_sessions(model: LocalMiniLM) -> threading.Barrier:
    model.embed(["load"])
    meeting = threading.Barrier(2, timeout=30)
    with model._free_cond:  # every session idle: put wrapped ones in their place
        assert len(model._free) == len(model._pool) == 2
        model._free = [MeetingSession(getattr(s, "inner", s), meeting) for s in model._free]
        model._pool = list(model._free)
    return meeting


def test_one_small_call_runs_on_both_sessions_at_once(model):
    meeting = meeting_sessions(model)
    vectors = model.embed(TEXTS[:3])  # three texts, less than a batch: still split over both sessions
    assert not meeting.broken
    alone = local_embedder()
    assert np.allclose(vectors, np.stack([alone.embed([t])[0] for t in TEXTS[:3]]), atol=1e-4)


def test_two_files_calls_through_the_batcher_share_the_sessions(model):
    meeting = meeting_sessions(model)
    batcher = EmbedBatcher(model)
    out: dict[int, np.ndarray] = {}
    start = threading.Barrier(2)

    def file(i: int) -> None:
        start.wait()
        out[i] = batcher.embed([TEXTS[i]])  # one chunk each: only the other file can fill the other session

    threads = [threading.Thread(target=file, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not meeting.broken and sorted(out) == [0, 1]
    alone = local_embedder()
    for i in range(2):
        assert np.allclose(out[i][0], alone.embed([TEXTS[i]])[0], atol=1e-4)
