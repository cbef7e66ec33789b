"""The page-at-once character codes of the PDF reader equal PDFium's per-character FPDFText_GetUnicode."""

from __future__ import annotations

from pathlib import Path

import pytest

from roset_local.structure import pdf_reader
from tests.providers.test_pdf_structure import make_structured_pdf

pdfium = pytest.importorskip("pypdfium2")
raw = pytest.importorskip("pypdfium2.raw")
fpdf = pytest.importorskip("fpdf")

# shared/ sits beside the checkout (or beside a worktree's parent folder), as for scripts/bench_structure.py
CORPUS = next(
    (p / "shared" / "corpora" / "docling" / "pdf" for p in Path(__file__).resolve().parents
     if (p / "shared" / "corpora" / "docling" / "pdf").is_dir()),
    Path("/nonexistent"),
)


def codes_both_ways(path: Path) -> list[tuple[list[int], list[int]]]:
    """(the reader's codes, one FPDFText_GetUnicode call per character) for every page."""
    out = []
    pdf = pdfium.PdfDocument(str(path))
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            textpage = raw.FPDFText_LoadPage(page.raw)
            count = raw.FPDFText_CountChars(textpage)
            out.append((pdf_reader.char_codes(raw, textpage, count),
                        [raw.FPDFText_GetUnicode(textpage, i) for i in range(count)]))
            raw.FPDFText_ClosePage(textpage)
            page.close()
    finally:
        pdf.close()
    return out


def hyphen_pdf(path: Path) -> Path:
    """Words hyphenated across line ends (PDFium reports such a hyphen as 2), ligature glyphs and
    unmapped control bytes (reported as 0 or left out of the page text)."""
    pdf = fpdf.FPDF(unit="pt", format="A4")
    pdf.core_fonts_encoding = "windows-1252"
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    lines = [
        "The extraction engine reads every page of the docu-",
        "ment and rebuilds its structure from the posi-",
        "tions of words \u2013 fonts \u2022 drawn lines.",
        "Tab\there and a non-breaking\u00a0space.",
    ]
    for n, line in enumerate(lines):
        pdf.text(72, 100 + 16 * n, line)
    pdf.output(str(path))
    return path


def test_codes_match_per_character_calls_on_drawn_pdfs(tmp_path: Path):
    pages = codes_both_ways(make_structured_pdf(tmp_path / "structured.pdf"))
    pages += codes_both_ways(hyphen_pdf(tmp_path / "hyphen.pdf"))
    assert sum(len(ref) for _, ref in pages) > 500
    assert any(2 in ref for _, ref in pages)  # the U+FFFE path ran: a line-end hyphen was asked for
    for got, ref in pages:
        assert got == ref


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the docling corpus is not beside this checkout")
def test_codes_match_per_character_calls_on_the_corpus():
    checked = 0
    for path in sorted(CORPUS.glob("*.pdf")):
        for got, ref in codes_both_ways(path):
            assert got == ref, path.name
            checked += len(ref)
    assert checked > 10000


def test_no_characters_gives_no_codes(tmp_path: Path):
    pdf = fpdf.FPDF(unit="pt", format="A4")
    pdf.add_page()
    pdf.output(str(tmp_path / "blank.pdf"))
    assert codes_both_ways(tmp_path / "blank.pdf") == [([], [])]
