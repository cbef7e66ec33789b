"""OCR output of a page image as a PageGeometry: word boxes in points, the scan's skew taken out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median

from .model import Box, PageGeometry, Word

# Below this skew a rotation would only move boxes by rounding noise.
MIN_SKEW_DEGREES = 0.2
# A skew estimate from boxes rotated more than this is not a scan's tilt (vertical text, stamps).
MAX_SKEW_DEGREES = 15.0


Quad = list[tuple[float, float]]  # four corners in image pixels, clockwise from the top-left


@dataclass
class OcrTextBox:
    """One detected text box (usually a line or part of one) in image pixels."""

    quad: Quad
    text: str
    score: float
    # (word, quad) per word as the recogniser placed them; None when it gave no usable word boxes.
    words: list[tuple[str, Quad]] | None = None


@dataclass
class OcrResult:
    width: int  # image pixels
    height: int
    boxes: list[OcrTextBox]


def page_geometry(result: OcrResult, number: int, pixels_per_point: float) -> PageGeometry:
    """Words of one OCR'd page image, top-left origin, in PDF points (`pixels_per_point` = dpi / 72).

    Word boxes come from the recogniser when it placed every word of a box; otherwise a box is split
    into words in proportion to their character counts. A tilted scan is rotated back around the
    page centre first, so the lines of a column line up again for layout analysis.
    """
    scale = 1.0 / max(pixels_per_point, 1e-6)
    angle = skew_angle(result.boxes)
    centre = (result.width / 2, result.height / 2)
    words: list[Word] = []
    for box in result.boxes:
        for text, quad in _split_words(box):
            if angle:
                quad = [_rotate(p, centre, -angle) for p in quad]
            xs = [p[0] * scale for p in quad]
            ys = [p[1] * scale for p in quad]
            words.append(Word(text=text, box=Box(min(xs), min(ys), max(xs), max(ys))))
    words.sort(key=lambda w: (w.box.y0, w.box.x0))
    return PageGeometry(
        number=number, width=result.width * scale, height=result.height * scale, words=words, ocr=True
    )


def skew_angle(boxes: list[OcrTextBox]) -> float:
    """The page's tilt in radians (positive: text runs downhill to the right), from its line boxes."""
    angles = []
    for box in boxes:
        (x0, y0), (x1, y1) = box.quad[0], box.quad[1]
        width = math.hypot(x1 - x0, y1 - y0)
        height = math.hypot(box.quad[3][0] - x0, box.quad[3][1] - y0)
        if width > 3 * max(height, 1.0):  # short boxes give a noisy angle
            angles.append(math.atan2(y1 - y0, x1 - x0))
    if not angles:
        return 0.0
    angle = median(angles)
    if abs(math.degrees(angle)) < MIN_SKEW_DEGREES or abs(math.degrees(angle)) > MAX_SKEW_DEGREES:
        return 0.0
    return angle


def _rotate(point: tuple[float, float], centre: tuple[float, float], angle: float) -> tuple[float, float]:
    cos, sin = math.cos(angle), math.sin(angle)
    dx, dy = point[0] - centre[0], point[1] - centre[1]
    return (centre[0] + dx * cos - dy * sin, centre[1] + dx * sin + dy * cos)


def _split_words(box: OcrTextBox) -> list[tuple[str, Quad]]:
    """The box's words with their quads: the recogniser's when they spell the box's text, else proportional."""
    tokens = box.text.split()
    if box.words and [t for w, _ in box.words for t in w.split()] == tokens and len(box.words) == len(tokens):
        return [(text, quad) for text, quad in box.words]
    return _proportional(box.quad, box.text)


def _proportional(quad: Quad, text: str) -> list[tuple[str, Quad]]:
    """Splits a text box along its baseline direction by character count (a space counts as one)."""
    tokens = text.split()
    total = len(" ".join(tokens))
    if not tokens or total == 0:
        return []
    (tlx, tly), (trx, try_), (brx, bry), (blx, bly) = quad

    def along(t: float, top: bool) -> tuple[float, float]:
        if top:
            return (tlx + (trx - tlx) * t, tly + (try_ - tly) * t)
        return (blx + (brx - blx) * t, bly + (bry - bly) * t)

    out: list[tuple[str, Quad]] = []
    pos = 0
    for token in tokens:
        a, b = pos / total, (pos + len(token)) / total
        out.append((token, [along(a, True), along(b, True), along(b, False), along(a, False)]))
        pos += len(token) + 1
    return out
