"""OCR of clean, noisy and rotated scans: pages levelled first, tesseract where confident, rapidocr otherwise."""

from __future__ import annotations

import io
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/scangen.py

import scangen  # noqa: E402

from roset_local.providers.tesseract import parse_tsv  # noqa: E402
from roset_local.structure import orientation  # noqa: E402

DPI = 150
MIN_RECALL = 0.97  # the benchmark's bar for every page of the set


def recall(found: str, truth: str) -> float:
    """Share of the true words (with repeats) that the OCR text has, case-insensitive."""
    have = Counter(w.lower() for w in re.findall(r"[\w']+", found))
    want = Counter(w.lower() for w in re.findall(r"[\w']+", truth))
    return sum(min(n, have[w]) for w, n in want.items()) / max(1, sum(want.values()))


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, scangen.ScanPage]:
    return {f"{p.category} {p.name}": p for p in scangen.scan_set(tmp_path_factory.mktemp("scanset"), DPI)}


# -- levelling, on the image alone -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "quarter", "tilt"),
    [
        ("clean report", 0, 0.0),
        ("noisy letter", 0, 0.0),
        ("rotated two-column 90", 1, 0.0),
        ("rotated letter 270", 1, 0.0),
        ("rotated report 180", 0, 0.0),  # upside down is the line classifier's call, below
        ("rotated two-column +3.0", 0, -3.0),
        ("rotated report -2.0", 0, 2.0),
    ],
)
def test_quarter_turns_and_tilts_are_found_from_the_ink(pages, name: str, quarter: int, tilt: float) -> None:
    found = orientation.estimate(pages[name].image)
    assert found.quarter == quarter and abs(found.tilt - tilt) <= 0.3, found


def test_a_ruled_grid_does_not_turn_the_page() -> None:
    """Many tall vertical rules (a ruled ledger) stripe the column profile: rules are not text lines."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=22)
    for x in range(100, 1141, 52):
        draw.line([(x, 150), (x, 1650)], fill="black", width=3)
    for i, y in enumerate(range(170, 1640, 60)):
        draw.text((110, y), f"entry {i} paid in full on the first of the month", font=font, fill="black")
    assert orientation.estimate(img) == orientation.Orientation(0, 0.0)


def test_line_samples_sit_on_text_lines(pages) -> None:
    import numpy as np

    page = pages["clean report"].image
    samples = orientation.line_samples(page)
    assert 6 <= len(samples) <= orientation.SAMPLES
    gray = np.asarray(page.convert("L"))
    for x0, y0, x1, y1 in samples:
        assert 2 <= (x1 - x0) / (y1 - y0) <= 5  # line pieces about 4:1, as the classifier expects
        assert (gray[y0:y1, x0:x1] < 128).mean() > 0.05  # inked: text, not margin


def test_tesseract_tsv_becomes_lines_with_word_boxes() -> None:
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "4\t1\t1\t1\t1\t0\t100\t50\t300\t20\t-1\t",
        "5\t1\t1\t1\t1\t1\t100\t50\t120\t20\t96.5\tHarbour",
        "5\t1\t1\t1\t1\t2\t240\t52\t160\t18\t93.0\tRecords",
        "5\t1\t2\t1\t1\t1\t600\t50\t80\t20\t40.0\tMountain",
        "5\t1\t2\t1\t1\t2\t700\t50\t10\t20\t95.0\t ",
    ]
    page = parse_tsv("\n".join([header, *rows]), 1000, 800)
    assert page.words == 3 and [b.text for b in page.result.boxes] == ["Harbour Records", "Mountain"]
    first = page.result.boxes[0]
    assert first.quad[0] == (100, 50) and first.quad[2] == (400, 70)
    assert first.words is not None and [w for w, _ in first.words] == ["Harbour", "Records"]
    # Mean word confidence weighted by length: (96.5*7 + 93*7 + 40*8) / 22.
    assert abs(page.confidence - (96.5 * 7 + 93 * 7 + 40 * 8) / 22) < 1e-9


def test_upside_down_pages_are_turned_back(pages) -> None:
    """rapidocr's line classifier votes the 180-degree page back, and leaves upright ones alone."""
    import numpy as np

    from roset_local.providers.engines import OcrEngine

    engine = OcrEngine(tesseract=False)
    for name, want in (("rotated report 180", "clean report"), ("clean report", None), ("noisy report", None)):
        upright = np.asarray(pages[want or name].image.convert("L").reduce(4))
        levelled = np.asarray(engine.level(pages[name].image).convert("L").reduce(4))  # noise averaged out
        assert levelled.shape == upright.shape
        # Same page the right way up: pixels agree far better than with the page turned over.
        diff = np.abs(levelled.astype(int) - upright.astype(int)).mean()
        turned = np.abs(levelled[::-1, ::-1].astype(int) - upright.astype(int)).mean()
        assert diff < turned / 2, (name, diff, turned)


