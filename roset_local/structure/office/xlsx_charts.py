"""Charts and comments of a worksheet as elements: the chart's title, a figure, the data it plots."""

from __future__ import annotations

from typing import Any

from roset_local.structure.model import Element

from .chart_xml import chart_head, chart_table


def anchor_of(drawing: Any) -> tuple[int, int]:
    """(row, column), 1-based, of a chart's or picture's top-left anchor cell (0, 0 when unknown)."""
    start = getattr(getattr(drawing, "anchor", None), "_from", None)
    if start is None:
        return 0, 0
    return int(start.row) + 1, int(start.col) + 1


def _rich_text(title: Any) -> str:
    rich = getattr(getattr(title, "tx", None), "rich", None)
    if rich is None:
        return ""
    runs = [r.t for p in rich.p or [] for r in (p.r or []) if getattr(r, "t", None)]
    return " ".join("".join(runs).split())


def _ref(ref: Any) -> str | None:
    if ref is None:
        return None
    for kind in ("numRef", "strRef"):
        inner = getattr(ref, kind, None)
        if inner is not None and getattr(inner, "f", None):
            return str(inner.f)
    return None


def _values(workbook: Any, formula: str | None) -> list[Any]:
    """The cell values a chart reference like `'Sheet 1'!$B$2:$B$9` points at, row-major."""
    from openpyxl.utils.cell import range_boundaries

    if not formula or "!" not in formula:
        return []
    sheet_name, cells = formula.rsplit("!", 1)
    sheet_name = sheet_name.strip("'").replace("''", "'")
    if sheet_name not in workbook.sheetnames:
        return []
    sheet = workbook[sheet_name]
    try:
        min_col, min_row, max_col, max_row = range_boundaries(cells.replace("$", ""))
    except (ValueError, TypeError):
        return []
    if (max_row - min_row + 1) * (max_col - min_col + 1) > 10_000:
        return []
    stored: dict[tuple[int, int], Any] = getattr(sheet, "_cells", {})
    out = []
    for r in range(min_row, max_row + 1):
        for c in range(min_col, max_col + 1):
            cell = stored.get((r, c))
            out.append(cell.value if cell is not None else None)
    return out


def chart_elements(workbook: Any, chart: Any, display: Any) -> list[Element]:
    out = chart_head(_rich_text(getattr(chart, "title", None)))
    names: list[str] = []
    columns: list[list[str]] = []
    categories: list[Any] = []
    for s in list(getattr(chart, "series", []) or []):
        name_values = _values(workbook, _ref(getattr(s, "tx", None)) if getattr(s, "tx", None) else None)
        names.append(display(name_values[0]) if name_values else "")
        values = _values(workbook, _ref(getattr(s, "val", None)) or _ref(getattr(s, "yVal", None)))
        columns.append([display(v) for v in values])
        if not categories:
            categories = _values(workbook, _ref(getattr(s, "cat", None)) or _ref(getattr(s, "xVal", None)))
    table = chart_table(names, columns, [display(c) for c in categories])
    return out + ([table] if table is not None else [])


def comment_elements(sheet: Any) -> list[Element]:
    """Cell comments as paragraphs, in cell order; threaded comments without Excel's legacy notice."""
    stored: dict[tuple[int, int], Any] = getattr(sheet, "_cells", {})
    out = []
    for key in sorted(stored):
        cell = stored[key]
        comment = getattr(cell, "comment", None)
        if comment is None or not comment.text:
            continue
        text = str(comment.text)
        author = str(comment.author or "")
        if text.startswith("[Threaded comment]") and "Comment:" in text:
            text = text.split("Comment:", 1)[1].replace("Reply:", " Reply:")
            author = ""
        text = " ".join(text.split())
        who = f" by {author}" if author and not author.startswith("tc=") else ""
        out.append(Element(type="paragraph", text=f"Comment{who} on {cell.coordinate}: {text}"))
    return out
