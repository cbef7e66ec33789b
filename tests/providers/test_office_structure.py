"""Office and HTML structure: PPTX headings and nested bullets, XLSX without filler, HTML without its chrome,
DOCX numbered lists, element spans; through the engine, the worker pool and the real server."""

from __future__ import annotations

import datetime as dt
import io
import pickle
import zipfile
from pathlib import Path

import pytest

from roset_local.providers import ExtractionPool, ExtractRequest
from roset_local.providers.base import no_progress
from roset_local.providers.office import MarkItDownHolder, extract_office
from roset_local.structure.office import convert
from tests.test_files import upload, wait_file

PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

PAGE = """<!DOCTYPE html><html><head><title>Field guide to ducks</title></head><body>
<header><a href="/">Home</a> <a href="/shop">Shop</a> Site banner text<h1>Mallards</h1></header>
<nav><ul><li><a href="/a">Navigation link one</a></li><li><a href="/b">Navigation link two</a></li></ul></nav>
<div class="content">
<p>The mallard is a <strong>dabbling</strong> duck found across the northern hemisphere.</p>
<ul><li>Green head<ul><li>Only on drakes</li></ul></li><li>Orange feet</li></ul>
<table><tr><th>Name</th><th colspan="2">Weight range</th></tr><tr><td>Mallard</td><td>0.7 kg</td><td>1.6 kg</td></tr></table>
</div>
<aside>Related: buy our duck calendar</aside>
<footer>Copyright 2026 Duck Facts Inc. Privacy policy</footer>
</body></html>"""


def make_pptx(path: Path) -> Path:
    import pptx
    from pptx.util import Inches

    prs = pptx.Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])  # title and content
    slide.shapes.title.text = "Migration Plan"
    body = slide.placeholders[1].text_frame
    body.text = "Spring departure"
    for text, level in (("Leave the lake in March", 1), ("Autumn return", 0)):
        para = body.add_paragraph()
        para.text, para.level = text, level
    prs.slides.add_slide(prs.slide_layouts[6])  # blank: a slide without content is still a page
    second = prs.slides.add_slide(prs.slide_layouts[5])  # title only
    second.shapes.title.text = "Flock Sizes"
    frame = second.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2))
    for r, row in enumerate([("Lake", "Ducks"), ("North", "120"), ("South", "95")]):
        for c, text in enumerate(row):
            frame.table.cell(r, c).text = text
    prs.save(str(path))
    return path


def make_xlsx(path: Path) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    sales = wb.active
    sales.title = "Sales"
    sales["C3"], sales["D3"] = "Region", "Revenue"
    sales["C4"], sales["D4"] = "North", 4200.0
    sales["C5"], sales["D5"] = "South", 0.25
    sales["D5"].number_format = "0%"
    sales["G10"] = "Separate note block"
    sales["G11"], sales["G12"] = 1234.5, dt.date(2026, 3, 1)
    sales["G11"].number_format = "$#,##0.00"
    staff = wb.create_sheet("Staff")
    staff.merge_cells("A1:B1")
    staff["A1"] = "Team roster"
    staff.append(["Name", "Role"])
    staff.append(["Ada", "Lead"])
    staff.append(["Bo", "Ops"])
    staff.append(["Cy", None])
    staff.merge_cells("B4:B5")  # Bo and Cy share one role cell
    hidden = wb.create_sheet("Lookup")
    hidden["A1"] = "hidden lookup value"
    hidden.sheet_state = "hidden"
    wb.save(str(path))
    return path


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


_CHART = (
    '<c:chartSpace xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><c:chart><c:title><c:tx><c:rich><a:p><a:r>'
    "<a:t>Ducks counted</a:t></a:r></a:p></c:rich></c:tx></c:title><c:plotArea><c:barChart><c:ser><c:tx><c:strRef>"
    '<c:strCache><c:pt idx="0"><c:v>Mallards</c:v></c:pt></c:strCache></c:strRef></c:tx><c:cat><c:strRef><c:strCache>'
    '<c:pt idx="0"><c:v>2024</c:v></c:pt><c:pt idx="1"><c:v>2025</c:v></c:pt></c:strCache></c:strRef></c:cat>'
    '<c:val><c:numRef><c:numCache><c:pt idx="0"><c:v>12.0</c:v></c:pt><c:pt idx="1"><c:v>15.5</c:v></c:pt>'
    "</c:numCache></c:numRef></c:val></c:ser></c:barChart></c:plotArea></c:chart></c:chartSpace>"
)
_CHART_RUN = (
    '<w:p><w:r><w:t xml:space="preserve">Survey: </w:t></w:r><w:r><w:drawing><wp:inline '
    'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"><a:graphic '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:graphicData '
    'uri="http://schemas.openxmlformats.org/drawingml/2006/chart"><c:chart '
    'xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" r:id="rId9"/>'
    "</a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"
)


