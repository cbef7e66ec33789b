"""Headings and their levels from the document's font statistics, section numbering and the PDF outline."""

from __future__ import annotations

import re
from typing import Sequence

from .lines import Block
from .model import PageGeometry

MAX_HEADING_CHARS = 160
MAX_HEADING_LINES = 3
LARGER = 1.15  # a line this much larger than body text reads as a heading
TITLE_LARGER = 1.6

_NUMBERED = re.compile(r"^((?:\d{1,2}|[A-Z])(?:\.\d{1,2}){0,5})\.?\s+\S")
_SENTENCE_END = (".", ",", ";")
_TEXTLESS = re.compile(r"^[\W\d_]+$")


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def numbering_depth(text: str) -> int:
    """1 for "2 Title", 2 for "2.1 Title", 0 when the text is not numbered like a section."""
    m = _NUMBERED.match(text)
    if not m:
        return 0
    return m.group(1).count(".") + 1


def _strength(b: Block, body: float, followed_by_text: bool) -> float:
    """The block's heading-ness: its font size relative to body text, bold counting as a step up."""
    text = b.text.strip()
    if not text or len(text) > MAX_HEADING_CHARS or len(b.lines) > MAX_HEADING_LINES:
        return 0.0
    if _TEXTLESS.match(text) or not any(ch.isalpha() for ch in text):
        return 0.0
    size = b.size
    if size < 0.9 * body:
        return 0.0
    if size >= LARGER * body:
        return size
    if text.endswith(_SENTENCE_END):
        return 0.0
    if b.bold >= 0.9 and len(text) <= 120:
        return size * 1.05  # bold at body size: below every larger size
    if followed_by_text and len(b.lines) == 1 and len(text) <= 80 and _title_case(text):
        return size * 1.02  # a title-case line of its own over a paragraph, in the body font
    return 0.0


def _title_case(text: str) -> bool:
    words = [w for w in re.findall(r"[^\W\d_][\w'’-]*", text) if len(w) >= 4]
    if len(words) < 2:
        return False
    return sum(w[0].isupper() for w in words) >= 0.75 * len(words)


def assign_headings(
    blocks: list[Block], body: float, outline: Sequence[tuple[int, str, int | None]] | None, pages: list[PageGeometry]
) -> None:
    """Marks heading blocks (`kind` "heading" or "title", `extra["level"]`) among paragraph blocks."""
    toc = {_norm(title): (level, page) for level, title, page in (outline or []) if _norm(title)}
    cands: list[tuple[Block, float]] = []
    for k, b in enumerate(blocks):
        if b.kind != "paragraph" or not b.lines:
            continue
        nxt = blocks[k + 1] if k + 1 < len(blocks) else None
        followed = nxt is not None and nxt.kind == "paragraph" and len(nxt.lines) >= 2
        s = _strength(b, body, followed)
        if toc and not s:
            hit = toc.get(_norm(b.text))
            if hit and len(b.text) <= MAX_HEADING_CHARS:
                s = max(b.size, body) * 1.05
        if s:
            cands.append((b, s))
    if not cands:
        return
    first_page = pages[0].number if pages else 1
    title = _title(cands, body, first_page)
    if title is not None:
        title.kind = "title"
        title.extra["level"] = 1
    # Sections start at "##" whether or not a title was found: "#" belongs to the title alone.
    offset = 2
    ranks = _size_ranks([s for b, s in cands if b is not title])
    for b, s in cands:
        if b is title:
            continue
        level = offset + ranks[_bucket(s)]
        hit = toc.get(_norm(b.text))
        depth = numbering_depth(b.text)
        if hit:
            level = offset + hit[0] - 1
        elif depth:
            level = offset + depth - 1
        b.kind = "heading"
        b.extra["level"] = max(1, min(level, 6))


def _title(cands: list[tuple[Block, float]], body: float, first_page: int) -> Block | None:
    """The largest heading on the first page when it is the document's largest and clearly above body text."""
    top = max(s for _, s in cands)
    for b, s in cands:
        if b.extra.get("page") != first_page:
            return None
        if s >= top - 0.1 and s >= TITLE_LARGER * body:
            return b
    return None


def _bucket(size: float) -> float:
    return round(size * 2) / 2


def _size_ranks(strengths: list[float]) -> dict[float, int]:
    """Distinct heading sizes (to half a point) ranked largest first; at most six levels."""
    sizes = sorted({_bucket(s) for s in strengths}, reverse=True)
    return {s: min(i, 5) for i, s in enumerate(sizes)}
