"""With no network at all, one file of every type extracts: the session pool's workers have none."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import samplegen

from roset_local.providers import ExtractionPool, ExtractRequest


def _netns(pid: int | str) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def _interfaces(pid: int) -> list[str]:
    lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    return [line.split(":")[0].strip() for line in lines]


def _namespaces_available() -> bool:
    return (
        shutil.which("unshare") is not None
        and subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0
    )


@pytest.mark.skipif(
    not _namespaces_available(), reason="no network namespaces here: workers fall back to a socket guard"
)
def test_workers_have_no_network(pool: ExtractionPool) -> None:
    pool.warm()
    modes = pool.network_modes()
    assert modes and set(modes.values()) == {"namespace"}
    for pid in modes:
        # Each worker sits in its own network namespace with only a loopback that is down.
        assert _netns(pid) != _netns("self")
        assert _interfaces(pid) == ["lo"]


def test_a_worker_cannot_reach_a_server_on_this_machine(
    pool: ExtractionPool, samples: dict[str, samplegen.Sample]
) -> None:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=2):
            pass  # reachable from the test process itself
        keys = {"gemini": {"key": "k", "base_url": url, "timeout": 5}}
        s = samples["png"]
        try:
            pool.run("gemini", keys, ExtractRequest(str(s.path), s.filename, s.content_type, {}))
            raise AssertionError("a hosted call went through from an offline worker")
        except Exception as exc:  # noqa: BLE001 - any failure is the point; the server must see nothing
            assert getattr(exc, "reason", None) == "provider_crashed", exc
        assert hits == []
    finally:
        server.shutdown()
        server.server_close()


def test_every_type_extracts_offline(extracted: dict[str, Any], samples: dict[str, samplegen.Sample]) -> None:
    assert set(extracted) == set(samples)
    failures = {}
    for kind, outcome in extracted.items():
        if outcome.error is not None:
            failures[kind] = str(outcome.error)
            continue
        words = samples[kind].words
        slack = 2 if kind.startswith(("audio_", "video_")) else 1
        found = samplegen.found_words(outcome.result.markdown, words)
        if len(found) < len(words) - slack:
            failures[kind] = f"found {found} of {words}"
    assert not failures, failures