_FOOTNOTE_RUN = (
    '<w:p><w:r><w:t>Ducks migrate</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r><w:r><w:t>.</w:t></w:r></w:p>'
)
_FOOTNOTES = (
    f'<w:footnotes xmlns:w="{_W}"><w:footnote w:id="1"><w:p><w:r><w:t>Mostly in autumn.</w:t></w:r></w:p>'
    "</w:footnote></w:footnotes>"
)


def make_docx_numbered(path: Path, chart: bool = False, footnote: bool = False) -> Path:
    """A DOCX with a decimal numbered list (two levels) and a bulleted one, written as raw WordprocessingML;
    with `chart`, a bar chart follows them, with `footnote` a paragraph with a footnote."""

    def item(text: str, num: int, level: int) -> str:
        return (f'<w:p><w:pPr><w:numPr><w:ilvl w:val="{level}"/><w:numId w:val="{num}"/></w:numPr></w:pPr>'
                f"<w:r><w:t>{text}</w:t></w:r></w:p>")

    def level(ilvl: int, fmt: str, text: str) -> str:
        return (f'<w:lvl w:ilvl="{ilvl}"><w:start w:val="1"/><w:numFmt w:val="{fmt}"/>'
                f'<w:lvlText w:val="{text}"/></w:lvl>')

    numbering = (
        f'<w:numbering xmlns:w="{_W}">'
        f'<w:abstractNum w:abstractNumId="0">{level(0, "decimal", "%1.")}{level(1, "decimal", "%1.%2.")}</w:abstractNum>'
        f'<w:abstractNum w:abstractNumId="1">{level(0, "bullet", "-")}</w:abstractNum>'
        f'<w:abstractNum w:abstractNumId="2">{level(0, "upperRoman", "Part %1:")}</w:abstractNum>'
        '<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num><w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>'
        '<w:num w:numId="3"><w:abstractNumId w:val="2"/>'
        '<w:lvlOverride w:ilvl="0"><w:startOverride w:val="4"/></w:lvlOverride></w:num>'
        "</w:numbering>"
    )
    body = (
        '<w:p><w:pPr><w:pStyle w:val="Heading1"/><w:numPr><w:ilvl w:val="0"/><w:numId w:val="3"/></w:numPr></w:pPr>'
        "<w:r><w:t>Checklist</w:t></w:r></w:p>"
        + item("Pack the feed", 1, 0) + item("Grain", 1, 1) + item("Fill the pond", 1, 0)
        + item("Loose bullet", 2, 0)
        + (_CHART_RUN if chart else "")
        + (_FOOTNOTE_RUN if footnote else "")
    )
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="word/document.xml"/></Relationships>'
        ),
        "word/_rels/document.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/numbering" Target="numbering.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId9" Type="{rel}/chart" Target="charts/chart1.xml"/>'
            f'<Relationship Id="rId10" Type="{rel}/footnotes" Target="footnotes.xml"/></Relationships>'
        ),
        "word/charts/chart1.xml": _CHART,
        "word/footnotes.xml": _FOOTNOTES,
        "word/styles.xml": (
            f'<w:styles xmlns:w="{_W}"><w:style w:type="paragraph" w:styleId="Heading1">'
            '<w:name w:val="heading 1"/></w:style></w:styles>'
        ),
        "word/numbering.xml": numbering,
        "word/document.xml": f'<w:document xmlns:w="{_W}"><w:body>{body}</w:body></w:document>',
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    path.write_bytes(buf.getvalue())
    return path


def _engine(path: Path, content_type: str):
    result = extract_office(ExtractRequest(str(path), path.name, content_type), content_type, no_progress, MarkItDownHolder())
    return pickle.loads(pickle.dumps(result))  # as it comes back from a worker process


