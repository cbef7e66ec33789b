"""Hosted adapters, used only when a provider key is saved: Reducto, Gemini, OpenAI-compatible speech."""

from __future__ import annotations

import base64
import os
import time
from typing import Any

from .base import Extraction, ExtractionError, ExtractRequest, Page, ProgressFn, Segment
from .detect import detect_content_type
from .engines import lib_version
from .guards import Limits, check_file
from .images import IMAGE_TYPES
from .local import DOCUMENT_TYPES
from .textutil import fmt_timestamp, guess_language, tidy, word_count

DEFAULT_TIMEOUT = 300.0


def _http_error(provider: str, exc: Exception) -> ExtractionError:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return ExtractionError("provider_timeout", f"{provider} did not answer in time")
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        detail = exc.response.text[:300]
        if status in (401, 403):
            return ExtractionError("provider_not_configured", f"{provider} rejected the key ({status})")
        if status == 413:
            return ExtractionError("too_large", f"{provider} refused the file as too large")
        if status in (400, 415, 422):
            return ExtractionError("unsupported_format", f"{provider} refused the file ({status}): {detail}")
        if 300 <= status < 400:
            return ExtractionError(
                "provider_crashed", f"{provider} answered with a redirect ({status}); redirects are not followed"
            )
        if status in (408, 504):
            return ExtractionError("provider_timeout", f"{provider} timed out ({status})")
        return ExtractionError("provider_crashed", f"{provider} failed ({status}): {detail}")
    return ExtractionError("provider_crashed", f"{provider} cannot be reached: {exc}")


def _port(url: Any) -> int:
    return int(url.port or (443 if url.scheme == "https" else 80))


class _Hosted:
    name = ""
    engine = "hosted"
    default_base_url = ""

    def __init__(
        self, key: str, base_url: str | None = None, timeout: float = DEFAULT_TIMEOUT, *,
        allow_private: bool = True, **extra: Any,
    ) -> None:
        self.key = key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.timeout = timeout
        self.allow_private = allow_private  # the outbound policy (ROSET_OUTBOUND_ALLOW_PRIVATE)
        self.extra = extra

    def _client(self) -> Any:
        from roset_local.netguard import outbound_client

        return outbound_client(allow_private=self.allow_private, base_url=self.base_url, timeout=self.timeout)

    def _own_url(self, url: Any) -> str:
        """A URL the provider handed back, accepted only on the provider's own host (no SSRF through it)."""
        import httpx

        try:
            parsed = httpx.URL(str(url))
        except (httpx.InvalidURL, TypeError, ValueError):
            raise ExtractionError("provider_crashed", f"{self.name} returned an invalid result URL") from None
        own = httpx.URL(self.base_url)
        if parsed.scheme not in {"http", "https"} or (parsed.host, _port(parsed)) != (own.host, _port(own)):
            raise ExtractionError(
                "provider_crashed",
                f"{self.name} returned a result URL on another host ({parsed.host or '?'}); it is not fetched",
            )
        return str(parsed)

    def _call(self, fn: Any) -> Any:
        import httpx

        from roset_local.netguard import OutboundRefused

        if not self.key:
            raise ExtractionError("provider_not_configured", f"{self.name} has a saved entry but no key")
        try:
            with self._client() as client:
                return fn(client)
        except httpx.HTTPError as exc:
            raise _http_error(self.name, exc) from exc
        except OutboundRefused as exc:
            raise ExtractionError("provider_not_configured", f"{self.name} base URL refused: {exc}") from exc
        except ValueError as exc:  # a body that is not the JSON the API documents
            raise ExtractionError("provider_crashed", f"{self.name} answered something unreadable: {exc}") from exc

    def _metadata(self, content_type: str, markdown: str, started: float, **more: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "detected_type": content_type,
            "word_count": word_count(markdown),
            "language": guess_language(markdown),
            "title": None,
            "author": None,
            "engine": {"library": f"{self.name} API", "version": "hosted", "client": f"httpx {lib_version('httpx')}"},
            "timings": {"request": round(time.perf_counter() - started, 4)},
        }
        meta.update(more)
        return meta


