"""Table finding on PDFs the tests draw (ruled, borderless, merged cells, booktabs, two text columns) and on
hand-built page geometry, plus the markdown a table renders to."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
import pytest
from fpdf import FPDF

from roset_local.structure.model import Box, Cell, PageGeometry, Rule, Table, Word
from roset_local.structure.pdf_reader import read_page
from roset_local.structure.tables import find_tables, table_markdown

LOREM = (
    "Layout analysis turns positioned words into paragraphs and headings. Running text flows from line to "
    "line with ordinary word spacing and justified margins, and nothing in it lines up in columns the way "
    "the cells of a table do, even when the page is set in two columns side by side with a gutter between."
)


def pdf_pages(pdf: FPDF) -> list[PageGeometry]:
    doc = pdfium.PdfDocument(io.BytesIO(bytes(pdf.output())))
    return [read_page(doc[i], i + 1) for i in range(len(doc))]


def grid_of(table: Table) -> list[list[str]]:
    grid = [[""] * table.n_cols for _ in range(table.n_rows)]
    for c in table.cells:
        grid[c.row][c.col] = c.text
    return grid


def new_pdf() -> FPDF:
    pdf = FPDF(unit="pt", format="A4")
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    return pdf


ROWS = [
    ["Region", "Units", "Revenue"],
    ["North", "120", "4,300"],
    ["South", "95", "3,150"],
    ["East", "210", "7,020"],
]


def test_ruled_table_cell_by_cell():
    pdf = new_pdf()
    pdf.multi_cell(0, 14, "Quarterly figures by region follow.")
    pdf.ln(10)
    with pdf.table(col_widths=(120, 80, 100), width=300, align="LEFT") as table:
        for row in ROWS:
            r = table.row()
            for text in row:
                r.cell(text)
    pdf.ln(10)
    pdf.multi_cell(0, 14, "The totals are audited.")
    [page] = pdf_pages(pdf)
    [table] = find_tables(page)
    assert table.ruled and (table.n_rows, table.n_cols) == (4, 3)
    assert grid_of(table) == ROWS
    assert all(c.header for c in table.cells if c.row == 0) and not any(c.header for c in table.cells if c.row)
    assert table.box is not None and table.box.y0 > 20
    md = table_markdown(table)
    assert md.splitlines()[0] == "| Region | Units | Revenue |"
    assert md.splitlines()[1] == "|---|---|---|"
    assert "| East | 210 | 7,020 |" in md


@pytest.mark.parametrize("zebra", [False, True], ids=["plain", "zebra"])
@pytest.mark.parametrize(
    "layout",
    ["ALL", "NONE", "INTERNAL", "MINIMAL", "HORIZONTAL_LINES", "NO_HORIZONTAL_LINES", "SINGLE_TOP_LINE"],
)
def test_every_border_style_gives_the_same_cells(layout, zebra):
    rows = ROWS + [["West", "88", "2,900"], ["Central", "150", "5,500"]]
    pdf = new_pdf()
    pdf.multi_cell(0, 14, "Table 3: quarterly figures by region.", new_x="LMARGIN")
    fill = {"cell_fill_color": (225, 225, 225), "cell_fill_mode": "ROWS"} if zebra else {}
    with pdf.table(col_widths=(120, 80, 100), width=300, align="LEFT", borders_layout=layout, **fill) as table:
        for row in rows:
            r = table.row()
            for text in row:
                r.cell(text)
    pdf.multi_cell(0, 14, "The totals are audited.")
    [page] = pdf_pages(pdf)
    [table] = find_tables(page)
    assert grid_of(table) == rows


def test_borderless_table_cell_by_cell():
    pdf = new_pdf()
    pdf.multi_cell(0, 14, "Stock on hand, counted at the end of the month:")
    y = 120
    rows = [["Item", "Warehouse", "Count", "Unit"], ["Bolts", "Leeds", "1200", "box"],
            ["Nuts", "York", "800", "bag"], ["Washers", "Hull", "450", "box"], ["Screws", "Derby", "3100", "tin"]]
    for row in rows:
        for x, text in zip((60, 170, 290, 390), row):
            pdf.text(x, y, text)
        y += 16
    pdf.set_xy(28, y + 20)
    pdf.multi_cell(0, 14, "Counts are taken by hand and checked twice.")
    [page] = pdf_pages(pdf)
    [table] = find_tables(page)
    assert not table.ruled
    assert grid_of(table) == rows
    assert "| Washers | Hull | 450 | box |" in table_markdown(table)


def test_borderless_wrapped_cells_and_right_aligned_numbers():
    pdf = new_pdf()
    pdf.set_xy(40, 50)
    pdf.multi_cell(500, 13, LOREM, align="J")
    y = 140
    rows = [("Component", ["Description"], "Qty", "Price"),
            ("Pump", ["Centrifugal pump for the", "primary cooling loop"], "2", "1,250.00"),
            ("Valve", ["Check valve"], "14", "35.50"),
            ("Sensor", ["Temperature sensor,", "stainless probe"], "6", "89.90"),
            ("Cable", ["Shielded, per metre"], "120", "2.10")]
    for name, desc, qty, price in rows:
        pdf.text(60, y, name)
        for k, line in enumerate(desc):
            pdf.text(150, y + 12 * k, line)
        pdf.text(330 - pdf.get_string_width(qty), y, qty)
        pdf.text(420 - pdf.get_string_width(price), y, price)
        y += 12 * len(desc) + 8
    pdf.set_xy(40, y + 10)
    pdf.multi_cell(500, 13, LOREM, align="J")
    [page] = pdf_pages(pdf)
    [table] = find_tables(page)
    assert grid_of(table) == [[name, " ".join(desc), qty, price] for name, desc, qty, price in rows]


def test_borderless_statement_with_section_rows_and_indented_labels():
    pdf = new_pdf()
    pdf.set_xy(40, 40)
    pdf.multi_cell(500, 13, LOREM, align="J")
    rows = [("", "2024", "2023"), ("Current assets:", "", ""), ("  Cash and cash equivalents", "12,450", "10,980"),
            ("  Accounts receivable, net of allowances", "8,310", "7,645"), ("  Inventories", "5,002", "4,870"),
            ("Total current assets", "25,762", "23,495"), ("Long-term debt", "(3,200)", "(3,900)")]
    y = 130
    for label, a, b in rows:
        pdf.text(50 + (12 if label.startswith(" ") else 0), y, label.strip())
        for right, value in ((400, a), (480, b)):
            if value:
                pdf.text(right - pdf.get_string_width(value), y, value)
        y += 14
    pdf.set_xy(40, y + 12)
    pdf.multi_cell(500, 13, LOREM, align="J")
    [page] = pdf_pages(pdf)
    [table] = find_tables(page)
    assert grid_of(table) == [[label.strip(), a, b] for label, a, b in rows]


def test_merged_cells_render_as_html_with_spans():
    pdf = new_pdf()
    with pdf.table(col_widths=(100, 80, 80), width=260, align="LEFT", num_heading_rows=2) as table:
        head = table.row()
        head.cell("Model", rowspan=2)
        head.cell("Score", colspan=2)
        sub = table.row()
        sub.cell("simple")
        sub.cell("complex")
        for name, a, b in (("OTSL", "0.96", "0.93"), ("HTML", "0.97", "0.92")):
            r = table.row()
            r.cell(name)
            r.cell(a)
            r.cell(b)
    [page] = pdf_pages(pdf)
    [table] = find_tables(page)
    assert (table.n_rows, table.n_cols) == (4, 3) and table.spans
    spans = {(c.row, c.col): (c.rowspan, c.colspan, c.text) for c in table.cells}
    assert spans[(0, 0)] == (2, 1, "Model")
    assert spans[(0, 1)] == (1, 2, "Score")
    assert spans[(1, 1)][2] == "simple" and spans[(3, 2)][2] == "0.92"
    html = table_markdown(table)
    assert html.startswith("<table>") and html.endswith("</table>")
    assert '<th rowspan="2">Model</th><th colspan="2">Score</th>' in html
    assert "<tr><td>HTML</td><td>0.97</td><td>0.92</td></tr>" in html
    assert table_markdown(table, repeat_spans=True).splitlines()[:3] == [
        "| Model | Score | Score |", "|---|---|---|", "| Model | simple | complex |",
    ]


def test_booktabs_rules_with_columns_from_alignment():
    pdf = new_pdf()
    pdf.set_line_width(0.8)
    top, y = 100, 116
    pdf.line(60, top, 400, top)
    for x, text in zip((64, 200, 320), ("Method", "Precision", "Recall")):
        pdf.text(x, y, text)
    pdf.set_line_width(0.4)
    pdf.line(60, y + 6, 400, y + 6)
    y += 22
    body = [["Rules", "0.91", "0.84"], ["Model", "0.95", "0.90"], ["Both", "0.97", "0.93"]]
    for row in body:
        for x, text in zip((64, 200, 320), row):
            pdf.text(x, y, text)
        y += 16
    pdf.set_line_width(0.8)
    pdf.line(60, y - 8, 400, y - 8)
    [page] = pdf_pages(pdf)
    [table] = find_tables(page)
    assert grid_of(table) == [["Method", "Precision", "Recall"]] + body


def test_two_column_article_has_no_table():
    pdf = new_pdf()
    for x in (40, 310):
        pdf.set_xy(x, 60)
        for _ in range(4):
            pdf.multi_cell(245, 13, LOREM, align="J")
            pdf.set_x(x)
            pdf.ln(6)
            pdf.set_x(x)
    [page] = pdf_pages(pdf)
    assert len(page.words) > 300
    assert find_tables(page) == []


def test_bulleted_and_numbered_lists_have_no_table():
    pdf = new_pdf()
    pdf.set_xy(40, 60)
    for i in range(6):
        pdf.set_x(40)
        pdf.cell(20, 14, f"{i + 1}.")
        pdf.multi_cell(400, 14, "An item of a numbered list, a sentence long, with no columns in it at all.")
    [page] = pdf_pages(pdf)
    assert find_tables(page) == []


# -- hand-built geometry ----------------------------------------------------------------------------


def word(text: str, x0: float, y0: float, size: float = 10.0, bold: bool = False) -> Word:
    return Word(text, Box(x0, y0, x0 + 0.5 * size * len(text), y0 + size), size=size, bold=bold)


def frame_rules(xs: list[float], ys: list[float]) -> list[Rule]:
    rules = [Rule(xs[0], y, xs[-1], y) for y in ys]
    rules += [Rule(x, ys[0], x, ys[-1]) for x in xs]
    return rules


def test_missing_interior_rules_become_spans():
    xs, ys = [50.0, 150.0, 250.0, 350.0], [100.0, 120.0, 140.0, 160.0]
    rules = [Rule(xs[0], y, xs[-1], y) for y in (ys[0], ys[2], ys[3])]
    rules.append(Rule(150.0, ys[1], 350.0, ys[1]))  # no rule under the first column: it spans 2 rows
    rules += [Rule(x, ys[0], x, ys[-1]) for x in (xs[0], xs[1], xs[3])]
    rules.append(Rule(250.0, ys[1], 250.0, ys[-1]))  # no rule in the top row: "Scores" spans 2 columns
    words = [word("Name", 55, 115), word("Scores", 160, 104), word("a", 160, 124), word("b", 260, 124),
             word("x", 55, 144), word("1", 160, 144), word("2", 260, 144)]
    page = PageGeometry(1, 600, 800, words=words, rules=rules)
    [table] = find_tables(page)
    cells = {(c.row, c.col): c for c in table.cells}
    assert (cells[0, 0].rowspan, cells[0, 0].text) == (2, "Name")
    assert (cells[0, 1].colspan, cells[0, 1].text) == (2, "Scores")
    assert [cells[2, c].text for c in range(3)] == ["x", "1", "2"]
    assert table.box is not None and table.box.rounded() == [50.0, 100.0, 350.0, 160.0]


def test_page_border_and_a_lone_box_are_not_tables():
    words = [word("Just", 100, 100), word("a", 130, 100), word("note", 145, 100)]
    rules = frame_rules([0, 600], [0, 800]) + frame_rules([90, 300], [90, 120])
    assert find_tables(PageGeometry(1, 600, 800, words=words, rules=rules)) == []


def test_table_of_contents_leaders():
    words = []
    entries = [("Introduction", "1"), ("Methods", "4"), ("Results", "9"), ("Discussion", "15")]
    for i, (title, page_no) in enumerate(entries):
        y = 100 + 16 * i
        words.append(word(title, 60, y))
        words += [word(".", 130 + 6 * k, y) for k in range(30)]
        words.append(word(page_no, 320, y))
    [table] = find_tables(PageGeometry(1, 600, 800, words=words))
    assert table.n_cols == 2 and [c.text for c in table.cells if c.col == 1] == ["1", "4", "9", "15"]
    assert all(c.text.startswith(title) for c, (title, _) in zip([c for c in table.cells if c.col == 0], entries))


def test_two_column_index_reads_column_by_column():
    words = []
    left = [("alpha", "3"), ("beta", "7"), ("gamma", "12")]
    right = [("delta", "15"), ("epsilon", "21"), ("zeta", "30")]
    for i, ((a, pa), (b, pb)) in enumerate(zip(left, right)):
        y = 100 + 14 * i
        for x0, title, page_no in ((60, a, pa), (320, b, pb)):
            words.append(word(title, x0, y))
            words += [word(".", x0 + 50 + 5 * k, y) for k in range(30)]
            words.append(word(page_no, x0 + 210, y))
    [table] = find_tables(PageGeometry(1, 600, 800, words=words))
    assert [c.text for c in table.cells if c.col == 1] == ["3", "7", "12", "15", "21", "30"]
    assert [c.text.split()[0] for c in table.cells if c.col == 0] == [t for t, _ in left + right]


def test_sideways_header_reads_bottom_up():
    rules = frame_rules([50, 150, 200], [100, 160, 180])
    # glyphs of "No Act" turned 90 degrees: stacked bottom to top, touching, a space's blank between words
    words = [word("Action", 55, 140)]
    y = 152.0
    for ch in "No Act":
        if ch == " ":
            y -= 2.5
            continue
        y -= 6
        words.append(Word(ch, Box(170, y, 178, y + 6), size=8))
    words += [word("Run", 55, 165), word("X", 170, 165)]
    [table] = find_tables(PageGeometry(1, 600, 800, words=words, rules=rules))
    assert grid_of(table) == [["Action", "No Act"], ["Run", "X"]]


@pytest.mark.parametrize(
    "text, cell",
    [("a|b", "a\\|b"), ("line\nbreak", "line break"), ("back\\slash", "back\\\\slash")],
)
def test_pipe_table_escapes(text, cell):
    table = Table(2, 2, [Cell(0, 0, "h1", header=True), Cell(0, 1, "h2", header=True),
                         Cell(1, 0, text), Cell(1, 1, "z")])
    assert table_markdown(table).splitlines()[2] == f"| {cell} | z |"


def test_html_table_escapes_text():
    table = Table(2, 2, [Cell(0, 0, "a<b", colspan=2, header=True), Cell(1, 0, "x & y"), Cell(1, 1, "z")])
    assert table_markdown(table) == (
        '<table>\n<tr><th colspan="2">a&lt;b</th></tr>\n<tr><td>x &amp; y</td><td>z</td></tr>\n</table>'
    )


# -- through the real server ------------------------------------------------------------------------


def test_tables_reach_the_markdown_variant_through_the_server(live_server):
    from tests.test_files import wait_file

    pdf = new_pdf()
    pdf.multi_cell(0, 14, "Regional figures.")
    pdf.ln(8)
    with pdf.table(col_widths=(120, 80, 100), width=300, align="LEFT") as table:
        for row in ROWS:
            r = table.row()
            for text in row:
                r.cell(text)
    pdf.ln(16)
    with pdf.table(col_widths=(100, 80, 80), width=260, align="LEFT", num_heading_rows=2) as table:
        head = table.row()
        head.cell("Model", rowspan=2)
        head.cell("Score", colspan=2)
        sub = table.row()
        sub.cell("simple")
        sub.cell("complex")
        r = table.row()
        for text in ("OTSL", "0.96", "0.93"):
            r.cell(text)
    with live_server.client() as http:
        files = {"file": ("figures.pdf", bytes(pdf.output()), "application/pdf")}
        body = http.post("/v1/upload", files=files).json()
        assert wait_file(http, body["id"])["status"] == "completed"
        md = http.get(f"/v1/files/{body['id']}/variants/markdown").json()["content"]
    assert "| Region | Units | Revenue |\n|---|---|---|\n| North | 120 | 4,300 |" in md
    assert "| East | 210 | 7,020 |" in md
    assert '<th rowspan="2">Model</th><th colspan="2">Score</th>' in md
    assert "<tr><td>OTSL</td><td>0.96</td><td>0.93</td></tr>" in md
    # the cells' words are in the table only, not repeated as loose text
    assert md.count("Revenue") == 1 and md.count("OTSL") == 1


@pytest.mark.parametrize("seed", range(40))
def test_random_pages_give_consistent_tables(seed):
    import random

    rnd = random.Random(seed)
    xs = sorted(rnd.sample(range(40, 560, 10), rnd.randint(2, 7)))
    ys = sorted(rnd.sample(range(60, 760, 12), rnd.randint(2, 12)))
    rules = [Rule(xs[0], y, xs[-1], y) for y in ys if rnd.random() < 0.8]
    rules += [Rule(x, rnd.choice(ys), x, rnd.choice(ys)) for x in xs if rnd.random() < 0.7]
    rects = [Box(x, y, x + rnd.uniform(2, 200), y + rnd.uniform(2, 90)) for x, y in
             ((rnd.uniform(0, 500), rnd.uniform(0, 700)) for _ in range(rnd.randint(0, 6)))]
    words = [word(rnd.choice(["a", "bb", "ccc", "1.5", "•", "*", "....", "x|y"]), rnd.uniform(30, 560),
                  rnd.uniform(40, 780), size=rnd.choice([6, 8, 10])) for _ in range(rnd.randint(0, 300))]
    page = PageGeometry(1, 600, 800, words=words, rules=rules, rects=rects)
    for table in find_tables(page):
        seen: set[tuple[int, int]] = set()
        for c in table.cells:
            assert 0 <= c.row and c.row + c.rowspan <= table.n_rows and 0 <= c.col and c.col + c.colspan <= table.n_cols
            slots = {(r, k) for r in range(c.row, c.row + c.rowspan) for k in range(c.col, c.col + c.colspan)}
            assert not slots & seen
            seen |= slots
        assert table.n_rows >= 2 and table.n_cols >= 2 and table.box is not None
        md = table_markdown(table)
        assert md.startswith("<table>") if table.spans else md.count("\n") == table.n_rows


def test_running_header_and_footer_rules_do_not_swallow_the_page():
    pdf = new_pdf()
    pdf.set_line_width(0.5)
    pdf.line(40, 40, 555, 40)  # a running header's rule, as wide as the table's rules
    pdf.text(40, 34, "Annual report 2024")
    pdf.set_xy(40, 50)
    pdf.multi_cell(515, 13, LOREM + " " + LOREM, align="J")
    y = 166
    pdf.line(40, 150, 555, 150)
    for x, text in zip((44, 420), ("Method", "Recall")):
        pdf.text(x, y, text)
    pdf.line(40, y + 6, 555, y + 6)
    body = [["Rules", "0.84"], ["Model", "0.90"], ["Both", "0.93"]]
    for row in body:
        y += 16
        for x, text in zip((44, 420), row):
            pdf.text(x, y, text)
    pdf.line(40, y + 8, 555, y + 8)
    pdf.set_xy(40, y + 20)
    pdf.multi_cell(515, 13, LOREM + " " + LOREM, align="J")
    pdf.line(40, 800, 555, 800)  # and the footer's
    pdf.text(40, 812, "Page 3 of 9")
    [page] = pdf_pages(pdf)
    [table] = find_tables(page)
    assert table.ruled and grid_of(table) == [["Method", "Recall"]] + body


def test_full_width_table_on_a_two_column_page():
    pdf = new_pdf()

    def columns(y: float) -> None:
        for x in (40, 310):
            pdf.set_xy(x, y)
            for _ in range(2):
                pdf.multi_cell(245, 13, LOREM, align="J")
                pdf.set_xy(x, pdf.get_y() + 4)

    columns(50)
    rows = [["Item", "Warehouse", "Count", "Unit"], ["Bolts", "Leeds", "1200", "box"],
            ["Nuts", "York", "800", "bag"], ["Washers", "Hull", "450", "box"]]
    y = 300
    for row in rows:
        for x, text in zip((40, 170, 320, 450), row):  # the gap between columns 2 and 3 is the gutter
            pdf.text(x, y, text)
        y += 16
    columns(y + 10)
    [page] = pdf_pages(pdf)
    [table] = find_tables(page)
    assert grid_of(table) == rows
