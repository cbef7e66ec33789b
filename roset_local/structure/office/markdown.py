"""Markdown from a flat list of document elements; each element learns its character span."""

from __future__ import annotations

from roset_local.structure.model import Element, Table

LIST_INDENT = "    "
IMAGE_MARK = "<!-- image -->"


def table_grid(table: Table) -> list[list[str]]:
    """The table as rows of cell texts, a spanning cell's text repeated over every slot it covers."""
    grid = [["" for _ in range(table.n_cols)] for _ in range(table.n_rows)]
    for cell in table.cells:
        for r in range(cell.row, min(cell.row + cell.rowspan, table.n_rows)):
            for c in range(cell.col, min(cell.col + cell.colspan, table.n_cols)):
                grid[r][c] = cell.text
    return grid


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _carried_rows(table: Table) -> set[int]:
    """Rows whose every filled slot belongs to a cell spanning further down (a pivot table's group row):
    expanded, such a row only repeats what the next row says."""
    continuing: set[int] = set()
    ending: set[int] = set()
    for cell in table.cells:
        if not cell.text:
            continue
        last = min(cell.row + cell.rowspan, table.n_rows) - 1
        continuing.update(range(cell.row, last))
        ending.add(last)
    return {r for r in continuing - ending if r > 0}


def pipe_table(table: Table) -> str:
    skip = _carried_rows(table)
    rows = [row for i, row in enumerate(table_grid(table)) if i not in skip]
    if not rows or not table.n_cols:
        return ""
    lines = ["| " + " | ".join(_cell(t) for t in rows[0]) + " |", "|" + "---|" * table.n_cols]
    lines += ["| " + " | ".join(_cell(t) for t in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def counters_depth(counters: dict[int, int]) -> int:
    return max(counters) if counters else 0


def _block(el: Element, counters: dict[int, int]) -> str:
    if el.type in ("title", "heading"):
        return "#" * max(1, min(el.level or 1, 6)) + " " + " ".join(el.text.split())
    if el.type == "list_item":
        # Never deeper than one level below the list so far: a skipped level would read as code.
        depth = max(1, min(el.level or 1, counters_depth(counters) + 1))
        for deeper in [k for k in counters if k > depth]:
            del counters[deeper]
        if el.ordered:
            counters[depth] = counters.get(depth, 0) + 1
            marker = el.marker or f"{counters[depth]}."
        else:
            counters[depth] = 0
            marker = el.marker or "-"
        return LIST_INDENT * (depth - 1) + f"{marker} {el.text}".rstrip()
    if el.type == "table" and el.table is not None:
        return pipe_table(el.table)
    if el.type == "figure":
        return IMAGE_MARK if not el.text else f"{IMAGE_MARK}\n\n{el.text}"
    if el.type == "code":
        return f"```\n{el.text}\n```"
    if el.type == "formula":
        return f"$${el.text}$$"
    return el.text


def _same_list(prev: Element | None, el: Element) -> bool:
    """Whether `el` continues the list `prev` belongs to (a top-level switch of bullets/numbers starts a new one)."""
    if prev is None or prev.type != "list_item" or el.type != "list_item":
        return False
    return not ((el.level or 1) == 1 and (prev.level or 1) == 1 and el.ordered != prev.ordered)


def render(elements: list[Element]) -> str:
    """Renders the elements in order (furniture left out) and sets each one's `span`.

    List items of one list sit on consecutive lines; every other block is separated by a blank line.
    """
    out: list[str] = []
    pos = 0
    counters: dict[int, int] = {}
    prev: Element | None = None
    for el in elements:
        if el.type in ("page_header", "page_footer"):
            el.span = None
            continue
        if el.type != "list_item":
            counters.clear()
        elif prev is None or prev.type != "list_item":
            counters.clear()
        text = _block(el, counters)
        if not text.strip():
            el.span = None
            continue
        if out:
            sep = "\n" if _same_list(prev, el) else "\n\n"
            out.append(sep)
            pos += len(sep)
        el.span = (pos, pos + len(text))
        out.append(text)
        pos += len(text)
        prev = el
    return "".join(out)
