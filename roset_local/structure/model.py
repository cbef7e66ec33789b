"""The document model every structured extractor produces: pages of positioned words in, elements out.

Coordinates are PDF points (1/72 in) with the origin at the page's top-left corner, y growing
downwards, for born-digital PDFs, scans and images alike (an OCR'd image uses pixels scaled to
points at its render resolution). Everything here is plain data so it pickles across the
extraction worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# One list of element types (the `structure` variant, the markdown renderer and chunk mapping use it).
ElementType = Literal[
    "title",  # the document title (rendered as a level-1 heading)
    "heading",  # a section heading; `level` 1-6
    "paragraph",
    "list_item",  # `level` = nesting depth from 1; `ordered` and `marker` say how it was numbered
    "table",  # `table` holds the cells
    "figure",  # a picture; `text` is its caption when one was found
    "caption",
    "code",
    "formula",
    "page_header",  # running header: kept out of the body markdown, kept in the structure/metadata
    "page_footer",  # running footer or page number: idem
    "footnote",
]
ELEMENT_TYPES: tuple[str, ...] = ElementType.__args__  # type: ignore[attr-defined]
FURNITURE_TYPES = frozenset({"page_header", "page_footer"})


@dataclass
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def union(self, other: "Box") -> "Box":
        # What min and max return, without their calls (this runs per word in several passes).
        return Box(
            other.x0 if other.x0 < self.x0 else self.x0, other.y0 if other.y0 < self.y0 else self.y0,
            other.x1 if other.x1 > self.x1 else self.x1, other.y1 if other.y1 > self.y1 else self.y1,
        )

    def contains_center_of(self, other: "Box") -> bool:
        cx, cy = (other.x0 + other.x1) / 2, (other.y0 + other.y1) / 2
        return self.x0 <= cx <= self.x1 and self.y0 <= cy <= self.y1

    def rounded(self) -> list[float]:
        return [round(self.x0, 1), round(self.y0, 1), round(self.x1, 1), round(self.y1, 1)]


@dataclass
class Word:
    """A run of characters without a space, in one font, on one baseline."""

    text: str
    box: Box
    size: float = 0.0  # font size in points (0 when unknown, e.g. OCR)
    bold: bool = False
    italic: bool = False
    font: str = ""
    mono: bool = False


@dataclass
class Rule:
    """A drawn line segment (or a thin filled rectangle) that may rule a table."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def horizontal(self) -> bool:
        return abs(self.y1 - self.y0) <= abs(self.x1 - self.x0)


@dataclass
class PageGeometry:
    """What layout analysis gets to see of one page."""

    number: int  # 1-based
    width: float
    height: float
    words: list[Word] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    rects: list[Box] = field(default_factory=list)  # filled/stroked rectangles larger than a rule
    images: list[Box] = field(default_factory=list)
    ocr: bool = False
    ocr_engine: str = ""  # which OCR engine read the page (tesseract or rapidocr), when `ocr`


@dataclass
class Cell:
    row: int
    col: int
    text: str
    rowspan: int = 1
    colspan: int = 1
    box: Box | None = None
    header: bool = False


@dataclass
class Table:
    n_rows: int
    n_cols: int
    cells: list[Cell] = field(default_factory=list)
    box: Box | None = None
    ruled: bool = True  # found from ruling lines (False: from text alignment)

    @property
    def spans(self) -> bool:
        return any(c.rowspan > 1 or c.colspan > 1 for c in self.cells)


@dataclass
class Element:
    type: str  # one of ELEMENT_TYPES
    text: str = ""
    page: int | None = None
    box: Box | None = None
    level: int | None = None  # heading level, list nesting depth
    ordered: bool = False
    marker: str | None = None
    table: Table | None = None
    # Character range of this element in the document's markdown, set by the renderer
    # (None for furniture, which is not in the markdown).
    span: tuple[int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "text": self.text, "page": self.page}
        out["bbox"] = self.box.rounded() if self.box else None
        if self.level is not None:
            out["level"] = self.level
        if self.type == "list_item":
            out["ordered"] = self.ordered
            if self.marker:
                out["marker"] = self.marker
        if self.table is not None:
            out["table"] = {
                "rows": self.table.n_rows,
                "cols": self.table.n_cols,
                "ruled": self.table.ruled,
                "cells": [
                    {
                        "row": c.row, "col": c.col, "rowspan": c.rowspan, "colspan": c.colspan,
                        "text": c.text, "header": c.header, "bbox": c.box.rounded() if c.box else None,
                    }
                    for c in self.table.cells
                ],
            }
        if self.span is not None:
            out["span"] = list(self.span)
        return out
