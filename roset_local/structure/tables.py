"""Tables of a page: found from ruling lines, from rules plus text alignment, and from alignment alone; rendered
as markdown.

Entry points: `find_tables(page)` and `table_markdown(table)`. Order of the search: frames of touching
horizontal+vertical rules (ruled grids, merged cells from missing interior rules); pairs of loose
horizontal rules (booktabs: top/mid/bottom rules, columns from alignment); dot-leader lists (tables of
contents); then borderless blocks of aligned text, page column by page column.
"""

from __future__ import annotations

import html
from bisect import bisect_right
from collections.abc import Callable
from statistics import median

from roset_local.structure.model import Box, PageGeometry, Table, Word
from roset_local.structure.table_aligned import (
    borderless,
    chunks,
    column_edges,
    gutters,
    is_prose,
    leader_rows,
    rows_from_lines,
)
from roset_local.structure.table_cells import (
    GridCell,
    Line,
    group_lines,
    sub_lines,
    table_from_grid,
    table_from_rows,
    text_height,
)
from roset_local.structure.table_rules import SNAP, Frame, Seg, cluster, covered, frames

LINE_ROWS_MAX_RULES = 1  # with at most this many interior horizontal rules, text lines make the rows


def find_tables(page: PageGeometry) -> list[Table]:
    """Every table on the page, top to bottom; each word belongs to at most one table."""
    words = [w for w in page.words if w.text.strip()]
    if not words:
        return []
    h = text_height(words)
    found: list[Table] = []
    free = {id(w) for w in words}

    def take(table: Table | None, taken: list[Word]) -> None:
        if table is None:
            return
        found.append(table)
        for w in taken:
            free.discard(id(w))

    frame_list, loose = frames(page)
    for frame in sorted(frame_list, key=lambda f: f.box.y0):
        take(*_frame_table(frame, [w for w in words if id(w) in free], h, page))
    for top, bottom, mids in _rule_bands(loose, [w for w in words if id(w) in free], h):
        take(*_band_table(top, bottom, mids, [w for w in words if id(w) in free], h))
    lines = group_lines([w for w in words if id(w) in free])
    for rows in leader_rows(lines, h):
        take(*table_from_rows(rows, ruled=False))
    lines = sub_lines(lines, lambda w: id(w) in free)
    regions = _regions(lines, h)
    for region in regions:
        for rows in borderless(region, h):
            take(*table_from_rows(rows, ruled=False))
    if len(regions) > 1:
        # a table set across the page columns (its own column gap on the gutter) is read whole
        for rows in borderless(sub_lines(lines, lambda w: id(w) in free), h):
            take(*table_from_rows(rows, ruled=False))
    found.sort(key=lambda t: (t.box.y0, t.box.x0) if t.box else (0.0, 0.0))
    return found


def _inside(words: list[Word], box: Box) -> list[Word]:
    return [w for w in words if box.contains_center_of(w.box)]


def _frame_table(frame: Frame, words: list[Word], h: float, page: PageGeometry) -> tuple[Table | None, list[Word]]:
    box = frame.box
    if box.width >= 0.9 * page.width and box.height >= 0.9 * page.height:
        return None, []  # the page's own border (or a spread's two borders)
    xs = cluster([v.pos for v in frame.vs] + [box.x0, box.x1])
    ys = cluster([s.pos for s in frame.hs] + [box.y0, box.y1])
    inner_v = len(xs) - 2
    inner_h = len(ys) - 2
    if inner_v + inner_h == 0 or box.width < 2 * h or box.height < h:
        return None, []  # a plain box (a figure frame, a note) is no table
    inside = _inside(words, box)
    if not inside:
        return None, []
    if inner_h <= LINE_ROWS_MAX_RULES:
        # ruled columns (or a boxed booktabs table) with unruled rows: text lines make the rows
        edges = xs if inner_v else column_edges(group_lines(inside), box.x0, box.x1, h)
        return _line_table(inside, edges, ys[1] if inner_h else None, h, ruled_columns=inner_v > 0)
    if inner_v == 0:
        # rows ruled, columns only by alignment: every gap becomes a virtual vertical rule
        if not _tabular(inside, box.x0, box.x1, h):
            return None, []  # paragraphs between rules (a ruled note, a form's text)
        xs = column_edges(group_lines(inside), box.x0, box.x1, h)
        virtual = [Seg(x, box.y0, box.y1) for x in xs]
        return _grid_table(xs, ys, frame.hs, virtual, inside)
    return _grid_table(xs, ys, frame.hs, frame.vs, inside)


