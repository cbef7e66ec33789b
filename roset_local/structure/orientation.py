"""A scanned page's orientation from its ink: quarter turns and small tilts, and sample text-line crops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Projection profiles are computed on the page shrunk to WORK_SIDE pixels on its long side: 11 pt
# lines at 150 dpi stay ~10 px apart there, enough to separate lines, and the search takes ~0.1 s.
WORK_SIDE = 640
# Tilts searched: a scan is rarely more than a few degrees off; beyond MAX it is not a tilt.
MAX_TILT = 10.0
COARSE_STEP = 1.0
FINE_STEP = 0.25
# Below MIN_TILT a rotation would only blur the image (the layout analysis copes with the rest).
MIN_TILT = 0.3
# A page is turned a quarter only when its lines run clearly more across one axis than the other:
# a sparse page (a few words, a picture) must not be turned on a weak signal.
QUARTER_MARGIN = 1.3
# Unbroken ink runs longer than this share of the long side are rules, not text.
RULE_SHARE = 0.06
# Text-line bands (in the work image) kept as samples for the upside-down check.
MIN_BAND, MAX_BAND = 4, 40
SAMPLES = 12


@dataclass(frozen=True)
class Orientation:
    quarter: int  # clockwise quarter turns that make the lines horizontal: 0 or 1 (1 means 90 degrees)
    tilt: float  # then this many degrees counter-clockwise make them level


def _gray_small(image: Any) -> tuple[Any, float]:
    import cv2
    import numpy as np

    gray = np.asarray(image.convert("L")) if hasattr(image, "convert") else np.asarray(image)
    if gray.ndim == 3:
        gray = cv2.cvtColor(np.ascontiguousarray(gray), cv2.COLOR_RGB2GRAY)
    scale = min(1.0, WORK_SIDE / max(gray.shape))
    if scale < 1.0:
        gray = cv2.resize(gray, (max(1, int(gray.shape[1] * scale)), max(1, int(gray.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    return gray, scale


def _ink(gray: Any) -> Any:
    """Ink pixels (1.0) of the work image, ruling lines taken out: a table's vertical rules would
    otherwise make a column profile as striped as a sideways page's lines."""
    import cv2
    import numpy as np

    _t, binary = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    length = max(8, int(max(binary.shape) * RULE_SHARE))
    for kernel in ((length, 1), (1, length)):
        lines = cv2.morphologyEx(binary, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
        binary = binary & (1 - lines)
    return binary.astype(np.float32)


def _scores(ink: Any, angle: float) -> tuple[float, float]:
    """How strongly the ink forms horizontal lines and vertical lines after turning `angle` degrees."""
    import cv2
    import numpy as np

    h, w = ink.shape
    if angle:
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        ink = cv2.warpAffine(ink, matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    # Text lines alternate dense rows with empty gaps: the row profile's variance peaks when level.
    return float(np.var(ink.mean(axis=1))), float(np.var(ink.mean(axis=0)))


def estimate(image: Any) -> Orientation:
    """The quarter turn and the tilt that level the page's text lines (upside down is not told here)."""
    import numpy as np

    gray, _scale = _gray_small(image)
    ink = _ink(gray)
    if ink.mean() < 1e-4:
        return Orientation(0, 0.0)
    best: dict[int, tuple[float, float]] = {0: (-1.0, 0.0), 1: (-1.0, 0.0)}

    def search(angles: Any) -> None:
        for angle in angles:
            rows, cols = _scores(ink, float(angle))
            for quarter, score in ((0, rows), (1, cols)):
                if score > best[quarter][0]:
                    best[quarter] = (score, float(angle))

    search(np.arange(-MAX_TILT, MAX_TILT + 1e-6, COARSE_STEP))
    quarter = 1 if best[1][0] > QUARTER_MARGIN * best[0][0] else 0
    centre = best[quarter][1]
    fine = np.arange(centre - COARSE_STEP, centre + COARSE_STEP + 1e-6, FINE_STEP)
    best[quarter] = (-1.0, 0.0)
    for angle in fine:
        rows, cols = _scores(ink, float(angle))
        score = cols if quarter else rows
        if score > best[quarter][0]:
            best[quarter] = (score, float(angle))
    tilt = best[quarter][1]
    # Rotations about the centre commute: the tilt that levels the sideways page's columns also
    # levels its lines once it is turned a quarter.
    return Orientation(quarter, tilt if abs(tilt) >= MIN_TILT else 0.0)


def apply(image: Any, quarter_turns: int, tilt: float) -> Any:
    """The page image turned `quarter_turns` x 90 degrees clockwise, then `tilt` degrees counter-clockwise.

    A tilt keeps the image's size (a few degrees move only the margins), so points stay on the page.
    """
    from PIL import Image

    turns = {1: Image.Transpose.ROTATE_270, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_90}
    out = image.transpose(turns[quarter_turns % 4]) if quarter_turns % 4 else image
    if tilt:
        out = out.rotate(tilt, resample=Image.Resampling.BICUBIC, fillcolor="white")
    return out


def line_samples(image: Any) -> list[tuple[int, int, int, int]]:
    """Up to SAMPLES boxes (x0, y0, x1, y1 in image pixels) of text-line pieces about 4 times as wide as tall.

    Found on the level page from the row profile: bands of inked rows as high as a text line, the
    piece starting at the band's first ink. A line classifier tells upside-down text from these.
    """
    import numpy as np

    gray, scale = _gray_small(image)
    ink = _ink(gray)
    rows = ink.mean(axis=1) > 0.01
    bands: list[tuple[int, int]] = []
    start = None
    for y, on in enumerate([*rows.tolist(), False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            if MIN_BAND <= y - start <= MAX_BAND:
                bands.append((start, y))
            start = None
    if len(bands) > SAMPLES:
        picks = np.linspace(0, len(bands) - 1, SAMPLES).round().astype(int)
        bands = [bands[i] for i in sorted(set(picks.tolist()))]
    out = []
    for y0, y1 in bands:
        cols = np.flatnonzero(ink[y0:y1].any(axis=0))
        if cols.size == 0:
            continue
        height = y1 - y0
        x0 = int(cols[0])
        x1 = min(int(cols[-1]) + 1, x0 + 4 * height)
        if x1 - x0 < 2 * height:
            continue
        pad = height // 4
        left, top, right, bottom = (max(0, round(v / scale)) for v in (x0 - pad, y0 - pad, x1 + pad, y1 + pad))
        out.append((left, top, right, bottom))
    return out