# -- through the real server -----------------------------------------------------------------------
def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", dpi=(DPI, DPI))
    return buf.getvalue()


def _pdf(image, work: Path, name: str) -> bytes:
    return scangen.image_pdf(image, work / f"{name}.pdf", DPI).read_bytes()


def _ocr_through_server(server, uploads: dict[str, tuple[str, bytes, str]]) -> dict[str, tuple[str, dict]]:
    """Markdown and metadata of each uploaded scan, once its job has completed."""
    form = {"variants": json.dumps(["markdown", "metadata"])}
    out = {}
    with server.client() as http:
        ids = {
            key: http.post("/v1/upload", files={"file": upload}, data=form).json()["id"] for key, upload in uploads.items()
        }
        for key, file_id in ids.items():
            deadline = time.monotonic() + 300
            while True:
                body = http.get(f"/v1/files/{file_id}").json()
                if body["status"] in ("completed", "failed") or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
            assert body["status"] == "completed", (key, body)
            markdown = http.get(f"/v1/files/{file_id}/variants/markdown").json()["content"]
            meta = http.get(f"/v1/files/{file_id}/variants/metadata").json()["data"]
            out[key] = (markdown, meta)
    return out


@pytest.mark.slow
def test_clean_noisy_and_rotated_scans_read_fully_through_the_server(live_server, pages, tmp_path: Path) -> None:
    """Images and scanned PDFs, upright, noisy, turned a quarter, upside down and tilted: every word read."""
    chosen = {
        "clean two-column": "png",
        "noisy letter": "png",
        "rotated two-column 90": "png",
        "rotated report 180": "pdf",
        "rotated letter +1.5": "pdf",
    }
    uploads = {}
    for name, kind in chosen.items():
        filename = name.replace(" ", "-")
        if kind == "png":
            uploads[name] = (f"{filename}.png", _png(pages[name].image), "image/png")
        else:
            uploads[name] = (f"{filename}.pdf", _pdf(pages[name].image, tmp_path, filename), "application/pdf")
    results = _ocr_through_server(live_server, uploads)
    for name, (markdown, meta) in results.items():
        assert meta["ocr_pages"] == [1], (name, meta)
        assert recall(markdown, pages[name].truth) >= MIN_RECALL, (name, markdown)
    # Levelled first, every page of the set is one tesseract is sure of (the fast path).
    assert all(meta["ocr_engines"] == {"tesseract": [1]} for _, meta in results.values()), results
    # The quarter-turned page was read upright: its title comes out as the first line.
    assert results["rotated two-column 90"][0].startswith(f"# {scangen.TITLE}")
    assert results["rotated report 180"][0].startswith(f"# {scangen.REPORT_TITLE}")


@pytest.mark.slow
def test_without_tesseract_rapidocr_reads_rotated_scans(make_live_server, pages, tmp_path: Path) -> None:
    """A machine without the tesseract binary: rapidocr alone, pages still levelled first, logged once."""
    bare = tmp_path / "bin"
    bare.mkdir()
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not (Path(p) / "tesseract").exists())
    server = make_live_server(PATH=path or str(bare))
    uploads = {
        "rotated report 180": ("report-180.pdf", _pdf(pages["rotated report 180"].image, tmp_path, "r180"), "application/pdf"),
        "rotated letter 270": ("letter-270.png", _png(pages["rotated letter 270"].image), "image/png"),
    }
    results = _ocr_through_server(server, uploads)
    for name, (markdown, meta) in results.items():
        assert recall(markdown, pages[name].truth) >= MIN_RECALL, (name, markdown)
        assert meta["ocr_engines"] == {"rapidocr": [1]}, meta
    assert server.log_path is not None
    log = server.log_path.read_text(errors="replace")
    assert 1 <= log.count("tesseract is not installed") <= 2  # once per worker process
