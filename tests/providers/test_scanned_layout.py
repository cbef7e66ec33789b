"""Scanned two-column pages through OCR and layout analysis: reading order and headings, via the real server."""

from __future__ import annotations

import io
import json
import math
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/scangen.py

import scangen  # noqa: E402

from roset_local.structure.ocr import OcrResult, OcrTextBox, image_rules, page_geometry, skew_angle  # noqa: E402

DPI = 150


@pytest.fixture(scope="module")
def two_column(tmp_path_factory: pytest.TempPathFactory) -> tuple[scangen.TwoColumnPage, bytes, bytes]:
    """The generated page, its 150 dpi scan as PNG, and the same scan wrapped in an image-only PDF."""
    work = tmp_path_factory.mktemp("scans")
    doc = scangen.two_column_pdf(work / "born-digital.pdf", table=True)
    image = scangen.render_page(doc.path, DPI)
    png = io.BytesIO()
    image.save(png, format="PNG", dpi=(DPI, DPI))
    pdf_path = scangen.image_pdf(image, work / "scan.pdf", DPI)
    return doc, png.getvalue(), pdf_path.read_bytes()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _position(haystack: list[str], sentence: str) -> int:
    """Index where the sentence's words start, consecutively, in `haystack` (-1 when they don't)."""
    needle = _words(sentence)
    for i in range(len(haystack) - len(needle) + 1):
        if haystack[i : i + len(needle)] == needle:
            return i
    return -1


def assert_columns_in_order(markdown: str, doc: scangen.TwoColumnPage) -> None:
    words = _words(markdown)
    left = [_position(words, s) for s in doc.left]
    right = [_position(words, s) for s in doc.right]
    # Every sentence comes out whole (its words consecutive: the columns were not interleaved) ...
    assert -1 not in left + right, (left, right, markdown)
    # ... in order within its column, and the left column entirely before the right one.
    assert left == sorted(left) and right == sorted(right), markdown
    assert max(left) < min(right), markdown


def assert_headings(markdown: str, doc: scangen.TwoColumnPage) -> None:
    lines = markdown.splitlines()
    assert lines[0] == f"# {doc.title}", markdown
    heading_lines = [ln for ln in lines if ln.startswith("#")]
    # Compared without spaces: rapidocr sometimes reads a bold "Harbour Records" as "HarbourRecords".
    squeezed = {re.sub(r"\s", "", ln) for ln in heading_lines if re.match(r"#{2,6} ", ln)}
    for heading in (doc.left_heading, doc.right_heading):
        assert any(h.lstrip("#") == re.sub(r"\s", "", heading) for h in squeezed), markdown
    # Body sentences are paragraphs, never headings.
    assert all(len(ln) < 60 for ln in heading_lines), heading_lines


def assert_table(markdown: str, doc: scangen.TwoColumnPage) -> None:
    """The ruled table comes out as a pipe table, cell by cell, after both columns."""
    assert doc.table is not None
    rows = [ln for ln in markdown.splitlines() if ln.startswith("|")]
    expected = ["| " + " | ".join(row) + " |" for row in doc.table]
    assert [r for r in rows if not set(r) <= set("|-: ")] == expected, markdown
    assert markdown.index(expected[0]) > markdown.index(doc.right[-1].split()[0]), markdown


def assert_structure(variant: dict, markdown: str, doc: scangen.TwoColumnPage) -> None:
    """The structure variant places the scan's elements on the page, in points (A4: 595 x 842)."""
    structure = variant["content"] if isinstance(variant.get("content"), dict) else json.loads(variant["content"])
    (page,) = structure["pages"]
    assert abs(page["width"] - 595.3) < 2 and abs(page["height"] - 841.9) < 2, page
    elements = structure["elements"]
    assert [e["type"] for e in elements][:2] == ["title", "heading"], elements
    (table,) = [e for e in elements if e["type"] == "table"]
    # The ruled table was drawn at x 56-536, y 420-516 points on the generated page.
    assert all(abs(got - want) < 6 for got, want in zip(table["bbox"], [56, 420, 536, 516])), table["bbox"]
    cells = {(c["row"], c["col"]): c["text"] for c in table["table"]["cells"]}
    assert cells[(1, 0)] == "Northhaven" and cells[(3, 2)] == "copper", cells
    # Spans point into the markdown variant.
    start, end = elements[0]["span"]
    assert markdown[start:end].lstrip("# ") == elements[0]["text"]


