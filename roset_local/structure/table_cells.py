"""Shared pieces of table finding: text lines, cell text in reading order, and building a Table from a grid."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Callable

from roset_local.structure.lines import is_rtl
from roset_local.structure.model import Box, Cell, Table, Word


@dataclass
class Line:
    """Words sharing a baseline band, left to right."""

    words: list[Word] = field(default_factory=list)
    y0: float = 0.0
    y1: float = 0.0
    cache: dict[float, Any] = field(default_factory=dict)  # derived views (phrases per line height)

    @property
    def x0(self) -> float:
        return self.words[0].box.x0

    @property
    def x1(self) -> float:
        return max(w.box.x1 for w in self.words)

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def group_lines(words: list[Word]) -> list[Line]:
    """Words grouped into lines by vertical overlap, top to bottom, each line's words left to right."""
    lines: list[Line] = []
    keyed = sorted(((w.box.y0 + w.box.y1) / 2, w.box.y0, w.box.y1, i) for i, w in enumerate(words))
    # min and max written out (the same results): this runs per word of every table candidate.
    for _, y0, y1, i in keyed:
        h = y1 - y0
        if 0.1 > h:
            h = 0.1
        joined = None
        for line in lines[-1:-4:-1]:  # only recent lines can still take a word
            ly0, ly1 = line.y0, line.y1
            lh = ly1 - ly0
            if 0.1 > lh:
                lh = 0.1
            if (y1 if y1 < ly1 else ly1) - (y0 if y0 > ly0 else ly0) >= 0.5 * (h if h < lh else lh):
                joined = line
                break
        if joined is None:
            lines.append(Line([words[i]], y0, y1))
            continue
        joined.words.append(words[i])
        # a tall glyph (a bracket, a rotated run) must not swallow the lines around it
        jh = joined.y1 - joined.y0
        if h <= 2 * (0.1 if 0.1 > jh else jh):
            if y0 < joined.y0:
                joined.y0 = y0
            if y1 > joined.y1:
                joined.y1 = y1
    for line in lines:
        line.words.sort(key=lambda w: w.box.x0)
    lines.sort(key=lambda ln: ln.y0)
    return lines


def sub_lines(lines: list[Line], keep: Callable[[Word], bool]) -> list[Line]:
    """The same lines restricted to the words `keep` accepts (empty lines dropped)."""
    out: list[Line] = []
    for line in lines:
        ws = [w for w in line.words if keep(w)]
        if ws:
            out.append(Line(ws, min(w.box.y0 for w in ws), max(w.box.y1 for w in ws)))
    return out


def reading_text(words: list[Word]) -> str:
    """The words of one cell in reading order (lines top to bottom, words left to right), space-joined."""
    if not words:
        return ""
    if len(words) == 1:
        return words[0].text.strip()
    lines = group_lines(words)
    if _vertical(lines):
        return _vertical_text(words)
    text = " ".join(w.text for line in lines for w in line.words).strip()
    if is_rtl(text):  # right-to-left script: each line's words read from the right
        text = " ".join(w.text for line in lines for w in reversed(line.words)).strip()
    return text


def mirror_if_rtl(table: Table) -> None:
    """Right-to-left tables start at the right: column 0 becomes the rightmost column."""
    if not is_rtl(" ".join(c.text for c in table.cells)):
        return
    for cell in table.cells:
        cell.col = table.n_cols - cell.col - cell.colspan
    table.cells.sort(key=lambda c: (c.row, c.col))


def _vertical(lines: list[Line]) -> bool:
    """A column header set sideways: a stack of single glyphs, one per line, in one narrow column."""
    if len(lines) < 3 or any(len(ln.words) != 1 or len(ln.words[0].text) > 2 for ln in lines):
        return False
    centres = [(ln.words[0].box.x0 + ln.words[0].box.x1) / 2 for ln in lines]
    width = max(ln.words[0].box.width for ln in lines)
    return max(centres) - min(centres) <= width


def _vertical_text(words: list[Word]) -> str:
    # Tables turn headers 90 degrees counter-clockwise, so the text reads from the bottom up; a
    # blank taller than a third of a glyph between two glyphs is a space.
    ordered = sorted(words, key=lambda w: -w.box.y1)
    gap = 0.3 * median(w.box.height for w in words)
    out = ordered[0].text
    for prev, w in zip(ordered, ordered[1:]):
        out += (" " if prev.box.y0 - w.box.y1 > gap else "") + w.text
    return out


