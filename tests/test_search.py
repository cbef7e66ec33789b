"""POST /v1/search: text, vector and hybrid modes, filters, space confinement, deletion and re-embedding."""

from __future__ import annotations

import pytest

from roset_local.index.indexer import delete_file_index, index_file, reembed_file
from roset_local.store import chunks as chunk_store
from test_search_support import hits, seed_file, stand_in_server

INVOICE = (
    "# Master agreement\n\n## Section 4: Payment\n\n"
    "The invoice must be settled within thirty days of delivery. "
    "A two percent discount applies when the customer pays within ten days.\n"
)
CATS = "# Cat care\n\nCats sleep for most of the day and groom themselves with their rough tongues.\n"
WEATHER = "# Forecast\n\nHeavy rain and strong winds are expected along the coast tomorrow afternoon.\n"
PYTHON = "# Programming\n\nA Python list comprehension builds a new list from an iterable in a single expression.\n"


@pytest.fixture
def corpus(services):
    return {
        "invoice": seed_file(services, "master-agreement.md", INVOICE, metadata={"dept": "legal"}),
        "cats": seed_file(services, "cats.md", CATS, metadata={"dept": "pets"}),
        "weather": seed_file(services, "weather.txt", WEATHER, content_type="text/plain"),
        "python": seed_file(services, "python.md", PYTHON, space="eng"),
    }


def test_text_mode_finds_keyword(client, corpus):
    results = hits(client, "discount", mode="text")
    assert [r["file_id"] for r in results] == [corpus["invoice"]]
    top = results[0]
    assert top["filename"] == "master-agreement.md"
    assert "«discount»" in top["snippet"]
    assert "two percent discount" in top["chunk_text"]
    assert top["heading"] == "Master agreement > Section 4: Payment"
    assert 0 < top["score"] <= 1


def test_vector_mode_finds_paraphrase_without_shared_words(client, corpus):
    query = "how long until the bill is due"  # no content word in common with the invoice text
    assert hits(client, query, mode="text") == []
    results = hits(client, query, mode="vector")
    assert results[0]["file_id"] == corpus["invoice"]
    assert results[0]["score"] > results[-1]["score"]


def test_hybrid_finds_keyword_and_paraphrase(client, corpus):
    body = client.post("/v1/search", json={"query": "discount"}).json()
    assert body["mode"] == "hybrid" and body["query"] == "discount"
    assert body["results"][0]["file_id"] == corpus["invoice"]
    assert body["total"] == len(body["results"])
    assert hits(client, "how long until the bill is due")[0]["file_id"] == corpus["invoice"]
    assert hits(client, "feline naps")[0]["file_id"] == corpus["cats"]


def test_filters_by_space_content_type_and_metadata(client, corpus):
    everything = {r["file_id"] for r in hits(client, "the", mode="vector", limit=100)}
    assert everything == set(corpus.values())  # no space given: every space the key sees
    assert {r["file_id"] for r in hits(client, "list", space="eng")} == {corpus["python"]}
    assert {r["file_id"] for r in hits(client, "rain", content_type="text/plain")} == {corpus["weather"]}
    assert {r["file_id"] for r in hits(client, "rain", content_type="text/plain", mode="vector")} == {corpus["weather"]}
    assert {r["file_id"] for r in hits(client, "rain", content_type="text/*", mode="vector")} == set(corpus.values())
    assert {r["file_id"] for r in hits(client, "days", metadata={"dept": "pets"})} == {corpus["cats"]}
    assert {r["file_id"] for r in hits(client, "days", **{"metadata.dept": "legal"})} == {corpus["invoice"]}
    assert hits(client, "days", metadata={"dept": "nobody"}) == []


def test_space_confined_key_sees_only_its_spaces(client, corpus):
    resp = client.post("/v1/org/api-keys", json={"name": "eng", "scopes": ["search:read"], "spaces": ["eng"]})
    key = resp.json()["key"]
    headers = {"Authorization": f"ApiKey {key}"}
    results = client.post("/v1/search", json={"query": "days list rain cats", "limit": 100}, headers=headers).json()
    assert {r["file_id"] for r in results["results"]} == {corpus["python"]}
    assert client.post("/v1/search", json={"query": "cats", "space": "default"}, headers=headers).status_code == 403
    no_scope = client.post("/v1/org/api-keys", json={"name": "files", "scopes": ["files:read"]}).json()["key"]
    resp = client.post("/v1/search", json={"query": "cats"}, headers={"Authorization": f"ApiKey {no_scope}"})
    assert resp.status_code == 403


@pytest.mark.parametrize("body", [
    {"query": ""}, {"query": "   "}, {"query": "x", "mode": "fuzzy"}, {"query": "x", "limit": 0},
    {"query": "x", "limit": "ten"}, {}, {"query": "x", "space": "bad space!"},
])
def test_bad_requests(client, body):
    resp = client.post("/v1/search", json=body)
    assert resp.status_code == 400
    assert resp.json()["code"] == "BAD_REQUEST"


def test_limit_is_capped(client, services):
    for i in range(3):
        seed_file(services, f"n{i}.md", f"Note {i} about gardening.", with_embeddings=False)
    assert len(hits(client, "gardening", mode="text", limit=1000)) == 3
    assert len(hits(client, "gardening", mode="text", limit=2)) == 2