class ReductoHosted(_Hosted):
    """Reducto's REST API: `POST /upload` (multipart) then `POST /parse` on the returned file id."""

    name = "reducto"
    default_base_url = "https://platform.reducto.ai"

    def supports(self, content_type: str) -> bool:
        return content_type in DOCUMENT_TYPES or content_type in IMAGE_TYPES

    def extract(self, req: ExtractRequest, progress: ProgressFn) -> Extraction:
        check_file(req.path, Limits.from_options(req.options))
        content_type = detect_content_type(req.path, req.filename, req.content_type)
        started = time.perf_counter()
        headers = {"Authorization": f"Bearer {self.key}"}

        def run(client: Any) -> dict[str, Any]:
            progress(5, "uploading")
            with open(req.path, "rb") as fh:
                up = client.post("/upload", headers=headers, files={"file": (req.filename, fh, content_type)})
            up.raise_for_status()
            file_id = up.json()["file_id"]
            progress(30, "parsing")
            resp = client.post("/parse", headers=headers, json={"input": file_id})
            resp.raise_for_status()
            body: dict[str, Any] = resp.json()
            result = body.get("result") or {}
            if result.get("type") == "url":
                fetched = client.get(self._own_url(result.get("url")))
                fetched.raise_for_status()
                data = fetched.json()
                body["result"] = {"type": "full", "chunks": data if isinstance(data, list) else data.get("chunks", [])}
            return body

        body = self._call(run)
        chunks = (body.get("result") or {}).get("chunks") or []
        markdown = tidy("\n\n".join(str(c.get("content") or "") for c in chunks))
        pages = _reducto_pages(chunks)
        usage = body.get("usage") or {}
        meta = self._metadata(
            content_type,
            markdown,
            started,
            page_count=usage.get("num_pages") or (len(pages) or None),
            job_id=body.get("job_id"),
            ocr_pages=[],
        )
        progress(100, "done")
        return Extraction(markdown=markdown, pages=pages, metadata=meta)


def _reducto_pages(chunks: list[dict[str, Any]]) -> list[Page]:
    """Pages rebuilt from the blocks' `bbox.page` (1-based) when the answer carries them."""
    by_page: dict[int, list[str]] = {}
    for chunk in chunks:
        for block in chunk.get("blocks") or []:
            page = (block.get("bbox") or {}).get("page")
            if isinstance(page, int) and block.get("content"):
                by_page.setdefault(page, []).append(str(block["content"]))
    return [Page(number=n, markdown=tidy("\n\n".join(by_page[n])), ocr=False) for n in sorted(by_page)]


class GeminiHosted(_Hosted):
    """Gemini's `models/{model}:generateContent` with the image (or PDF) inline, asked to transcribe."""

    name = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"
    default_model = "gemini-2.5-flash"
    max_inline_bytes = 19 * 1024 * 1024  # inline data must keep the whole request under 20 MB
    prompt = (
        "Transcribe all the text in this file as Markdown. Keep the reading order and the line breaks "
        "of the layout, use Markdown tables for tables, and output only the transcription."
    )

    def supports(self, content_type: str) -> bool:
        return content_type in IMAGE_TYPES or content_type == "application/pdf"

    def extract(self, req: ExtractRequest, progress: ProgressFn) -> Extraction:
        size = check_file(req.path, Limits.from_options(req.options))
        if size > self.max_inline_bytes:
            raise ExtractionError("too_large", f"{self.name} takes files up to {self.max_inline_bytes} bytes inline")
        content_type = detect_content_type(req.path, req.filename, req.content_type)
        if not self.supports(content_type):
            raise ExtractionError("unsupported_format", f"{self.name} cannot read {content_type}")
        model = str(self.extra.get("model") or self.default_model)
        with open(req.path, "rb") as fh:
            data = base64.b64encode(fh.read()).decode("ascii")
        payload = {
            "contents": [{"parts": [{"text": self.prompt}, {"inline_data": {"mime_type": content_type, "data": data}}]}]
        }
        started = time.perf_counter()

        def run(client: Any) -> dict[str, Any]:
            progress(10, "sending")
            resp = client.post(
                f"/v1beta/models/{model}:generateContent", headers={"x-goog-api-key": self.key}, json=payload
            )
            resp.raise_for_status()
            result: dict[str, Any] = resp.json()
            return result

        body = self._call(run)
        candidates = body.get("candidates") or []
        if not candidates:
            reason = (body.get("promptFeedback") or {}).get("blockReason", "no candidates")
            raise ExtractionError("provider_crashed", f"{self.name} returned no text ({reason})")
        parts = (candidates[0].get("content") or {}).get("parts") or []
        markdown = tidy("".join(str(p.get("text") or "") for p in parts))
        meta = self._metadata(content_type, markdown, started, model=model, ocr_pages=[1])
        progress(100, "done")
        return Extraction(markdown=markdown, pages=[Page(number=1, markdown=markdown, ocr=True)], metadata=meta)


