"""DrawingML charts (the chart parts of DOCX, and any package) as elements, from the values cached in the part."""

from __future__ import annotations

from typing import Any

from roset_local.structure.model import Cell, Element, Table

_C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
MAX_POINTS = 10_000


def _points(ref: Any) -> list[str]:
    """The cached values (c:strCache / c:numCache / literal) under a c:tx, c:cat or c:val element."""
    if ref is None:
        return []
    values: dict[int, str] = {}
    for pt in ref.iter(f"{_C}pt"):
        try:
            idx = int(pt.get("idx") or 0)
        except ValueError:
            continue
        v = pt.find(f"{_C}v")
        if v is not None and v.text is not None and 0 <= idx < MAX_POINTS:
            values[idx] = v.text
    if not values:
        return []
    return [values.get(i, "") for i in range(max(values) + 1)]


def _first(parent: Any, *tags: str) -> Any:
    for tag in tags:
        found = parent.find(f"{_C}{tag}")
        if found is not None:
            return found
    return None


def _number(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        return text
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


def chart_head(title: str) -> list[Element]:
    """A chart's title (when it has one) and its figure."""
    text = " ".join(title.split())
    return ([Element(type="paragraph", text=text)] if text else []) + [Element(type="figure")]


def chart_table(names: list[str], columns: list[list[str]], categories: list[str]) -> Element | None:
    """The data a chart plots: a row per category, a column per series (None when there is no data)."""
    n_rows = max((len(c) for c in columns), default=0)
    if not n_rows:
        return None
    cells = [Cell(row=0, col=0, text="", header=True)]
    cells += [Cell(row=0, col=i + 1, text=name, header=True) for i, name in enumerate(names)]
    for r in range(n_rows):
        cells.append(Cell(row=r + 1, col=0, text=categories[r] if r < len(categories) else str(r + 1)))
        for i, col in enumerate(columns):
            cells.append(Cell(row=r + 1, col=i + 1, text=col[r] if r < len(col) else ""))
    return Element(type="table", table=Table(n_rows=n_rows + 1, n_cols=len(names) + 1, cells=cells))


def chart_elements(root: Any) -> list[Element]:
    """Title paragraph, a figure, and a table of categories by series (as the chart last cached them)."""
    title = root.find(f"{_C}chart/{_C}title")
    out = chart_head("".join(t.text or "" for t in title.iter(f"{_A}t")) if title is not None else "")
    series = list(root.iter(f"{_C}ser"))
    names: list[str] = []
    columns: list[list[str]] = []
    categories: list[Any] = []
    for i, ser in enumerate(series):
        name = _points(ser.find(f"{_C}tx"))
        names.append(name[0] if name else f"Series {i + 1}")
        columns.append([_number(v) for v in _points(_first(ser, "val", "yVal"))])
        if not categories:
            categories = _points(_first(ser, "cat", "xVal"))
    table = chart_table(names, columns, [_number(c) for c in categories])
    if table is not None:
        out.append(table)
    return out
