"""Generated scans with known text: a two-column page drawn with fpdf2, rendered, degraded, re-wrapped."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TITLE = "Coastal and Mountain Trade"
LEFT_HEADING = "Harbour Records"
RIGHT_HEADING = "Mountain Roads"
LEFT = [
    "The harbour master recorded every ship that entered the bay during the long winter, noting its "
    "cargo, its crew and the weather on the day it arrived.",
    "Fishermen waited for calm weather before they set out with their nets at dawn, and most boats "
    "returned before the evening tide turned against them.",
    "Salt and timber were the main goods carried along the northern coast that year, while copper "
    "came only twice from the southern mines.",
]
RIGHT = [
    "Mountain villages traded cheese and wool for grain brought up from the valley by mule trains "
    "that crossed the river at the old stone bridge.",
    "A narrow road climbed through the pass and was closed by snow for three months, so the shepherds "
    "stored hay in barns beside their summer huts.",
    "Travellers rested at the inn below the glacier, where the keeper served soup, fresh bread and "
    "strong tea to anyone who arrived before dark.",
]


TABLE = [
    ["Port", "Ships", "Cargo"],
    ["Northhaven", "42", "timber"],
    ["Saltmere", "17", "salt"],
    ["Copperby", "2", "copper"],
]


@dataclass
class TwoColumnPage:
    path: Path  # the born-digital PDF the scans are rendered from
    title: str
    left_heading: str
    right_heading: str
    left: list[str]
    right: list[str]
    table: list[list[str]] | None = None  # a ruled table across the page below the columns

    @property
    def reading_order(self) -> str:
        """The page's text in reading order: title, left column top to bottom, then the right one."""
        return " ".join([self.title, self.left_heading, *self.left, self.right_heading, *self.right])


def two_column_pdf(path: Path, justify: bool = False, table: bool = False) -> TwoColumnPage:
    """An A4 page: a title across the top, then two columns, each with a bold heading and 3 paragraphs.

    With `table`, a ruled 3x4 table (every cell bordered) follows across the page below the columns.
    """
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 22)
    pdf.set_xy(56, 60)
    pdf.cell(480, 30, TITLE)
    for x, heading, paragraphs in ((56, LEFT_HEADING, LEFT), (316, RIGHT_HEADING, RIGHT)):
        pdf.set_xy(x, 120)
        pdf.set_font("Helvetica", "B", 15)
        pdf.cell(220, 22, heading)
        pdf.set_xy(x, 150)
        pdf.set_font("Helvetica", "", 11)
        for text in paragraphs:
            pdf.set_x(x)
            pdf.multi_cell(222, 15, text, align="J" if justify else "L")
            pdf.ln(10)
    if table:
        pdf.set_font("Helvetica", "", 11)
        for r, row in enumerate(TABLE):
            for c, text in enumerate(row):
                pdf.set_xy(56 + c * 160, 420 + r * 24)
                pdf.cell(160, 24, text, border=1)
    pdf.output(str(path))
    return TwoColumnPage(path, TITLE, LEFT_HEADING, RIGHT_HEADING, LEFT, RIGHT, TABLE if table else None)


def render_page(pdf_path: Path, dpi: int, index: int = 0) -> Any:
    """One PDF page as an RGB Pillow image at `dpi` (what a scanner would give for a printed page)."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf_path))
    try:
        return doc[index].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        doc.close()


def degrade(image: Any, rotate: float = 0.0, noise: float = 0.0, seed: int = 7) -> Any:
    """A worse scan: tilted by `rotate` degrees, speckled with gaussian noise of `noise` (0-255 sigma)."""
    import numpy as np
    from PIL import Image

    out = image.rotate(rotate, resample=Image.BICUBIC, expand=True, fillcolor="white") if rotate else image
    if noise:
        rng = np.random.default_rng(seed)
        arr = np.asarray(out.convert("L"), dtype=np.float32)
        arr = arr + rng.normal(0.0, noise, arr.shape)
        out = Image.fromarray(np.clip(arr, 0, 255).astype("uint8")).convert("RGB")
    return out


def jpeg_roundtrip(image: Any, quality: int = 60) -> Any:
    from PIL import Image

    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def image_pdf(image: Any, path: Path, dpi: int) -> Path:
    """The image wrapped as an image-only PDF page (no text layer), as a scanner's PDF output is."""
    image.save(str(path), "PDF", resolution=float(dpi))
    return path

