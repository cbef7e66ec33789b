"""Page furniture: running headers, footers and page numbers, found by repetition across pages and position."""

from __future__ import annotations

import re
from collections import defaultdict

from .lines import Line
from .model import PageGeometry

BAND = 0.12  # top and bottom share of the page where running headers and footers live
NUMBER_BAND = 0.2  # a lone page number may sit higher above the bottom edge (or lower below the top)
EDGE_LINES = 3  # lines considered at each edge of a page

_PAGE_NUMBER = re.compile(
    r"^(?:page|p\.|seite|página|pagina)?\s*(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:of|/|von|de|di)\s*\d{1,4})?$|^[-–—]\s*\d{1,4}\s*[-–—]$|^\d{1,3}[-–.]\d{1,4}$",
    re.IGNORECASE,
)


def _key(text: str) -> str:
    """Text with digits and spacing normalised, so "Page 3 of 9" on every page looks the same."""
    return re.sub(r"\s+", " ", re.sub(r"\d+", "#", text.lower())).strip()


def find_furniture(pages: list[PageGeometry], page_lines: list[list[Line]]) -> dict[int, dict[int, str]]:
    """For each page number, `id(line)` -> "page_header" or "page_footer"."""
    candidates: list[list[tuple[Line, str]]] = []
    counts: dict[tuple[str, str], set[int]] = defaultdict(set)
    for page, lines in zip(pages, page_lines):
        edge: list[tuple[Line, str]] = []
        if lines:
            by_y = sorted(lines, key=lambda ln: ln.box.y0)
            for k, ln in enumerate(by_y[:EDGE_LINES]):
                band = NUMBER_BAND if k == 0 and _PAGE_NUMBER.match(ln.text.strip()) else BAND
                if ln.box.y1 <= page.height * band:
                    edge.append((ln, "page_header"))
            for k, ln in enumerate(reversed(by_y[-EDGE_LINES:])):
                band = NUMBER_BAND if k == 0 and _PAGE_NUMBER.match(ln.text.strip()) else BAND
                if ln.box.y0 >= page.height * (1 - band) and all(ln is not e[0] for e in edge):
                    edge.append((ln, "page_footer"))
        for ln, kind in edge:
            counts[(kind, _key(ln.text))].add(page.number)
        candidates.append(edge)
    n_pages = len(pages)
    need = 2 if n_pages <= 6 else max(2, int(0.25 * n_pages))
    out: dict[int, dict[int, str]] = {}
    for page, edge in zip(pages, candidates):
        marks: dict[int, str] = {}
        for ln, kind in edge:
            text = ln.text.strip()
            repeated = n_pages > 1 and len(counts[(kind, _key(text))]) >= need and len(text) < 200
            if repeated or _PAGE_NUMBER.match(text):
                marks[id(ln)] = kind
        if marks:
            out[page.number] = marks
    return out