def _grid_table(xs: list[float], ys: list[float], hs: list[Seg], vs: list[Seg],
                words: list[Word]) -> tuple[Table | None, list[Word]]:
    xs = _drop_empty(xs, [(w.box.x0 + w.box.x1) / 2 for w in words])
    ys = _drop_empty(ys, [(w.box.y0 + w.box.y1) / 2 for w in words])
    n_rows, n_cols = len(ys) - 1, len(xs) - 1
    if n_rows < 2 or n_cols < 2:
        return None, []
    taken_grid = [[False] * n_cols for _ in range(n_rows)]
    grid: list[GridCell] = []
    for r in range(n_rows):
        for c in range(n_cols):
            if taken_grid[r][c]:
                continue
            cs = 1
            while (c + cs < n_cols and not taken_grid[r][c + cs]
                   and not covered(vs, xs[c + cs], ys[r], ys[r + 1])):
                cs += 1
            rs = 1
            while r + rs < n_rows and not any(taken_grid[r + rs][c:c + cs]) and not any(
                covered(hs, ys[r + rs], xs[k], xs[k + 1]) for k in range(c, c + cs)
            ):
                rs += 1
            for rr in range(r, r + rs):
                for cc in range(c, c + cs):
                    taken_grid[rr][cc] = True
            grid.append(GridCell(r, c, rs, cs))
    # a drawing made of boxes (a diagram, a cover layout) merges most of its grid into a few big
    # regions, or leaves most of it empty; a table does neither
    spanned = sum(g.rowspan * g.colspan for g in grid if g.rowspan * g.colspan > 1)
    if len(grid) < 2 or spanned > 0.5 * n_rows * n_cols:
        return None, []
    table, taken = table_from_grid(xs, ys, grid, words, ruled=True)
    if sum(1 for cell in table.cells if cell.text) < max(2, 0.4 * len(table.cells)):
        return None, []
    return table, taken


def _drop_empty(edges: list[float], centres: list[float]) -> list[float]:
    """Grid edges without the columns (rows) that no word falls in: the inset edge of a cell's shading,
    a spacer row. The empty strip joins its neighbour."""
    if len(edges) <= 3:
        return edges
    counts = [0] * (len(edges) - 1)
    for c in centres:
        k = bisect_right(edges, c) - 1
        if 0 <= k < len(counts):
            counts[k] += 1
    keep = [edges[0]]
    for k in range(len(counts)):
        nxt = edges[k + 1]
        if counts[k] == 0 and k + 1 < len(counts):
            continue  # drop this strip's far edge: it merges into the next strip
        if counts[k] == 0 and k + 1 == len(counts) and len(keep) > 1:
            keep[-1] = nxt  # the last strip is empty: the previous strip extends to the border
            continue
        keep.append(nxt)
    return keep


def _line_table(words: list[Word], edges: list[float], header_bottom: float | None, h: float,
                ruled_columns: bool) -> tuple[Table | None, list[Word]]:
    if len(edges) < 3:
        return None, []
    lines = group_lines(words)
    header_lines = sum(1 for ln in lines if header_bottom is not None and ln.y1 <= header_bottom + SNAP)
    rows = rows_from_lines(lines, edges, h, header_lines=header_lines)
    rows = [r for r in rows if any(r)]
    if len(rows) < 2 or is_prose(rows):
        return None, []
    if not ruled_columns and any(sum(1 for r in rows if r[c]) < 0.5 * len(rows) for c in range(len(edges) - 1)):
        return None, []  # columns found by alignment must each hold text on most rows (not a stray `*/`)
    if sum(1 for r in rows for c in r if c) < 2 * 2:
        return None, []
    return table_from_rows(rows, ruled=True)


def _rule_bands(loose: list[Seg], words: list[Word], h: float) -> list[tuple[Seg, Seg, list[Seg]]]:
    """Stacks of loose horizontal rules of (nearly) the same extent: a top and a bottom rule with the
    mid rules between them (booktabs), each stack a table candidate. A stack breaks where the text
    between two of its rules is not tabular (a running header's rule above a page of paragraphs)."""
    long = sorted((s for s in loose if s.b - s.a >= max(50.0, 6 * h)), key=lambda s: s.pos)
    out: list[tuple[Seg, Seg, list[Seg]]] = []
    used: set[int] = set()
    for i, top in enumerate(long):
        if i in used:
            continue
        same = [j for j in range(i + 1, len(long))
                if abs(long[j].a - top.a) <= 3 * SNAP and abs(long[j].b - top.b) <= 3 * SNAP]
        used.update(same)
        run = [top]
        for nxt in (long[j] for j in same):
            band = _inside(words, Box(top.a, run[-1].pos, top.b, nxt.pos))
            if not _tabular(band, top.a, top.b, h):
                if len(run) >= 2:
                    out.append((run[0], run[-1], run[1:-1]))
                run = []
            run.append(nxt)
        if len(run) >= 2:
            out.append((run[0], run[-1], run[1:-1]))
    return out


