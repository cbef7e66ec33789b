"""Pages' markdown from layout elements, for every extractor that runs layout analysis (PDFs, scans, images)."""

from __future__ import annotations

from typing import Any

from roset_local.structure.model import Element
from roset_local.structure.render import to_markdown

from .base import DEFAULT_EXTRACTION, Page


def wants_structure(options: dict[str, Any]) -> bool:
    """Whether an extraction runs layout analysis (`extraction: structured`, the default) or keeps plain text (`fast`)."""
    return str(options.get("extraction") or DEFAULT_EXTRACTION).lower() == DEFAULT_EXTRACTION


def render_pages(pages: list[Page], elements: list[Element]) -> None:
    """Each analysed page's markdown from its elements; spans become offsets in the joined markdown."""
    by_page: dict[int, list[Element]] = {}
    for e in elements:
        by_page.setdefault(e.page or 0, []).append(e)
    pos = 0
    for page in pages:
        own = by_page.get(page.number, [])
        page.markdown = to_markdown(own)
        for e in own:
            if e.span is not None:
                e.span = (e.span[0] + pos, e.span[1] + pos)
        if page.markdown:
            pos += len(page.markdown) + 2  # the blank line joining pages
