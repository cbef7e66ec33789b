"""PPTX to document elements: slide titles as headings, bullets as nested lists, tables, pictures, charts."""

from __future__ import annotations

from typing import Any, Iterable

from roset_local.structure.model import Cell, Element, Table

from .chart_xml import chart_head, chart_table
from .pptx_comments import comment_authors, slide_comments
from .xlsx import display

_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
ROW_BAND = 0.04  # shapes whose tops differ by less than this share of the slide height sit in one row


def pptx_elements(path: str) -> tuple[list[Element], int]:
    """The slides' elements (each with its slide number as `page`) and the number of slides."""
    import pptx

    prs = pptx.Presentation(path)
    height = int(prs.slide_height or 6858000)
    authors = comment_authors(prs)
    out: list[Element] = []
    for number, slide in enumerate(prs.slides, start=1):
        slide_out: list[Element] = []
        for shape in reading_order(list(slide.shapes), height):
            slide_out.extend(_shape(shape, height))
        slide_out.extend(slide_comments(slide, authors))
        notes = _notes(slide)
        if notes:
            slide_out.append(Element(type="paragraph", text=f"Notes: {notes}"))
        for el in slide_out:
            el.page = number
        out.extend(slide_out)
    return out, len(prs.slides)


def _top_left(shape: Any) -> tuple[int, int]:
    try:
        return int(shape.top or 0), int(shape.left or 0)
    except (AttributeError, ValueError, TypeError):
        return 0, 0


def reading_order(shapes: list[Any], height: int) -> list[Any]:
    """Top to bottom; shapes starting at about the same height (one row) left to right."""
    placed = sorted(shapes, key=_top_left)
    rows: list[list[Any]] = []
    band = ROW_BAND * height
    for shape in placed:
        top = _top_left(shape)[0]
        if rows and top - _top_left(rows[-1][0])[0] <= band:
            rows[-1].append(shape)
        else:
            rows.append([shape])
    return [s for row in rows for s in sorted(row, key=lambda s: _top_left(s)[1])]


def _shape(shape: Any, height: int) -> list[Element]:
    # A shape python-pptx cannot model (an unknown graphic frame, a broken picture) is skipped, not fatal.
    # extend() keeps what the generator yielded before it failed.
    out: list[Element] = []
    try:
        out.extend(_shape_elements(shape, height))
    except (NotImplementedError, KeyError, AttributeError, ValueError, TypeError):
        pass
    return out


def _shape_elements(shape: Any, height: int) -> Iterable[Element]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE, PP_PLACEHOLDER

    kind = shape.shape_type
    if kind == MSO_SHAPE_TYPE.GROUP:
        for child in reading_order(list(shape.shapes), height):
            yield from _shape(child, height)
        return
    if getattr(shape, "has_table", False) and shape.has_table:
        table = _table(shape.table)
        if table is not None:
            yield Element(type="table", table=table)
        return
    if getattr(shape, "has_chart", False) and shape.has_chart:
        yield from _chart(shape.chart)
        return
    if kind == MSO_SHAPE_TYPE.PICTURE or (shape.is_placeholder and hasattr(shape, "image")):
        if _has_image(shape):
            yield Element(type="figure")
        return
    if not getattr(shape, "has_text_frame", False) or not shape.has_text_frame:
        return
    role = shape.placeholder_format.type if shape.is_placeholder else None
    if role in (PP_PLACEHOLDER.TITLE, PP_PLACEHOLDER.CENTER_TITLE, PP_PLACEHOLDER.VERTICAL_TITLE):
        text = " ".join(shape.text_frame.text.split())
        if text:
            yield Element(type="heading", text=text, level=1)
        return
    # Body placeholders bullet their paragraphs unless told not to; free text boxes only when told to.
    bulleted_by_default = role in (PP_PLACEHOLDER.BODY, PP_PLACEHOLDER.OBJECT, PP_PLACEHOLDER.VERTICAL_BODY)
    for para in shape.text_frame.paragraphs:
        text = " ".join(para.text.split())
        if not text:
            continue
        kind_of = _bullet(para, bulleted_by_default)
        if kind_of is None:
            yield Element(type="paragraph", text=text)
        else:
            yield Element(type="list_item", text=text, level=int(para.level or 0) + 1, ordered=kind_of == "number")


def _has_image(shape: Any) -> bool:
    """Whether the picture has image data to show (a missing fill or a dangling link shows nothing)."""
    try:
        return bool(shape.image.content_type)
    except Exception:  # noqa: BLE001 - python-pptx raises its own XML errors, KeyError, AttributeError
        return False


def _bullet(para: Any, default: bool) -> str | None:
    """'bullet', 'number' or None from the paragraph's own bullet properties, else the shape's default."""
    ppr = para._p.pPr  # python-pptx has no public bullet API
    if ppr is not None:
        if ppr.find(f"{_A}buNone") is not None:
            return None
        if ppr.find(f"{_A}buAutoNum") is not None:
            return "number"
        if ppr.find(f"{_A}buChar") is not None or ppr.find(f"{_A}buBlip") is not None:
            return "bullet"
    return "bullet" if default else None


def _table(table: Any) -> Table | None:
    rows = list(table.rows)
    n_cols = len(table.columns)
    cells: list[Cell] = []
    for r, row in enumerate(rows):
        for c, cell in enumerate(row.cells):
            if cell.is_spanned:
                continue
            rowspan = cell.span_height if cell.is_merge_origin else 1
            colspan = cell.span_width if cell.is_merge_origin else 1
            cells.append(
                Cell(row=r, col=c, text=" ".join(cell.text.split()), rowspan=rowspan, colspan=colspan, header=r == 0)
            )
    if not cells:
        return None
    return Table(n_rows=len(rows), n_cols=n_cols, cells=cells)


def _chart(chart: Any) -> Iterable[Element]:
    title = ""
    try:
        if chart.has_title and chart.chart_title.has_text_frame:
            title = chart.chart_title.text_frame.text
    except (NotImplementedError, KeyError, AttributeError, ValueError):
        title = ""
    yield from chart_head(title)
    plots = list(chart.plots)
    series = [s for plot in plots for s in plot.series]
    categories = [str(c) for c in plots[0].categories] if plots else []
    table = chart_table([str(s.name) for s in series], [[display(v) for v in s.values] for s in series], categories)
    if table is not None:
        yield table


def _notes(slide: Any) -> str:
    try:
        if not slide.has_notes_slide:
            return ""
        frame = slide.notes_slide.notes_text_frame
        return " ".join(frame.text.split()) if frame is not None else ""
    except (AttributeError, KeyError, ValueError):
        return ""
