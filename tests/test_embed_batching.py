"""Cross-file embedding batches: concurrent calls share one model call, each caller gets its own vectors
(the same as one by one), a failing file fails alone, and files ingested together through the server
store the vectors their chunks get when embedded one at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from roset_local.index.batching import EmbedBatcher
from roset_local.index.chunking import Chunk
from roset_local.index.embedder import local_embedder
from roset_local.index.indexer import embedding_text
from roset_local.store import chunks as chunk_store
from roset_local.store.db import Database

TEXTS = [[f"Invoice {i} for {w} freight, paid in week {i + 3}." for w in ("copper", "timber", "grain")][: 1 + i % 3]
         for i in range(6)]


def run_together(batcher: EmbedBatcher, requests: Sequence[Sequence[str]]) -> list[np.ndarray | BaseException]:
    out: list[np.ndarray | BaseException] = [RuntimeError("not run")] * len(requests)
    start = threading.Barrier(len(requests))

    def call(i: int) -> None:
        start.wait()
        try:
            out[i] = batcher.embed(requests[i])
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_concurrent_calls_share_one_model_call_and_match_one_by_one():
    model = local_embedder()
    batcher = EmbedBatcher(model, slots=1, max_texts=64, wait=1.0)  # everyone arrives well within the wait
    got = run_together(batcher, TEXTS)
    assert batcher.calls == 1
    for texts, vectors in zip(TEXTS, got):
        assert isinstance(vectors, np.ndarray) and vectors.shape == (len(texts), 384)
        alone = np.stack([model.embed([t])[0] for t in texts])
        assert np.allclose(vectors, alone, atol=1e-4)


def test_a_request_larger_than_a_batch_goes_whole():
    model = local_embedder()
    batcher = EmbedBatcher(model, slots=1, max_texts=4, wait=1.0)
    texts = [t for group in TEXTS for t in group]  # 12 texts: more than one batch's worth
    vectors = batcher.embed(texts)
    assert batcher.calls == 1  # a request bigger than a batch goes as one call, at once
    assert np.allclose(vectors, model.embed(texts), atol=1e-4)


class Flaky:
    """An embedder that fails on any batch containing the word 'poison' (a file the model cannot take)."""

    name, dimensions = "flaky", 3

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if any("poison" in t for t in texts):
            raise ValueError("cannot embed poison")
        return np.asarray([[len(t), 1.0, 0.0] for t in texts], np.float32)


def test_a_failing_file_fails_alone():
    inner = Flaky()
    batcher = EmbedBatcher(inner, slots=1, max_texts=64, wait=1.0)
    requests = [["good one", "good two"], ["poison pill"], ["fine"]]
    got = run_together(batcher, requests)
    assert isinstance(got[1], ValueError)
    assert isinstance(got[0], np.ndarray) and got[0][:, 0].tolist() == [8.0, 8.0]
    assert isinstance(got[2], np.ndarray) and got[2][:, 0].tolist() == [4.0]
    assert len(inner.calls[0]) == 4  # tried together first, then each alone
    # and the batcher keeps working afterwards
    assert batcher.embed(["again"]).shape == (1, 3)


class Slow(Flaky):
    """Takes a while per call and records how many calls ran at once."""

    def __init__(self) -> None:
        super().__init__()
        self.now = self.peak = 0
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(0.3)
        with self._lock:
            self.now -= 1
        return super().embed(texts)


def test_calls_run_side_by_side_up_to_the_slots_and_the_rest_are_merged():
    inner = Slow()
    batcher = EmbedBatcher(inner, slots=2)  # no wait: a lone call goes at once
    got = run_together(batcher, [[f"text {i}"] for i in range(6)])
    assert all(isinstance(g, np.ndarray) and g[0, 0] == len(f"text {i}") for i, g in enumerate(got))
    assert inner.peak == 2  # two calls at once, as many as the slots
    assert len(inner.calls) < 6 and sum(len(c) for c in inner.calls) == 6  # the waiting ones went together


@pytest.mark.parametrize("kwargs", [{"max_texts": 0}, {"wait": -0.1}, {"wait": 5}, {"slots": 0}])
def test_parameters_are_validated(kwargs):
    with pytest.raises(ValueError):
        EmbedBatcher(Flaky(), **kwargs)


def test_files_ingested_together_store_the_one_by_one_vectors(make_live_server):
    server = make_live_server(start=False).start(timeout=90)  # the model loads at start; the machine is shared
    docs = {f"note{i}.md": f"# Note {i}\n\nThe {w} shipment {i} left the harbour on day {i * 3}.\n\nSecond part "
            f"of note {i}: {w} weighed and sealed." .encode() for i, w in enumerate(("copper", "timber", "grain", "wool"))}
    with server.client() as http:
        ids = []
        for name, data in docs.items():
            resp = http.post("/v1/upload", files={"file": (name, data, "text/markdown")})
            assert resp.status_code in (200, 201), resp.text
            ids.append(resp.json()["id"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = [http.get(f"/v1/files/{fid}").json()["status"] for fid in ids]
            if all(s in ("completed", "failed") for s in states):
                break
            time.sleep(0.1)
        assert states == ["completed"] * len(ids)
        # search still finds each file by its own words
        hit = http.post("/v1/search", json={"query": "timber shipment", "mode": "vector", "limit": 1}).json()
        assert hit["results"][0]["file_id"] == ids[1]
    db = Database(server.data_dir / "roset.db")
    try:
        model = local_embedder()
        for fid in ids:
            rows = db.all("SELECT id, text, heading, vector_table FROM chunks WHERE file_id = :f ORDER BY seq", {"f": fid})
            assert rows and rows[0]["vector_table"]
            stored = dict(chunk_store.stored_vectors(db, rows[0]["vector_table"], [r["id"] for r in rows]))
            for r in rows:
                text = embedding_text(Chunk(r["text"], 0, 0, None, r["heading"], None, None))
                alone = model.embed([text])[0]
                assert np.allclose(np.frombuffer(stored[r["id"]], np.float32), alone, atol=1e-4)
    finally:
        db.close()
