"""A worker host's result for one attempt: variants, chunks and their vectors in one msgpack blob."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from roset_local.index.chunking import Chunk

FORMAT = 1


@dataclass
class Result:
    """What the commit writes: ``outputs`` are variant rows as the pipeline builds them."""

    provider: str
    engine: str
    outputs: list[dict[str, Any]]
    pages: int
    indexed: bool = False  # the job asked for an index: the commit replaces the file's chunks
    chunks: list[Chunk] = field(default_factory=list)
    model: str | None = None  # None: text index only
    vectors: np.ndarray | None = None  # (len(chunks), d) float32

    def encode(self) -> bytes:
        vectors = self.vectors if self.vectors is not None else None
        return msgspec.msgpack.encode({
            "format": FORMAT, "provider": self.provider, "engine": self.engine, "outputs": self.outputs,
            "pages": self.pages, "indexed": self.indexed, "chunks": [dataclasses.asdict(c) for c in self.chunks], "model": self.model,
            "dims": int(vectors.shape[1]) if vectors is not None and vectors.ndim == 2 else 0,
            "vectors": np.ascontiguousarray(vectors, dtype=np.float32).tobytes() if vectors is not None else None,
        })

    @classmethod
    def decode(cls, raw: bytes) -> "Result":
        data = msgspec.msgpack.decode(raw)
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown result format {data.get('format')!r}")
        vectors = None
        if data["vectors"] is not None:
            vectors = np.frombuffer(data["vectors"], dtype=np.float32).reshape(-1, max(1, data["dims"]))
        return cls(provider=data["provider"], engine=data["engine"], outputs=data["outputs"], pages=data["pages"],
                   indexed=data["indexed"], chunks=[Chunk(**c) for c in data["chunks"]], model=data["model"], vectors=vectors)
