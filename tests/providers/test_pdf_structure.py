"""Born-digital PDF structure: headings with levels, lists, columns, furniture and figures, from PDFs the test draws."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from roset_local.providers.base import ExtractRequest, no_progress
from roset_local.providers.engines import LocalEngines
from roset_local.providers.pdf import extract_pdf

fpdf = pytest.importorskip("fpdf")

HEADER = "ACME Research Quarterly"
LEFT = [f"Left column sentence number {n} talks about apples." for n in range(1, 7)]
RIGHT = [f"Right column sentence number {n} talks about pears." for n in range(1, 7)]


def _furniture(pdf: "fpdf.FPDF", page: int) -> None:
    pdf.set_font("Helvetica", size=8)
    pdf.text(72, 40, HEADER)
    pdf.text(270, 810, f"Page {page} of 2")


def _body(pdf: "fpdf.FPDF", x: float, y: float, lines: list[str], size: float = 10) -> float:
    pdf.set_font("Helvetica", size=size)
    for line in lines:
        pdf.text(x, y, line)
        y += size * 1.2
    return y


def make_structured_pdf(path: Path) -> Path:
    """Two A4 pages: title 24 pt, H2 16 pt, H3 13 pt bold, body 10 pt, lists, a figure, two columns."""
    from PIL import Image

    pdf = fpdf.FPDF(unit="pt", format="A4")
    pdf.core_fonts_encoding = "windows-1252"  # bullets and dashes in the core fonts
    pdf.add_page()
    _furniture(pdf, 1)
    pdf.set_font("Helvetica", "B", size=24)
    pdf.text(72, 100, "Layout Analysis Report")
    pdf.set_font("Helvetica", "B", size=16)
    pdf.text(72, 140, "Introduction")
    y = _body(pdf, 72, 165, [
        "The extraction engine reads every page of the document and rebuilds its struc-",
        "ture from the positions of words, fonts and drawn lines on each page of the file.",
        "Nothing here depends on a model: geometry and font statistics are enough.",
    ])
    y = _body(pdf, 72, y + 10, [
        "A second paragraph follows after a blank line and closes the introduction of the",
        "report with one more sentence about the approach.",
    ])
    pdf.set_font("Helvetica", "B", size=13)
    pdf.text(72, y + 14, "Method Details")
    y += 38
    pdf.set_font("Helvetica", size=10)
    for x, marker, text in [
        (72, "\u2022", "Words are grouped into lines."),
        (72, "\u2022", "Lines are grouped into blocks."),
        (90, "\u2013", "Nested detail about blocks."),
        (72, "\u2022", "Blocks are put in reading order."),
    ]:
        pdf.text(x, y, marker)
        pdf.text(x + 12, y, text)
        y += 14
    y += 10
    for n, text in enumerate(["Measure the fonts.", "Rank the heading sizes."], start=1):
        pdf.text(72, y, f"{n}.")
        pdf.text(86, y, text)
        y += 14
    image = Image.new("RGB", (200, 100), (40, 120, 200))
    pdf.image(image, x=72, y=y + 10, w=200, h=100)
    y += 130
    _body(pdf, 72, y, ["Figure 1: Distribution of font sizes."], size=9)
    _body(pdf, 72, y + 30, ["The figure above shows how sizes spread over the document."])
    _body(pdf, 72, 760, ["1 The first footnote explains a term.", "2 The second footnote cites a source."], size=8)
    pdf.add_page()
    _furniture(pdf, 2)
    pdf.set_font("Helvetica", "B", size=16)
    pdf.text(72, 100, "Results")
    _body(pdf, 72, 130, LEFT, size=10)
    _body(pdf, 320, 130, RIGHT, size=10)
    pdf.output(str(path))
    return path


@pytest.fixture(scope="module")
def structured_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_structured_pdf(tmp_path_factory.mktemp("structure") / "report.pdf")


@pytest.fixture(scope="module")
def extraction(structured_pdf: Path):
    req = ExtractRequest(path=str(structured_pdf), filename="report.pdf", content_type="application/pdf")
    return extract_pdf(req, no_progress, LocalEngines())


def check_markdown(md: str) -> None:
    lines = md.split("\n")
    assert "# Layout Analysis Report" in lines
    assert "## Introduction" in lines
    assert "### Method Details" in lines
    assert "## Results" in lines
    # running header and page numbers stay out of the body
    assert HEADER not in md and "Page 1 of 2" not in md and "Page 2 of 2" not in md
    # the paragraph is re-flowed into one line, its hyphenated word joined
    assert "rebuilds its structure from the positions of words" in md
    assert "struc-" not in md
    # lists: bullets (one nested) and numbers
    assert "- Words are grouped into lines." in lines
    assert "- Lines are grouped into blocks." in lines
    assert "  - Nested detail about blocks." in lines
    assert "- Blocks are put in reading order." in lines
    assert "1. Measure the fonts." in lines and "2. Rank the heading sizes." in lines
    # the figure is a placeholder with its caption, before the text that follows it
    assert "Figure 1: Distribution of font sizes.\n\n<!-- image -->" in md
    assert md.index("<!-- image -->") < md.index("The figure above shows")
    # footnotes: one paragraph each, after the page's body
    assert "\n\n1 The first footnote explains a term.\n\n2 The second footnote cites a source.\n\n" in md
    # two columns: all of the left one, then all of the right one
    positions = [md.index(s) for s in LEFT + RIGHT]
    assert positions == sorted(positions)
    # the document reads in order
    order = ["# Layout Analysis Report", "## Introduction", "### Method Details", "1. Measure", "## Results"]
    assert [md.index(s) for s in order] == sorted(md.index(s) for s in order)


def test_engine_markdown_has_the_structure(extraction):
    check_markdown(extraction.markdown)
    assert [p.number for p in extraction.pages] == [1, 2]
    assert extraction.pages[0].markdown.startswith("# Layout Analysis Report")
    assert extraction.pages[1].markdown.startswith("## Results")
    assert extraction.markdown == extraction.pages[0].markdown + "\n\n" + extraction.pages[1].markdown


def test_engine_elements_carry_type_page_box_and_span(extraction):
    md = extraction.markdown
    by_type: dict[str, list] = {}
    for e in extraction.elements:
        by_type.setdefault(e.type, []).append(e)
        assert e.page in (1, 2) and e.box is not None
        assert 0 <= e.box.x0 < e.box.x1 <= 596 and 0 <= e.box.y0 < e.box.y1 <= 842
        if e.type in ("page_header", "page_footer"):
            assert e.span is None
            continue
        assert e.span is not None
        piece = md[e.span[0]:e.span[1]]
        assert e.text.replace("_", "\\_") in piece
    assert [e.text for e in by_type["title"]] == ["Layout Analysis Report"]
    assert [(e.text, e.level) for e in by_type["heading"]] == [("Introduction", 2), ("Method Details", 3), ("Results", 2)]
    items = [(e.text, e.level, e.ordered) for e in by_type["list_item"]]
    assert ("Nested detail about blocks.", 2, False) in items and ("Rank the heading sizes.", 1, True) in items
    assert {e.text for e in by_type["page_header"]} == {HEADER}
    assert {e.text for e in by_type["page_footer"]} == {"Page 1 of 2", "Page 2 of 2"}
    assert [e.text[:5] for e in by_type["footnote"]] == ["1 The", "2 The"]
    (figure,) = by_type["figure"]
    assert figure.text == "Figure 1: Distribution of font sizes." and figure.page == 1
    assert extraction.metadata["furniture"][0] == {"type": "page_header", "page": 1, "text": HEADER}


def test_fast_mode_keeps_the_plain_text_layer(structured_pdf: Path):
    req = ExtractRequest(
        path=str(structured_pdf), filename="report.pdf", content_type="application/pdf", options={"extraction": "fast"}
    )
    result = extract_pdf(req, no_progress, LocalEngines())
    assert result.elements == [] and "#" not in result.markdown
    assert HEADER in result.markdown and "Layout Analysis Report" in result.markdown


def test_markdown_variant_through_the_server(live_server, structured_pdf: Path):
    with live_server.client() as http:
        up = http.post("/v1/upload", files={"file": ("report.pdf", structured_pdf.read_bytes(), "application/pdf")})
        assert up.status_code in (200, 201, 202), up.text
        file_id = up.json()["id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = http.get(f"/v1/files/{file_id}").json()["status"]
            if status in ("completed", "failed"):
                break
            time.sleep(0.2)
        assert status == "completed"
        md = http.get(f"/v1/files/{file_id}/variants/markdown").json()["content"]
        meta = json.loads(http.get(f"/v1/files/{file_id}/variants/metadata").json()["content"])
    check_markdown(md)
    # the running header and page numbers left the body for the metadata variant
    assert {"type": "page_header", "page": 2, "text": HEADER} in meta["furniture"]
    assert {"type": "page_footer", "page": 1, "text": "Page 1 of 2"} in meta["furniture"]


def _ocr_words(text: str, x: float, y: float, height: float) -> list:
    """Words of an OCR line: boxes only (no font size or weight), about 0.5 em wide per character."""
    from roset_local.structure.model import Box, Word

    words = []
    for token in text.split():
        width = 0.5 * height * len(token)
        words.append(Word(text=token, box=Box(x, y, x + width, y + height)))
        x += width + 0.3 * height
    return words


def test_analyse_copes_with_ocr_words_without_fonts():
    """The scanned-page path hands over words with boxes only: box heights stand in for font sizes."""
    from roset_local.structure.layout import analyse
    from roset_local.structure.model import PageGeometry
    from roset_local.structure.render import to_markdown

    words = _ocr_words("Scanned Survey Results", 60, 60, 22)
    y = 110.0
    for n in range(1, 6):
        words += _ocr_words(f"left column line {n} about the harvest", 60, y, 12)
        words += _ocr_words(f"right column line {n} about the weather", 320, y + 1.5, 12)
        y += 15
    words += _ocr_words("7", 297, 800, 10)
    page = PageGeometry(number=1, width=595, height=842, words=words, ocr=True)
    elements = analyse([page])
    md = to_markdown(elements)
    assert md.startswith("# Scanned Survey Results\n\n")
    left = [md.index(f"left column line {n}") for n in range(1, 6)]
    right = [md.index(f"right column line {n}") for n in range(1, 6)]
    assert left == sorted(left) and right == sorted(right) and max(left) < min(right)
    assert [e.text for e in elements if e.type == "page_footer"] == ["7"] and "\n7" not in md
    assert all(e.page == 1 and e.box is not None for e in elements)


def test_render_sets_spans_and_escapes_only_what_markdown_would_misread():
    from roset_local.structure.model import Element, Table, Cell
    from roset_local.structure.render import page_markdown, to_markdown

    elements = [
        Element("heading", "1. Scope of work", page=1, level=2),
        Element("paragraph", "- not a list, and a snake_case name", page=1),
        Element("page_footer", "Page 1", page=1),
        Element("list_item", "first", page=1, level=1, ordered=True, marker="1."),
        Element("list_item", "nested (a)", page=1, level=2, ordered=True, marker="a)"),
        Element("code", "x = 1\n  y = 2", page=2),
        Element("figure", "Figure 2: A chart.", page=2),
        Element("table", "", page=2, table=Table(1, 2, [Cell(0, 0, "a"), Cell(0, 1, "b")])),
    ]
    md = to_markdown(elements)
    assert md.startswith("## 1. Scope of work\n\n\\- not a list, and a snake\\_case name\n\n1. first\n  - a) nested (a)\n\n")
    assert "```\nx = 1\n  y = 2\n```\n\nFigure 2: A chart.\n\n<!-- image -->" in md
    assert elements[2].span is None
    for e in elements:
        if e.span is not None:
            assert md[e.span[0]:e.span[1]].strip() and md[e.span[1]:e.span[1] + 1] in ("", "\n")
    assert md[elements[3].span[0]:elements[3].span[1]] == "1. first"
    parts = page_markdown(elements, md)
    assert parts[1].startswith("## 1. Scope") and parts[1].endswith("nested (a)")
    assert parts[2].startswith("```") and "a" in parts[2]


def test_pdf_outline_confirms_headings_and_levels(tmp_path: Path):
    """Bookmarks name headings the fonts do not show (body size, regular weight) and give their level."""
    pdf = fpdf.FPDF(unit="pt", format="A4")
    pdf.add_page()
    y = 80.0
    for title, level in [("Overview", 0), ("Scope and limits", 1)]:
        pdf.set_y(y - 10)
        pdf.start_section(title, level=level)
        _body(pdf, 72, y, [title])
        y = _body(pdf, 72, y + 24, [
            "Plain body text set in the same size and weight as the heading above it, long enough",
            "to read as a paragraph of the document rather than as a label or a caption of it.",
        ]) + 20
    path = tmp_path / "outline.pdf"
    pdf.output(str(path))
    result = extract_pdf(ExtractRequest(str(path), "outline.pdf", "application/pdf"), no_progress, LocalEngines())
    lines = result.markdown.split("\n")
    assert "## Overview" in lines and "### Scope and limits" in lines
    assert result.metadata["outline"] == [
        {"level": 1, "title": "Overview", "page": 1}, {"level": 2, "title": "Scope and limits", "page": 1},
    ]


def _read_all(data: bytes) -> list:
    import pypdfium2 as pdfium

    from roset_local.structure.pdf_reader import read_page

    doc = pdfium.PdfDocument(data)
    try:
        return [read_page(doc[i], i + 1) for i in range(len(doc))]
    finally:
        doc.close()


def test_three_columns_with_a_paragraph_across_two_of_them():
    """A block spanning two of three columns still splits the page: the third column above it comes first."""
    from roset_local.structure.layout import analyse
    from roset_local.structure.render import to_markdown

    pdf = fpdf.FPDF(unit="pt", format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.text(50, 60, "Three Column Newsletter")
    for c, x in enumerate((50, 225, 400), start=1):
        _body(pdf, x, 100, [f"Upper{c} line {n} of the column text" for n in range(1, 13)], size=9)
    _body(pdf, 50, 260, [
        "A closing paragraph runs across the first two columns of the page, below them both,",
        "and continues on a second line that is a little shorter than the first one.",
    ], size=9)
    for c, x in enumerate((50, 225, 400), start=1):
        _body(pdf, x, 300, [f"Lower{c} line {n} of the column text" for n in range(1, 6)], size=9)
    md = to_markdown(analyse(_read_all(bytes(pdf.output()))))
    order = ["# Three Column", "Upper1 line 1", "Upper2 line 1", "Upper3 line 1", "A closing paragraph",
             "Lower1 line 1", "Lower2 line 1", "Lower3 line 1"]
    assert [md.index(s) for s in order] == sorted(md.index(s) for s in order)


def test_rotated_page_geometry_stays_on_the_page():
    """A page with /Rotate 90: width and height swap and every word box lies on the displayed page."""
    import io

    import pypdfium2 as pdfium

    pdf = fpdf.FPDF(unit="pt", format="A4")
    pdf.add_page()
    _body(pdf, 72, 100, ["Some words on a page that will be displayed rotated."])
    doc = pdfium.PdfDocument(bytes(pdf.output()))
    doc[0].set_rotation(90)
    out = io.BytesIO()
    doc.save(out)
    doc.close()
    (page,) = _read_all(out.getvalue())
    assert page.width > page.height
    assert page.words and all(0 <= w.box.x0 < w.box.x1 <= page.width and 0 <= w.box.y0 < w.box.y1 <= page.height
                              for w in page.words)


def test_sideways_margin_stamp_is_furniture_and_reads_in_order():
    """An arXiv-style stamp set sideways in the margin comes out as one line of furniture, not glyph soup."""
    from roset_local.structure.layout import analyse

    pdf = fpdf.FPDF(unit="pt", format="A4")
    pdf.add_page()
    _body(pdf, 72, 100, [
        "Normal body text, line one of the page, long enough to read as a paragraph here.",
        "Normal body text, line two of the page, long enough to read as a paragraph here.",
    ])
    with pdf.rotation(90, 30, 500):
        pdf.set_font("Helvetica", size=14)
        pdf.text(30, 500, "arXiv:2305.03393v1 [cs.CV] 5 May 2023")
    elements = analyse(_read_all(bytes(pdf.output())))
    assert [(e.type, e.text) for e in elements if e.type == "page_header"] == [
        ("page_header", "arXiv:2305.03393v1 [cs.CV] 5 May 2023")
    ]
    assert [e.type for e in elements if e.type != "page_header"] == ["paragraph"]


@pytest.mark.parametrize("family,style", [("Courier", ""), ("Helvetica", "B")])
def test_a_document_set_in_one_face_throughout_is_prose(family: str, style: str):
    """All in Courier is a typed report, not code; all in bold does not make every short line a heading."""
    from roset_local.structure.layout import analyse

    pdf = fpdf.FPDF(unit="pt", format="A4")
    pdf.add_page()
    pdf.set_font(family, style, size=10)
    y = 80.0
    for para in range(3):
        pdf.text(72, y, f"Short line {para} on its own")
        y += 30
        for n in range(4):
            pdf.text(72, y, f"Paragraph {para} line {n} of a report set in one face.")
            y += 12
        y += 20
    elements = analyse(_read_all(bytes(pdf.output())))
    assert {e.type for e in elements} == {"paragraph"}