class OpenAITranscription(_Hosted):
    """An OpenAI-compatible `/v1/audio/transcriptions` (OpenAI, a local whisper server, vLLM, ...)."""

    name = "openai"
    default_base_url = "https://api.openai.com"
    default_model = "whisper-1"
    max_upload_bytes = 25 * 1024 * 1024
    passthrough = {
        "audio/wav",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "audio/flac",
        "audio/webm",
        "video/mp4",
        "video/webm",
    }

    def __init__(
        self,
        key: str,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        name: str = "openai",
        *,
        allow_private: bool = True,
        **extra: Any,
    ) -> None:
        self.name = name
        super().__init__(key, base_url, timeout, allow_private=allow_private, **extra)
        # Accept base URLs given with or without the /v1 suffix.
        if self.base_url.endswith("/v1"):
            self.base_url = self.base_url[: -len("/v1")]

    def supports(self, content_type: str) -> bool:
        return content_type.startswith(("audio/", "video/"))

    def extract(self, req: ExtractRequest, progress: ProgressFn) -> Extraction:
        limits = Limits.from_options(req.options)
        size = check_file(req.path, limits)
        content_type = detect_content_type(req.path, req.filename, req.content_type)
        if not self.supports(content_type):
            raise ExtractionError("unsupported_format", f"{self.name} cannot transcribe {content_type}")
        started = time.perf_counter()
        upload_path, upload_name, upload_type, tmp = req.path, req.filename, content_type, None
        if content_type not in self.passthrough or size > self.max_upload_bytes:
            progress(2, "extracting audio")
            tmp = _to_flac(req.path, limits)
            upload_path, upload_name, upload_type = tmp, os.path.splitext(req.filename)[0] + ".flac", "audio/flac"
            if os.path.getsize(tmp) > self.max_upload_bytes:
                os.unlink(tmp)
                raise ExtractionError("too_large", f"audio is over the {self.max_upload_bytes}-byte upload limit")
        model = str(self.extra.get("model") or self.default_model)
        fields = {"model": model, "response_format": "verbose_json", "timestamp_granularities[]": "segment"}
        if req.options.get("language"):
            fields["language"] = str(req.options["language"])

        def run(client: Any) -> dict[str, Any]:
            progress(10, "uploading")
            with open(upload_path, "rb") as fh:
                resp = client.post(
                    "/v1/audio/transcriptions",
                    headers={"Authorization": f"Bearer {self.key}"},
                    data=fields,
                    files={"file": (upload_name, fh, upload_type)},
                )
            resp.raise_for_status()
            result: dict[str, Any] = resp.json()
            return result

        try:
            body = self._call(run)
        finally:
            if tmp:
                os.unlink(tmp)
        segments = [
            Segment(start=float(s.get("start", 0.0)), end=float(s.get("end", 0.0)), text=str(s.get("text", "")).strip())
            for s in body.get("segments") or []
            if str(s.get("text", "")).strip()
        ]
        if segments:
            markdown = "\n".join(f"[{fmt_timestamp(s.start)}] {s.text}" for s in segments)
        else:
            markdown = str(body.get("text") or "").strip()
        meta = self._metadata(
            content_type,
            markdown,
            started,
            duration_seconds=body.get("duration"),
            model=model,
        )
        meta["language"] = body.get("language") or meta["language"]
        meta["word_count"] = sum(word_count(s.text) for s in segments) if segments else word_count(markdown)
        progress(100, "done")
        return Extraction(markdown=markdown, segments=segments, metadata=meta)


def _to_flac(path: str, limits: Limits) -> str:
    """The audio track as 16 kHz mono FLAC in a temporary file (the speech APIs' upload cap is 25 MB)."""
    import tempfile

    import av
    import numpy as np

    from .media import SAMPLE_RATE, decode_media

    media = decode_media(path, limits)
    if media.audio is None:
        raise ExtractionError("corrupt_file", "file has no audio track to transcribe")
    fd, out = tempfile.mkstemp(suffix=".flac")
    os.close(fd)
    pcm = (np.clip(media.audio, -1.0, 1.0) * 32767).astype(np.int16)
    with av.open(out, mode="w", format="flac") as container:
        stream = container.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        frame_len = SAMPLE_RATE
        for start in range(0, len(pcm), frame_len):
            frame = av.AudioFrame.from_ndarray(
                pcm[start : start + frame_len].reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate = SAMPLE_RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out


def hosted_provider(name: str, entry: dict[str, Any]) -> Any:
    """The hosted adapter for a contract provider name, from its saved `{"key", "base_url", ...}`."""
    extra = {k: v for k, v in entry.items() if k not in ("key", "base_url", "timeout", "name", "allow_private")}
    extra["allow_private"] = bool(entry.get("allow_private", True))
    key = str(entry.get("key") or "")
    base_url = entry.get("base_url") or None
    timeout = float(entry.get("timeout") or DEFAULT_TIMEOUT)
    if name == "reducto":
        return ReductoHosted(key, base_url, timeout, **extra)
    if name == "gemini":
        return GeminiHosted(key, base_url, timeout, **extra)
    if name in ("whisper", "openai"):
        return OpenAITranscription(key, base_url, timeout, name=name, **extra)
    raise ExtractionError("provider_not_configured", f"no hosted adapter for {name}")