def _spans_hold_their_text(result) -> None:
    """Each element's span covers its text in the markdown, and all text is plain str (no bs4 strings)."""
    assert result.elements
    for el in result.elements:
        assert type(el.text) is str and all(type(c.text) is str for c in (el.table.cells if el.table else []))
        if el.span is not None and el.type in ("heading", "paragraph", "list_item"):
            assert el.text in result.markdown[el.span[0] : el.span[1]], el


def test_pptx_titles_are_headings_and_bullets_nest(tmp_path: Path) -> None:
    result = _engine(make_pptx(tmp_path / "deck.pptx"), PPTX)
    md = result.markdown
    assert "# Migration Plan\n\n- Spring departure\n    - Leave the lake in March\n- Autumn return" in md
    assert "# Flock Sizes" in md and "| Lake | Ducks |" in md and "| South | 95 |" in md
    assert "Slide number" not in md
    heads = [(e.text, e.page) for e in result.elements if e.type == "heading"]
    assert heads == [("Migration Plan", 1), ("Flock Sizes", 3)]
    items = [(e.text, e.level) for e in result.elements if e.type == "list_item"]
    assert items == [("Spring departure", 1), ("Leave the lake in March", 2), ("Autumn return", 1)]
    assert [p.number for p in result.pages] == [1, 2, 3] and "| North | 120 |" in result.pages[2].markdown
    assert result.pages[1].markdown == "" and result.pages[0].markdown.startswith("# Migration Plan")
    assert result.metadata["page_count"] == 3 and result.metadata["engine"]["library"] == "python-pptx"
    _spans_hold_their_text(result)


def test_fast_mode_keeps_the_plain_conversion(tmp_path: Path) -> None:
    path = make_pptx(tmp_path / "deck.pptx")
    result = extract_office(ExtractRequest(str(path), path.name, PPTX, {"extraction": "fast"}), PPTX, no_progress,
                            MarkItDownHolder())
    assert result.metadata["engine"]["library"] == "markitdown" and result.elements == []
    assert "Leave the lake in March" in result.markdown and "- Spring departure" not in result.markdown


def test_xlsx_has_a_heading_per_sheet_and_no_filler(tmp_path: Path) -> None:
    result = _engine(make_xlsx(tmp_path / "book.xlsx"), XLSX)
    md = result.markdown
    assert "Unnamed" not in md and "NaN" not in md and "nan" not in md.lower()
    assert md.startswith("## Sales\n\n| Region | Revenue |\n|---|---|\n| North | 4200 |\n| South | 25% |")
    # a block of its own, not padded into the first table; numbers and dates as the sheet shows them
    assert "| Separate note block |\n|---|\n| $1,234.50 |\n| 2026-03-01 |" in md
    assert "## Staff\n\nTeam roster\n\n| Name | Role |\n|---|---|\n| Ada | Lead |\n| Bo | Ops |\n| Cy | Ops |" in md
    assert "hidden lookup" not in md and "Lookup" not in md  # hidden sheets are not what a reader sees
    assert [e.text for e in result.elements if e.type == "heading"] == ["Sales", "Staff"]
    tables = [e.table for e in result.elements if e.type == "table"]
    assert len(tables) == 3
    ops = next(c for c in tables[2].cells if c.text == "Ops")
    assert (ops.row, ops.col, ops.rowspan, ops.colspan) == (2, 1, 2, 1)  # the merge is a span, not two cells
    assert [c.header for c in tables[2].cells[:2]] == [True, True]
    _spans_hold_their_text(result)


