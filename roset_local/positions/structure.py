"""The `structure` variant: the document's elements with page and box, and the page sizes they refer to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from roset_local.providers.base import Extraction, Page
from roset_local.structure.model import Box, Element

VERSION = 1
PageSizes = dict[int, tuple[float, float]]


def page_sizes(extraction: Extraction) -> PageSizes:
    """Page number -> (width, height) in points, from the pages; the metadata's first-page size
    (``width``/``height`` in ``pt``) stands in for pages whose engine did not say."""
    sizes: PageSizes = {p.number: (float(p.width), float(p.height)) for p in extraction.pages if p.width and p.height}
    meta = extraction.metadata
    if meta.get("size_unit") == "pt" and meta.get("width") and meta.get("height"):
        fallback = (float(meta["width"]), float(meta["height"]))
        wanted = {p.number for p in extraction.pages} | {e.page for e in extraction.elements if e.page is not None}
        for number in wanted - set(sizes):
            sizes[number] = fallback
    return sizes


def structure_document(elements: Sequence[Element], sizes: PageSizes) -> dict[str, Any]:
    """``{"version", "pages": [{"number", "width", "height"}], "elements": [...]}`` (boxes in points,
    origin top-left; ``span`` is the element's character range in the markdown variant)."""
    numbers = sorted(set(sizes) | {e.page for e in elements if e.page is not None})
    pages = [
        {"number": n, "width": round(sizes[n][0], 2) if n in sizes else None,
         "height": round(sizes[n][1], 2) if n in sizes else None}
        for n in numbers
    ]
    return {"version": VERSION, "pages": pages, "elements": [e.to_json() for e in elements]}


def elements_from_structure(doc: dict[str, Any]) -> tuple[list[Element], PageSizes]:
    """What chunk placement needs back from a stored `structure` variant (for a re-embed)."""
    sizes: PageSizes = {
        int(p["number"]): (float(p["width"]), float(p["height"]))
        for p in doc.get("pages") or [] if p.get("width") and p.get("height")
    }
    out: list[Element] = []
    for item in doc.get("elements") or []:
        box = item.get("bbox")
        span = item.get("span")
        out.append(Element(
            type=str(item.get("type") or "paragraph"), text=str(item.get("text") or ""), page=item.get("page"),
            box=Box(*[float(v) for v in box]) if box and len(box) == 4 else None, level=item.get("level"),
            span=(int(span[0]), int(span[1])) if span and len(span) == 2 else None,
        ))
    return out, sizes


def page_elements(markdown: str, pages: Sequence[Page], sizes: PageSizes, skip: frozenset[int] = frozenset()
                  ) -> list[Element]:
    """The coarse fallback when an engine gives pages but no layout: one paragraph per page whose
    box is the whole page, so page and box still reach chunks and search results. Pages in ``skip``
    (those layout analysis covered) get none."""
    out: list[Element] = []
    cursor = 0
    for page in pages:
        text = page.markdown.strip()
        start = markdown.find(text, cursor) if text else -1
        if start < 0:
            continue
        cursor = start + len(text)
        if page.number in skip or page.number not in sizes:
            continue
        width, height = sizes[page.number]
        out.append(Element(type="paragraph", text=text, page=page.number, box=Box(0.0, 0.0, width, height),
                           span=(start, cursor)))
    return out


def document_elements(extraction: Extraction, mode: str) -> tuple[list[Element], PageSizes]:
    """The elements to store and place chunks with, and their page sizes; none in ``fast`` mode.

    Pages that layout analysis did not cover (an engine without it, or pages it skipped) but whose
    size is known get the per-page fallback, merged in markdown order.
    """
    if mode == "fast":
        return [], {}
    sizes = page_sizes(extraction)
    elements = list(extraction.elements)
    covered = frozenset(e.page for e in elements if e.page is not None)
    extra = page_elements(extraction.markdown, extraction.pages, sizes, skip=covered)
    if extra:
        elements = sorted(elements + extra, key=lambda e: e.page or 0)  # stable: reading order within a page
    return elements, sizes
