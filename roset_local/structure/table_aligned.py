"""Tables from text alignment: columns are x-ranges every line leaves empty between them, rows are text lines."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from statistics import median

from roset_local.structure.model import Word
from roset_local.structure.table_cells import Line

CHUNK_GAP = 1.0  # in line heights: a wider blank inside a line separates two cells
ROW_GAP = 2.5  # in line heights: a wider blank between lines ends a borderless table
PROSE_WORDS = 5  # a column whose phrases are this long (median) is running text, not cells


@dataclass
class Chunk:
    """A phrase of one line: words closer to each other than a column gap."""

    words: list[Word]
    x0: float
    x1: float


def chunks(line: Line, h: float) -> list[Chunk]:
    """The line's phrases (computed once per line and line height)."""
    cached = line.cache.get(h)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    out: list[Chunk] = []
    for w in line.words:
        if out and w.box.x0 - out[-1].x1 < CHUNK_GAP * h:
            last = out[-1]
            last.words.append(w)
            if w.box.x1 > last.x1:  # max(), without the call: this runs per word
                last.x1 = w.box.x1
        else:
            out.append(Chunk([w], w.box.x0, w.box.x1))
    line.cache[h] = out
    return out


def column_edges(lines: list[Line], x0: float, x1: float, h: float) -> list[float]:
    """Column boundaries [x0, ..., x1] at the x-ranges no phrase of any line covers."""
    if x1 <= x0:
        return [x0, x1]
    spans = sorted((c.x0, c.x1) for line in lines for c in chunks(line, h))
    edges = [x0]
    reach = x0
    for a, b in spans:
        if a - reach >= min(2.0, 0.3 * h) and reach > x0:
            edges.append((reach + a) / 2)
        reach = max(reach, b)
    edges.append(x1)
    return edges


def _cells(line: Line, edges: list[float]) -> list[list[Word]]:
    cols: list[list[Word]] = [[] for _ in range(len(edges) - 1)]
    for w in line.words:
        c = bisect_right(edges, (w.box.x0 + w.box.x1) / 2) - 1
        cols[max(0, min(c, len(cols) - 1))].append(w)
    return cols


def rows_from_lines(lines: list[Line], edges: list[float], h: float, header_lines: int = 0) -> list[list[list[Word]]]:
    """Rows of cells from text lines: the first `header_lines` lines make one header row, and a line that
    leaves the first column empty and fills fewer cells than its row's first line continues that row
    (a wrapped cell), unless a blank wider than a line separates them."""
    rows: list[list[list[Word]]] = []
    starts: list[int] = []  # filled-cell count of each row's first line
    prev: Line | None = None
    for i, line in enumerate(lines):
        cells = _cells(line, edges)
        filled = sum(1 for c in cells if c)
        in_header = i < header_lines and i > 0
        continues = (
            rows and prev is not None and not cells[0] and filled < starts[-1]
            and line.y0 - prev.y1 <= 1.0 * h
        )
        if in_header or continues:
            for c, ws in enumerate(cells):
                rows[-1][c].extend(ws)
        else:
            rows.append(cells)
            starts.append(filled)
        prev = line
    return rows


def is_prose(rows: list[list[list[Word]]]) -> bool:
    """Running text (a multi-column page, a list) rather than cells: long phrases in two or more columns."""
    n_cols = max(len(r) for r in rows)
    prose_cols = 0
    for c in range(n_cols):
        counts = [len(r[c]) for r in rows if c < len(r) and r[c]]
        if counts and median(counts) >= PROSE_WORDS:
            prose_cols += 1
    return prose_cols >= 2 or (n_cols == 2 and prose_cols >= 1)


def _wordy_columns(rows: list[list[list[Word]]]) -> int:
    """Columns holding words somewhere (not only bullets, tick boxes or stray marks)."""
    n_cols = max(len(r) for r in rows)
    return sum(
        1 for c in range(n_cols)
        if any(sum(ch.isalnum() for w in r[c] for ch in w.text) >= 2 for r in rows if c < len(r))
    )


def _mostly_mono(lines: list[Line]) -> bool:
    words = [w for line in lines for w in line.words]
    return bool(words) and sum(w.mono for w in words) >= 0.6 * len(words)


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _compatible(cols: list[tuple[float, float]], line_chunks: list[Chunk], settled: bool) -> bool:
    """A line fits a block when none of its phrases bridges two of the block's columns, nor, once two
    rows have set the columns, opens a new column (a justified line's scattered words)."""
    for ch in line_chunks:
        hit = sum(1 for a, b in cols if ch.x0 < b and ch.x1 > a)
        if hit >= 2 or (settled and hit == 0):
            return False
    return True


def _accept(block: list[Line], h: float) -> list[list[list[Word]]] | None:
    multi = [ln for ln in block if len(chunks(ln, h)) >= 2]
    if len(multi) < 3 or len(multi) < 0.5 * len(block) or _mostly_mono(block):
        return None
    x0 = min(ln.x0 for ln in block)
    x1 = max(ln.x1 for ln in block)
    edges = column_edges(block, x0, x1, h)
    n_cols = len(edges) - 1
    if n_cols < 3:
        return None
    rows = rows_from_lines(block, edges, h)
    if len(rows) < 3 or is_prose(rows) or _wordy_columns(rows) < 2:
        return None
    # every column must hold cells on at least two rows, and the grid must be mostly filled
    for c in range(n_cols):
        if sum(1 for r in rows if r[c]) < 2:
            return None
    filled = sum(1 for r in rows for c in r if c)
    if filled < 0.5 * len(rows) * n_cols:
        return None
    return rows


