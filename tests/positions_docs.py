"""A generated multi-page PDF whose words' positions are known (fpdf2), for the positions tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PAGE_W, PAGE_H = 612.0, 792.0
MARGIN = 72.0
LINE = 16.0
SIZE = 11

HEADINGS = ["Pump room inspection", "Turbine hall checks", "Warehouse and stores"]
# Different prose on every page: text repeated at the same place on each page is running furniture.
FILLER = {
    1: ["The pump room was visited on a dry morning with both doors propped open for air.",
        "Pipework along the north wall showed light surface rust near the drain valves.",
        "Lighting over the control panel flickered and a new tube has been ordered.",
        "Floor markings around the sump were repainted during the same afternoon."],
    2: ["Noise levels in the turbine hall stayed within the limits set by the permit.",
        "Two guard rails near the gallery stairs were loose and have been tightened.",
        "The overhead crane passed its load test with a certificate valid for a year.",
        "Ventilation louvres on the east side were cleaned of a season of dust."],
    3: ["Racking in the main aisle carries a fresh label on every bay and shelf.",
        "The forklift charger was moved away from the packaging to reduce fire risk.",
        "Stock counts matched the ledger apart from a box of spare gaskets.",
        "Damp patches under the roof light were reported to the building owner."],
}
AFTER = {1: "The sump pump alarm was tested and sounded within two seconds.",
         2: "Oil samples from the gearbox were sent to the laboratory for analysis.",
         3: "Pallets stacked by the loading door were moved to clear the fire exit."}

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
        pdf.cell(text=HEADINGS[number - 1])
        pdf.set_font("Helvetica", "", SIZE)
        y = MARGIN + 50
        for line in FILLER[number]:
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
            pdf.cell(h=LINE, text=AFTER[number])
    pdf.output(str(path))
    return doc


def contains(bbox: list[float], point: tuple[float, float], slack: float = 2.0) -> bool:
    x, y = point
    return bbox[0] - slack <= x <= bbox[2] + slack and bbox[1] - slack <= y <= bbox[3] + slack