# -- geometry: no OCR needed ---------------------------------------------------------------------
def _box(text: str, x0: float, y0: float, x1: float, y1: float, words=None) -> OcrTextBox:
    return OcrTextBox(quad=[(x0, y0), (x1, y0), (x1, y1), (x0, y1)], text=text, score=0.99, words=words)


def test_pixels_become_points_and_boxes_split_into_words() -> None:
    # A 300 dpi image (pixels_per_point 300/72): the box from x=300 px starts at 72 pt.
    box = _box("north wind", 300, 600, 300 + 10 * 50, 650)
    geom = page_geometry(OcrResult(2480, 3508, [box]), 3, 300 / 72)
    assert geom.ocr and geom.number == 3
    assert math.isclose(geom.width, 595.2, abs_tol=0.1) and math.isclose(geom.height, 841.92, abs_tol=0.1)
    north, wind = geom.words
    assert (north.text, wind.text) == ("north", "wind")
    # Proportional split by characters: "north" is 5 of the 10 characters, the space one more.
    assert math.isclose(north.box.x0, 72.0) and math.isclose(north.box.x1, 72.0 + 5 * 12.0)
    assert math.isclose(wind.box.x0, 72.0 + 6 * 12.0) and math.isclose(wind.box.x1, 72.0 + 10 * 12.0)
    assert math.isclose(north.box.y0, 144.0) and math.isclose(north.box.y1, 156.0)
    assert north.size > 0  # estimated from the box height when there is no image to measure


def test_recogniser_word_boxes_are_used_when_they_spell_the_text() -> None:
    words = [("north", [(300, 600), (420, 600), (420, 650), (300, 650)]), ("wind", [(500, 600), (640, 600), (640, 650), (500, 650)])]
    geom = page_geometry(OcrResult(1000, 1000, [_box("north wind", 300, 600, 800, 650, words)]), 1, 1.0)
    assert [(w.text, w.box.x0, w.box.x1) for w in geom.words] == [("north", 300, 420), ("wind", 500, 640)]
    # Word boxes that do not spell the text (e.g. CJK characters one by one) fall back to the split.
    odd = [("n", [(300, 600), (310, 600), (310, 650), (300, 650)])]
    geom = page_geometry(OcrResult(1000, 1000, [_box("north wind", 300, 600, 800, 650, odd)]), 1, 1.0)
    assert [w.text for w in geom.words] == ["north", "wind"] and geom.words[1].box.x1 == 800


def test_a_tilted_page_is_rotated_back() -> None:
    angle = math.radians(3.0)

    def tilted(text: str, x: float, y: float, length: float) -> OcrTextBox:
        dx, dy = math.cos(angle), math.sin(angle)
        h = 30.0
        quad = [(x, y), (x + length * dx, y + length * dy), (x + length * dx - h * dy, y + length * dy + h * dx), (x - h * dy, y + h * dx)]
        return OcrTextBox(quad=quad, text=text, score=0.99)

    boxes = [tilted("the left column line", 100, 400, 400), tilted("the right column line", 600, 400 + 500 * math.sin(angle), 400)]
    assert math.isclose(skew_angle(boxes), angle, rel_tol=1e-6)
    geom = page_geometry(OcrResult(1200, 1600, boxes), 1, 1.0)
    tops = [w.box.y0 for w in geom.words]
    # Upright again: both columns' words share one baseline band (a 3 degree tilt spreads them ~50 px).
    assert max(tops) - min(tops) < 3.0


def test_ruling_lines_are_found_on_the_image_and_glyphs_are_not() -> None:
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (1200, 900), 255)
    draw = ImageDraw.Draw(img)
    draw.line([(100, 200), (1100, 200)], fill=0, width=3)  # a table's top border, 3 px thick
    draw.line([(100, 200), (100, 500)], fill=0, width=2)  # its left border
    draw.rectangle([(100, 700), (1100, 800)], fill=0)  # a filled black box: not a rule
    font = ImageFont.load_default(size=60)
    draw.text((150, 300), "lllll IIIII ----- =====", font=font, fill=0)  # strokes of glyphs
    rules = image_rules(np.asarray(img), 2.0)  # 144 dpi: 2 pixels a point
    spans = sorted((r.x0, r.y0, r.x1, r.y1) for r in rules)
    assert len(spans) == 2, spans
    for got, want in zip(spans, [(50, 100, 50, 250), (50, 100, 550, 100)]):
        assert all(abs(g - w) <= 1.0 for g, w in zip(got, want)), spans


