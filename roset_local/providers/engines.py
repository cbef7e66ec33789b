"""Per-process holders for the heavy local models: loaded on first use, once, under a lock."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from roset_local.structure import orientation
from roset_local.structure.model import PageGeometry
from roset_local.structure.ocr import OcrResult, OcrTextBox, Quad, page_geometry

from .base import ExtractionError
from .models import ensure_whisper_model, verify_ocr_models
from .tesseract import Tesseract


def usable_cpus() -> int:
    """CPUs this process may run on (a container's limit, not the host's core count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def lib_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class OcrLine:
    text: str
    top: float
    bottom: float
    left: float
    score: float


def _word_boxes(words: Any) -> list[tuple[str, Quad]] | None:
    """rapidocr's (text, score, quad) word tuples as (text, quad), or None when they are not that."""
    if not words:
        return None
    out = []
    for item in words:
        try:
            text, _score, quad = item
            out.append((str(text), [(float(p[0]), float(p[1])) for p in quad]))
        except (TypeError, ValueError, IndexError):
            return None
    return out


class OcrEngine:
    """Scanned pages read upright: tesseract where it is confident, rapidocr (shipped PP-OCR models) otherwise.

    Every page is first levelled (quarter turns and tilts from its ink, upside down from rapidocr's
    line classifier), so both engines read straight lines and layout analysis gets an upright page.
    tesseract (Debian's binary, optional) reads a clean page 2-4x faster than rapidocr; a page it
    is unsure of (mean word confidence under MIN_CONFIDENCE: noise, other scripts, pictures) goes
    to rapidocr. `OcrEngine(tesseract=False, orient=False)` is rapidocr alone, as before.
    """

    # rapidocr's default detector scales the *short* side up to 736 px: a 700x160 text strip becomes
    # 3200x736 and detection takes 2.4 s instead of 0.14 s with the same result. Capping the long
    # side keeps small images fast; pages are rendered at a resolution that fits under the cap.
    DET_LIMIT_SIDE = 2000
    # tesseract's mean word confidence on the benchmark's scans: 94-97 clean or noisy, 36-39 on an
    # upside-down page; below this a page goes to rapidocr.
    MIN_CONFIDENCE = 88.0
    # Upside down only when the line classifier's votes say so clearly.
    FLIP_MARGIN = 2.0

    def __init__(self, tesseract: bool = True, orient: bool = True) -> None:
        self._lock = threading.Lock()
        self._engine: Any = None
        self.tesseract = Tesseract() if tesseract else None
        self.orient = orient

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def _get(self) -> Any:
        if self._engine is None:
            models = verify_ocr_models()
            try:
                from rapidocr import RapidOCR
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ExtractionError("provider_not_configured", f"rapidocr cannot be imported: {exc}") from exc
            self._engine = RapidOCR(
                params={
                    "Global.log_level": "error",
                    "Det.limit_type": "max",
                    "Det.limit_side_len": self.DET_LIMIT_SIDE,
                    # Explicit paths to the verified files: rapidocr never looks for (or fetches) others.
                    "Det.model_path": str(models / "PP-OCRv6_det_small.onnx"),
                    "Rec.model_path": str(models / "PP-OCRv6_rec_small.onnx"),
                    "Cls.model_path": str(models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
                }
            )
        return self._engine

    def read(self, image: Any, pixels_per_point: float = 150 / 72) -> OcrResult:
        """Text boxes with word boxes of an RGB numpy array or Pillow image, in the levelled page's pixels."""
        return self._read(image, pixels_per_point)[0]

    def _read(self, image: Any, pixels_per_point: float) -> tuple[OcrResult, Any]:
        """The OCR result and the levelled page image it is measured on."""
        import numpy as np
        from PIL import Image

        page = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
        page = page.convert("RGB")
        if self.orient:
            page = self.level(page)
        if self.tesseract is not None and self.tesseract.available:
            found = self.tesseract.read(page, pixels_per_point * 72)
            if found is not None and found.words and found.confidence >= self.MIN_CONFIDENCE:
                found.result.engine = "tesseract"
                return found.result, page
        return self._rapid(page), page

    def level(self, page: Any) -> Any:
        """The page turned so its text lines run level, left to right, the right way up."""
        found = orientation.estimate(page)
        page = orientation.apply(page, found.quarter, found.tilt)
        return orientation.apply(page, 2, 0.0) if self._upside_down(page) else page

    def _upside_down(self, page: Any) -> bool:
        """rapidocr's 0/180 line classifier, voted over pieces of a dozen text lines."""
        import numpy as np

        arr = np.asarray(page)
        crops = [np.ascontiguousarray(arr[y0:y1, x0:x1, ::-1]) for x0, y0, x1, y1 in orientation.line_samples(page)]
        crops = [c for c in crops if c.size]
        if not crops:
            return False
        with self._lock:
            # The classifier alone, in batches (rapidocr 3.10's own loader, as its pipeline uses it):
            # one call instead of a full pipeline call per crop.
            classify = self._get()._load_cls_model()
            out = classify(crops)
        votes = {"0": 0.0, "180": 0.0}
        for label, score in out.cls_res or ():
            if label in votes:
                votes[label] += float(score)
        return votes["180"] > self.FLIP_MARGIN * max(votes["0"], 1e-6)

    def _rapid(self, page: Any) -> OcrResult:
        import numpy as np

        arr = np.asarray(page)
        height, width = arr.shape[:2]
        # rapidocr expects OpenCV's BGR order for arrays.
        arr = np.ascontiguousarray(arr[..., ::-1])
        # A levelled page needs no per-line 0/180 classifier, and it was wrong on some level lines
        # (measured: a whole line read upside down as "o o e os wo"); unlevelled, it is kept.
        with self._lock:
            result = self._get()(arr, use_det=True, use_cls=not self.orient, use_rec=True, return_word_box=True)
        if result.boxes is None or result.txts is None:
            return OcrResult(width, height, [])
        # rapidocr drops a line's entry from word_results when none of its words got a box, which
        # shifts the rest: word boxes are trusted only when there is exactly one entry per line.
        words_per_line = list(result.word_results or ())
        if len(words_per_line) != len(result.txts):
            words_per_line = [None] * len(result.txts)
        lines = []
        for quad, text, score, words in zip(result.boxes, result.txts, result.scores, words_per_line):
            if not text or not text.strip():
                continue
            lines.append(
                OcrTextBox(
                    quad=[(float(p[0]), float(p[1])) for p in quad],
                    text=text.strip(),
                    score=float(score),
                    words=_word_boxes(words),
                )
            )
        return OcrResult(width, height, lines)

    def read_page(self, image: Any, number: int, pixels_per_point: float) -> tuple[str, PageGeometry]:
        """One page image as plain lines (the fast extraction's text) and as positioned words for layout."""
        result, page = self._read(image, pixels_per_point)
        text = lines_to_markdown(group_lines(result.boxes))
        return text, page_geometry(result, number, pixels_per_point, image=page)

    @staticmethod
    def version() -> str:
        return lib_version("rapidocr")


def group_lines(boxes: list[OcrTextBox]) -> list[OcrLine]:
    """Groups detected boxes into visual lines by vertical overlap across the whole page width.

    This is the fast extraction's plain text: a multi-column page comes out interleaved line by
    line; the structured extraction runs layout analysis on the page's geometry instead.
    """
    items = []
    for box in boxes:
        ys = [p[1] for p in box.quad]
        xs = [p[0] for p in box.quad]
        if box.text.strip():
            items.append((min(ys), max(ys), min(xs), box.text.strip(), box.score))
    items.sort(key=lambda it: (it[0] + it[1]) / 2)
    lines: list[list[tuple[float, float, float, str, float]]] = []
    for it in items:
        center = (it[0] + it[1]) / 2
        if lines:
            last = lines[-1]
            top = sum(i[0] for i in last) / len(last)
            bottom = sum(i[1] for i in last) / len(last)
            if top <= center <= bottom:
                last.append(it)
                continue
        lines.append([it])
    out = []
    for line in lines:
        line.sort(key=lambda i: i[2])
        out.append(
            OcrLine(
                text=" ".join(i[3] for i in line),
                top=min(i[0] for i in line),
                bottom=max(i[1] for i in line),
                left=min(i[2] for i in line),
                score=min(i[4] for i in line),
            )
        )
    return out


def lines_to_markdown(lines: list[OcrLine]) -> str:
    """One output line per visual line; a wide vertical gap becomes a paragraph break."""
    parts: list[str] = []
    prev: OcrLine | None = None
    for line in lines:
        if prev is not None:
            height = max(prev.bottom - prev.top, 1.0)
            parts.append("\n\n" if line.top - prev.bottom > 1.2 * height else "\n")
        parts.append(line.text)
        prev = line
    return "".join(parts)


class WhisperEngine:
    """faster-whisper on the verified Whisper base model: int8 on CPU."""

    def __init__(self, models_dir: str | os.PathLike[str] | None) -> None:
        self._models_dir = models_dir
        self._lock = threading.Lock()
        self._model: Any = None
        self.model_dir: Path | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def get(self) -> Any:
        with self._lock:
            if self._model is None:
                self.model_dir = ensure_whisper_model(self._models_dir)
                from faster_whisper import WhisperModel

                self._model = WhisperModel(
                    str(self.model_dir),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=usable_cpus(),
                    local_files_only=True,
                )
            return self._model

    @property
    def lock(self) -> threading.Lock:
        return self._lock


class LocalEngines:
    """The models one process shares between its local providers."""

    def __init__(self, models_dir: str | os.PathLike[str] | None = None) -> None:
        self.models_dir = models_dir
        self.ocr = OcrEngine()
        self.whisper = WhisperEngine(models_dir)