def _tabular(words: list[Word], x0: float, x1: float, h: float) -> bool:
    """Whether the text between two rules could be rows of a table (or there is none: a double rule)."""
    if not words:
        return True
    lines = group_lines(words)
    edges = column_edges(lines, x0, x1, h)
    if len(edges) < 3:
        return len(lines) <= 2  # a header or a single row may hold one spanning cell
    return not is_prose(rows_from_lines(lines, edges, h))


def _band_table(top: Seg, bottom: Seg, mids: list[Seg], words: list[Word],
                h: float) -> tuple[Table | None, list[Word]]:
    if bottom.pos - top.pos < 1.5 * h:
        return None, []
    box = Box(min(top.a, bottom.a), top.pos, max(top.b, bottom.b), bottom.pos)
    inside = _inside(words, box)
    if not inside:
        return None, []
    edges = column_edges(group_lines(inside), box.x0, box.x1, h)
    if len(mids) > LINE_ROWS_MAX_RULES:
        ys = [top.pos] + [m.pos for m in mids] + [bottom.pos]
        # rules drawn only between rows leave the first and last rows outside: take a row-high band
        # beyond either end when its text keeps to the columns
        pitch = median(b - a for a, b in zip(ys, ys[1:]))
        for y_from, y_to, above in ((top.pos - pitch, top.pos, True), (bottom.pos, bottom.pos + pitch, False)):
            band = _inside(words, Box(box.x0, y_from, box.x1, y_to))
            if band and _keeps_columns(band, edges, h):
                ys = [y_from] + ys if above else ys + [y_to]
                inside += band
        virtual = [Seg(x, ys[0], ys[-1]) for x in edges]
        return _grid_table(edges, ys, mids + [top, bottom], virtual, inside)
    return _line_table(inside, edges, mids[0].pos if mids else None, h, ruled_columns=False)


def _keeps_columns(words: list[Word], edges: list[float], h: float) -> bool:
    """Text of one row band whose phrases each sit in one column, in at least two columns."""
    used: set[int] = set()
    for line in group_lines(words):
        for ch in chunks(line, h):
            first = bisect_right(edges, ch.x0) - 1
            if first != bisect_right(edges, ch.x1) - 1:
                return False
            used.add(first)
    return len(used) >= 2


def _regions(lines: list[Line], h: float) -> list[list[Line]]:
    """The page's lines split at column gutters, so a table in one column is not read across the other."""
    if not lines:
        return []
    x0 = min(ln.x0 for ln in lines)
    x1 = max(ln.x1 for ln in lines)
    cuts = gutters(lines, x0, x1, h)
    if not cuts:
        return [lines]
    bounds = [x0 - 1] + cuts + [x1 + 1]
    regions = [sub_lines(lines, _centre_between(a, b)) for a, b in zip(bounds, bounds[1:])]
    return [r for r in regions if r]


def _centre_between(a: float, b: float) -> Callable[[Word], bool]:
    return lambda w: a <= (w.box.x0 + w.box.x1) / 2 < b


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def table_markdown(table: Table, repeat_spans: bool = False) -> str:
    """A GitHub pipe table (first row as header), or an HTML table when a cell spans rows or columns.

    `repeat_spans` renders a table with merged cells as a pipe table too, the merged cell's text
    repeated in every row and column it covers (the convention of docling's markdown export).
    """
    if table.spans and not repeat_spans:
        return _html_table(table)
    grid = [[""] * table.n_cols for _ in range(table.n_rows)]
    for cell in table.cells:
        for r in range(max(cell.row, 0), min(cell.row + cell.rowspan, table.n_rows)):
            for c in range(max(cell.col, 0), min(cell.col + cell.colspan, table.n_cols)):
                grid[r][c] = _md_cell(cell.text)
    lines = ["| " + " | ".join(grid[0]) + " |", "|" + "|".join(["---"] * table.n_cols) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in grid[1:]]
    return "\n".join(lines)


def _html_table(table: Table) -> str:
    rows: dict[int, list[str]] = {}
    for cell in sorted(table.cells, key=lambda c: (c.row, c.col)):
        tag = "th" if cell.header else "td"
        attrs = ""
        if cell.rowspan > 1:
            attrs += f' rowspan="{cell.rowspan}"'
        if cell.colspan > 1:
            attrs += f' colspan="{cell.colspan}"'
        text = html.escape(cell.text.replace("\n", " "), quote=False)
        rows.setdefault(cell.row, []).append(f"<{tag}{attrs}>{text}</{tag}>")
    out = ["<table>"]
    for r in range(table.n_rows):
        out.append("<tr>" + "".join(rows.get(r, [])) + "</tr>")
    out.append("</table>")
    return "\n".join(out)
