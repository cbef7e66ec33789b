"""Page furniture: running headers, footers and page numbers, found by repetition across pages and position."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Callable

from .lines import Line
from .model import PageGeometry

BAND = 0.2  # top and bottom share of the page where running headers and footers may live
EDGE_LINES = 3  # lines considered at each edge of a page

_PAGE_NUMBER = re.compile(
    r"^(?:page|p\.|seite|página|pagina)?\s*(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:of|/|von|de|di)\s*\d{1,4})?$"
    r"|^[-–—]\s*\d{1,4}\s*[-–—]$|^\d{1,3}[-–.]\d{1,4}$",
    re.IGNORECASE,
)


def _key(text: str) -> str:
    """Text with digits and spacing normalised, so "Page 3 of 9" on every page looks the same."""
    return re.sub(r"\s+", " ", re.sub(r"\d+", "#", text.lower())).strip()


def _edges(page: PageGeometry, lines: list[Line]) -> list[tuple[Line, str]]:
    """Lines at the top and bottom edges set apart from the body by a gap at least a line high."""
    if not lines:
        return []
    by_y = sorted(lines, key=lambda ln: ln.box.y0)
    out: list[tuple[Line, str]] = []
    top = _cut(by_y, lambda ln: ln.box.y1 <= page.height * BAND)
    out.extend((ln, "page_header") for ln in top)
    flipped = sorted(lines, key=lambda ln: -ln.box.y1)
    bottom = _cut(flipped, lambda ln: ln.box.y0 >= page.height * (1 - BAND), flip=True)
    out.extend((ln, "page_footer") for ln in bottom if all(ln is not t for t in top))
    return out


def _cut(ordered: list[Line], in_band: Callable[[Line], bool], flip: bool = False) -> list[Line]:
    """The edge lines before the first wide gap (lines sharing a row count as one)."""
    group: list[Line] = []
    for k, ln in enumerate(ordered[: EDGE_LINES + 1]):
        if not in_band(ln):
            return []
        group.append(ln)
        rest = ordered[k + 1:]
        if not rest:
            return []  # nothing but edge lines on the page: no body to stand apart from
        nxt = rest[0]
        gap = (ln.box.y0 - nxt.box.y1) if flip else (nxt.box.y0 - ln.box.y1)
        edge_gap = min(ln.box.height, nxt.box.height)
        if gap >= edge_gap:
            return group
        if gap > -0.5 * edge_gap and k >= EDGE_LINES - 1:
            return []
    return []


def find_furniture(pages: list[PageGeometry], page_lines: list[list[Line]], body: float) -> dict[int, dict[int, str]]:
    """For each page number, `id(line)` -> "page_header" or "page_footer".

    A line at a page's edge is furniture when the same text (digits aside) sits at the same edge of
    other pages, when it is a lone page number, or when it is a small-print line set apart at the top.
    """
    candidates: list[list[tuple[Line, str]]] = []
    counts: dict[tuple[str, str], set[int]] = defaultdict(set)
    for page, lines in zip(pages, page_lines):
        edge = _edges(page, lines)
        for ln, kind in edge:
            counts[(kind, _key(ln.text))].add(page.number)
        candidates.append(edge)
    n_pages = len(pages)
    need = 2  # edge lines set apart by a gap: two pages agreeing is evidence enough
    out: dict[int, dict[int, str]] = {}
    for page, edge in zip(pages, candidates):
        marks: dict[int, str] = {}
        for ln, kind in edge:
            text = ln.text.strip()
            repeated = n_pages > 1 and len(counts[(kind, _key(text))]) >= need and len(text) < 200
            number = _PAGE_NUMBER.match(text) is not None
            small_top = kind == "page_header" and ln.size < 0.95 * body and len(text) < 150
            if repeated or number or small_top:
                marks[id(ln)] = kind
        if marks:
            out[page.number] = marks
    return out