def borderless(lines: list[Line], h: float) -> list[list[list[list[Word]]]]:
    """Borderless tables among lines of one page region: runs of lines whose phrases keep to >= 3 columns.

    Each table is its rows, each row its cells, each cell its words."""
    found: list[list[list[list[Word]]]] = []
    per_line = [chunks(ln, h) for ln in lines]
    i = 0
    while i < len(lines):
        if len(per_line[i]) < 2:
            i += 1
            continue
        cols = _merged([(c.x0, c.x1) for c in per_line[i]])
        multi = 1
        j = i + 1
        while j < len(lines):
            if lines[j].y0 - lines[j - 1].y1 > ROW_GAP * h or not _compatible(cols, per_line[j], multi >= 2):
                break
            cols = _merged(cols + [(c.x0, c.x1) for c in per_line[j]])
            multi += len(per_line[j]) >= 2
            j += 1
        # a trailing single phrase at the left edge is the paragraph after the table
        while j - 1 > i and len(per_line[j - 1]) == 1 and per_line[j - 1][0].x0 <= cols[0][1]:
            j -= 1
        rows = _accept(lines[i:j], h) if j - i >= 3 else None
        if rows is not None:
            found.append(rows)
            i = j
        else:
            i += 1
    return found


PAGE_TOKEN = 8  # the longest page reference a leader line ends with ("xiii", "A-12", "124")


def _leader_units(line: Line) -> list[tuple[list[Word], Word]]:
    """The `entry . . . . page` units a line is made of (two in a two-column index), or [] when the line
    is not made of such units alone."""
    joined = "".join(w.text for w in line.words)
    if joined.count(".") + joined.count("…") < 4 and all(w.text for w in line.words):
        return []  # a unit needs 4 leader dots (an empty word counts as one): most lines are passed over at once
    units: list[tuple[list[Word], Word]] = []
    start, dots = 0, 0
    for i, w in enumerate(line.words):
        core = w.text.strip(".…")
        if not core:  # a run of leader dots
            dots += max(1, len(w.text))
            continue
        lead = len(w.text) - len(w.text.lstrip(".…"))
        if dots + lead >= 4 and i > start and len(core) <= PAGE_TOKEN and not w.text.endswith(".."):
            units.append((line.words[start:i], w))
            start, dots = i + 1, 0
            continue
        tail = len(w.text) - len(w.text.rstrip(".…"))
        dots = tail if tail >= 2 else 0
    return units if units and start == len(line.words) else []


def leader_rows(lines: list[Line], h: float) -> list[list[list[list[Word]]]]:
    """Tables of contents and indexes: runs of >= 3 lines of `entry . . . . page` (one or more per line),
    as two-column rows, column by column of the page."""
    out: list[list[list[list[Word]]]] = []
    cols: dict[int, list[list[list[Word]]]] = {}
    pending: list[Line] = []  # a wrapped entry's first lines, waiting for their leader line
    last: Line | None = None

    def close() -> None:
        rows = [row for k in sorted(cols) for row in cols[k]]
        if len(rows) >= 3:
            out.append(rows)
        cols.clear()
        pending.clear()

    for line in lines:
        units = _leader_units(line)
        if last is not None and line.y0 - last.y1 > 4 * h:
            close()
        if units:
            for k, (entry, page) in enumerate(units):
                if k == 0 and len(units) == 1:
                    entry = [w for p in pending for w in p.words] + entry
                cols.setdefault(k, []).append([entry, [page]])
            pending.clear()
            last = line
        elif cols and len(pending) < 2:
            pending.append(line)
        else:
            close()
    close()
    return out


def gutters(lines: list[Line], x0: float, x1: float, h: float) -> list[float]:
    """x positions of page-column gutters: blank strips that run down the text (a title may cross one) and
    part running text on both sides (a table's own column gaps part short cells, not prose: no gutter)."""
    if not lines or x1 - x0 < 4 * h:
        return []
    all_chunks = [c for ln in lines for c in chunks(ln, h)]
    n_bins = int(x1 - x0) + 2
    diff = [0] * (n_bins + 1)
    for c in all_chunks:
        diff[max(0, int(c.x0 - x0))] += 1
        diff[min(n_bins, int(c.x1 - x0) + 1)] -= 1
    allowed = max(1, int(0.03 * len(lines)))
    cuts: list[float] = []
    run_start: int | None = None
    count = 0
    seen_text = False
    for i in range(n_bins):
        count += diff[i]
        if count <= allowed and seen_text:
            run_start = i if run_start is None else run_start
            continue
        if count > allowed:
            if run_start is not None and i - run_start >= max(8.0, h):
                cuts.append(x0 + (run_start + i) / 2)
            run_start = None
            seen_text = True
    return [cut for cut in cuts if _prose_both_sides(all_chunks, cut)]


def _prose_both_sides(all_chunks: list[Chunk], cut: float) -> bool:
    """Most words on each side of the cut sit in phrases of >= 4 words (running text, not cells)."""
    for side in ([c for c in all_chunks if c.x1 <= cut], [c for c in all_chunks if c.x0 >= cut]):
        total = sum(len(c.words) for c in side)
        long = sum(len(c.words) for c in side if len(c.words) >= 4)
        if len(side) < 3 or long < 0.6 * total:
            return False
    return True
