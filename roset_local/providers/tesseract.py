"""Debian's tesseract (the `tesseract` binary, English data) as a fast OCR pass: words, boxes, confidence."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from roset_local.structure.ocr import OcrResult, OcrTextBox, Quad

log = logging.getLogger(__name__)

LANGUAGE = "eng"  # the Debian package tesseract-ocr-eng; other scripts go to rapidocr
TIMEOUT_SECONDS = 120.0


@dataclass
class TesseractPage:
    result: OcrResult
    confidence: float  # mean word confidence, 0-100, weighted by word length; 0 when nothing was read
    words: int


def _quad(left: float, top: float, width: float, height: float) -> Quad:
    return [(left, top), (left + width, top), (left + width, top + height), (left, top + height)]


def parse_tsv(tsv: str, width: int, height: int) -> TesseractPage:
    """tesseract's TSV as one text box per line, each with its words' boxes."""
    lines: dict[tuple[int, int, int, int], list[tuple[str, float, Quad, tuple[int, int, int, int]]]] = {}
    weighted = chars = 0.0
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) != 12 or cols[0] != "5" or not cols[11].strip():
            continue
        try:
            key = (int(cols[2]), int(cols[3]), int(cols[4]), int(cols[1]))
            left, top, w, h = (int(v) for v in cols[6:10])
            conf = float(cols[10])
        except ValueError:
            continue
        text = cols[11].strip()
        lines.setdefault(key, []).append((text, conf, _quad(left, top, w, h), (left, top, left + w, top + h)))
        weighted += max(conf, 0.0) * len(text)
        chars += len(text)
    boxes = []
    for words in lines.values():
        x0 = min(b[0] for *_, b in words)
        y0 = min(b[1] for *_, b in words)
        x1 = max(b[2] for *_, b in words)
        y1 = max(b[3] for *_, b in words)
        boxes.append(
            OcrTextBox(
                quad=_quad(x0, y0, x1 - x0, y1 - y0),
                text=" ".join(t for t, *_ in words),
                score=sum(max(c, 0.0) for _, c, *_ in words) / len(words) / 100.0,
                words=[(t, q) for t, _c, q, _b in words],
            )
        )
    count = sum(len(w) for w in lines.values())
    return TesseractPage(OcrResult(width, height, boxes), weighted / chars if chars else 0.0, count)


def _child_env() -> dict[str, str]:
    """The environment for the binary: one thread, and the system's libraries when we run frozen."""
    # One thread: the extraction pool already runs a worker per core, and tesseract's OpenMP
    # threads spin against each other on a busy machine (measured: 2-3x slower under load).
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    if getattr(sys, "frozen", False):
        # The one-file build points LD_LIBRARY_PATH at its bundled libraries (its own libstdc++,
        # libpng, ...): the system binary must load the system's.
        original = env.pop("LD_LIBRARY_PATH_ORIG", None)
        if original is not None:
            env["LD_LIBRARY_PATH"] = original
        else:
            env.pop("LD_LIBRARY_PATH", None)
    return env


class Tesseract:
    """The tesseract binary on PATH, called once per page; `available` is False when it is missing."""

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("tesseract")
        self._warned = False

    @property
    def available(self) -> bool:
        if self.binary is None and not self._warned:
            self._warned = True
            log.warning("tesseract is not installed (apt install tesseract-ocr tesseract-ocr-eng): OCR uses rapidocr only")
        return self.binary is not None

    def read(self, image: Any, dpi: float) -> TesseractPage | None:
        """The page's words, or None when tesseract failed (the caller falls back to rapidocr)."""
        import io

        gray = image.convert("L")
        buf = io.BytesIO()
        gray.save(buf, format="PPM")  # PGM: no compression to spend time on
        cmd = [str(self.binary), "stdin", "stdout", "--psm", "3", "--dpi", str(round(dpi)), "-l", LANGUAGE, "tsv"]
        try:
            proc = subprocess.run(
                cmd, input=buf.getvalue(), capture_output=True, timeout=TIMEOUT_SECONDS, env=_child_env(), check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("tesseract failed (%s): using rapidocr for this page", exc)
            return None
        if proc.returncode != 0:
            log.warning("tesseract exited %s: %s", proc.returncode, proc.stderr.decode(errors="replace")[-300:])
            return None
        return parse_tsv(proc.stdout.decode(errors="replace"), gray.width, gray.height)
