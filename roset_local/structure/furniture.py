"""Page furniture: running headers, footers and page numbers, found by repetition across pages and position."""

from __future__ import annotations

import re
from collections import defaultdict

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


def _edges(page: PageGeometry, lines: list[Line]) -> list[tuple[Line, str, bool]]:
    """Lines at the top and bottom edges: (line, kind, set apart from the rest by a gap)."""
    if not lines:
        return []
    by_y = sorted(lines, key=lambda ln: ln.box.y0)
    out: list[tuple[Line, str, bool]] = []
    top = [ln for ln in by_y[:EDGE_LINES] if ln.box.y1 <= page.height * BAND]
    bottom = [ln for ln in by_y[-EDGE_LINES:] if ln.box.y0 >= page.height * (1 - BAND) and ln not in top]
    for group, kind in ((top, "page_header"), (bottom, "page_footer")):
        for ln in group:
            out.append((ln, kind, _apart(ln, by_y, kind == "page_header")))
    return out


def _apart(ln: Line, by_y: list[Line], header: bool) -> bool:
    """Nothing but furniture lies beyond the line, and a gap wider than a line separates it from the body."""
    if header:
        beyond = [o for o in by_y if o.box.y1 <= ln.box.y0]
        rest = [o for o in by_y if o.box.y0 >= ln.box.y1 - 0.5 * ln.box.height and o is not ln]
        gap = min((o.box.y0 - ln.box.y1 for o in rest if o.box.y0 >= ln.box.y1 - 1), default=1e9)
    else:
        beyond = [o for o in by_y if o.box.y0 >= ln.box.y1]
        rest = [o for o in by_y if o.box.y1 <= ln.box.y0 + 0.5 * ln.box.height and o is not ln]
        gap = min((ln.box.y0 - o.box.y1 for o in rest if o.box.y1 <= ln.box.y0 + 1), default=1e9)
    return not beyond and gap >= 1.0 * ln.box.height


def find_furniture(pages: list[PageGeometry], page_lines: list[list[Line]], body: float) -> dict[int, dict[int, str]]:
    """For each page number, `id(line)` -> "page_header" or "page_footer".

    A line at a page's edge is furniture when the same text (digits aside) sits at the same edge of
    other pages, when it is a lone page number, or when it is a small-print line set apart at the top.
    """
    candidates: list[list[tuple[Line, str, bool]]] = []
    counts: dict[tuple[str, str], set[int]] = defaultdict(set)
    for page, lines in zip(pages, page_lines):
        edge = _edges(page, lines)
        for ln, kind, _ in edge:
            counts[(kind, _key(ln.text))].add(page.number)
        candidates.append(edge)
    n_pages = len(pages)
    need = 2 if n_pages <= 6 else max(2, int(0.25 * n_pages))
    out: dict[int, dict[int, str]] = {}
    for page, edge in zip(pages, candidates):
        marks: dict[int, str] = {}
        for ln, kind, apart in edge:
            text = ln.text.strip()
            repeated = n_pages > 1 and len(counts[(kind, _key(text))]) >= need and len(text) < 200
            number = apart and _PAGE_NUMBER.match(text) is not None
            small_top = kind == "page_header" and apart and ln.size < 0.95 * body and len(text) < 150
            if repeated or number or small_top:
                marks[id(ln)] = kind
        if marks:
            out[page.number] = marks
    return out