def test_delete_file_index_leaves_nothing_searchable(client, services, corpus):
    db = services.db
    with db.write():
        delete_file_index(db, corpus["invoice"])
    for mode in ("text", "vector", "hybrid"):
        assert corpus["invoice"] not in {r["file_id"] for r in hits(client, "discount invoice payment", mode=mode)}
    assert chunk_store.count_chunks(db, corpus["invoice"]) == 0
    for table in chunk_store.list_vector_tables(db):
        assert db.value(f"SELECT count(*) FROM {table['name']}_bits WHERE file_id = :f", {"f": corpus["invoice"]}) == 0
        assert db.value(f"SELECT count(*) FROM {table['name']}") == 3
    # deleting the file row itself also removes its index (cascade + triggers)
    with db.write():
        db.execute("DELETE FROM files WHERE id = :f", {"f": corpus["cats"]})
    assert hits(client, "cats groom", mode="text") == []
    assert corpus["cats"] not in {r["file_id"] for r in hits(client, "cats groom", mode="vector")}


def test_reindex_replaces_old_chunks(client, services, corpus):
    index_file(services, file_id=corpus["weather"], space="default", filename="weather.txt", content_type="text/plain",
               metadata={}, markdown="Sunny skies all week with a gentle breeze.", pages=[], segments=[],
               chunking=None, embedding_model=None, with_embeddings=True, cancelled=lambda: False)
    assert hits(client, "rain", mode="text") == []
    assert hits(client, "sunny", mode="text")[0]["file_id"] == corpus["weather"]


def test_reembed_uses_stored_markdown_without_extraction(client, services, corpus):
    db = services.db
    jobs_before = db.value("SELECT count(*) FROM jobs")
    with db.write():  # the stored markdown variant is the only source a re-embed may read
        db.execute("UPDATE variants SET content = :c WHERE file_id = :f AND type = 'markdown'",
                   {"c": "Volcanoes erupt molten lava.", "f": corpus["cats"]})
    result = reembed_file(services, file_id=corpus["cats"], embedding_model=None)
    assert result["embeddings"] == {"model": "all-minilm-l6-v2", "dimensions": 384, "chunk_count": 1,
                                    "chunking": result["embeddings"]["chunking"]}
    assert db.value("SELECT count(*) FROM jobs") == jobs_before
    assert hits(client, "volcano eruption", mode="vector")[0]["file_id"] == corpus["cats"]
    with pytest.raises(LookupError):
        reembed_file(services, file_id="file-missing", embedding_model=None)


def test_page_and_timestamp_in_results(client, services):
    pages = [(1, "Cover page of the annual report, prepared by the finance team in March."),
             (2, "Revenue grew by eleven percent in the northern region, led by strong exports.")]
    pdf = seed_file(services, "report.pdf", "\n\n".join(t for _, t in pages), content_type="application/pdf",
                    pages=pages, chunking={"strategy": "recursive", "chunk_size": 100, "chunk_overlap": 0})
    segments = [(0.0, 4.5, "Welcome to the podcast."), (4.5, 9.0, "Today we discuss sourdough bread baking.")]
    audio = seed_file(services, "episode.mp3", "\n".join(t for _, _, t in segments), content_type="audio/mpeg",
                      segments=segments, chunking={"strategy": "recursive", "chunk_size": 100, "chunk_overlap": 0})
    top = hits(client, "revenue", mode="text")[0]
    assert (top["file_id"], top["page"]) == (pdf, 2)
    top = hits(client, "sourdough", mode="text")[0]
    assert top["file_id"] == audio and top["timestamp"] == 0.0 and top["timestamp_end"] == 9.0


def test_files_list_search_matches_content(client, corpus):
    resp = client.get("/v1/files", params={"search": "discount"})
    assert resp.status_code == 200
    assert [f["id"] for f in resp.json()["files"]] == [corpus["invoice"]]


def test_hosted_embedding_model_uses_openai_compatible_endpoint(client, services, corpus):
    with pytest.raises(ValueError, match="configure"):
        seed_file(services, "x.md", "Some text.", embedding_model="text-embedding-3-small")
    with stand_in_server() as (base_url, stand_in):
        resp = client.put("/v1/org/provider-keys", json={"provider": "openai", "key": "sk-test-123", "base_url": base_url})
        assert resp.status_code == 200, resp.text
        fid = seed_file(services, "hosted.md", "Quarterly budget review meeting notes.",
                        embedding_model="text-embedding-3-small")
        path, body, headers = stand_in.requests[-1]
        assert path == "/v1/embeddings" and body["model"] == "text-embedding-3-small"
        assert headers["Authorization"] == "Bearer sk-test-123"
        tables = {(t["model"], t["dimensions"]) for t in chunk_store.list_vector_tables(services.db)}
        assert tables == {("all-minilm-l6-v2", 384), ("text-embedding-3-small", 8)}  # never mixed
        results = hits(client, "budget review meeting", mode="vector")
        assert fid in {r["file_id"] for r in results}
        assert any(req[1]["input"] == ["budget review meeting"] for req in stand_in.requests)
