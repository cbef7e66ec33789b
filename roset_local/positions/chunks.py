"""Chunk positions: each chunk's page and the box around its text there, from the elements it covers."""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from typing import Any, Protocol

from roset_local.positions.structure import PageSizes
from roset_local.structure.model import Box, Element

MAX_PARTS = 200  # element boxes kept per chunk, for boxing a quoted sentence more tightly than its chunk
Part = tuple[int, int, int, Box]  # (start, end) in the markdown, page, box


class Placeable(Protocol):
    char_start: int
    char_end: int
    page: int | None
    bbox: list[float] | None
    page_width: float | None
    page_height: float | None
    parts: list[list[float]] | None


def region(parts: Sequence[Part], start: int, end: int) -> tuple[int, Box] | None:
    """The page of the first part overlapping ``[start, end)`` and the union of the overlapping
    parts' boxes on that page (text running onto the next page is boxed on its first page)."""
    page: int | None = None
    box: Box | None = None
    for s, e, p, b in parts:
        if s >= end or e <= start:
            continue
        if page is None:
            page = p
        if p == page:
            box = b if box is None else box.union(b)
    return (page, box) if page is not None and box is not None else None


def place_chunks(chunks: Sequence[Placeable], elements: Sequence[Element], sizes: PageSizes) -> None:
    """Set page, bbox and parts of every chunk whose character range overlaps positioned elements."""
    placed: list[Part] = sorted(
        (e.span[0], e.span[1], e.page, e.box) for e in elements
        if e.span is not None and e.box is not None and e.page is not None
    )
    # Spans of one document do not overlap, so ends are ordered too.
    ends = [p[1] for p in placed]
    for chunk in chunks:
        parts: list[Part] = []
        for part in placed[bisect.bisect_right(ends, chunk.char_start):]:
            if part[0] >= chunk.char_end or len(parts) >= MAX_PARTS:
                break
            parts.append(part)
        found = region(parts, chunk.char_start, chunk.char_end)
        if found is None:
            continue
        chunk.page, box = found
        chunk.bbox = box.rounded()
        if chunk.page in sizes:
            chunk.page_width, chunk.page_height = (round(v, 2) for v in sizes[chunk.page])
        chunk.parts = [[s, e, p, *b.rounded(), *(round(v, 2) for v in sizes.get(p, (0.0, 0.0)))]
                       for s, e, p, b in parts]


def position_json(chunk: Placeable) -> str | None:
    """The chunks.bbox column: ``{"box": [x0, y0, x1, y1], "page_size": [w, h] | null, "parts":
    [[start, end, page, x0, y0, x1, y1, page_width, page_height], ...]}`` (0 = size unknown)."""
    if chunk.bbox is None:
        return None
    size = [chunk.page_width, chunk.page_height] if chunk.page_width and chunk.page_height else None
    return json.dumps({"box": chunk.bbox, "page_size": size, "parts": chunk.parts or []})


def position_fields(stored: str | None, page: int | None, span: tuple[int, int] | None = None) -> dict[str, Any]:
    """What search results and Q&A sources add: ``page``, ``bbox`` (points, origin top-left) and the
    page size. ``span`` (markdown offsets, e.g. a quoted sentence) narrows the box to the elements
    holding that text; else it is the chunk's."""
    out: dict[str, Any] = {"page": page, "bbox": None, "page_width": None, "page_height": None}
    try:
        value = json.loads(stored) if stored else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return out
    size = value.get("page_size")
    out.update(bbox=value.get("box"), page_width=size[0] if size else None, page_height=size[1] if size else None)
    parts = value.get("parts")
    if span is not None and parts:
        sizes = {int(p[2]): (p[7], p[8]) for p in parts if len(p) >= 9 and p[7]}
        found = region([(int(p[0]), int(p[1]), int(p[2]), Box(*p[3:7])) for p in parts], span[0], span[1])
        if found is not None:
            width, height = sizes.get(found[0], (None, None))
            out.update(page=found[0], bbox=found[1].rounded(), page_width=width, page_height=height)
    return out
