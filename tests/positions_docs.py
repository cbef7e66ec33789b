"""A generated multi-page PDF whose words' positions are known (fpdf2), for the positions tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PAGE_W, PAGE_H = 612.0, 792.0
MARGIN = 72.0
LINE = 16.0
SIZE = 11

FILLER = [
    "This section records routine observations made during the yearly walk through the site.",
    "Staff noted the state of doors, lights, signage and the general tidiness of each hall.",
    "Nothing in these notes needs action; they are kept so later years can be compared.",
    "Each observation was checked against the previous year and signed by the shift lead.",
]

# (page, y of the line's top, sentence, the word whose position the tests check)
TARGETS = [
    (1, 330.0, "The hydraulic pumps were serviced in March and their filters replaced.", "hydraulic"),
    (2, 420.0, "Zirconium bearings in the turbine require quarterly inspection by an engineer.", "Zirconium"),
    (3, 610.0, "The warehouse in Rotterdam stores spare propellers for the whole fleet.", "propellers"),
]


@dataclass
class PlacedWord:
    page: int
    text: str
    box: tuple[float, float, float, float]  # points, origin top-left

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


@dataclass
class PositionsDoc:
    path: Path
    words: dict[str, PlacedWord] = field(default_factory=dict)
    pages: int = 3


def make_pdf(path: Path) -> PositionsDoc:
    """Three Letter pages: a heading, filler paragraphs, and one target sentence per page at a known place."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=(PAGE_W, PAGE_H))
    pdf.set_auto_page_break(False)
    doc = PositionsDoc(path=path)
    for number in (1, 2, 3):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 18)
        pdf.set_xy(MARGIN, MARGIN)
        pdf.cell(text=f"Section {number}: site maintenance")
        pdf.set_font("Helvetica", "", SIZE)
        y = MARGIN + 50
        for line in FILLER:
            pdf.set_xy(MARGIN, y)
            pdf.cell(h=LINE, text=line)
            y += LINE
        for page, top, sentence, word in TARGETS:
            if page != number:
                continue
            pdf.set_xy(MARGIN, top)
            pdf.cell(h=LINE, text=sentence)
            x0 = MARGIN + pdf.c_margin + pdf.get_string_width(sentence[: sentence.index(word)])
            x1 = x0 + pdf.get_string_width(word)
            doc.words[word] = PlacedWord(page, word, (x0, top + 2, x1, top + LINE - 2))
            pdf.set_xy(MARGIN, top + 2 * LINE)
            pdf.cell(h=LINE, text=FILLER[number % len(FILLER)])
    pdf.output(str(path))
    return doc


def contains(bbox: list[float], point: tuple[float, float], slack: float = 2.0) -> bool:
    x, y = point
    return bbox[0] - slack <= x <= bbox[2] + slack and bbox[1] - slack <= y <= bbox[3] + slack
