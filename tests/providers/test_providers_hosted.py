"""Hosted adapters against a local HTTP server standing in for each vendor's documented API."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
import samplegen

from roset_local.providers import ExtractionError, ExtractionPool, ExtractRequest, build_registry

GOOD_KEY = "test-key-123"


class Vendor:
    """Records requests; answers like Reducto, Gemini and an OpenAI-compatible speech endpoint."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.mode = "full"  # reducto: "full" or "url"; any vendor: "500", "slow"
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/results/job-1.json":
                    self._send(200, vendor.reducto_chunks())
                else:
                    self._send(404, {"detail": "not found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                vendor.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                auth = self.headers.get("Authorization", "") + self.headers.get("x-goog-api-key", "")
                if GOOD_KEY not in auth:
                    return self._send(401, {"error": "invalid key"})
                if vendor.mode == "500":
                    return self._send(500, {"error": "boom"})
                if vendor.mode == "slow":
                    time.sleep(2)
                if self.path == "/upload":
                    return self._send(200, {"file_id": "reducto://abc123.pdf", "presigned_url": None})
                if self.path == "/parse":
                    if vendor.mode == "url":
                        url = f"{vendor.url}/results/job-1.json"
                        return self._send(
                            200, {"job_id": "job-1", "result": {"type": "url", "url": url}, "usage": {"num_pages": 2}}
                        )
                    return self._send(
                        200,
                        {
                            "job_id": "job-1",
                            "duration": 1.2,
                            "result": {"type": "full", "chunks": vendor.reducto_chunks()},
                            "usage": {"num_pages": 2, "credits": 2.0},
                        },
                    )
                if self.path.startswith("/v1beta/models/") and self.path.endswith(":generateContent"):
                    return self._send(
                        200,
                        {
                            "candidates": [
                                {
                                    "content": {"parts": [{"text": "# Invoice 4821\n\nAcme Widgets"}], "role": "model"},
                                    "finishReason": "STOP",
                                }
                            ]
                        },
                    )
                if self.path == "/v1/audio/transcriptions":
                    return self._send(
                        200,
                        {
                            "task": "transcribe",
                            "language": "english",
                            "duration": 3.1,
                            "text": "The quick brown fox.",
                            "segments": [
                                {"id": 0, "start": 0.0, "end": 1.5, "text": " The quick"},
                                {"id": 1, "start": 1.5, "end": 3.1, "text": " brown fox."},
                            ],
                        },
                    )
                self._send(404, {"detail": "no route"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def reducto_chunks() -> list[dict[str, Any]]:
        return [
            {
                "content": "# Quarterly Report\n\nRevenue grew.\n\n| Region | Revenue |\n|---|---|\n| North | 4200 |",
                "blocks": [
                    {
                        "type": "Title",
                        "content": "Quarterly Report",
                        "bbox": {"left": 0.1, "top": 0.1, "width": 0.5, "height": 0.05, "page": 1},
                    },
                    {
                        "type": "Text",
                        "content": "Revenue grew.",
                        "bbox": {"left": 0.1, "top": 0.2, "width": 0.5, "height": 0.05, "page": 1},
                    },
                    {
                        "type": "Table",
                        "content": "| Region | Revenue |",
                        "bbox": {"left": 0.1, "top": 0.1, "width": 0.5, "height": 0.05, "page": 2},
                    },
                ],
            }
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def vendor() -> Iterator[Vendor]:
    v = Vendor()
    yield v
    v.close()


def _req(sample: samplegen.Sample) -> ExtractRequest:
    return ExtractRequest(str(sample.path), sample.filename, sample.content_type, {})


@pytest.mark.parametrize("mode", ["full", "url"])
def test_reducto_upload_then_parse(vendor: Vendor, samples: dict[str, samplegen.Sample], mode: str) -> None:
    vendor.mode = mode
    provider = build_registry({"reducto": {"key": GOOD_KEY, "base_url": vendor.url}})["reducto"]
    assert provider.engine == "hosted"
    stages: list[int] = []
    result = provider.extract(_req(samples["pdf"]), lambda pct, stage: stages.append(pct))
    assert "| North | 4200 |" in result.markdown and result.markdown.startswith("# Quarterly Report")
    assert [p.number for p in result.pages] == [1, 2]
    assert result.metadata["page_count"] == 2 and result.metadata["job_id"] == "job-1"
    upload, parse = vendor.requests[0], vendor.requests[1]
    assert upload["path"] == "/upload" and upload["headers"]["Authorization"] == f"Bearer {GOOD_KEY}"
    assert samples["pdf"].path.read_bytes() in upload["body"]
    assert json.loads(parse["body"]) == {"input": "reducto://abc123.pdf"}
    assert stages[-1] == 100


def test_gemini_generate_content_with_inline_image(vendor: Vendor, samples: dict[str, samplegen.Sample]) -> None:
    provider = build_registry({"gemini": {"key": GOOD_KEY, "base_url": vendor.url + "/", "model": "gemini-test"}})[
        "gemini"
    ]
    result = provider.extract(_req(samples["png"]), lambda pct, stage: None)
    assert result.markdown == "# Invoice 4821\n\nAcme Widgets"
    sent = vendor.requests[0]
    assert sent["path"] == "/v1beta/models/gemini-test:generateContent"
    assert sent["headers"]["x-goog-api-key"] == GOOD_KEY
    parts = json.loads(sent["body"])["contents"][0]["parts"]
    assert parts[1]["inline_data"]["mime_type"] == "image/png" and len(parts[1]["inline_data"]["data"]) > 1000


@pytest.mark.parametrize("name", ["openai", "whisper"])
def test_openai_compatible_transcription(vendor: Vendor, samples: dict[str, samplegen.Sample], name: str) -> None:
    if "video_mov" not in samples:
        pytest.skip("needs ffmpeg and espeak-ng")
    provider = build_registry({name: {"key": GOOD_KEY, "base_url": vendor.url + "/v1"}})[name]
    result = provider.extract(_req(samples["audio_mp3"]), lambda pct, stage: None)
    assert result.markdown == "[00:00] The quick\n[00:01] brown fox."
    assert [(s.start, s.end) for s in result.segments] == [(0.0, 1.5), (1.5, 3.1)]
    sent = vendor.requests[0]
    assert (
        sent["path"] == "/v1/audio/transcriptions" and b'name="model"' in sent["body"] and b"whisper-1" in sent["body"]
    )
    assert samples["audio_mp3"].path.read_bytes() in sent["body"]
    # A container the API does not take (QuickTime) is sent as its audio track in FLAC.
    provider.extract(_req(samples["video_mov"]), lambda pct, stage: None)
    assert b"fLaC" in vendor.requests[1]["body"] and b".flac" in vendor.requests[1]["body"]


def test_vendor_failures_map_to_reasons(vendor: Vendor, samples: dict[str, samplegen.Sample]) -> None:
    bad = build_registry({"reducto": {"key": "wrong", "base_url": vendor.url}})["reducto"]
    with pytest.raises(ExtractionError) as info:
        bad.extract(_req(samples["pdf"]), lambda pct, stage: None)
    assert info.value.reason == "provider_not_configured"
    vendor.mode = "500"
    good = build_registry({"gemini": {"key": GOOD_KEY, "base_url": vendor.url}})["gemini"]
    with pytest.raises(ExtractionError) as info:
        good.extract(_req(samples["png"]), lambda pct, stage: None)
    assert info.value.reason == "provider_crashed"
    vendor.mode = "slow"
    slow = build_registry({"gemini": {"key": GOOD_KEY, "base_url": vendor.url, "timeout": 0.3}})["gemini"]
    with pytest.raises(ExtractionError) as info:
        slow.extract(_req(samples["png"]), lambda pct, stage: None)
    assert info.value.reason == "provider_timeout"
    closed = build_registry({"gemini": {"key": GOOD_KEY, "base_url": "http://127.0.0.1:9"}})["gemini"]
    with pytest.raises(ExtractionError) as info:
        closed.extract(_req(samples["png"]), lambda pct, stage: None)
    assert info.value.reason == "provider_crashed"
    empty = build_registry({"gemini": {"key": "", "base_url": vendor.url}})["gemini"]
    with pytest.raises(ExtractionError) as info:
        empty.extract(_req(samples["png"]), lambda pct, stage: None)
    assert info.value.reason == "provider_not_configured"


def test_hosted_adapter_runs_in_the_worker_pool(vendor: Vendor, samples: dict[str, samplegen.Sample]) -> None:
    keys = {"gemini": {"key": GOOD_KEY, "base_url": vendor.url}}
    with ExtractionPool(max_workers=1, timeout_seconds=60) as online:  # the session pool has no network
        result = online.run("gemini", keys, _req(samples["jpeg"]))
    assert "4821" in result.markdown and result.metadata["engine"]["library"] == "gemini API"
    assert vendor.requests[0]["headers"]["x-goog-api-key"] == GOOD_KEY