def test_xlsx_formula_without_a_saved_value_shows_the_formula(tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()  # openpyxl saves formulas without computing them, as many programs do
    sheet = wb.active
    sheet.title = "Costs"
    for row in (["Item", "Cost"], ["Feed", 2], ["Straw", 3], ["Total", "=SUM(B2:B3)"]):
        sheet.append(row)
    path = tmp_path / "formulas.xlsx"
    wb.save(str(path))
    assert _engine(path, XLSX).markdown.endswith("| Straw | 3 |\n| Total | =SUM(B2:B3) |")


def test_html_keeps_main_content_without_navigation_or_footer(tmp_path: Path) -> None:
    page = tmp_path / "ducks.html"
    page.write_text(PAGE)
    result = _engine(page, "text/html")
    md = result.markdown
    for chrome in ("Navigation link", "Site banner", "Copyright 2026", "duck calendar", "Shop"):
        assert chrome not in md
    assert md.startswith("# Mallards\n\nThe mallard is a **dabbling** duck")
    assert "- Green head\n    - Only on drakes\n- Orange feet" in md
    assert "| Name | Weight range | Weight range |\n|---|---|---|\n| Mallard | 0.7 kg | 1.6 kg |" in md
    assert result.metadata["title"] == "Field guide to ducks" and type(result.metadata["title"]) is str
    table = next(e.table for e in result.elements if e.type == "table")
    assert table is not None and table.cells[1].colspan == 2
    _spans_hold_their_text(result)


def test_html_pivot_table_expands_spans_and_drops_group_rows(tmp_path: Path) -> None:
    page = tmp_path / "pivot.html"
    page.write_text(
        "<table><tr><th>Year</th><th>Month</th><th>Cost</th></tr><tr><th rowspan='3'>2025</th></tr>"
        "<tr><td>January</td><td>$1</td></tr><tr><td>February</td><td>$2</td></tr></table>"
    )
    result = _engine(page, "text/html")
    assert result.markdown == "| Year | Month | Cost |\n|---|---|---|\n| 2025 | January | $1 |\n| 2025 | February | $2 |"
    year = next(c for c in result.elements[0].table.cells if c.text == "2025")
    assert (year.row, year.rowspan, year.header) == (1, 3, True)


def test_html_main_element_is_read_without_its_navigation(tmp_path: Path) -> None:
    page = tmp_path / "article.html"
    page.write_text(
        "<body><div>Top menu <a href='/'>Home</a></div><main><header><h1>Teal</h1></header>"
        "<nav role='navigation'><a href='/talk'>Talk</a> <a href='/edit'>Edit</a></nav>"
        "<p>The teal is a small dabbling duck of wetlands and lakes.</p>"
        "<div role='navigation'><table><tr><td><a href='/x'>Related birds</a></td></tr></table></div>"
        "</main><div>Site footer text</div></body>"
    )
    md = _engine(page, "text/html").markdown
    assert md == "# Teal\n\nThe teal is a small dabbling duck of wetlands and lakes."


def test_html_checkboxes_are_task_list_items(tmp_path: Path) -> None:
    page = tmp_path / "tasks.html"
    page.write_text("<ul><li><input type='checkbox' checked> Ship it</li></ul><p><input type=checkbox> Test it</p>"
                    "<table><tr><th>Pick</th></tr><tr><td><input type=checkbox checked>Tea</td></tr></table>")
    assert _engine(page, "text/html").markdown == "- [x] Ship it\n- [ ] Test it\n\n| Pick |\n|---|\n| [x] Tea |"


def test_html_that_is_all_navigation_keeps_it(tmp_path: Path) -> None:
    page = tmp_path / "menu.html"
    page.write_text('<html><body><nav><ul><li><a href="/a">Alpha page</a></li><li>Beta</li></ul></nav></body></html>')
    assert _engine(page, "text/html").markdown == "- [Alpha page](/a)\n- Beta"


def test_docx_numbered_and_bulleted_lists(tmp_path: Path) -> None:
    result = _engine(make_docx_numbered(tmp_path / "list.docx"), DOCX)
    # Word's Heading 1 sits below the (absent) title and keeps its automatic number as text; a switch
    # from numbers to bullets starts a new list.
    assert result.markdown == "## Part IV: Checklist\n\n1. Pack the feed\n    1. Grain\n2. Fill the pond\n\n- Loose bullet"
    ordered = [(e.text, e.level, e.ordered) for e in result.elements if e.type == "list_item"]
    assert ordered == [("Pack the feed", 1, True), ("Grain", 2, True), ("Fill the pond", 1, True), ("Loose bullet", 1, False)]
    _spans_hold_their_text(result)


def test_docx_chart_is_a_figure_with_its_data(tmp_path: Path) -> None:
    result = _engine(make_docx_numbered(tmp_path / "chart.docx", chart=True), DOCX)
    assert result.markdown.endswith(
        "- Loose bullet\n\nSurvey:\n\nDucks counted\n\n<!-- image -->\n\n"
        "|  | Mallards |\n|---|---|\n| 2024 | 12 |\n| 2025 | 15.5 |"
    )
    assert [e.type for e in result.elements[-4:]] == ["paragraph", "paragraph", "figure", "table"]


def test_docx_footnotes_without_in_page_links(tmp_path: Path) -> None:
    md = _engine(make_docx_numbered(tmp_path / "notes.docx", footnote=True), DOCX).markdown
    assert md.endswith("- Loose bullet\n\nDucks migrate[1].\n\n1. Mostly in autumn."), md


def test_pptx_chart_is_a_figure_with_its_data(tmp_path: Path) -> None:
    import pptx
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    prs = pptx.Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[5])
    slide.shapes.title.text = "Counts"
    data = CategoryChartData()
    data.categories = ["2024", "2025"]
    data.add_series("Teal", (3, 4.5))
    slide.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(2), Inches(6), Inches(4), data)
    path = tmp_path / "chart.pptx"
    prs.save(str(path))
    md = _engine(path, PPTX).markdown
    assert md.startswith("# Counts\n\n")
    assert "<!-- image -->\n\n|  | Teal |\n|---|---|\n| 2024 | 3 |\n| 2025 | 4.5 |" in md