@pytest.mark.slow
def test_generated_scan_geometry_matches_the_born_digital_page(two_column) -> None:
    """rapidocr on the 150 dpi render: word boxes land on the PDF's own words, sizes and weight measured."""
    import pypdfium2 as pdfium
    from PIL import Image

    from roset_local.providers.engines import OcrEngine

    doc, png, _ = two_column
    image = Image.open(io.BytesIO(png))
    _text, geom = OcrEngine().read_page(image, 1, DPI / 72)
    pdf = pdfium.PdfDocument(str(doc.path))
    try:
        page = pdf[0]
        textpage = page.get_textpage()
        height = page.get_size()[1]
        found = textpage.search("Mountain Roads", match_case=True).get_next()
        assert found is not None
        left, bottom, right, top = textpage.get_charbox(found[0])
        heading_x, heading_y = left, height - top  # top-left origin like the geometry
    finally:
        pdf.close()
    mountain = [w for w in geom.words if w.text == "Mountain" and w.box.x0 > geom.width / 2]
    assert mountain, [w.text for w in geom.words]
    word = min(mountain, key=lambda w: w.box.y0)  # the right column's heading
    assert abs(word.box.x0 - heading_x) < 6 and abs(word.box.y0 - heading_y) < 8
    body = [w for w in geom.words if w.text == "harbour" and not w.bold]
    assert body and abs(body[0].size - 11) < 1.5  # the body is set in 11 pt
    assert word.bold and abs(word.size - 15) < 2  # the headings in 15 pt bold


# -- through the real server -----------------------------------------------------------------------
def _wait(http, file_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = http.get(f"/v1/files/{file_id}").json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.25)
    raise AssertionError(f"file {file_id} stuck in {body.get('status')}")


@pytest.mark.slow
def test_scanned_two_column_page_reads_column_by_column_through_the_server(live_server, two_column) -> None:
    doc, png, pdf = two_column
    with live_server.client() as http:
        form = {"variants": json.dumps(["markdown", "metadata", "structure"])}
        uploads = {
            "png": http.post("/v1/upload", files={"file": ("two-column.png", png, "image/png")}, data=form).json(),
            "pdf": http.post("/v1/upload", files={"file": ("two-column-scan.pdf", pdf, "application/pdf")}, data=form).json(),
        }
        for kind, body in uploads.items():
            done = _wait(http, body["id"])
            assert done["status"] == "completed", (kind, done)
            markdown = http.get(f"/v1/files/{body['id']}/variants/markdown").json()["content"]
            assert_columns_in_order(markdown, doc)
            assert_headings(markdown, doc)
            assert_table(markdown, doc)
            meta = http.get(f"/v1/files/{body['id']}/variants/metadata").json()["data"]
            assert meta["ocr_pages"] == [1], (kind, meta)
            assert_structure(http.get(f"/v1/files/{body['id']}/variants/structure").json(), markdown, doc)


@pytest.mark.slow
def test_fast_extraction_keeps_plain_ocr_lines(tmp_path: Path) -> None:
    """`extraction: fast` skips layout analysis: the drawn lines stay lines and there are no elements."""
    import samplegen

    from roset_local.providers.base import ExtractRequest, no_progress
    from roset_local.providers.engines import LocalEngines
    from roset_local.providers.images import extract_image

    path = tmp_path / "strip.png"
    samplegen.text_image(["Invoice number 4821", "Acme Widgets Limited"]).save(path)
    engines = LocalEngines()
    fast = extract_image(ExtractRequest(str(path), "strip.png", "image/png", {"extraction": "fast"}), "image/png", no_progress, engines)
    assert fast.markdown.splitlines() == ["Invoice number 4821", "Acme Widgets Limited"] and fast.elements == []
    full = extract_image(ExtractRequest(str(path), "strip.png", "image/png", {}), "image/png", no_progress, engines)
    assert [e.type for e in full.elements] == ["paragraph"]
    assert full.markdown == "Invoice number 4821 Acme Widgets Limited" == full.pages[0].markdown
    assert full.elements[0].span == (0, len(full.markdown)) and full.elements[0].page == 1
