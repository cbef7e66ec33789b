"""Helpers for the search and Q&A tests: seeding indexed files, a stand-in OpenAI-compatible server, the eval corpus."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from roset_local.ids import new_id
from roset_local.index.indexer import index_file
from roset_local.store import files as file_store
from roset_local.timeutil import now_str


def seed_file(
    services: Any,
    filename: str,
    markdown: str,
    *,
    space: str = "default",
    content_type: str = "text/markdown",
    metadata: dict[str, str] | None = None,
    pages: list[tuple[int, str]] | None = None,
    segments: list[tuple[float, float, str]] | None = None,
    chunking: dict | None = None,
    embedding_model: str | None = None,
    with_embeddings: bool = True,
) -> str:
    """A processed file as the pipeline leaves it: files row, markdown variant, index."""
    db = services.db
    file_id = new_id("file")
    now = now_str()
    with db.write():
        file_store.insert_file(db, {
            "id": file_id, "space": space, "filename": filename, "content_type": content_type,
            "size_bytes": len(markdown), "sha256": hashlib.sha256(markdown.encode()).hexdigest(),
            "storage_key": f"{space}/{file_id}/{filename}", "status": "completed", "metadata": metadata or {},
            "options": {"chunking": chunking, "embedding_model": embedding_model}, "created_at": now, "updated_at": now,
        })
        db.insert("variants", {"id": new_id("var"), "file_id": file_id, "job_id": None, "type": "markdown",
                               "provider": "test", "content": markdown, "blob_key": None,
                               "content_type": "text/markdown", "size_bytes": len(markdown), "created_at": now})
    index_file(services, file_id=file_id, space=space, filename=filename, content_type=content_type,
               metadata=metadata or {}, markdown=markdown, pages=pages or [], segments=segments or [],
               chunking=chunking, embedding_model=embedding_model, with_embeddings=with_embeddings,
               cancelled=lambda: False)
    return file_id


def hits(client: Any, query: str, **body: Any) -> list[dict[str, Any]]:
    resp = client.post("/v1/search", json={"query": query, **body})
    assert resp.status_code == 200, resp.text
    return resp.json()["results"]


def sse_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: "):]) for line in text.splitlines() if line.startswith("data: ")]


# -- a stand-in OpenAI-compatible server ---------------------------------------------------------


def fake_vector(text: str, dims: int = 8) -> list[float]:
    """Deterministic bag-of-words vector: texts sharing words point the same way."""
    vec = np.zeros(dims)
    for word in text.lower().split():
        h = int(hashlib.md5(word.strip(".,?!").encode()).hexdigest(), 16)
        vec[h % dims] += 1.0
    return (vec / (np.linalg.norm(vec) or 1.0)).tolist()


class StandIn:
    """Records requests; answers /embeddings and /chat/completions (JSON or SSE)."""

    def __init__(self, answer: str = "The payment terms are net 30 days [1].") -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.fail = False

    def handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                stand_in.requests.append((self.path, body, dict(self.headers)))
                if stand_in.fail:
                    self._json(500, {"error": {"message": "boom"}})
                elif self.path.endswith("/embeddings"):
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    self._json(200, {"object": "list", "model": body["model"], "data": [
                        {"object": "embedding", "index": i, "embedding": fake_vector(t)} for i, t in enumerate(inputs)]})
                elif self.path.endswith("/chat/completions") and body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for word in stand_in.answer.split(" "):
                        piece = {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
                        self.wfile.write(f"data: {json.dumps(piece)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                elif self.path.endswith("/chat/completions"):
                    self._json(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": stand_in.answer}}]})
                else:
                    self._json(404, {"error": "not found"})

            def _json(self, status: int, data: Any) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler


@contextmanager
def stand_in_server(answer: str = "The payment terms are net 30 days [1].") -> Iterator[tuple[str, StandIn]]:
    stand_in = StandIn(answer)
    server = ThreadingHTTPServer(("127.0.0.1", 0), stand_in.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", stand_in
    finally:
        server.shutdown()
        server.server_close()
