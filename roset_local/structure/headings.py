"""Headings and their levels from the document's font statistics, section numbering and the PDF outline."""

from __future__ import annotations

import re
from typing import Sequence

from .lines import Block, is_sideways
from .model import PageGeometry

MAX_HEADING_CHARS = 160
MAX_HEADING_LINES = 3
LARGER = 1.15  # a block this much larger than body text reads as a heading
LARGER_LINE = 1.08  # a single short line needs less
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


def _strength(b: Block, body: float, followed_by_text: bool, bold_body: bool = False) -> float:
    """The block's heading-ness: its font size relative to body text, bold counting as a step up."""
    text = b.text.strip()
    if not text or len(text) > MAX_HEADING_CHARS or len(b.lines) > MAX_HEADING_LINES:
        return 0.0
    if _TEXTLESS.match(text) or sum(ch.isalpha() for ch in text) < 2:
        return 0.0  # "X", "3.2", "—": marks in a table or a drawing
    size = b.size
    if size < 0.9 * body or all(is_sideways(ln) for ln in b.lines):
        return 0.0
    if size >= LARGER * body:
        return size
    if text.endswith(_SENTENCE_END):
        return 0.0
    if size >= LARGER_LINE * body and len(b.lines) == 1 and len(text) <= 80:
        return size
    if b.bold >= 0.9 and len(text) <= 120 and not bold_body:
        return size * 1.05  # bold at body size: below every larger size
    if followed_by_text and len(b.lines) == 1 and len(text) <= 80 and _title_case(text):
        return size * 1.02  # a title-case line of its own over a paragraph, in the body font
    return 0.0


def heading_like(b: Block, body: float) -> bool:
    """Set larger or in bold, short and unpunctuated: could be a heading (whatever its numbering)."""
    text = b.text.strip()
    if len(text) > 100 or text.endswith(_SENTENCE_END):
        return False
    return b.size >= LARGER_LINE * body or b.bold >= 0.9


def _title_case(text: str) -> bool:
    words = [w for w in re.findall(r"[^\W\d_][\w'’-]*", text) if len(w) >= 4]
    if len(words) < 2:
        return False
    return sum(w[0].isupper() for w in words) >= 0.75 * len(words)


def assign_headings(
    blocks: list[Block],
    body: float,
    outline: Sequence[tuple[int, str, int | None]] | None,
    pages: list[PageGeometry],
    bold_body: bool = False,
) -> None:
    """Marks heading blocks (`kind` "heading" or "title", `extra["level"]`) among paragraph blocks.

    `bold_body`: most of the text is bold, so bold alone does not make a heading.
    """
    toc = {_norm(title): (level, page) for level, title, page in (outline or []) if _norm(title)}
    cands: list[tuple[Block, float]] = []
    for k, b in enumerate(blocks):
        if k:
            b.extra["next_of"] = blocks[k - 1]  # candidates in a row: nothing between them
        if b.kind != "paragraph" or not b.lines:
            continue
        nxt = blocks[k + 1] if k + 1 < len(blocks) else None
        followed = nxt is not None and nxt.kind == "paragraph" and len(nxt.lines) >= 2
        s = _strength(b, body, followed, bold_body)
        if toc and not s:
            hit = toc.get(_norm(b.text))
            if hit and len(b.text) <= MAX_HEADING_CHARS:
                s = max(b.size, body) * 1.05
        if s:
            cands.append((b, s))
    cands = _drop_runs(cands)
    if not cands:
        return
    first_page = pages[0].number if pages else 1
    title = _title(cands, body, first_page)
    if title is not None:
        title.kind = "title"
        title.extra["level"] = 1
    # Sections start at "##" whether or not a title was found: "#" belongs to the title alone.
    levels = _style_levels([(b, s) for b, s in cands if b is not title], offset=2)
    for b, s in cands:
        if b is title:
            continue
        hit = toc.get(_norm(b.text))
        level = 2 + hit[0] - 1 if hit else levels[id(b)]
        b.kind = "heading"
        b.extra["level"] = max(2, min(level, 6))


def _style_levels(cands: list[tuple[Block, float]], offset: int) -> dict[int, int]:
    """A level per heading: section numbers set the level of their style; other styles rank by size.

    Numbered headings ("2.1 Scope") anchor the level of their size: depth counted from the
    shallowest numbered heading ("5.1" alone in an excerpt is a top section). An unnumbered
    heading takes its size's anchored level, or ranks among the sizes around the anchors.
    Sizes within 8% of each other count as one style, and at most four levels come from sizes.
    """
    buckets = _merge_sizes(sorted({s for _, s in cands}, reverse=True))
    depths = {id(b): numbering_depth(b.text) for b, _ in cands}
    min_depth = min((d for d in depths.values() if d), default=1)
    anchored: dict[float, list[int]] = {}
    for b, s in cands:
        if depths[id(b)]:
            anchored.setdefault(buckets[s], []).append(offset + depths[id(b)] - min_depth)
    anchor = {size: max(set(lv), key=lv.count) for size, lv in anchored.items()}
    style_level: dict[float, int] = {}
    level = offset
    top_anchor = max(anchor) if anchor else None
    for size in sorted(set(buckets.values()), reverse=True):
        if size in anchor:
            level = anchor[size]
        elif top_anchor is not None and size > top_anchor:
            level = offset  # larger than every numbered section: a chapter or part
        elif style_level:
            level = min(level + 1, offset + 3)
        style_level[size] = level
    out: dict[int, int] = {}
    for b, s in cands:
        out[id(b)] = offset + depths[id(b)] - min_depth if depths[id(b)] else style_level[buckets[s]]
    return out


def _merge_sizes(sizes: list[float]) -> dict[float, float]:
    """Each heading strength mapped to its style's representative (the largest of a run within 8%)."""
    out: dict[float, float] = {}
    head = None
    for s in sizes:
        if head is None or s < 0.92 * head:
            head = s
        out[s] = head
    return out


def _drop_runs(cands: list[tuple[Block, float]]) -> list[tuple[Block, float]]:
    """Three or more unnumbered candidates in a row in one style are labels (a cover, a diagram), not headings."""
    out: list[tuple[Block, float]] = []
    run: list[tuple[Block, float]] = []

    def close() -> None:
        if len(run) < 3:
            out.extend(run)
        run.clear()

    prev_block: Block | None = None
    for b, s in cands:
        same = (
            run and not numbering_depth(b.text) and abs(s - run[-1][1]) <= 0.05 * s
            and b.extra.get("next_of") is prev_block
        )
        if not same:
            close()
        run.append((b, s))
        prev_block = b
    close()
    return out


def _title(cands: list[tuple[Block, float]], body: float, first_page: int) -> Block | None:
    """The largest heading on the first page when it is the document's largest and clearly above body text."""
    top = max(s for _, s in cands)
    for b, s in cands:
        if b.extra.get("page") != first_page:
            return None
        if s >= top - 0.1 and s >= TITLE_LARGER * body:
            return b
    return None


