"""The persisted ANN index: filtered search stays exact and complete, deletions leave it, it survives restarts and kill -9."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from roset_local.caches import Registry
from roset_local.index.ann import CONNECTIVITY, AnnConfig, AnnIndex, prune_unindexed_logs
from roset_local.index.vectors import nearest, sign_bits
from roset_local.store import chunks as store
from roset_local.store import schema
from roset_local.store.db import Database
from roset_local.store.migrations import apply_migrations

DIM = 32


def add_file(db: Database, table: str, file_id: str, space: str, vectors: np.ndarray) -> list[int]:
    """A file with one chunk per vector, inserted the way the indexer does (chunks, then vectors)."""
    with db.write():
        db.insert("files", {"id": file_id, "space": space, "filename": f"{file_id}.md", "storage_key": file_id,
                            "status": "completed", "created_at": "x", "updated_at": "x"})
        ids = [store.insert_chunk(db, {"file_id": file_id, "space": space, "seq": i, "text": f"chunk {i}",
                                       "char_start": 0, "char_end": 1, "page": None, "heading": None,
                                       "ts_start": None, "ts_end": None, "vector_table": table, "bbox": None},
                                  f"{file_id}.md") for i in range(len(vectors))]
        bits = sign_bits(vectors)
        store.insert_vectors(db, table, [(cid, file_id, space, vectors[i].tobytes(), bits[i].tobytes())
                                         for i, cid in enumerate(ids)])
    return ids


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    centres = rng.standard_normal((8, DIM)).astype(np.float32)
    v = centres[rng.integers(0, 8, n)] + 0.4 * rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def fake_services(db: Database, settings: SimpleNamespace) -> SimpleNamespace:
    """What the vector search reads from a Services: the database, settings and the index registries."""
    return SimpleNamespace(db=db, settings=settings, vector_indexes=Registry(), ann_indexes=Registry())


@pytest.fixture
def corpus(tmp_path: Path):
    """600 vectors in space "big" (6 files), 12 in space "small" (1 file); the graph is used from 1 vector."""
    db = Database(tmp_path / "roset.db")
    apply_migrations(db, [schema.files, schema.index_schema])
    table = store.ensure_vector_table(db, "test-model", DIM)
    rng = np.random.default_rng(3)
    vectors: dict[int, tuple[str, str, np.ndarray]] = {}
    for f in range(6):
        vs = unit(rng, 100)
        for cid, v in zip(add_file(db, table, f"big-{f}", "big", vs), vs):
            vectors[cid] = (f"big-{f}", "big", v)
    vs = unit(rng, 12)
    for cid, v in zip(add_file(db, table, "small-0", "small", vs), vs):
        vectors[cid] = ("small-0", "small", v)
    settings = SimpleNamespace(data_dir=tmp_path, ann_min_vectors=1, ann_save_seconds=3600)
    services = fake_services(db, settings)
    yield SimpleNamespace(db=db, table=table, services=services, vectors=vectors, rng=rng, tmp=tmp_path)
    db.close()


def exact(vectors: dict, query: np.ndarray, k: int, space: str | None = None) -> list[int]:
    ids = [cid for cid, (_, s, _) in vectors.items() if space is None or s == space]
    sims = np.array([vectors[cid][2] @ query for cid in ids])
    return [ids[i] for i in np.argsort(-sims)[:k]]


def search(c, query: np.ndarray, k: int = 10, **filters) -> list[int]:
    return [cid for cid, _ in nearest(c.services, c.table, DIM, query, k, **filters)]


def the_graph(c) -> AnnIndex:
    ann = c.services.ann_indexes.get(AnnIndex, c.table)
    assert ann is not None and ann.ready and len(ann) > 0
    return ann


def test_graph_results_match_exact_and_space_filter_is_exact_and_complete(corpus):
    c = corpus
    for query in unit(c.rng, 5):
        got = search(c, query)
        assert the_graph(c).path.exists()  # persisted under DATA/index on first use
        assert len(set(got) & set(exact(c.vectors, query, 10))) >= 9
        # The small space is 2% of the corpus: still k results, every one from it, the exact best.
        small = search(c, query, spaces=("small",))
        assert small == exact(c.vectors, query, 10, "small")
        big = search(c, query, spaces=("big",))
        assert len(big) == 10 and all(c.vectors[cid][1] == "big" for cid in big)
        one_file = search(c, query, files={"big-2"})
        assert len(one_file) == 10 and all(c.vectors[cid][0] == "big-2" for cid in one_file)


def test_deleting_a_file_removes_its_keys_from_the_graph(corpus):
    c = corpus
    query = c.vectors[5][2]  # a stored vector: its own chunk is the nearest
    assert search(c, query, 1) == [5]
    gone = [cid for cid, (f, _, _) in c.vectors.items() if f == c.vectors[5][0]]
    with c.db.write():
        store.delete_file_chunks(c.db, c.vectors[5][0])
    got = search(c, query, 20)
    assert len(got) == 20 and not set(got) & set(gone)
    assert not the_graph(c).index.contains(np.asarray(gone, np.uint64)).any()


def test_a_saved_graph_is_loaded_and_the_log_replayed_after_a_crash(corpus):
    c = corpus
    queries = unit(c.rng, 4)
    for q in queries:
        search(c, q)
    first = the_graph(c)
    meta = json.loads(first.path.with_suffix(".json").read_text())
    # Changes after the save, never saved (the process is then "killed": nothing flushed).
    extra = unit(c.rng, 30)
    for cid, v in zip(add_file(c.db, c.table, "late", "small", extra), extra):
        c.vectors[cid] = ("late", "small", v)
    with c.db.write():
        store.delete_file_chunks(c.db, "big-1")
    c.vectors = {cid: t for cid, t in c.vectors.items() if t[0] != "big-1"}
    before = [search(c, q, 10, spaces=("small",)) for q in queries] + [search(c, q) for q in queries]
    assert json.loads(first.path.with_suffix(".json").read_text()) == meta  # cadence not reached
    restarted = fake_services(c.db, c.services.settings)
    c2 = SimpleNamespace(**{**vars(c), "services": restarted})
    after = [search(c2, q, 10, spaces=("small",)) for q in queries] + [search(c2, q) for q in queries]
    graph = the_graph(c2)
    assert graph.recovered.startswith("loaded+replayed")
    assert after == before
    assert len(graph) == len(c.vectors)
    # A torn file is rebuilt from the stored vectors, with the same answers.
    graph.path.write_bytes(b"torn")
    rebuilt = SimpleNamespace(**{**vars(c), "services": fake_services(c.db, c.services.settings)})
    assert [search(rebuilt, q, 10, spaces=("small",)) for q in queries] + [search(rebuilt, q) for q in queries] == before
    assert the_graph(rebuilt).recovered == "built"


def test_small_tables_keep_the_exact_path(corpus):
    c = corpus
    c.services.settings.ann_min_vectors = 10_000
    query = unit(c.rng, 1)[0]
    assert search(c, query) == exact(c.vectors, query, 10)
    assert c.table not in c.services.ann_indexes


def test_save_is_atomic_and_prunes_the_log(corpus):
    c = corpus
    search(c, unit(c.rng, 1)[0])
    graph = the_graph(c)
    assert not list(c.tmp.glob("index/*.tmp"))
    left = c.db.value("SELECT count(*) FROM vector_log WHERE vector_table = :t AND seq <= :s",
                      {"t": c.table, "s": graph.saved_seq})
    assert left == 0
    reloaded = AnnIndex(c.table, DIM, AnnConfig(c.tmp / "index"))
    assert reloaded._load() and len(reloaded.index) == len(graph)


DOCS = {
    "invoice.md": ("docs", "# Invoices\n\nThe invoice is payable within thirty days; late payment adds interest.\n"),
    "cats.md": ("docs", "# Cats\n\nCats sleep most of the day and groom themselves with rough tongues.\n"),
    "rain.md": ("other", "# Weather\n\nHeavy rain and strong winds are expected along the coast tomorrow.\n"),
}
LATE = "# Refunds\n\nA refund of the payment is issued when the customer returns the goods within a month.\n"


def _wait_done(http, file_id: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = http.get(f"/v1/files/{file_id}").json()["status"]
        if status in {"completed", "failed"}:
            assert status == "completed"
            return
        time.sleep(0.2)
    raise AssertionError(f"{file_id} not processed")


def _upload(http, name: str, space: str, text: str) -> str:
    r = http.post("/v1/upload", files={"file": (name, text.encode(), "text/markdown")}, params={"space": space})
    assert r.status_code == 201, r.text
    _wait_done(http, r.json()["id"])
    return r.json()["id"]


def _answers(http) -> list[list[tuple[str, float]]]:
    out = []
    for body in ({"query": "paying an invoice late"}, {"query": "weather forecast"},
                 {"query": "paying an invoice late", "space": "other"}, {"query": "animals", "space": "docs"}):
        r = http.post("/v1/search", json={**body, "mode": "vector", "limit": 10})
        assert r.status_code == 200, r.text
        out.append([(h["file_id"], h["score"]) for h in r.json()["results"]])
    return out


def test_live_server_graph_survives_kill_9_with_the_same_answers(make_live_server):
    env = {"ROSET_ANN_MIN_VECTORS": "1", "ROSET_ANN_SAVE_SECONDS": "3600"}
    server = make_live_server(**env)
    with server.client() as http:
        ids = {name: _upload(http, name, space, text) for name, (space, text) in DOCS.items()}
        first = _answers(http)  # builds the graph and saves it
        graph = next((server.data_dir / "index").glob("vec_*.usearch"))
        saved = json.loads(graph.with_suffix(".json").read_text())
        late = _upload(http, "refunds.md", "docs", LATE)
        assert http.delete(f"/v1/files/{ids['cats.md']}").status_code in (200, 204)
        before = _answers(http)
    assert before != first
    found = {fid for answer in before for fid, _ in answer}
    assert late in found and ids["cats.md"] not in found
    assert all(fid == ids["rain.md"] for fid, _ in before[2])  # space "other" only, never "docs"
    server.kill()
    assert json.loads(graph.with_suffix(".json").read_text()) == saved  # the changes were never saved
    again = make_live_server(data_dir=server.data_dir, **env)
    with again.client() as http:
        assert _answers(http) == before
    assert "loaded+replayed" in again.logs()
    again.stop()
    # A clean stop saves: the next start loads without replaying anything.
    assert json.loads(graph.with_suffix(".json").read_text())["seq"] > saved["seq"]


def test_the_embedder_loads_after_the_graph_module(tmp_path):
    """usearch first, onnxruntime second crashed the process; the graph module guards the order."""
    import subprocess
    import sys

    code = ("from roset_local.index.ann import _new_index; _new_index(8); "
            "from roset_local.index.embedder import local_embedder; print(local_embedder().embed(['x']).shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(1, 384)" in out.stdout


def test_the_log_of_a_table_without_a_graph_is_pruned_and_a_graphs_is_kept(corpus):
    c = corpus
    logged = "SELECT count(*) FROM vector_log WHERE vector_table = :t"
    assert c.db.value(logged, {"t": c.table}) == 612  # every insert logged, no graph yet
    assert prune_unindexed_logs(c.services) == 1
    assert c.db.value(logged, {"t": c.table}) == 0
    # a graph built afterwards comes from the stored vectors: nothing of the pruned log is missed
    assert sorted(search(c, c.vectors[1][2], k=5)) == sorted(exact(c.vectors, c.vectors[1][2], 5))
    late = unit(c.rng, 3)
    add_file(c.db, c.table, "late-0", "big", late)
    assert c.db.value(logged, {"t": c.table}) == 3
    assert prune_unindexed_logs(c.services) == 0  # the table has a graph now: its log is the graph's to trim
    assert c.db.value(logged, {"t": c.table}) == 3


def test_a_graph_saved_with_another_layout_is_rebuilt_with_the_same_answers(corpus):
    """Graphs saved before the layout was recorded (M=16) or with another one are rebuilt, never searched."""
    c = corpus
    queries = unit(c.rng, 3)
    before = [search(c, q) for q in queries]
    meta_path = the_graph(c).path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    assert meta["connectivity"] == CONNECTIVITY
    del meta["connectivity"]  # what the M=16 code wrote
    meta_path.write_text(json.dumps(meta))
    restarted = SimpleNamespace(**{**vars(c), "services": fake_services(c.db, c.services.settings)})
    assert [search(restarted, q) for q in queries] == before
    graph = the_graph(restarted)
    assert graph.recovered == "built" and graph.index.connectivity == CONNECTIVITY
    assert json.loads(meta_path.read_text())["connectivity"] == CONNECTIVITY  # saved in the new layout


def test_searches_read_the_log_only_when_the_table_changed(corpus, monkeypatch):
    c = corpus
    reads = []
    real = store.vector_log_after
    monkeypatch.setattr(store, "vector_log_after", lambda *a: reads.append(a) or real(*a))
    query = unit(c.rng, 1)[0]
    first = search(c, query)
    reads.clear()
    assert search(c, query) == first and search(c, query) == first
    assert reads == []  # nothing inserted or deleted: no log query
    late = unit(c.rng, 2)
    (cid, _) = add_file(c.db, c.table, "late-1", "big", late)
    assert search(c, late[0], k=1) == [cid] and reads  # an insert is followed
    reads.clear()
    with c.db.write():
        store.delete_file_chunks(c.db, "late-1")
    assert cid not in search(c, late[0], k=5) and reads  # and a delete
    assert not the_graph(c).index.contains(cid)
