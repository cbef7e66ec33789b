"""XLSX to document elements: a heading per sheet, one table per contiguous block of filled cells."""

from __future__ import annotations

import datetime as dt
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any

from roset_local.structure.model import Cell, Element, Table

from .xlsx_charts import anchor_of, chart_elements, comment_elements

MAX_CELLS_PER_SHEET = 2_000_000  # beyond this a sheet is cut (guards.py already bounds the inflated size)
MAX_MERGE_AREA = 1_000_000  # a merged range larger than this is read as its top-left cell alone
MAX_TABLE_AREA = 4_000_000  # rows x columns of one rendered table


def xlsx_elements(path: str) -> list[Element]:
    import openpyxl

    with warnings.catch_warnings():  # openpyxl warns about every extension it skips (data validation, ...)
        warnings.simplefilter("ignore")
        # data_only: formulas read as the value Excel last computed and saved, as a reader sees it.
        wb = openpyxl.load_workbook(path, data_only=True, read_only=False)
        # A file written by a program rather than Excel may carry formulas without saved values: those
        # cells show their formula, read from a second load only when the sheets hold formulas at all.
        formulas = openpyxl.load_workbook(path, data_only=False) if _has_formulas(path) else None
    out: list[Element] = []
    try:
        for sheet in wb.worksheets:
            if sheet.sheet_state != "visible":
                continue  # hidden sheets (lookup data, scratch) are not what a reader of the workbook sees
            out.append(Element(type="heading", text=str(sheet.title), level=2))
            out.extend(_sheet_elements(wb, sheet, formulas[sheet.title] if formulas is not None else None))
        for chart_sheet in getattr(wb, "chartsheets", []):
            out.append(Element(type="heading", text=str(chart_sheet.title), level=2))
            out.append(Element(type="figure"))
    finally:
        wb.close()
        if formulas is not None:
            formulas.close()
    return out


def _has_formulas(path: str) -> bool:
    with zipfile.ZipFile(path) as zf:
        return any(
            name.startswith("xl/worksheets/") and name.endswith(".xml") and b"<f" in zf.read(name)
            for name in zf.namelist()
        )


@dataclass
class _Grid:
    text: dict[tuple[int, int], str] = field(default_factory=dict)  # every filled slot, merged ones included
    spans: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # merge origin -> (rows, cols)
    covered: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # merged slot -> its origin


def _sheet_grid(sheet: Any, formula_sheet: Any = None) -> _Grid:
    """Every non-empty cell's displayed text by (row, column); a merged range counts as filled throughout."""
    # openpyxl keeps only the cells the file defines in `_cells`; iter_rows() would materialise the
    # whole declared dimension, which a hostile or sloppy file can set to a million rows.
    stored: dict[tuple[int, int], Any] = getattr(sheet, "_cells", {})
    grid = _Grid()
    for i, (key, cell) in enumerate(stored.items()):
        if i >= MAX_CELLS_PER_SHEET:
            break
        text = display(cell.value, getattr(cell, "number_format", "General"))
        if text:
            grid.text[key] = text
    for key, cell in (getattr(formula_sheet, "_cells", {}) if formula_sheet is not None else {}).items():
        if key not in grid.text and isinstance(cell.value, str) and cell.value.startswith("="):
            grid.text[key] = cell.value  # a formula never computed and saved
    if not grid.text:
        return grid
    # A merge reaching past the last filled row or column (whole-row merges) is clipped there.
    last_row = max(r for r, _ in grid.text)
    last_col = max(c for _, c in grid.text)
    for rng in sheet.merged_cells.ranges:
        origin = (rng.min_row, rng.min_col)
        value = grid.text.get(origin)
        max_row, max_col = min(rng.max_row, last_row), min(rng.max_col, last_col)
        if value is None or (max_row - rng.min_row + 1) * (max_col - rng.min_col + 1) > MAX_MERGE_AREA:
            continue
        grid.spans[origin] = (max_row - rng.min_row + 1, max_col - rng.min_col + 1)
        for r in range(rng.min_row, max_row + 1):
            for c in range(rng.min_col, max_col + 1):
                grid.text[(r, c)] = value
                if (r, c) != origin:
                    grid.covered[(r, c)] = origin
    return grid


