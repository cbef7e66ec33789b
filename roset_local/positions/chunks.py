"""Chunk positions: each chunk's page and the box around its text there, from the elements it covers."""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from typing import Any, Protocol

from roset_local.positions.structure import PageSizes
from roset_local.structure.model import Box, Element


class Placeable(Protocol):
    char_start: int
    char_end: int
    page: int | None
    bbox: list[float] | None
    page_width: float | None
    page_height: float | None


def place_chunks(chunks: Sequence[Placeable], elements: Sequence[Element], sizes: PageSizes) -> None:
    """Set page and bbox of every chunk whose character range overlaps positioned elements.

    The page is the first overlapping element's; the box is the union of the overlapping elements'
    boxes on that page (a chunk running onto the next page is boxed on its first page only).
    """
    placed = sorted((e for e in elements if e.span and e.box is not None and e.page is not None),
                    key=lambda e: e.span[0])  # type: ignore[index]
    ends = [e.span[1] for e in placed]  # type: ignore[index]
    # Spans of one document do not overlap, so ends are ordered too; a nested span only widens a box.
    for chunk in chunks:
        first = bisect.bisect_right(ends, chunk.char_start)
        page: int | None = None
        box: Box | None = None
        for element in placed[first:]:
            start, end = element.span  # type: ignore[misc]
            if start >= chunk.char_end:
                break
            if end <= chunk.char_start:
                continue
            if page is None:
                page = element.page
            if element.page == page:
                box = element.box if box is None else box.union(element.box)  # type: ignore[arg-type]
        if page is None or box is None:
            continue
        chunk.page = page
        chunk.bbox = box.rounded()
        if page in sizes:
            chunk.page_width, chunk.page_height = (round(v, 2) for v in sizes[page])


def position_json(chunk: Placeable) -> str | None:
    """The chunks.bbox column: ``{"box": [x0, y0, x1, y1], "page_size": [w, h] | null}``."""
    if chunk.bbox is None:
        return None
    size = [chunk.page_width, chunk.page_height] if chunk.page_width and chunk.page_height else None
    return json.dumps({"box": chunk.bbox, "page_size": size})


def position_fields(stored: str | None) -> dict[str, Any]:
    """What search results and Q&A sources add: ``bbox`` (points, origin top-left) and the page size."""
    box = size = None
    if stored:
        try:
            value = json.loads(stored)
            box, size = value.get("box"), value.get("page_size")
        except (ValueError, AttributeError):
            box = size = None
    return {"bbox": box, "page_width": size[0] if size else None, "page_height": size[1] if size else None}
