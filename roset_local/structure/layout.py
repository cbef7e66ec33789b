"""Layout analysis: pages of positioned words into typed elements (headings, lists, tables, figures) in reading order."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from .furniture import find_furniture
from .headings import assign_headings, heading_like, numbering_depth
from .lines import (
    Block, Line, build_blocks, build_lines, is_rtl, is_sideways, reading_order, split_lead_lines, word_size,
)
from .model import Box, Element, PageGeometry, Table, Word

Outline = list[tuple[int, str, "int | None"]]  # (level from 1, title, page from 1 or None)

FIGURE_MIN_SIDE = 24.0  # points: smaller images are icons, bullets or rules
FIGURE_MIN_AREA = 0.004  # share of the page
FOOTNOTE_ZONE = 0.6  # footnotes start below this share of the page height
MAX_PICTURES = 100  # per page
MAX_MERGED_PICTURES = 30
BACKGROUND_AREA = 0.6  # an image covering more of the page than this is a background, not a figure

_BULLETS = "•◦▪▫‣⁃∙·●○■□►▶➢➤✓✔-–—*\uf0b7\uf0a7\uf076\uf0d8\uf0fc\uf06e\uf071"
_BULLET_RE = re.compile(r"^([" + re.escape(_BULLETS) + r"])(?:\s+|$)")
_NUMBER_RE = re.compile(r"^(\(?(?:\d{1,3}|[a-zA-Z]|[ivxlcdm]{1,6})[.)])\s+")
_LABEL_NUMBER = r"\s*(?:\d|[IVXL]+[.:\s]|[A-Z][.:\s-])"
_CAPTION_RE = re.compile(r"^(?i:figure|fig\.|table|tab\.|listing|chart|exhibit|scheme|plate)" + _LABEL_NUMBER)
_FIGURE_CAPTION_RE = re.compile(r"^(?i:figure|fig\.|chart|exhibit|scheme|plate)" + _LABEL_NUMBER)


def _find_tables() -> Callable[[PageGeometry], list[Table]] | None:
    # The table detector is a sibling module that may not be there yet: no tables without it.
    try:
        from .tables import find_tables
    except ImportError:
        return None
    return find_tables  # type: ignore[no-any-return]


def list_marker(text: str) -> tuple[str, bool] | None:
    """The list marker opening `text` and whether it is numbered, or None."""
    m = _BULLET_RE.match(text)
    if m:
        if m.group(1) in "-–—*" and len(text) < 3:
            return None
        return m.group(1), False
    m = _NUMBER_RE.match(text)
    if m:
        marker = m.group(1)
        return marker, True
    return None


def line_marker(line: Line) -> tuple[str, bool, str] | None:
    """The list marker opening a line, whether it is numbered, and the text after it."""
    found = list_marker(line.text)
    if found is not None:
        marker, ordered = found
        if ordered and len(marker) <= 2 and marker[0].isalpha() and marker[0].isupper():
            return None  # "A." opening a sentence is likelier than an "A." list
        return marker, ordered, line.text[len(marker):].strip()
    words = line.words
    if len(words) >= 2 and len(words[0].text) == 1 and word_size(words[0]) < 0.75 * word_size(words[1]):
        # A small glyph before the text: a bullet from a symbol font mapped to a letter.
        return "\u2022", False, " ".join(w.text for w in words[1:])
    return None


_NOTE_MARK = re.compile(r"^(?:\d{1,3}|[*†‡§¶])\s?\S")


def _block_starts(page: PageGeometry, body: float) -> Callable[[Line], bool]:
    """Lines that open a block of their own: list items, and footnotes (small print at the page foot
    opening with a note number)."""

    def starts(line: Line) -> bool:
        if line_marker(line) is not None:
            return True
        return line.size < 0.9 * body and line.box.y0 > FOOTNOTE_ZONE * page.height and (
            _NOTE_MARK.match(line.text) is not None and len(line.words) > 1 and line.words[0].text[:1] != "0"
        )

    return starts


def analyse(pages: list[PageGeometry], outline: Outline | None = None) -> list[Element]:
    """Elements of a document in reading order: body first per page, furniture flagged by type.

    Works for born-digital pages (font sizes known) and OCR pages (sizes 0: box heights stand in).
    """
    find_tables = _find_tables()
    sizes: Counter[float] = Counter()
    for page in pages:
        for w in page.words:
            sizes[round(word_size(w) * 2) / 2] += len(w.text)
    word_body = sizes.most_common(1)[0][0] if sizes else 10.0
    page_lines: list[list[Line]] = []
    extras: list[list[Block]] = []
    for page in pages:
        words = [w for w in page.words if w.text.strip()]
        specials: list[Block] = []
        if find_tables is not None and page.words:
            for table in find_tables(page):
                if table.box is None:
                    continue
                words = [w for w in words if not table.box.contains_center_of(w.box)]
                specials.append(Block([], table.box, kind="table", payload=table))
        for fig in _figures(page, words, word_body):
            words = [w for w in words if not fig.contains_center_of(w.box)]
            specials.append(Block([], fig, kind="figure"))
        page_lines.append(build_lines(words))
        extras.append(specials)
    body_size = _body_size(pages, page_lines, {})
    furniture = find_furniture(pages, page_lines, body_size)
    for page, lines in zip(pages, page_lines):
        for ln in _margin_notes(lines):
            furniture.setdefault(page.number, {})[id(ln)] = "page_header"
    body_size = _body_size(pages, page_lines, furniture)
    gap = _line_gap(page_lines, body_size)
    style = BodyStyle.of(pages)
    elements: list[Element] = []
    ordered_blocks: list[tuple[PageGeometry, list[Block]]] = []
    page_furniture: dict[int, list[Element]] = {}
    for page, lines, specials in zip(pages, page_lines, extras):
        marks = furniture.get(page.number, {})
        body = [ln for ln in lines if id(ln) not in marks]
        page_furniture[page.number] = [
            Element(marks[id(ln)], ln.text, page.number, ln.box) for ln in lines if id(ln) in marks
        ]
        starts = _block_starts(page, body_size)
        blocks = split_lead_lines(build_blocks(body, gap, body_size, starts))
        blocks = [b for b in blocks if any(ch.isalnum() for ch in b.text)]  # stray symbols of drawings
        for b in blocks + specials:
            b.extra["page"] = page.number
            _classify(b, page, body_size, style)
        rtl = is_rtl(" ".join(ln.text for ln in body[:40]))
        ordered_blocks.append((page, _vector_figures(reading_order(blocks + specials, rtl), body_size)))
    assign_headings(
        [b for _, bl in ordered_blocks for b in bl], body_size, outline, [p for p, _ in ordered_blocks], style.bold
    )
    for page, blocks in ordered_blocks:
        _attach_captions(blocks)
        # Each page in reading order: its running header, its body, its footer.
        page_marks = page_furniture[page.number]
        elements.extend(e for e in page_marks if e.type == "page_header")
        elements.extend(_elements(page, blocks, body_size))
        elements.extend(e for e in page_marks if e.type != "page_header")
    return elements


@dataclass
class BodyStyle:
    """Whether nearly all the document's text is monospaced or bold (then neither marks code or headings)."""

    mono: bool
    bold: bool

    @classmethod
    def of(cls, pages: list[PageGeometry]) -> "BodyStyle":
        """From every word, tables included: what is left beside a table may be all headings."""
        total = mono = bold = 0
        for page in pages:
            for w in page.words:
                n = len(w.text)
                total += n
                mono += n if w.mono else 0
                bold += n if w.bold else 0
        total = total or 1
        return cls(mono=mono / total > 0.8, bold=bold / total > 0.8)