def text_height(words: list[Word]) -> float:
    """A robust line height for a set of words (the median word height; 10 pt when empty)."""
    heights = [h for h in (w.box.y1 - w.box.y0 for w in words) if h > 0]  # Box.height, computed once a word
    return median(heights) if heights else 10.0


def _bold_row(cells: list[Cell], words_of: dict[int, list[Word]]) -> bool:
    filled = [c for c in cells if words_of.get(id(c))]
    return bool(filled) and all(all(w.bold for w in words_of[id(c)]) for c in filled)


def mark_headers(table: Table, words_of: dict[int, list[Word]]) -> None:
    """Flags the first row, and the bold rows right under it, as header rows."""
    rows: dict[int, list[Cell]] = {}
    for cell in table.cells:
        rows.setdefault(cell.row, []).append(cell)
    header_rows = {0}
    for r in range(1, table.n_rows):
        if r in rows and _bold_row(rows[r], words_of) and _bold_row(rows.get(0, []), words_of):
            header_rows.add(r)
        else:
            break
    for cell in table.cells:
        cell.header = cell.row in header_rows


@dataclass
class GridCell:
    """A cell of a ruled grid before text assignment: its top-left grid position and spans."""

    row: int
    col: int
    rowspan: int = 1
    colspan: int = 1


def table_from_grid(xs: list[float], ys: list[float], grid: list[GridCell], words: list[Word],
                    ruled: bool) -> tuple[Table, list[Word]]:
    """Fills a grid (column edges xs, row edges ys) with the words whose centres fall in each cell.

    Returns the table and the words it took. Rows and columns left entirely empty are kept: the
    rules drew them, and dropping one would shift every span.
    """
    n_rows, n_cols = len(ys) - 1, len(xs) - 1
    owner: list[list[Cell | None]] = [[None] * n_cols for _ in range(n_rows)]
    cells: list[Cell] = []
    for g in grid:
        cell = Cell(row=g.row, col=g.col, text="", rowspan=g.rowspan, colspan=g.colspan,
                    box=Box(xs[g.col], ys[g.row], xs[g.col + g.colspan], ys[g.row + g.rowspan]))
        cells.append(cell)
        for r in range(g.row, g.row + g.rowspan):
            for c in range(g.col, g.col + g.colspan):
                owner[r][c] = cell
    words_of: dict[int, list[Word]] = {}
    taken: list[Word] = []
    for w in words:
        cx, cy = (w.box.x0 + w.box.x1) / 2, (w.box.y0 + w.box.y1) / 2
        if not (xs[0] <= cx <= xs[-1] and ys[0] <= cy <= ys[-1]):
            continue
        c = min(bisect_right(xs, cx) - 1, n_cols - 1)
        r = min(bisect_right(ys, cy) - 1, n_rows - 1)
        hit = owner[r][c]
        if hit is None:
            continue
        words_of.setdefault(id(hit), []).append(w)
        taken.append(w)
    for cell in cells:
        cell.text = reading_text(words_of.get(id(cell), []))
    cells.sort(key=lambda c: (c.row, c.col))
    table = Table(n_rows=n_rows, n_cols=n_cols, cells=cells, box=Box(xs[0], ys[0], xs[-1], ys[-1]), ruled=ruled)
    mark_headers(table, words_of)
    mirror_if_rtl(table)
    return table, taken


def table_from_rows(rows: list[list[list[Word]]], ruled: bool) -> tuple[Table, list[Word]]:
    """A table from rows of cells given as word lists (text alignment: no spans)."""
    n_cols = max(len(r) for r in rows)
    cells: list[Cell] = []
    words_of: dict[int, list[Word]] = {}
    taken: list[Word] = []
    box: Box | None = None
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ws = row[c] if c < len(row) else []
            cell_box = None
            for w in ws:
                cell_box = w.box if cell_box is None else cell_box.union(w.box)
            cell = Cell(row=r, col=c, text=reading_text(ws), box=cell_box)
            cells.append(cell)
            words_of[id(cell)] = ws
            taken.extend(ws)
            if cell_box is not None:
                box = cell_box if box is None else box.union(cell_box)
    table = Table(n_rows=len(rows), n_cols=n_cols, cells=cells, box=box, ruled=ruled)
    mark_headers(table, words_of)
    mirror_if_rtl(table)
    return table, taken