def _sheet_elements(workbook: Any, sheet: Any, formula_sheet: Any = None) -> list[Element]:
    grid = _sheet_grid(sheet, formula_sheet)
    placed: list[tuple[tuple[int, int], list[Element]]] = []
    for block in blocks(set(grid.text)):
        placed.append((min(block), _block_elements(grid, block)))
    for image in getattr(sheet, "_images", []):
        placed.append((anchor_of(image), [Element(type="figure")]))
    for chart in getattr(sheet, "_charts", []):
        placed.append((anchor_of(chart), chart_elements(workbook, chart, display)))
    placed.sort(key=lambda item: item[0])
    return [el for _, els in placed for el in els] + comment_elements(sheet)


def _block_elements(grid: _Grid, block: set[tuple[int, int]]) -> list[Element]:
    """One block as a table (merged cells as spans); a title row (one label across the whole block, over
    rows that do hold a table) becomes a paragraph."""
    out: list[Element] = []
    r0, c0 = min(r for r, _ in block), min(c for _, c in block)
    n_rows, n_cols = max(r for r, _ in block) - r0 + 1, max(c for _, c in block) - c0 + 1
    first = [grid.text.get((r0, c)) if (r0, c) in block else None for c in range(c0, c0 + n_cols)]
    rest_is_table = any(
        len({grid.text[(r, c)] for c in range(c0, c0 + n_cols) if (r, c) in block}) > 1 for r in range(r0 + 1, r0 + n_rows)
    )
    if rest_is_table and n_cols > 1 and first[0] and all(v == first[0] for v in first):
        out.append(Element(type="paragraph", text=first[0]))
        block = {(r, c) for r, c in block if r != r0}
        r0, n_rows = r0 + 1, n_rows - 1
    if n_rows * n_cols > MAX_TABLE_AREA:  # a sprawling, mostly empty block: its rows as lines of text
        for r in sorted({r for r, _ in block}):
            out.append(Element(type="paragraph", text=" | ".join(grid.text[k] for k in sorted(block) if k[0] == r)))
        return out
    cells = []
    for r, c in sorted(block):
        origin = grid.covered.get((r, c))
        if origin is not None and origin in block:
            continue  # inside a merge whose origin cell carries the span
        rows, cols = grid.spans.get((r, c), (1, 1)) if origin is None else (1, 1)
        rows, cols = min(rows, r0 + n_rows - r), min(cols, c0 + n_cols - c)
        cells.append(Cell(row=r - r0, col=c - c0, text=grid.text[(r, c)], rowspan=rows, colspan=cols, header=r == r0))
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
            if "E+" in fmt.upper():
                return f"{value:.{decimals}E}"
            text = f"{value:,.{decimals}f}" if "," in fmt else f"{value:.{decimals}f}"
            symbol = _CURRENCY.search(fmt)
            if symbol:
                sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
                text = f"{sign}{symbol.group(1) or symbol.group(2)}{digits}"
            return text
        if isinstance(value, float):
            if value.is_integer() and abs(value) < 1e15:
                return str(int(value))
            return f"{value:.10g}"
        return str(value)
    return " ".join(str(value).split())


# A currency in a number format: Excel's locale form [$€-407] or a literal symbol ($, "€").
_CURRENCY = re.compile(r"\[\$([^-\]]+)[^\]]*\]|([$€£¥₹])")


def _decimals(fmt: str) -> int:
    if "." not in fmt:
        return 0
    tail = fmt.split(".", 1)[1]
    return len(tail) - len(tail.lstrip("0#"))