def _margin_notes(lines: list[Line]) -> list[Line]:
    """Sideways lines beside all the other text (an arXiv stamp in the margin): furniture, not body."""
    upright = [ln for ln in lines if not is_sideways(ln)]
    return [
        ln for ln in lines
        if is_sideways(ln) and upright and all(ln.box.x1 <= o.box.x0 or ln.box.x0 >= o.box.x1 for o in upright)
    ]


def _classify(b: Block, page: PageGeometry, body: float, style: "BodyStyle") -> None:
    if b.kind != "paragraph" or not b.lines:
        return
    if b.extra.get("item"):
        if b.size < 0.9 * body and b.box.y0 > FOOTNOTE_ZONE * page.height:
            b.kind = "footnote"  # small numbered notes at the foot of the page
        elif not (len(b.lines) == 1 and heading_like(b, body)):
            b.kind = "list_item"  # a numbered line set larger or in bold is a heading: left to the heading pass
    elif b.mono >= 0.8 and not style.mono:
        b.kind = "code"  # (a document typed in a monospaced font throughout is prose, not code)
    elif _CAPTION_RE.match(b.text):
        b.kind = "caption"


def _figures(page: PageGeometry, words: list[Word], body: float) -> list[Box]:
    """Image boxes worth a figure placeholder; pieces of one picture are merged when no text lies between them."""
    area = max(page.width * page.height, 1.0)
    figs: list[Box] = []
    for box in page.images[:MAX_PICTURES]:
        if box.width < FIGURE_MIN_SIDE or box.height < FIGURE_MIN_SIDE:
            continue
        share = box.width * box.height / area
        if share < FIGURE_MIN_AREA or share > BACKGROUND_AREA:
            continue
        inside = [w for w in words if box.contains_center_of(w.box)]
        if sum(len(w.text) for w in inside if word_size(w) >= 0.9 * body) >= 4:
            continue  # body-size text over it: a background or a banner, not a picture
        figs.append(box)
    # Labels (smaller than body text) may sit between the pieces of one picture; body text may not.
    body_words = [w for w in words if word_size(w) >= 0.9 * body]
    merged = len(figs) <= MAX_MERGED_PICTURES  # past that, tiles stay apart: merging is cubic
    while merged and len(figs) > 1:
        merged = False
        for i in range(len(figs)):
            for j in range(i + 1, len(figs)):
                a, b = figs[i], figs[j]
                if not _overlaps(a, b, 2.0):
                    continue
                union = a.union(b)
                if any(union.contains_center_of(w.box) and not a.contains_center_of(w.box)
                       and not b.contains_center_of(w.box) for w in body_words):
                    continue
                figs[i] = union
                del figs[j]
                merged = True
                break
            if merged:
                break
    return figs


