"""The local engines behind the contract's provider names: reducto, gemini, whisper (and openai)."""

from __future__ import annotations

import time
from typing import Any

from .base import Extraction, ExtractionError, ExtractRequest, ProgressFn, Segment
from .detect import detect_content_type
from .engines import LocalEngines, lib_version
from .guards import Limits, check_file
from .images import IMAGE_TYPES, extract_image
from .media import decode_media
from .names import ProviderName
from .office import EMAIL_TYPES, MARKITDOWN_TYPES, MarkItDownHolder, extract_office
from .pdf import extract_pdf
from .textutil import fmt_timestamp, word_count

DOCUMENT_TYPES = set(MARKITDOWN_TYPES) | EMAIL_TYPES | {"application/pdf"}


def _is_media(content_type: str) -> bool:
    return content_type.startswith(("audio/", "video/"))


def _detect(req: ExtractRequest) -> str:
    return detect_content_type(req.path, req.filename, req.content_type)


class ReductoLocal:
    """Documents: pypdfium2 for PDFs (OCR for image-only pages), markitdown for the rest."""

    name = "reducto"
    engine = "local"

    def __init__(self, engines: LocalEngines, markitdown: MarkItDownHolder) -> None:
        self._engines = engines
        self._md = markitdown

    def supports(self, content_type: str) -> bool:
        return content_type in DOCUMENT_TYPES or content_type in IMAGE_TYPES

    def extract(self, req: ExtractRequest, progress: ProgressFn) -> Extraction:
        t0 = time.perf_counter()
        content_type = _detect(req)
        detect_s = time.perf_counter() - t0
        if content_type == "application/pdf":
            result = extract_pdf(req, progress, self._engines)
        elif content_type in MARKITDOWN_TYPES or content_type in EMAIL_TYPES:
            result = extract_office(req, content_type, progress, self._md)
        elif content_type in IMAGE_TYPES:
            result = extract_image(req, content_type, progress, self._engines)
        else:
            raise ExtractionError("unsupported_format", f"{self.name} (local) cannot extract {content_type}")
        result.metadata.setdefault("timings", {})["detect"] = round(detect_s, 4)
        return result


class GeminiLocal:
    """Images and scanned pages: rapidocr. A PDF sent here is read by OCR page by page."""

    name = "gemini"
    engine = "local"

    def __init__(self, engines: LocalEngines) -> None:
        self._engines = engines

    def supports(self, content_type: str) -> bool:
        return content_type in IMAGE_TYPES or content_type == "application/pdf"

    def extract(self, req: ExtractRequest, progress: ProgressFn) -> Extraction:
        content_type = _detect(req)
        if content_type in IMAGE_TYPES:
            return extract_image(req, content_type, progress, self._engines)
        if content_type == "application/pdf":
            options = {"ocr": "force", **req.options}
            return extract_pdf(ExtractRequest(req.path, req.filename, content_type, options), progress, self._engines)
        raise ExtractionError("unsupported_format", f"{self.name} (local) cannot extract {content_type}")


class WhisperLocal:
    """Audio and video: faster-whisper (Whisper base, int8, greedy, VAD) on the decoded audio track."""

    name = "whisper"
    engine = "local"

    def __init__(self, engines: LocalEngines, name: str = "whisper") -> None:
        self._engines = engines
        self.name = name

    def supports(self, content_type: str) -> bool:
        return _is_media(content_type)

    def extract(self, req: ExtractRequest, progress: ProgressFn) -> Extraction:
        limits = Limits.from_options(req.options)
        check_file(req.path, limits)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        content_type = _detect(req)
        if not _is_media(content_type):
            raise ExtractionError("unsupported_format", f"{self.name} (local) cannot transcribe {content_type}")
        progress(2, "decoding")
        media = decode_media(req.path, limits)
        timings["decode"] = time.perf_counter() - t0
        segments: list[Segment] = []
        info: Any = None
        if media.audio is not None and len(media.audio):
            progress(8, "loading model")
            t1 = time.perf_counter()
            model = self._engines.whisper.get()
            timings["model_load"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            segments, info = self._transcribe(model, media.audio, media.duration, req.options, progress)
            timings["transcribe"] = time.perf_counter() - t2
        markdown = "\n".join(f"[{fmt_timestamp(s.start)}] {s.text}" for s in segments)
        metadata: dict[str, Any] = {
            "detected_type": content_type,
            "duration_seconds": round(media.duration, 3),
            "word_count": sum(word_count(s.text) for s in segments),
            "language": getattr(info, "language", None),
            "language_probability": round(float(info.language_probability), 4) if info is not None else None,
            "title": None,
            "author": None,
            "width": media.width,
            "height": media.height,
            "has_audio": media.audio is not None,
            "has_video": media.has_video,
            "container": media.container,
            "warnings": media.warnings,
            "engine": {
                "library": "faster-whisper",
                "version": lib_version("faster-whisper"),
                "model": "whisper-base int8",
            },
            "timings": {k: round(v, 4) for k, v in timings.items()},
        }
        if timings.get("transcribe") and media.duration:
            metadata["real_time_factor"] = round(timings["transcribe"] / media.duration, 4)
        progress(100, "done")
        thumb = media.thumbnail
        return Extraction(
            markdown=markdown,
            segments=segments,
            metadata=metadata,
            thumbnail=thumb[0] if thumb else None,
            thumbnail_type=thumb[1] if thumb else None,
        )

    @staticmethod
    def _transcribe(
        model: Any, audio: Any, duration: float, options: dict[str, Any], progress: ProgressFn
    ) -> tuple[list[Segment], Any]:
        language = options.get("language") or None
        seg_iter, info = model.transcribe(
            audio,
            language=language,
            beam_size=1,
            vad_filter=True,
            condition_on_previous_text=False,
        )
        segments = []
        total = max(duration, 0.001)
        for seg in seg_iter:  # lazy: each step decodes the next 30 s window
            text = seg.text.strip()
            if text:
                segments.append(Segment(start=round(seg.start, 2), end=round(seg.end, 2), text=text))
            progress(min(98, 10 + int(88 * seg.end / total)), "transcribing")
        return segments, info


def local_providers(engines: LocalEngines) -> dict[ProviderName, Any]:
    """A fresh local engine for each contract provider name, all sharing one process's models."""
    md = MarkItDownHolder()
    return {
        "reducto": ReductoLocal(engines, md),
        "gemini": GeminiLocal(engines),
        "whisper": WhisperLocal(engines),
        "openai": WhisperLocal(engines, name="openai"),
    }


__all__ = ["ReductoLocal", "GeminiLocal", "WhisperLocal", "local_providers", "lib_version"]
