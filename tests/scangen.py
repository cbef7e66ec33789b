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


def _a4() -> Any:
    """An fpdf2 document with one A4 page, sized in points, no automatic page breaks."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    return pdf


def two_column_pdf(path: Path, justify: bool = False, table: bool = False) -> TwoColumnPage:
    """An A4 page: a title across the top, then two columns, each with a bold heading and 3 paragraphs.

    With `table`, a ruled 3x4 table (every cell bordered) follows across the page below the columns.
    """
    pdf = _a4()
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



# -- the OCR benchmark's scan set: known text, clean, noisy and rotated -----------------------------
REPORT_TITLE = "Annual Report of the Water Board"
REPORT = [
    "In 2024 the board maintained 1,284 kilometres of pipes and replaced 37 kilometres of the oldest "
    "cast-iron mains. Leakage fell from 18.5% to 14.2% of the water supplied, the lowest figure since "
    "records began in 1962.",
    "Customers reported 412 interruptions lasting longer than four hours, most of them during the "
    "storms of January and February. The average repair took 6 hours and 20 minutes, against a target "
    "of eight hours set by the regulator.",
    "Two reservoirs were inspected by independent engineers. Both dams were found to be in good "
    "condition, although the spillway at Lower Fernbrook needs new concrete before the winter of 2026.",
    "The laboratory tested 58,310 samples taken from taps, treatment works and service reservoirs. "
    "Only nine samples failed a standard, and in each case the cause was traced to household plumbing "
    "rather than to the public supply.",
    "Spending on maintenance rose by 7 per cent to 96.4 million pounds. The board expects to keep "
    "charges unchanged next year while it finishes the metering programme in the eastern districts.",
]
LETTER = [
    "Dear Ms Okafor,",
    "Thank you for your letter of 14 March about the delivery of order number 55-8172. We are sorry "
    "that the parcel arrived late and that two of the items were damaged on the way.",
    "We have arranged for a replacement desk lamp and a new set of shelf brackets to be sent by "
    "courier on Thursday. You do not need to return the damaged goods; please recycle them locally.",
    "A refund of 23.90 for the delivery charge has been paid back to the card you used. It should "
    "appear on your statement within five working days.",
    "If anything else goes wrong with this order, call our customer team on 0161 496 0732 between "
    "9am and 5pm, Monday to Friday, and quote the reference below.",
    "Yours sincerely,",
    "Daniel Hughes, Customer Services Manager",
]


def report_pdf(path: Path) -> Path:
    """An A4 page of justified body text in a serif face with a bold title (a typical report page)."""
    pdf = _a4()
    pdf.set_font("Times", "B", 18)
    pdf.set_xy(60, 70)
    pdf.cell(470, 26, REPORT_TITLE)
    pdf.set_xy(60, 120)
    pdf.set_font("Times", "", 11)
    for text in REPORT:
        pdf.set_x(60)
        pdf.multi_cell(475, 15, text, align="J")
        pdf.ln(9)
    pdf.output(str(path))
    return path


def letter_pdf(path: Path) -> Path:
    """An A4 business letter in 10 pt Helvetica: short lines, numbers and names."""
    pdf = _a4()
    pdf.set_font("Helvetica", "", 10)
    for i, line in enumerate(["Northgate Supplies Ltd", "12 Mill Lane, Leeds LS2 7QT", "Reference NS-2291"]):
        pdf.set_xy(360, 60 + i * 14)
        pdf.cell(180, 14, line)
    pdf.set_xy(60, 150)
    for text in LETTER:
        pdf.set_x(60)
        pdf.multi_cell(470, 14, text)
        pdf.ln(8)
    pdf.output(str(path))
    return path


@dataclass
class ScanPage:
    category: str  # clean, noisy or rotated
    name: str
    image: Any  # RGB Pillow image
    dpi: int
    truth: str  # the born-digital page's text


def pdf_text(pdf_path: Path, index: int = 0) -> str:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf_path))
    try:
        return str(doc[index].get_textpage().get_text_bounded())
    finally:
        doc.close()


def noisy(image: Any, seed: int) -> Any:
    """A poor scan: slightly out of focus, speckled, and saved as a low-quality JPEG."""
    from PIL import ImageFilter

    return jpeg_roundtrip(degrade(image.filter(ImageFilter.GaussianBlur(0.7)), noise=28.0, seed=seed), quality=35)


def scan_set(workdir: Path, dpi: int = 150) -> list[ScanPage]:
    """Three born-digital pages scanned clean, noisy, and rotated (90, 180, 270 degrees and a few degrees).

    Deterministic (fixed noise seeds); the truth is each page's text layer.
    """
    from PIL import Image

    sources = [
        ("two-column", two_column_pdf(workdir / "two-column.pdf", table=True).path, 90, 3.0),
        ("report", report_pdf(workdir / "report.pdf"), 180, -2.0),
        ("letter", letter_pdf(workdir / "letter.pdf"), 270, 1.5),
    ]
    turns = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
    pages = []
    for seed, (name, path, quarter, tilt) in enumerate(sources):
        truth = pdf_text(path)
        clean = render_page(path, dpi)
        pages.append(ScanPage("clean", name, clean, dpi, truth))
        pages.append(ScanPage("noisy", name, noisy(clean, seed), dpi, truth))
        pages.append(ScanPage("rotated", f"{name} {quarter}", clean.transpose(turns[quarter]), dpi, truth))
        pages.append(ScanPage("rotated", f"{name} {tilt:+.1f}", degrade(clean, rotate=tilt), dpi, truth))
    return pages
