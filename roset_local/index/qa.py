"""Question answering over retrieved chunks: extractive by default, generated when a chat model is configured."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from roset_local.index.embedder import LOCAL_MODEL, EmbeddingError, hosted_provider
from roset_local.index.search import Filters, query_vector, ranked_chunks
from roset_local.index.text import query_terms, sentences, snippet, stem, words
from roset_local.positions.chunks import position_fields
from roset_local.store import chunks as store

log = logging.getLogger("roset_local.index")

NOTHING_FOUND = "I could not find anything in your files that answers this question."
MAX_TOP_K = 20
# A quoted sentence must be at least this close to the question (MiniLM cosine): unrelated text
# scores ~0.0-0.2 against a question, an answering sentence ~0.4-0.8.
MIN_SIMILARITY = 0.33
MIN_SIMILARITY_WITH_OVERLAP = 0.22  # ... or this, when it also shares most of the question's content words
MAX_SENTENCES = 3
MAX_CANDIDATES = 80  # sentences scored per question


class QAError(Exception):
    """The configured chat model failed; the message is safe to show."""


@dataclass
class Passage:
    n: int
    file_id: str
    filename: str
    text: str
    score: float
    page: int | None = None
    position: str | None = None  # the chunk's stored position (roset_local.positions)
    char_start: int = 0

    def source(self, snippet_text: str, score: float, quoted: tuple[int, int] | None = None) -> dict[str, Any]:
        """A Q&A source naming this passage's file, page and box; ``quoted`` (offsets in the passage)
        boxes just the elements holding the quoted text."""
        span = (self.char_start + quoted[0], self.char_start + quoted[1]) if quoted else None
        return {"file_id": self.file_id, "filename": self.filename, "snippet": snippet_text,
                "score": round(score, 4), **position_fields(self.position, self.page, span)}


def retrieve(services: Any, question: str, filters: Filters, top_k: int) -> list[Passage]:
    ranked = ranked_chunks(services, question, mode="hybrid", filters=filters, limit=top_k)
    rows = store.chunks_with_files(
        services.db, [cid for cid, _ in ranked[: top_k * 2]], spaces=filters.spaces,
        content_type=filters.content_type, metadata=filters.metadata,
    )
    out: list[Passage] = []
    for cid, score in ranked:
        row = rows.get(cid)
        if row is not None:
            out.append(Passage(len(out) + 1, row["file_id"], row["filename"], row["text"], float(score),
                               row["page"], row["bbox"], row["char_start"]))
        if len(out) >= top_k:
            break
    return out


# -- extractive ----------------------------------------------------------------------------------


@dataclass
class _Sentence:
    passage: Passage
    text: str
    order: int
    span: tuple[int, int] = (0, 0)  # where it sits in the passage's text
    similarity: float = 0.0
    overlap: float = 0.0

    @property
    def score(self) -> float:
        return 0.75 * self.similarity + 0.25 * self.overlap

    @property
    def relevant(self) -> bool:
        return self.similarity >= MIN_SIMILARITY or (
            self.similarity >= MIN_SIMILARITY_WITH_OVERLAP and self.overlap >= 0.5
        )


def _candidates(passages: list[Passage]) -> list[_Sentence]:
    out: list[_Sentence] = []
    seen: set[str] = set()  # overlapping chunks and duplicate files repeat sentences: quote each once
    for p in passages:
        for s, e in sentences(p.text):
            text = " ".join(p.text[s:e].split()).lstrip("#>*- ").strip()
            key = text.casefold()
            if len(text) >= 12 and len(words(text)) >= 3 and key not in seen:
                seen.add(key)
                out.append(_Sentence(p, text, len(out), (s, e)))
            if len(out) >= MAX_CANDIDATES:
                return out
    return out


def extractive_answer(services: Any, question: str, passages: list[Passage]) -> tuple[str, list[dict[str, Any]]]:
    """The 1-3 sentences that best answer the question, quoted with [n] citations, and their sources.

    Sentences are ranked by MiniLM similarity to the question plus content-word overlap; if none
    is close enough, the answer says nothing was found and there are no sources (never invent).
    """
    cands = _candidates(passages)
    if not cands:
        return NOTHING_FOUND, []
    q_stems = {stem(t) for t in query_terms(question)}
    for c in cands:
        c_stems = {stem(w) for w in words(c.text)}
        c.overlap = len(q_stems & c_stems) / max(1, len(q_stems))
    try:
        qv = query_vector(services, LOCAL_MODEL, question)
        from roset_local.index.embedder import local_embedder

        sv = local_embedder().embed([c.text for c in cands])
        sims = sv @ qv
        for c, sim in zip(cands, sims):
            c.similarity = float(sim)
    except EmbeddingError:  # no local model: fall back to word overlap alone
        log.warning("local embedding model unavailable; extractive answers use word overlap only")
        for c in cands:
            c.similarity = c.overlap * 0.5
    ranked = sorted((c for c in cands if c.relevant), key=lambda c: -c.score)
    if not ranked:
        return NOTHING_FOUND, []
    best = ranked[0].score
    chosen = [c for c in ranked[:MAX_SENTENCES] if c.score >= 0.85 * best]
    chosen.sort(key=lambda c: c.order)  # read in document order
    numbers: dict[str, int] = {}
    sources: list[dict[str, Any]] = []
    parts = []
    for c in chosen:
        fid = c.passage.file_id
        if fid not in numbers:
            numbers[fid] = len(numbers) + 1
            sources.append(c.passage.source(c.text, c.score, c.span))
        else:
            src = sources[numbers[fid] - 1]
            src["snippet"] += " " + c.text
            src["score"] = max(src["score"], round(c.score, 4))
        parts.append(f"\u201c{c.text}\u201d [{numbers[fid]}]")
    return " ".join(parts), sources


# -- generated (OpenAI-compatible chat) ----------------------------------------------------------


def chat_config(services: Any) -> tuple[str, str, str, bool] | None:
    """(model, api_key, base_url, allow_private) when a chat model and an ``openai`` provider key are configured."""
    try:
        from roset_local.store.org import get_org_settings

        model = get_org_settings(services.db).get("chat_model")
    except ImportError:
        from roset_local.store.settings import get_setting

        model = get_setting(services.db, "chat_model")
    if not model:
        return None
    hosted = hosted_provider(services, "openai")
    if hosted is None:
        return None
    return str(model), hosted[0], hosted[1], services.settings.outbound_allow_private


def _messages(question: str, passages: list[Passage]) -> list[dict[str, str]]:
    context = "\n\n".join(f"[{p.n}] ({p.filename})\n{p.text}" for p in passages)
    return [
        {
            "role": "system",
            "content": "Answer the question using only the numbered passages. Cite the passages you use as [1], [2]. "
            "If the passages do not contain the answer, say that you could not find it. Be concise.",
        },
        {"role": "user", "content": f"Passages:\n\n{context}\n\nQuestion: {question}"},
    ]


def _chat_stream(
    config: tuple[str, str, str, bool], question: str, passages: list[Passage], stream: bool
) -> Iterator[str]:
    import httpx

    from roset_local.netguard import OutboundRefused, outbound_client

    model, key, base_url, allow_private = config
    body = {"model": model, "messages": _messages(question, passages), "temperature": 0, "stream": stream}
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with outbound_client(allow_private=allow_private, timeout=httpx.Timeout(120.0, connect=10.0)) as client:
            if not stream:
                resp = client.post(url, headers=headers, json=body)
                if resp.status_code != 200:
                    raise QAError(f"chat model answered {resp.status_code}")
                yield resp.json()["choices"][0]["message"]["content"] or ""
                return
            with client.stream("POST", url, headers=headers, json=body) as resp:
                if resp.status_code != 200:
                    raise QAError(f"chat model answered {resp.status_code}")
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
    except httpx.HTTPError as exc:
        raise QAError(f"chat model unreachable: {exc.__class__.__name__}") from exc
    except OutboundRefused as exc:
        raise QAError(f"chat model refused: {exc}") from exc
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise QAError("chat model returned an unexpected body") from exc


def _cited_sources(answer: str, passages: list[Passage], question: str) -> list[dict[str, Any]]:
    cited = {int(n) for n in re.findall(r"\[(\d{1,2})\]", answer)}
    out: dict[str, dict[str, Any]] = {}
    for p in passages:
        if p.n in cited and p.file_id not in out:
            out[p.file_id] = p.source(snippet(p.text, question, mark=False), p.score)
    return list(out.values())


# -- entry points --------------------------------------------------------------------------------


def _inputs(
    question: str, top_k: int, filters: Filters | None, spaces: tuple[str, ...] | None, limit: int | None
) -> tuple[int, Filters]:
    """Validate; ``spaces``/``limit`` are accepted as aliases of ``filters``/``top_k`` (console callers)."""
    if limit is not None:
        top_k = limit
    if filters is None:
        filters = Filters(spaces=tuple(spaces) if spaces is not None else None)
    return _check(question, top_k), filters


def _check(question: str, top_k: int) -> int:
    if not question or not question.strip():
        raise ValueError("question: must not be empty")
    if top_k < 1:
        raise ValueError("top_k: must be a positive integer")
    return min(top_k, MAX_TOP_K)


def answer(
    services: Any, question: str, *, filters: Filters | None = None, top_k: int = 5,
    spaces: tuple[str, ...] | None = None, limit: int | None = None,
) -> dict[str, Any]:
    """``{answer, question, sources}``. Raises ValueError on bad input, QAError if the chat model fails."""
    top_k, filters = _inputs(question, top_k, filters, spaces, limit)
    passages = retrieve(services, question, filters, top_k)
    if not passages:
        return {"answer": NOTHING_FOUND, "question": question, "sources": []}
    config = chat_config(services)
    if config is None:
        text, sources = extractive_answer(services, question, passages)
    else:
        text = "".join(_chat_stream(config, question, passages, stream=False))
        sources = _cited_sources(text, passages, question)
    return {"answer": text, "question": question, "sources": sources}


def answer_events(
    services: Any, question: str, *, filters: Filters | None = None, top_k: int = 5,
    spaces: tuple[str, ...] | None = None, limit: int | None = None,
) -> Iterator[dict]:
    """SSE events: ``chunk`` pieces of the answer, one ``sources``, then ``done`` (or ``error``)."""
    top_k, filters = _inputs(question, top_k, filters, spaces, limit)  # bad input raises before streaming

    def events() -> Iterator[dict]:
        try:
            passages = retrieve(services, question, filters, top_k)
            config = chat_config(services) if passages else None
            if config is None:
                text, sources = extractive_answer(services, question, passages) if passages else (NOTHING_FOUND, [])
                for piece in re.findall(r"\S+\s*", text):
                    yield {"type": "chunk", "content": piece}
            else:
                parts = []
                for delta in _chat_stream(config, question, passages, stream=True):
                    parts.append(delta)
                    yield {"type": "chunk", "content": delta}
                sources = _cited_sources("".join(parts), passages, question)
            yield {"type": "sources", "sources": sources}
            yield {"type": "done"}
        except QAError as exc:
            yield {"type": "error", "error": str(exc)}
        except Exception:  # the stream has started: report, don't drop the connection silently
            log.exception("question answering failed")
            yield {"type": "error", "error": "Internal error while answering"}

    return events()

