"""XLSX to document elements: a heading per sheet, one table per contiguous block of filled cells."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

from roset_local.structure.model import Cell, Element, Table

from .xlsx_charts import anchor_of, chart_elements, comment_elements

MAX_CELLS_PER_SHEET = 2_000_000  # beyond this a sheet is cut (guards.py already bounds the inflated size)


def xlsx_elements(path: str) -> list[Element]:
    import openpyxl

    # data_only: formulas read as the value Excel last computed and saved, as a reader sees it.
    with warnings.catch_warnings():  # openpyxl warns about every extension it skips (data validation, ...)
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, data_only=True, read_only=False)
    out: list[Element] = []
    try:
        for sheet in wb.worksheets:
            out.append(Element(type="heading", text=str(sheet.title), level=2))
            out.extend(_sheet_elements(wb, sheet))
        for chart_sheet in getattr(wb, "chartsheets", []):
            out.append(Element(type="heading", text=str(chart_sheet.title), level=2))
            out.append(Element(type="figure"))
    finally:
        wb.close()
    return out


def _sheet_cells(sheet: Any) -> dict[tuple[int, int], str]:
    """Every non-empty cell's displayed text by (row, column), merged ranges filled with their value."""
    # openpyxl keeps only the cells the file defines in `_cells`; iter_rows() would materialise the
    # whole declared dimension, which a hostile or sloppy file can set to a million rows.
    stored: dict[tuple[int, int], Any] = getattr(sheet, "_cells", {})
    grid: dict[tuple[int, int], str] = {}
    for i, (key, cell) in enumerate(stored.items()):
        if i >= MAX_CELLS_PER_SHEET:
            break
        text = display(cell.value, getattr(cell, "number_format", "General"))
        if text:
            grid[key] = text
    for rng in sheet.merged_cells.ranges:
        value = grid.get((rng.min_row, rng.min_col))
        if value is None:
            continue
        for r in range(rng.min_row, rng.max_row + 1):
            for c in range(rng.min_col, rng.max_col + 1):
                grid[(r, c)] = value
    return grid


def _sheet_elements(workbook: Any, sheet: Any) -> list[Element]:
    grid = _sheet_cells(sheet)
    placed: list[tuple[tuple[int, int], list[Element]]] = []
    for block in blocks(set(grid)):
        placed.append((min(block), _block_elements(grid, block)))
    for image in getattr(sheet, "_images", []):
        placed.append((anchor_of(image), [Element(type="figure")]))
    for chart in getattr(sheet, "_charts", []):
        placed.append((anchor_of(chart), chart_elements(workbook, chart, display)))
    placed.sort(key=lambda item: item[0])
    return [el for _, els in placed for el in els] + comment_elements(sheet)


def _block_elements(grid: dict[tuple[int, int], str], block: set[tuple[int, int]]) -> list[Element]:
    """One block as a table; a title row (one merged label across the whole block) becomes a paragraph."""
    out: list[Element] = []
    rows = [r for r, _ in block]
    cols = [c for _, c in block]
    r0, c0 = min(rows), min(cols)
    n_rows, n_cols = max(rows) - r0 + 1, max(cols) - c0 + 1
    first = [grid.get((r0, c)) if (r0, c) in block else None for c in range(c0, c0 + n_cols)]
    if n_rows > 1 and n_cols > 1 and first[0] and all(v == first[0] for v in first):
        out.append(Element(type="paragraph", text=first[0]))
        block = {(r, c) for r, c in block if r != r0}
        r0, n_rows = r0 + 1, n_rows - 1
    cells = [
        Cell(row=r - r0, col=c - c0, text=grid[(r, c)], header=r == r0)
        for r in range(r0, r0 + n_rows)
        for c in range(c0, c0 + n_cols)
        if (r, c) in block
    ]
    out.append(Element(type="table", table=Table(n_rows=n_rows, n_cols=n_cols, cells=cells)))
    return out


def blocks(filled: set[tuple[int, int]]) -> list[set[tuple[int, int]]]:
    """Groups of cells that touch by an edge, in reading order of their first cell."""
    seen: set[tuple[int, int]] = set()
    groups: list[set[tuple[int, int]]] = []
    for start in sorted(filled):
        if start in seen:
            continue
        group = {start}
        seen.add(start)
        stack = [start]
        while stack:
            r, c = stack.pop()
            for nb in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if nb in filled and nb not in seen:
                    seen.add(nb)
                    group.add(nb)
                    stack.append(nb)
        groups.append(group)
    return groups


def display(value: Any, number_format: str = "General") -> str:
    """A cell value as the sheet shows it, as far as the common number formats go."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (int, float)):
        fmt = (number_format or "General").split(";")[0]
        if "%" in fmt:
            decimals = _decimals(fmt)
            return f"{value * 100:.{decimals}f}%"
        if fmt != "General" and "0" in fmt:
            decimals = _decimals(fmt)
            text = f"{value:,.{decimals}f}" if "," in fmt else f"{value:.{decimals}f}"
            return text
        if isinstance(value, float):
            if value.is_integer() and abs(value) < 1e15:
                return str(int(value))
            return f"{value:.10g}"
        return str(value)
    return " ".join(str(value).split())


def _decimals(fmt: str) -> int:
    if "." not in fmt:
        return 0
    tail = fmt.split(".", 1)[1]
    return len(tail) - len(tail.lstrip("0#"))
