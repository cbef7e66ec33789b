"""Structured extraction of office documents and web pages: DOCX, PPTX, XLSX and HTML to elements and markdown.

Entry point: `convert(path, kind)`; the result is plain data (strings, dataclasses) so it pickles
back from the extraction worker process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from roset_local.structure.model import Element

from .markdown import render

Kind = Literal["docx", "pptx", "xlsx", "html"]


@dataclass
class OfficeResult:
    markdown: str
    elements: list[Element]
    title: str | None = None
    # (slide number, that slide's markdown) for presentations; empty otherwise.
    pages: list[tuple[int, str]] = field(default_factory=list)


def convert(path: str, kind: Kind) -> OfficeResult:
    title: str | None = None
    page_count = 0
    if kind == "html":
        from .html import html_elements

        with open(path, "rb") as fh:
            doc = html_elements(fh.read())
        elements, title = doc.elements, doc.title
    elif kind == "docx":
        from .docx import docx_elements

        elements = docx_elements(path).elements
    elif kind == "pptx":
        from .pptx import pptx_elements

        elements, page_count = pptx_elements(path)
    else:
        from .xlsx import xlsx_elements

        elements = xlsx_elements(path)
    markdown = render(elements)
    return OfficeResult(markdown=markdown, elements=elements, title=title, pages=_pages(markdown, elements, page_count))


def _pages(markdown: str, elements: list[Element], count: int) -> list[tuple[int, str]]:
    """Each of `count` pages' (slides') stretch of the markdown, from its first element to its last
    (empty for a page without any)."""
    ranges: dict[int, tuple[int, int]] = {}
    for el in elements:
        if el.page is None or el.span is None:
            continue
        start, end = ranges.get(el.page, el.span)
        ranges[el.page] = (min(start, el.span[0]), max(end, el.span[1]))
    return [(page, markdown[slice(*ranges[page])] if page in ranges else "") for page in range(1, count + 1)]


__all__ = ["OfficeResult", "convert", "render"]