def _overlaps(a: Box, b: Box, tol: float) -> bool:
    return a.x0 - tol < b.x1 and b.x0 - tol < a.x1 and a.y0 - tol < b.y1 and b.y0 - tol < a.y1


def _body_size(pages: list[PageGeometry], page_lines: list[list[Line]], furniture: dict[int, dict[int, str]]) -> float:
    """The size most characters of the body have (furniture aside)."""
    counts: Counter[float] = Counter()
    for page, lines in zip(pages, page_lines):
        marks = furniture.get(page.number, {})
        for ln in lines:
            if id(ln) not in marks:
                counts[round(ln.size * 2) / 2] += ln.chars
    return counts.most_common(1)[0][0] if counts else 10.0


def _line_gap(page_lines: list[list[Line]], body: float) -> float:
    """The usual gap between consecutive lines of body text, in ems (the paragraph leading)."""
    gaps: list[float] = []
    for lines in page_lines:
        body_lines = [ln for ln in lines if abs(ln.size - body) <= 0.15 * body]
        for a, b in zip(body_lines, body_lines[1:]):
            g = b.box.y0 - a.box.y1
            if -0.5 * body < g < 2.0 * body and min(a.box.x1, b.box.x1) - max(a.box.x0, b.box.x0) > 0:
                gaps.append(g / body)
    if not gaps:
        return 0.3
    gaps.sort()
    return min(max(gaps[len(gaps) // 3], 0.0), 1.0)


def _vector_figures(blocks: list[Block], body: float) -> list[Block]:
    """A figure caption with no picture next to it captions a drawing made of lines and labels.

    The labels read before the caption, back to the last paragraph of body text, are the drawing:
    they become one figure (their words are not text of the document).
    """
    out: list[Block] = []
    pictures = [b for b in blocks if b.kind == "figure"]
    for b in blocks:
        if b.kind == "caption" and _FIGURE_CAPTION_RE.match(b.text) and not any(_near(f.box, b) for f in pictures):
            k = len(out)
            while k > 0 and _label_block(out[k - 1], body):
                k -= 1
            if len(out) - k >= 2:
                drawn = out[k:]
                box = drawn[0].box
                for d in drawn[1:]:
                    box = box.union(d.box)
                del out[k:]
                out.append(Block([], box, kind="figure", extra={"page": b.extra.get("page")}))
        out.append(b)
    return out


def _near(box: Box, b: Block) -> bool:
    d = max(box.y0 - b.box.y1, b.box.y0 - box.y1, 0.0)
    return d < 4 * b.size + 12 and min(box.x1, b.box.x1) > max(box.x0, b.box.x0)


def _label_block(b: Block, body: float) -> bool:
    """Short text that is not body prose: labels and callouts of a drawing."""
    if b.kind != "paragraph" or not b.lines:
        return False  # code, lists and tables are text of the document, whatever caption follows
    if numbering_depth(b.text) or b.size >= 1.5 * body:
        return False  # a section heading or a title: the drawing does not reach past it
    prose = len(b.lines) >= 2 and abs(b.size - body) <= 0.06 * body and b.bold < 0.5
    return not prose


def _attach_captions(blocks: list[Block]) -> None:
    """A caption next to a figure becomes the figure's text (read before the placeholder)."""
    figures = [b for b in blocks if b.kind == "figure"]
    for b in blocks:
        if b.kind != "caption" or not _FIGURE_CAPTION_RE.match(b.text):
            continue
        best, best_d = None, 1e9
        for f in figures:
            if f.extra.get("caption") is not None:
                continue
            d = max(f.box.y0 - b.box.y1, b.box.y0 - f.box.y1, 0.0)
            ov = min(f.box.x1, b.box.x1) - max(f.box.x0, b.box.x0)
            if ov > 0 and d < 4 * b.size + 12 and d < best_d:
                best, best_d = f, d
        if best is not None:
            best.extra["caption"] = b
            b.kind = "absorbed"


def _elements(page: PageGeometry, blocks: list[Block], body_size: float) -> list[Element]:
    out: list[Element] = []
    stack: list[float] = []  # marker x positions of the open list levels
    prev_code_lines: list[Line] = []
    for b in blocks:
        if b.kind != "list_item":
            stack.clear()
        if b.kind == "absorbed":
            continue
        if b.kind == "table":
            table = b.payload
            assert isinstance(table, Table)
            out.append(Element("table", _table_text(table), page.number, b.box, table=table))
        elif b.kind == "figure":
            cap = b.extra.get("caption")
            text = paragraph_text(cap.lines) if isinstance(cap, Block) else ""
            box = b.box.union(cap.box) if isinstance(cap, Block) else b.box
            out.append(Element("figure", text, page.number, box))
        elif b.kind in ("heading", "title"):
            out.append(Element(b.kind, paragraph_text(b.lines), page.number, b.box, level=b.extra.get("level")))  # type: ignore[arg-type]
        elif b.kind == "code":
            prev = out[-1] if out else None
            if prev is not None and prev.type == "code" and prev.box is not None and _near_below(prev.box, b):
                # One listing cut into blocks by its blank lines.
                lines = prev_code_lines + b.lines
                prev.text, prev.box = code_text(lines), prev.box.union(b.box)
                prev_code_lines = lines
            else:
                prev_code_lines = list(b.lines)
                out.append(Element("code", code_text(b.lines), page.number, b.box))
        elif b.kind == "list_item":
            out.append(_list_item(page, b, stack))
        elif b.kind in ("caption", "footnote"):
            out.append(Element(b.kind, paragraph_text(b.lines), page.number, b.box))
        else:
            for part in split_paragraphs(b, body_size):
                box = part[0].box
                for ln in part[1:]:
                    box = box.union(ln.box)
                out.append(Element("paragraph", paragraph_text(part), page.number, box))
    return out


def _near_below(box: Box, b: Block) -> bool:
    em = max(b.size, 1.0)
    return -0.5 * em <= b.box.y0 - box.y1 <= 2.5 * em and min(box.x1, b.box.x1) > max(box.x0, b.box.x0)


def _list_item(page: PageGeometry, b: Block, stack: list[float]) -> Element:
    found = line_marker(b.lines[0])
    marker, ordered, first = found if found else ("-", False, b.lines[0].text)
    l0 = b.lines[0]
    head = Line(l0.words, l0.box, l0.size, l0.bold, l0.mono, first, l0.chars)
    body = paragraph_text([head] + b.lines[1:])
    x = b.lines[0].box.x0
    tol = 0.6 * max(b.size, 1.0)
    while stack and x < stack[-1] - tol:
        stack.pop()
    if not stack or x > stack[-1] + tol:
        stack.append(x)
    return Element("list_item", body, page.number, b.box, level=len(stack), ordered=ordered, marker=marker)


def _table_text(table: Table) -> str:
    try:
        from .tables import table_markdown
    except ImportError:
        rows: dict[int, list[str]] = {}
        for c in sorted(table.cells, key=lambda c: (c.row, c.col)):
            rows.setdefault(c.row, []).append(c.text)
        return "\n".join(" | ".join(r) for _, r in sorted(rows.items()))
    return str(table_markdown(table))


def split_paragraphs(b: Block, body_size: float) -> list[list[Line]]:
    """A block's lines split where a first-line indent or a short last line ends a paragraph."""
    lines = b.lines
    if len(lines) < 3:
        return [lines]
    left = min(ln.box.x0 for ln in lines)
    right = max(ln.box.x1 for ln in lines)
    em = max(b.size, 1.0)
    parts: list[list[Line]] = [[lines[0]]]
    for prev, ln in zip(lines, lines[1:]):
        indented = ln.box.x0 > left + 0.8 * em and prev.box.x0 <= left + 0.3 * em
        short_end = prev.box.x1 < right - 4 * em and prev.text.rstrip()[-1:] in ".!?:" and ln.box.x0 <= left + 2 * em
        if indented or short_end:
            parts.append([])
        parts[-1].append(ln)
    return parts


def paragraph_text(lines: list[Line]) -> str:
    """Lines re-flowed into one: a hyphen at a line end is dropped when the next line goes on in lowercase."""
    out = ""
    for ln in lines:
        text = ln.text.strip()
        if not text:
            continue
        if out.endswith(("-", "\u00ad")) and len(out) > 2 and out[-2].isalpha() and text[:1].islower():
            out = out[:-1] + text
        elif out:
            out += " " + text
        else:
            out = text
    return out.replace("\u00ad", "")


def code_text(lines: list[Line]) -> str:
    """Code keeps its lines and their indentation (in character widths of the monospaced font)."""
    if not lines:
        return ""
    left = min(ln.box.x0 for ln in lines)
    out = []
    for ln in lines:
        char_w = _char_width(ln.words)
        indent = int(round((ln.box.x0 - left) / char_w)) if char_w > 0 else 0
        out.append(" " * max(indent, 0) + _spaced(ln.words, char_w))
    return "\n".join(out)


def _char_width(words: list[Word]) -> float:
    n = sum(len(w.text) for w in words)
    return sum(w.box.width for w in words) / n if n else 0.0


def _spaced(words: list[Word], char_w: float) -> str:
    """Words joined with as many spaces as their gaps hold (alignment inside code lines)."""
    out = words[0].text
    for prev, w in zip(words, words[1:]):
        gap = w.box.x0 - prev.box.x1
        n = int(round(gap / char_w)) if char_w > 0 else 1
        out += " " * max(1, min(n, 40)) + w.text
    return out


def furniture_metadata(elements: list[Element]) -> list[dict[str, Any]]:
    """Running headers and footers for the metadata variant: type, page and text."""
    return [{"type": e.type, "page": e.page, "text": e.text} for e in elements if e.type in ("page_header", "page_footer")]


__all__ = ["analyse", "furniture_metadata", "list_marker", "paragraph_text", "word_size"]
