"""Search and Q&A: the requests, the ranked passages and the answer (JSON or a stream of events)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from roset_local.api.schemas.files import FileId

SpaceFilter = Annotated[str | None, Meta(description="only this space (default: every space the key may see)")]
MetadataFilter = Annotated[dict[str, str] | None, Meta(
    description="files whose metadata has these values; flat \"metadata.<key>\" fields work too",
    examples=[{"team": "legal"}])]
Box = Annotated[list[int | float] | None, Meta(description="[x0, y0, x1, y1] in points, origin top-left")]


class SearchRequest(msgspec.Struct):
    query: Annotated[str, Meta(examples=["termination clause"], description="at most 4096 characters")]
    mode: Annotated[str, Meta(description="text, vector or hybrid")] = "hybrid"
    space: SpaceFilter = None
    limit: Annotated[int, Meta(description="1 or more; at most 100 are returned")] = 20
    content_type: Annotated[str | None, Meta(examples=["application/pdf"])] = None
    metadata: MetadataFilter = None


class Position(msgspec.Struct, kw_only=True):
    """Where a passage sits on its page (null for formats without pages)."""

    page: int | None
    bbox: Box
    page_width: int | float | None
    page_height: int | float | None


class SearchHit(Position, kw_only=True):
    file_id: FileId
    filename: str
    space: str
    content_type: str | None
    score: float
    snippet: str
    chunk_text: str
    heading: str | None
    timestamp: Annotated[int | float | None, Meta(description="seconds into audio or video")]
    timestamp_end: int | float | None
    char_start: int | None
    char_end: int | None


class SearchOut(msgspec.Struct, kw_only=True):
    results: list[SearchHit]
    total: int
    query: str
    mode: str

    @classmethod
    def of(cls, found: dict[str, Any]) -> SearchOut:
        return cls(results=[SearchHit(**hit) for hit in found["results"]], total=found["total"],
                   query=found["query"], mode=found["mode"])


class QaRequest(msgspec.Struct):
    """With ``stream: true`` the answer comes as Server-Sent Events (``text/event-stream``)."""

    question: Annotated[str, Meta(examples=["When does the contract end?"], description="at most 4096 characters")]
    space: SpaceFilter = None
    top_k: Annotated[int, Meta(description="passages to read (1 or more; at most 20 are used)")] = 5
    stream: bool = False
    content_type: str | None = None
    metadata: MetadataFilter = None


class QaSource(Position, kw_only=True):
    file_id: FileId
    filename: str
    snippet: str
    score: float


class QaOut(msgspec.Struct, kw_only=True):
    answer: str
    question: str
    sources: list[QaSource]

    @classmethod
    def of(cls, result: dict[str, Any]) -> QaOut:
        return cls(answer=result["answer"], question=result["question"],
                   sources=[QaSource(**source) for source in result["sources"]])

