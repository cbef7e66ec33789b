"""Geometry of a page's text: words into lines, lines into blocks, blocks into reading order."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable

from .model import Box, Word

LINE_SPLIT_EM = 1.0  # a gap this wide (in ems) splits a line when the rows around it have it too
SIDEWAYS_MIN_GLYPHS = 4  # a stack of this many single glyphs is text set sideways
MAX_ORDERED_BLOCKS = 150  # past this many blocks on a page, reading order is top to bottom
GUTTER_EM = 2.5  # a gap this wide always separates columns or cells


_MARKER = re.compile(r"^(?:[•◦▪▫‣⁃∙·●○■□►▶➢➤✓✔\-–—*\uf0b7\uf0a7\uf076\uf0d8\uf0fc\uf06e\uf071]|\(?(?:\d{1,3}|[a-zA-Z]|[ivxlcdm]{1,6})[.)])$")


_LEADER = re.compile(r"(?:\.\s?){4,}\s*\S{0,8}$")


def is_leader(text: str) -> bool:
    """A table-of-contents style line: text, a run of leader dots, maybe a page number."""
    return _LEADER.search(text) is not None


_SECTION_NUMBER = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2}){0,4}\.?|[A-Z]\.\d{1,2}(?:\.\d{1,2}){0,3}\.?)$")
_CAPTION_LABEL = re.compile(r"^(?i:figure|fig\.|table|tab\.|listing|chart|exhibit|algorithm)\s*\d+(?:[.-]\d+)*[.:]?$")


def _is_label(words: list[Word]) -> bool:
    """A list marker, section number or caption label, which sits a tab stop before its text."""
    if len(words) == 1:
        return is_marker(words[0].text) or _SECTION_NUMBER.match(words[0].text) is not None
    if len(words) == 2:
        return _CAPTION_LABEL.match(words[0].text + " " + words[1].text) is not None
    return False


def is_marker(text: str) -> bool:
    """A bullet glyph or a list number ("3.", "b)", "(iv)") on its own."""
    return _MARKER.match(text) is not None


def is_rtl(text: str) -> bool:
    """Whether most letters of `text` belong to a right-to-left script."""
    if text.isascii():
        return False  # no ASCII character is right-to-left (the usual case, without a lookup per character)
    rtl = ltr = 0
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            rtl += 1
        elif kind == "L":
            ltr += 1
    return rtl > ltr


@dataclass
class Line:
    words: list[Word]
    box: Box
    size: float  # the character-weighted font size (box height when the words have none)
    bold: float  # share of characters in bold
    mono: float  # share of characters in a monospaced font
    text: str = ""
    chars: int = 0  # characters in its words (the weight of its size and style in a block)


@dataclass
class Block:
    """Lines that belong together: a paragraph, a heading, a list item, a caption or code."""

    lines: list[Line]
    box: Box
    kind: str = "paragraph"  # set by the classifier; "table" and "figure" blocks carry payloads
    payload: object = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def size(self) -> float:
        total = sum(ln.chars for ln in self.lines) or 1
        return sum(ln.size * ln.chars for ln in self.lines) / total

    @property
    def bold(self) -> float:
        total = sum(ln.chars for ln in self.lines) or 1
        return sum(ln.bold * ln.chars for ln in self.lines) / total

    @property
    def mono(self) -> float:
        total = sum(ln.chars for ln in self.lines) or 1
        return sum(ln.mono * ln.chars for ln in self.lines) / total

    @property
    def text(self) -> str:
        return " ".join(ln.text for ln in self.lines)


def word_size(w: Word) -> float:
    # OCR words have no font size: their box height stands in (a loose box is ~1.2 em).
    return w.size if w.size > 0 else w.box.height / 1.2


def make_line(words: list[Word], rtl: bool | None = None) -> Line:
    text_rtl = is_rtl("".join(w.text for w in words)) if rtl is None else rtl
    words = sorted(words, key=lambda w: -w.box.x1 if text_rtl else w.box.x0)
    first = words[0].box
    x0, y0, x1, y1 = first.x0, first.y0, first.x1, first.y1
    n = bold = mono = 0.0
    sizes: dict[float, int] = {}
    for w in words:
        # Box.union word by word, without a Box per word (the same comparisons as min and max).
        b = w.box
        if b.x0 < x0:
            x0 = b.x0
        if b.y0 < y0:
            y0 = b.y0
        if b.x1 > x1:
            x1 = b.x1
        if b.y1 > y1:
            y1 = b.y1
        k = len(w.text)
        n += k
        size = round(word_size(w), 1)
        sizes[size] = sizes.get(size, 0) + k
        bold += k if w.bold else 0
        mono += k if w.mono else 0
    n = n or 1.0
    # The line's size is the one most of its characters have: superscripts do not pull it down.
    size = max(sizes.items(), key=lambda kv: (kv[1], kv[0]))[0]
    return Line(words, Box(x0, y0, x1, y1), size, bold / n, mono / n, " ".join(w.text for w in words), int(n))


def build_lines(words: list[Word]) -> list[Line]:
    """Words into lines: same baseline band, split where a gap is wide enough to be a gutter.

    Text set sideways (a margin note, an arXiv stamp) arrives as a stack of single glyphs in
    reading order: each stack becomes one line of its own.
    """
    if not words:
        return []
    stacks, words = _sideways(words)
    return stacks + _rows_to_lines(words)


def _sideways(words: list[Word]) -> tuple[list[Line], list[Word]]:
    """Runs of single glyphs stacked in one narrow column (in content order), and the other words."""
    stacks: list[Line] = []
    rest: list[Word] = []
    run: list[Word] = []

    def close() -> None:
        if len(run) >= SIDEWAYS_MIN_GLYPHS:
            stacks.append(_stack_line(run))
        else:
            rest.extend(run)
        run.clear()

    for w in words:
        short = len(w.text) <= 2
        if short and run and _stacked(run[-1], w):
            run.append(w)
            continue
        if run:  # (closing an empty run does nothing: skipped, as this runs per word)
            close()
        if short:
            run.append(w)
        else:
            rest.append(w)
    close()
    return stacks, rest


def is_sideways(line: Line) -> bool:
    """A line set sideways: one word far taller than wide."""
    return len(line.words) == 1 and len(line.text) >= SIDEWAYS_MIN_GLYPHS and line.box.height > 3 * line.box.width


def _stacked(a: Word, b: Word) -> bool:
    """b sits right above or below a, in the same narrow column."""
    width = max(a.box.width, b.box.width, 0.1)
    same_column = x_overlap(a.box, b.box) >= 0.6 * width
    gap = max(b.box.y0 - a.box.y1, a.box.y0 - b.box.y1)
    return same_column and -0.3 * width < gap < 0.8 * width and abs(a.box.y0 - b.box.y0) > 0.3 * a.box.height


def _stack_line(run: list[Word]) -> Line:
    text = run[0].text
    for a, b in zip(run, run[1:]):
        gap = max(b.box.y0 - a.box.y1, a.box.y0 - b.box.y1)
        text += (" " if gap > 0.15 * max(a.box.width, 0.1) else "") + b.text
    box = run[0].box
    for w in run[1:]:
        box = box.union(w.box)
    word = Word(text=text, box=box, size=run[0].size, bold=run[0].bold, italic=run[0].italic, font=run[0].font,
                mono=run[0].mono)
    return Line([word], box, word_size(word), 1.0 if word.bold else 0.0, 1.0 if word.mono else 0.0, text, len(text))


def _rows_to_lines(words: list[Word]) -> list[Line]:
    if not words:
        return []
    order = sorted(words, key=lambda w: ((w.box.y0 + w.box.y1) / 2, w.box.x0))
    rows: list[list[Word]] = []
    top = bottom = row_h = 0.0
    # Comparisons written out rather than min/max calls (the same results): this runs per word.
    for w in order:
        wy0, wy1 = w.box.y0, w.box.y1
        h = wy1 - wy0
        if 0.1 > h:
            h = 0.1
        if rows:
            band = bottom - top
            overlap = (wy1 if wy1 < bottom else bottom) - (wy0 if wy0 > top else top)
            if overlap >= 0.5 * (band if band < h else h):
                rows[-1].append(w)
                # The band grows with mixed sizes on one baseline, but not past twice a line's height:
                # chained overlaps must not swallow a page of scattered labels.
                new_top = wy0 if wy0 < top else top
                new_bottom = wy1 if wy1 > bottom else bottom
                if new_bottom - new_top <= 2.0 * (row_h if row_h > h else h):
                    top, bottom = new_top, new_bottom
                continue
        rows.append([w])
        top, bottom = wy0, wy1
        row_h = h
    for row in rows:
        row.sort(key=lambda w: w.box.x0)
    lines: list[Line] = []
    for r, row in enumerate(rows):
        rtl = is_rtl("".join(w.text for w in row))
        current = [row[0]]
        for prev, w in zip(row, row[1:]):
            em = max(word_size(prev), word_size(w), 1.0)
            gap = w.box.x0 - prev.box.x1
            # A bullet or number sits a tab stop before its text: it stays with it.
            if _is_label(current):
                split = gap > 4 * em
            elif prev.text.endswith(".") and is_leader(" ".join(x.text for x in current[-5:])):
                split = gap > 30 * em  # the page number after leader dots
            elif gap > GUTTER_EM * em:
                split = True
            else:
                # A justified line stretches its spaces; a column gap runs down the neighbouring rows too.
                split = gap > LINE_SPLIT_EM * em and _gutter(rows, r, prev.box.x1, w.box.x0)
            if split:
                lines.append(make_line(current, rtl))
                current = []
            current.append(w)
        lines.append(make_line(current, rtl))
    lines.sort(key=lambda ln: (ln.box.y0, ln.box.x0))
    return lines


def _gutter(rows: list[list[Word]], r: int, x0: float, x1: float) -> bool:
    """Whether the gap [x0, x1] of row r stays empty in the rows around it (none of their words crosses it)."""
    mid0, mid1 = x0 + 0.25 * (x1 - x0), x1 - 0.25 * (x1 - x0)
    y = rows[r][0].box.y0
    reach = 4 * max(rows[r][0].box.height, 1.0)
    clear = 0
    for k in (r - 1, r + 1, r - 2, r + 2):
        if k < 0 or k >= len(rows) or abs(rows[k][0].box.y0 - y) > reach:
            continue
        if any(w.box.x1 > mid0 and w.box.x0 < mid1 for w in rows[k]):
            return False
        clear += 1
    return clear >= 2


def x_overlap(a: Box, b: Box) -> float:
    return min(a.x1, b.x1) - max(a.x0, b.x0)


def build_blocks(
    lines: list[Line], line_gap: float, body: float, starts_item: Callable[[Line], bool]
) -> list[Block]:
    """Lines into blocks: a line joins the block right above it when the gap, alignment and font agree.

    `line_gap` is the document's usual gap between lines of a paragraph (in ems), `body` the body
    text size; `starts_item` says whether a line opens a list item (which always starts a block).
    """
    blocks: list[Block] = []
    for ln in lines:
        best: Block | None = None
        best_gap = 1e9
        if not starts_item(ln) and not is_leader(ln.text):
            for b in blocks[-12:]:
                last = b.lines[-1]
                gap = ln.box.y0 - last.box.y1
                em = max(ln.size, last.size, 1.0)
                if gap < -0.3 * em or gap > (line_gap + 0.45) * em or gap >= best_gap:
                    continue
                if x_overlap(b.box, ln.box) < 0.3 * min(b.box.width, ln.box.width):
                    continue
                if is_leader(last.text) or not _compatible(b, last, ln, body):
                    continue
                best, best_gap = b, gap
        if best is None:
            blocks.append(Block([ln], ln.box, extra={"item": True} if starts_item(ln) else {}))
        else:
            best.lines.append(ln)
            best.box = best.box.union(ln.box)
    return blocks


def split_lead_lines(blocks: list[Block]) -> list[Block]:
    """A short unpunctuated line opening a block, or following a finished sentence, over a full line
    is a run-in heading, not part of the paragraph."""
    out: list[Block] = []
    for b in blocks:
        if b.extra.get("item") or len(b.lines) < 2:
            out.append(b)
            continue
        start = 0
        for k in range(len(b.lines) - 1):
            ln, nxt = b.lines[k], b.lines[k + 1]
            text = ln.text.rstrip()
            after_sentence = k == 0 or b.lines[k - 1].text.rstrip()[-1:] in ".!?:"
            if after_sentence and ln.box.width < 0.7 * nxt.box.width and text[-1:] not in ".,;:!?-" \
                    and len(text) <= 80 and nxt.box.x0 <= ln.box.x0 + 0.5 * ln.size:
                if k > start:
                    out.append(_block(b.lines[start:k]))
                out.append(_block([ln]))
                start = k + 1
        out.append(_block(b.lines[start:]) if start else b)
    return out


def _block(lines: list[Line]) -> Block:
    box = lines[0].box
    for ln in lines[1:]:
        box = box.union(ln.box)
    return Block(lines, box)


def _compatible(block: Block, last: Line, ln: Line, body: float) -> bool:
    size_a, size_b = last.size, ln.size
    # Lines of one large heading may mix sizes; body text may not.
    big = min(size_a, size_b) >= 1.15 * body and min(last.bold, ln.bold) >= 0.9
    if abs(size_a - size_b) > (0.3 if big else 0.07) * max(size_a, size_b):
        return False
    if (last.bold >= 0.9) != (ln.bold >= 0.9) and (block.bold >= 0.9 or ln.bold >= 0.9):
        # A bold run-in heading over body text, or body text over a bold line.
        if not (block.lines[0].bold < 0.9 and ln.bold >= 0.9 and len(block.lines) > 1 and ln.chars > 40):
            return False
    if (last.mono >= 0.8) != (ln.mono >= 0.8):
        return False
    if block.extra.get("item") and ln.box.x0 < block.lines[0].box.x0 + 0.3 * ln.size:
        # A list item continues only on lines indented past its marker.
        return False
    return True


def reading_order(blocks: list[Block], rtl: bool = False) -> list[Block]:
    """Orders blocks for reading: columns top to bottom, full-width blocks splitting the flow.

    Block a comes before b when they share a column and a is higher, or when a lies to the left
    of b (right, on right-to-left pages) and no block overlapping both lies vertically between them.
    """
    n = len(blocks)
    if n < 2:
        return blocks
    if n > MAX_ORDERED_BLOCKS:
        # A page of scattered labels (a map, a chart): the pairwise rules would cost seconds.
        return sorted(blocks, key=lambda b: (b.box.y0, -b.box.x1 if rtl else b.box.x0))
    boxes = [b.box for b in blocks]
    before: list[set[int]] = [set() for _ in range(n)]
    for i in range(n):
        a = boxes[i]
        for j in range(i + 1, n):
            b = boxes[j]
            ov = x_overlap(a, b)
            em = min(blocks[i].size, blocks[j].size) if blocks[i].lines and blocks[j].lines else 0.0
            # Blocks side by side without a gutter between them (an indented line of code) stack.
            if ov > 0.1 * min(a.width, b.width) or -ov < 0.8 * em:
                if a.y0 + a.y1 <= b.y0 + b.y1:
                    before[j].add(i)
                else:
                    before[i].add(j)
                continue
            first, second = (i, j) if (a.x0 + a.x1 < b.x0 + b.x1) != rtl else (j, i)
            if not _separated(boxes, first, second):
                before[second].add(first)
    _spanning_edges(boxes, before, [len(b.lines) for b in blocks])
    return [blocks[k] for k in _toposort(before, boxes, rtl)]


def _spanning_edges(boxes: list[Box], before: list[set[int]], line_counts: list[int] | None = None) -> None:
    """A block spanning two columns that sit above (or below) it splits the flow of the whole page.

    Whatever lies wholly above it is read before it, and whatever lies wholly below after it,
    even in a column it does not reach (a paragraph across two of three columns).
    """
    n = len(boxes)
    # "Wide" is measured against paragraphs (blocks of 2+ lines) when there are enough: the many
    # narrow one-line labels of a diagram on a scan (no picture box takes them out) would make
    # every column paragraph look page-wide. (scanned-ocr)
    body = [b.width for b, c in zip(boxes, line_counts or []) if c >= 2]
    widths = sorted(body if len(body) >= 3 else [b.width for b in boxes])
    wide = 1.5 * widths[len(widths) // 2]
    for s in range(n):
        box = boxes[s]
        if box.width < wide:
            continue
        above = [k for k in range(n) if boxes[k].y1 <= box.y0 + 1.0 and x_overlap(boxes[k], box) > 0]
        below = [k for k in range(n) if boxes[k].y0 >= box.y1 - 1.0 and x_overlap(boxes[k], box) > 0]
        if not (_side_by_side(boxes, above) or _side_by_side(boxes, below)):
            continue
        for k in range(n):
            if k == s:
                continue
            if boxes[k].y1 <= box.y0 + 1.0:
                before[k].discard(s)
                before[s].add(k)
            elif boxes[k].y0 >= box.y1 - 1.0:
                before[s].discard(k)
                before[k].add(s)


def _side_by_side(boxes: list[Box], group: list[int]) -> bool:
    """Two of these blocks share a height without sharing a column."""
    for x in range(len(group)):
        a = boxes[group[x]]
        for y in range(x + 1, len(group)):
            b = boxes[group[y]]
            if x_overlap(a, b) <= 0 and min(a.y1, b.y1) > max(a.y0, b.y0):
                return True
    return False


def _separated(boxes: list[Box], i: int, j: int) -> bool:
    """Some block overlapping both i and j horizontally lies vertically between them."""
    a, b = boxes[i], boxes[j]
    top, bottom = (a, b) if a.y0 <= b.y0 else (b, a)
    if top.y1 > bottom.y0:
        return False  # side by side: nothing fits between
    lo, hi = top.y1 - 1.0, bottom.y0 + 1.0
    for k, c in enumerate(boxes):
        if c.y0 >= lo and c.y1 <= hi and k != i and k != j and x_overlap(c, a) > 0 and x_overlap(c, b) > 0:
            return True
    return False


def _toposort(before: list[set[int]], boxes: list[Box], rtl: bool) -> list[int]:
    """Kahn's algorithm, taking the top-most (then left-most) ready block first."""
    pending = set(range(len(before)))
    out: list[int] = []

    def key(k: int) -> tuple[float, float]:
        return (boxes[k].y0, -boxes[k].x1 if rtl else boxes[k].x0)

    while pending:
        ready = [k for k in pending if not (before[k] & pending)]
        # A cycle (overlapping boxes) falls back to the top-most remaining block.
        k = min(ready or pending, key=key)
        out.append(k)
        pending.discard(k)
    return out
