"""OCR output of a page image as a PageGeometry: word boxes in points, the scan's skew taken out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median
from typing import Any

from .model import Box, PageGeometry, Rule, Word

# Skew: below MIN a rotation would only move boxes by rounding noise; above MAX the boxes are not
# a scan's tilt (vertical text, stamps).
MIN_SKEW_DEGREES = 0.2
MAX_SKEW_DEGREES = 15.0

# Font size and weight, measured from each line's ink (rendered Helvetica, 9-22 pt, 150 and 200
# dpi): rows inked at least X_BAND_INK of the densest row form the x-height band (the cap height on
# lines without lowercase); a median stem wider than BOLD_STROKE of the size is bold (regular
# 0.09-0.12, bold 0.14-0.16). Sizes within SNAP of the page's body size are snapped to it
# (SNAP_SHORT for lines shorter than SHORT_LINE characters).
X_BAND_INK = 0.45
X_HEIGHT = 0.53
CAP_HEIGHT = 0.70
BOLD_STROKE = 0.135
SNAP = 0.12
SNAP_SHORT = 0.45
SHORT_LINE = 12
# Without the image: a box's height over the font size, by whether its line has ascenders or
# capitals and whether it has descenders (the detector's box spans the glyphs plus a margin).
HEIGHT_PER_SIZE = {(True, True): 1.35, (True, False): 1.15, (False, True): 1.15, (False, False): 1.05}
_ASCENDERS = frozenset("bdfhklt0123456789()[]{}/|!?%&$#@ß")
_DESCENDERS = frozenset("gjpqy,;()[]{}|")

# Ruling lines drawn on a scan: ink runs at least RULE_MIN_H/V points long (longer than any glyph
# stroke: a display font's stems reach ~25 pt) and at most RULE_THICK thick.
RULE_MIN_H = 40.0
RULE_MIN_V = 30.0
RULE_THICK = 4.0
INK = 160  # gray level below which a pixel is ink


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
    engine: str = "rapidocr"  # which engine read the page: rapidocr or tesseract


def page_geometry(
    result: OcrResult, number: int, pixels_per_point: float, image: Any = None, deskew: bool = True
) -> PageGeometry:
    """Words of one OCR'd page image, top-left origin, in PDF points (`pixels_per_point` = dpi / 72).

    Word boxes come from the recogniser when it placed every word of a box; otherwise a box is split
    into words in proportion to their character counts. A tilted scan is rotated back around the
    page centre first, so the lines of a column line up again for layout analysis. With the page
    `image` (Pillow or array), each line's font size comes from its x-height and its weight from
    its stroke width; without it, from the box height.
    """
    scale = 1.0 / max(pixels_per_point, 1e-6)
    angle = skew_angle(result.boxes) if deskew else 0.0
    centre = (result.width / 2, result.height / 2)
    gray = _gray(image, angle) if image is not None else None
    quads = [[_rotate(p, centre, -angle) for p in box.quad] if angle else box.quad for box in result.boxes]
    measured = [_measure(gray, q, box.text) if gray is not None else None for q, box in zip(quads, result.boxes)]
    styles = _styles(result.boxes, measured)
    words: list[Word] = []
    for box, (size, bold) in zip(result.boxes, styles):
        for text, quad in _split_words(box):
            if angle:
                quad = [_rotate(p, centre, -angle) for p in quad]
            xs = [p[0] * scale for p in quad]
            ys = [p[1] * scale for p in quad]
            box_pt = Box(min(xs), min(ys), max(xs), max(ys))
            words.append(Word(text=text, box=box_pt, size=size * scale, bold=bold))
    words.sort(key=lambda w: (w.box.y0, w.box.x0))
    rules = image_rules(gray, pixels_per_point) if gray is not None else []
    return PageGeometry(
        number=number,
        width=result.width * scale,
        height=result.height * scale,
        words=words,
        rules=rules,
        ocr=True,
        ocr_engine=result.engine,
    )


def image_rules(gray: Any, pixels_per_point: float) -> list[Rule]:
    """Horizontal and vertical ruling lines drawn on the page image, in points (for ruled tables).

    A morphological opening with a long thin kernel keeps only ink runs longer than any glyph.
    """
    import cv2
    import numpy as np

    ink = (gray < INK).astype(np.uint8)
    thick = RULE_THICK * pixels_per_point
    out: list[Rule] = []
    for horizontal, min_len in ((True, RULE_MIN_H), (False, RULE_MIN_V)):
        length = max(int(min_len * pixels_per_point), 3)
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1) if horizontal else (1, length))
        mask = cv2.morphologyEx(ink, cv2.MORPH_OPEN, kernel)
        count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for x, y, w, h, _area in stats[1:count]:
            across = h if horizontal else w
            if across > thick:
                continue  # a filled area (a picture, a black margin), not a line
            if horizontal:
                mid = (y + h / 2) / pixels_per_point
                out.append(Rule(x / pixels_per_point, mid, (x + w) / pixels_per_point, mid))
            else:
                mid = (x + w / 2) / pixels_per_point
                out.append(Rule(mid, y / pixels_per_point, mid, (y + h) / pixels_per_point))
    return out


def _styles(boxes: list[OcrTextBox], measured: list[tuple[float, float] | None]) -> list[tuple[float, bool]]:
    """(size in pixels, bold) per box, sizes near the body size snapped to it.

    One line's estimate is off by up to ~10% (a few pixels of x-height), and layout analysis reads
    a 10% larger line as a heading: sizes within SNAP of the page's body size are the body size
    (within SNAP_SHORT for lines too short to measure well). Bold is decided after snapping.
    """
    sizes = [m[0] if m else font_size(b) for b, m in zip(boxes, measured)]
    weighted = sorted((size, len(b.text)) for size, b in zip(sizes, boxes) if len(b.text) >= SHORT_LINE)
    if not weighted:
        weighted = sorted((size, len(b.text)) for size, b in zip(sizes, boxes))
    body = 0.0
    half, seen = sum(n for _, n in weighted) / 2, 0
    for size, n in weighted:
        seen += n
        if seen >= half:
            body = size
            break
    out = []
    for size, box, m in zip(sizes, boxes, measured):
        tol = SNAP if len(box.text) >= SHORT_LINE else SNAP_SHORT
        if body and abs(size - body) <= tol * body:
            size = body
        out.append((size, bool(m and m[1] / max(size, 1e-6) >= BOLD_STROKE)))
    return out


def _gray(image: Any, angle: float) -> Any:
    """The page as a grayscale array, rotated like the boxes when the scan is tilted."""
    import numpy as np
    from PIL import Image

    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    pil = pil.convert("L")
    if angle:
        # Pillow turns counter-clockwise on screen for a positive angle: the inverse of the tilt.
        pil = pil.rotate(math.degrees(angle), resample=Image.Resampling.BILINEAR, fillcolor=255)
    return np.asarray(pil)


def _measure(gray: Any, quad: Quad, text: str) -> tuple[float, float] | None:
    """(font size, stroke width) in pixels of one line from its ink: the x-height band and its stems."""
    import numpy as np

    xs = [p[0] for p in quad]
    ys = [p[1] for p in quad]
    x0, y0 = max(int(min(xs)), 0), max(int(min(ys)), 0)
    x1, y1 = min(int(max(xs)) + 1, gray.shape[1]), min(int(max(ys)) + 1, gray.shape[0])
    crop = gray[y0:y1, x0:x1]
    if crop.shape[0] < 6 or crop.shape[1] < 6:
        return None
    lo, hi = np.percentile(crop, 2), np.percentile(crop, 98)
    if hi - lo < 40:  # too faint to measure
        return None
    ink = crop < (lo + hi) / 2
    profile = ink.sum(axis=1)
    dense = profile >= X_BAND_INK * profile.max()
    band = run = 0
    for row in dense:
        run = run + 1 if row else 0
        band = max(band, run)
    if band < 3:
        return None
    lower = any(c.islower() for c in text)
    size = band / (X_HEIGHT if lower else CAP_HEIGHT)
    # Horizontal ink runs across the x-height band: stems, mostly, as wide as the stroke.
    padded = np.pad(ink[dense].astype(np.int8), ((0, 0), (1, 1)))
    edges = np.diff(padded, axis=1)
    runs = np.flatnonzero(edges.ravel() == -1) - np.flatnonzero(edges.ravel() == 1)
    if runs.size == 0:
        return None
    return size, float(np.median(runs))


def font_size(box: OcrTextBox) -> float:
    """The font size of a text box's line in pixels, from its height and which glyph heights it holds.

    Box heights alone make a line without descenders look smaller than the one above it, which
    splits paragraphs and hides headings; layout analysis compares sizes, so they are estimated.
    """
    (x0, y0), _, _, (x3, y3) = box.quad
    height = math.hypot(x3 - x0, y3 - y0)  # the left edge: the line's height at any tilt
    tall = any(c.isupper() or c in _ASCENDERS for c in box.text)
    low = any(c in _DESCENDERS for c in box.text)
    return height / HEIGHT_PER_SIZE[(tall, low)]


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
