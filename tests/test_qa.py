"""POST /v1/qa: extractive answers with citations, "nothing found", SSE order, and a configured chat model."""

from __future__ import annotations

import pytest

from test_search_support import seed_file, sse_events, stand_in_server

CONTRACT = (
    "# Master services agreement\n\n"
    "This agreement is made between Acme Corp and Globex Ltd. "
    "The payment terms are net 30 days from the invoice date. "
    "Either party may terminate the agreement with ninety days written notice. "
    "The agreement is governed by the laws of Ontario.\n"
)
HANDBOOK = (
    "# Employee handbook\n\n"
    "Employees receive twenty days of paid vacation each year. "
    "The office is open from eight in the morning until six in the evening. "
    "Remote work requires approval from a manager.\n"
)


@pytest.fixture
def docs(services):
    return {
        "contract": seed_file(services, "master-agreement.pdf", CONTRACT, content_type="application/pdf"),
        "handbook": seed_file(services, "handbook.md", HANDBOOK, space="hr"),
    }


def test_extractive_answer_quotes_the_right_sentence(client, docs):
    resp = client.post("/v1/qa", json={"question": "What are the payment terms?"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["question"] == "What are the payment terms?"
    assert "The payment terms are net 30 days from the invoice date." in body["answer"]
    assert "[1]" in body["answer"]
    assert body["sources"][0]["file_id"] == docs["contract"]
    assert body["sources"][0]["filename"] == "master-agreement.pdf"
    assert "net 30 days" in body["sources"][0]["snippet"]
    assert body["sources"][0]["score"] > 0


def test_answer_from_another_file_and_space(client, docs):
    body = client.post("/v1/qa", json={"question": "How much holiday do staff get?", "space": "hr"}).json()
    assert "twenty days of paid vacation" in body["answer"]
    assert [s["file_id"] for s in body["sources"]] == [docs["handbook"]]
    body = client.post("/v1/qa", json={"question": "How much holiday do staff get?", "space": "default"}).json()
    assert docs["handbook"] not in [s["file_id"] for s in body["sources"]]


def test_nothing_relevant_says_so_without_sources(client, docs):
    body = client.post("/v1/qa", json={"question": "What is the boiling point of liquid nitrogen?"}).json()
    assert body["sources"] == []
    assert "could not find" in body["answer"]


def test_empty_index_says_so(client):
    body = client.post("/v1/qa", json={"question": "Anything?"}).json()
    assert body["sources"] == [] and "could not find" in body["answer"]


@pytest.mark.parametrize("body", [{"question": ""}, {}, {"question": "x", "top_k": 0}, {"question": 3}])
def test_bad_questions(client, body):
    assert client.post("/v1/qa", json=body).status_code == 400


def test_stream_sends_chunks_then_sources_then_done(client, docs):
    resp = client.post("/v1/qa", json={"question": "What are the payment terms?", "stream": True})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = sse_events(resp.text)
    types = [e["type"] for e in events]
    assert types[-2:] == ["sources", "done"] and set(types[:-2]) == {"chunk"} and len(types) > 3
    answer = "".join(e["content"] for e in events if e["type"] == "chunk")
    assert "net 30 days" in answer
    assert events[-2]["sources"][0]["file_id"] == docs["contract"]


def test_chat_model_generates_with_citations(client, docs):
    with stand_in_server("The payment terms are net 30 days [1].") as (base_url, stand_in):
        client.put("/v1/org/provider-keys", json={"provider": "openai", "key": "sk-test-123", "base_url": base_url})
        assert client.put("/v1/org/settings", json={"chat_model": "gpt-test"}).status_code == 200
        body = client.post("/v1/qa", json={"question": "What are the payment terms?", "top_k": 3}).json()
        assert body["answer"] == "The payment terms are net 30 days [1]."
        assert [s["file_id"] for s in body["sources"]] == [docs["contract"]]
        path, request, headers = stand_in.requests[-1]
        assert path == "/v1/chat/completions" and request["model"] == "gpt-test"
        prompt = request["messages"][-1]["content"]
        assert "[1] (master-agreement.pdf)" in prompt and "What are the payment terms?" in prompt

        resp = client.post("/v1/qa", json={"question": "What are the payment terms?", "stream": True})
        events = sse_events(resp.text)
        assert [e["type"] for e in events][-2:] == ["sources", "done"]
        assert "".join(e["content"] for e in events if e["type"] == "chunk").strip() == stand_in.answer
        assert stand_in.requests[-1][1]["stream"] is True

        stand_in.fail = True
        events = sse_events(client.post("/v1/qa", json={"question": "payment terms?", "stream": True}).text)
        assert events[-1]["type"] == "error" and "500" in events[-1]["error"]
        assert client.post("/v1/qa", json={"question": "payment terms?"}).status_code == 503