def test_office_structure_crosses_the_worker_pool(pool: ExtractionPool, tmp_path: Path) -> None:
    """Every kind comes back from a worker process, an HTML title included (a bs4 object would not)."""
    page = tmp_path / "titled.html"
    page.write_text(PAGE)
    files = [(page, "text/html"), (make_pptx(tmp_path / "d.pptx"), PPTX), (make_xlsx(tmp_path / "b.xlsx"), XLSX),
             (make_docx_numbered(tmp_path / "l.docx"), DOCX)]
    for path, ctype in files:
        result = pool.run("reducto", {}, ExtractRequest(str(path), path.name, ctype))
        assert result.elements and result.markdown
    assert result.elements[0].type == "heading"


def test_markitdown_fallback_title_is_plain_text(tmp_path: Path) -> None:
    from roset_local.providers.office import _convert

    page = tmp_path / "t.html"
    page.write_text("<html><head><title>Plain title</title></head><body><p>Body</p></body></html>")
    markdown, title = _convert(str(page), ".html", MarkItDownHolder())
    assert "Body" in markdown and type(title) is str
    pickle.dumps(title)


@pytest.mark.filterwarnings("ignore:HTML document is too deeply nested")  # markitdown's fallback, expected
@pytest.mark.parametrize("broken", [b"PK\x03\x04 not really a zip", b"<html><body>" + b"<div>" * 5000 + b"deep"])
def test_broken_or_deep_input_fails_cleanly_or_reads(tmp_path: Path, broken: bytes) -> None:
    is_html = broken.startswith(b"<html")
    path = tmp_path / ("deep.html" if is_html else "broken.pptx")
    path.write_bytes(broken)
    ctype = "text/html" if is_html else PPTX
    if is_html:
        assert "deep" in _engine(path, ctype).markdown
    else:
        from roset_local.providers import ExtractionError

        with pytest.raises(ExtractionError) as info:
            _engine(path, ctype)
        assert info.value.reason == "corrupt_file"


def test_office_and_html_markdown_through_the_server(live_server, tmp_path: Path) -> None:
    uploads = {
        "deck.pptx": (make_pptx(tmp_path / "deck.pptx").read_bytes(), PPTX, "- Spring departure\n    - Leave the lake"),
        "book.xlsx": (make_xlsx(tmp_path / "book.xlsx").read_bytes(), XLSX, "## Staff"),
        "ducks.html": (PAGE.encode(), "text/html", "- Green head\n    - Only on drakes"),
        "list.docx": (make_docx_numbered(tmp_path / "list.docx").read_bytes(), DOCX, "## Part IV: Checklist\n\n1. Pack the feed\n    1. Grain"),
    }
    with live_server.client() as http:
        ids = {}
        for name, (data, ctype, _) in uploads.items():
            res = upload(http, name=name, data=data, ctype=ctype)
            assert res.status_code in (200, 201, 202), res.text
            ids[name] = res.json()["id"]
        for name, file_id in ids.items():
            done = wait_file(http, file_id, timeout=120)
            assert done["status"] == "completed", (name, done)
            md = http.get(f"/v1/files/{file_id}/variants/markdown").json()["content"]
            assert uploads[name][2] in md, (name, md)
            if name == "book.xlsx":
                assert "Unnamed" not in md and "NaN" not in md
            if name == "ducks.html":
                assert "Navigation link" not in md and "Copyright" not in md
