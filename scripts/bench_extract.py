"""Extraction throughput, end to end through the worker pool, against the raw library calls.

    python scripts/bench_extract.py [--pdf-pages 600] [--scans 4] [--images 8] [--workdir DIR]
                                    [--skip pdf ocr scans images audio]

Prints OCR s/page and word recall on the scan set (tests/scangen.py: three generated pages, clean,
noisy, turned 90, 180 and 270 degrees and tilted a few degrees; truth from their text layer) for
the default OCR engine, for it without tesseract, and for rapidocr alone, page by page in one run;
then pages/s for born-digital PDFs, pages/s for scanned pages, images/s and the audio real-time
factor (processing seconds per second of audio: lower is faster). "raw" is the bare library call
on the same files in this process (pypdfium2 text, rapidocr with its default config,
faster-whisper with the same settings); "pool" goes through ExtractionPool (worker processes,
detection, guards, markdown, thumbnails, result pickling). Speech needs espeak-ng and ffmpeg.

OCR, measured here (2 cores, load average 16-20 from other jobs: seconds ~8x a quiet machine's,
where rapidocr alone took ~3 s on the clean two-column page):

    pages    engine           s/page  recall  min    ratio to rapidocr alone
    clean    default            7.17  1.000  1.000  0.22
    noisy    default            6.36  0.994  0.986  0.18
    rotated  default            6.90  1.000  1.000  0.19
    all      default            6.83  0.998  0.986  0.19   (tesseract read all 12 pages)
    all      no tesseract      37.56  0.999  0.993  1.05
    all      rapidocr alone    35.65  0.922  0.612  1.00   (rotated: 0.846; 180 degrees: 0.612)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import samplegen  # noqa: E402

from roset_local.providers import ExtractionPool, ExtractRequest  # noqa: E402
from roset_local.providers.models import ensure_whisper_model, rapidocr_models_dir  # noqa: E402

LOREM = (
    "The committee reviewed the quarterly figures and agreed that revenue grew across every region, "
    "while costs stayed within the budget approved at the start of the year."
)
SPEECH = (
    "Welcome to the quarterly review. Revenue grew seventeen percent this quarter. "
    "The northern region led the growth, and costs stayed within budget. "
    "Next quarter we will hire more engineers and open a new office."
)


def born_digital_pdf(path: Path, pages: int) -> Path:
    body = [
        samplegen.PdfPage(lines=[f"Section {i + 1}.{j}: {LOREM[: 60 + j]}" for j in range(40)], font_size=10)
        for i in range(pages)
    ]
    path.write_bytes(samplegen.pdf_bytes(body, title="Benchmark"))
    return path


def scanned_pdf(path: Path, pages: int) -> Path:
    lines = [LOREM[i * 30 : i * 30 + 60] for i in range(6)]
    jpeg, size = samplegen.scanned_page_jpeg(lines)
    path.write_bytes(samplegen.pdf_bytes([samplegen.PdfPage(jpeg=jpeg, jpeg_size=size) for _ in range(pages)]))
    return path


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def row(label: str, unit: str, raw: float, pool: float, higher_is_better: bool = True) -> None:
    ratio = pool / raw if raw else float("nan")
    note = "pool/raw" if higher_is_better else "pool/raw (lower is better)"
    print(f"{label:34} raw {raw:9.2f} {unit:8} pool {pool:9.2f} {unit:8} ratio {ratio:5.2f} {note}")


def run_pool(pool: ExtractionPool, provider: str, path: Path, **options: Any) -> Any:
    return pool.run(provider, {}, ExtractRequest(str(path), path.name, "", dict(options)))


def bench_pdf(pool: ExtractionPool, work: Path, pages: int) -> None:
    import pypdfium2 as pdfium

    files = [born_digital_pdf(work / f"digital-{i}.pdf", pages) for i in range(2)]

    def raw() -> None:
        for f in files:
            pdf = pdfium.PdfDocument(str(f))
            for page in pdf:
                tp = page.get_textpage()
                tp.get_text_bounded()
                tp.close()
                page.close()
            pdf.close()

    raw_s, _ = timed(raw)
    run_pool(pool, "reducto", files[0])  # warm both code paths
    one_s, _ = timed(lambda: run_pool(pool, "reducto", files[0]))
    with ThreadPoolExecutor(2) as ex:
        both_s, _ = timed(lambda: list(ex.map(lambda f: run_pool(pool, "reducto", f), files)))
    row("born-digital PDF, 1 job", "pages/s", pages * 2 / raw_s, pages / one_s)
    row("born-digital PDF, 2 jobs at once", "pages/s", pages * 2 / raw_s, pages * 2 / both_s)


def bench_scans(pool: ExtractionPool, work: Path, pages: int) -> None:
    import pypdfium2 as pdfium
    from rapidocr import RapidOCR

    f = scanned_pdf(work / "scanned.pdf", pages)
    models = rapidocr_models_dir()
    assert models is not None
    engine = RapidOCR(params={"Global.log_level": "error"})  # the default configuration

    def raw() -> None:
        pdf = pdfium.PdfDocument(str(f))
        for page in pdf:
            engine(page.render(scale=150 / 72).to_numpy())
        pdf.close()

    raw()  # warm the sessions
    raw_s, _ = timed(raw)
    run_pool(pool, "reducto", f)
    pool_s, result = timed(lambda: run_pool(pool, "reducto", f))
    assert result.metadata["ocr_pages"] == list(range(1, pages + 1))
    row("scanned PDF pages (OCR)", "pages/s", pages / raw_s, pages / pool_s)


def bench_ocr_set(work: Path) -> None:
    """OCR alone on the scan set (clean, noisy, rotated): the default engine against rapidocr alone, page by page."""
    import os
    import re
    from collections import Counter

    import scangen

    from roset_local.providers.engines import OcrEngine

    word = re.compile(r"[\w']+")

    def recall(found: str, truth: str) -> float:
        have, want = Counter(w.lower() for w in word.findall(found)), Counter(w.lower() for w in word.findall(truth))
        return sum(min(n, have[w]) for w, n in want.items()) / max(1, sum(want.values()))

    pages = scangen.scan_set(work)
    engines = {
        "default": OcrEngine(),  # levelled, tesseract where confident, rapidocr otherwise
        "no tesseract": OcrEngine(tesseract=False),  # the fallback: rapidocr on the levelled page
        "rapidocr alone": OcrEngine(tesseract=False, orient=False),  # the engine before levelling
    }
    for engine in engines.values():
        engine.read(pages[0].image)  # model load and first-run warm-up are not a page's cost
    load = os.getloadavg()
    tally: dict[tuple[str, str], list[tuple[float, float]]] = {}
    used: Counter[str] = Counter()
    for page in pages:
        line = f"  {page.category:8} {page.name:18}"
        for name, engine in engines.items():
            t = time.perf_counter()
            result = engine.read(page.image, page.dpi / 72)
            seconds = time.perf_counter() - t
            score = recall(" ".join(box.text for box in result.boxes), page.truth)
            tally.setdefault((name, page.category), []).append((seconds, score))
            if name == "default":
                used[result.engine] += 1
            line += f" | {name} {seconds:5.2f} s {score:.3f} ({result.engine})"
        print(line, flush=True)
    end = os.getloadavg()
    print(f"OCR scan set: {len(pages)} pages; load average {load[0]:.2f} at the start, {end[0]:.2f} at the end")
    print(f"default engine read {dict(used)} pages")
    print(f"{'pages':10} {'engine':16} {'s/page':>7} {'recall':>7} {'min':>7}  ratio of s/page to rapidocr alone")
    for category in [*dict.fromkeys(p.category for p in pages), "all"]:
        rows = {
            name: [v for (n, c), vals in tally.items() if n == name and category in (c, "all") for v in vals]
            for name in engines
        }
        base = sum(s for s, _ in rows["rapidocr alone"]) / len(rows["rapidocr alone"])
        for name, vals in rows.items():
            per_page = sum(s for s, _ in vals) / len(vals)
            mean_recall = sum(r for _, r in vals) / len(vals)
            print(
                f"{category:10} {name:16} {per_page:7.2f} {mean_recall:7.3f} {min(r for _, r in vals):7.3f}"
                f"  {per_page / base:5.2f}"
            )


def bench_images(pool: ExtractionPool, work: Path, count: int) -> None:
    from rapidocr import RapidOCR

    files = []
    for i, fmt in enumerate(["png", "jpeg", "webp", "tiff", "bmp", "gif"] * (count // 6 + 1)):
        if i == count:
            break
        d = work / f"img{i}"
        d.mkdir(exist_ok=True)
        files.append(samplegen.make_image(d, fmt).path)
    engine = RapidOCR(params={"Global.log_level": "error"})
    engine(str(files[0]))
    raw_s, _ = timed(lambda: [engine(str(f)) for f in files])
    run_pool(pool, "gemini", files[0])
    pool_s, _ = timed(lambda: [run_pool(pool, "gemini", f) for f in files])
    row("images (OCR)", "images/s", count / raw_s, count / pool_s)


def bench_audio(pool: ExtractionPool, work: Path, models_dir: Path) -> None:
    if not samplegen.have_media_tools():
        print("audio: skipped (needs espeak-ng and ffmpeg)")
        return
    from faster_whisper import WhisperModel

    wav = samplegen.speech_wav(work, " ".join([SPEECH] * 2))
    import av

    with av.open(str(wav)) as c:
        duration = float((c.duration or 0) / av.time_base)
    model = WhisperModel(
        str(ensure_whisper_model(models_dir)), device="cpu", compute_type="int8", local_files_only=True
    )

    def raw() -> None:
        segments, _ = model.transcribe(str(wav), beam_size=1, vad_filter=True, condition_on_previous_text=False)
        list(segments)

    raw()
    raw_s, _ = timed(raw)
    run_pool(pool, "whisper", wav)
    pool_s, result = timed(lambda: run_pool(pool, "whisper", wav))
    print(f"audio: {duration:.1f} s of speech, language {result.metadata['language']}, {len(result.segments)} segments")
    row("audio real-time factor", "s/s", raw_s / duration, pool_s / duration, higher_is_better=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdf-pages", type=int, default=600)
    parser.add_argument("--scans", type=int, default=4)
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--skip", nargs="*", default=[], choices=["pdf", "ocr", "scans", "images", "audio"])
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="roset-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    models_dir = work / "models"
    with ExtractionPool(max_workers=2, timeout_seconds=1800, models_dir=models_dir) as pool:
        t, _ = timed(pool.warm)
        print(f"pool of 2 workers started in {t:.2f} s; files in {work}")
        if "pdf" not in args.skip:
            bench_pdf(pool, work, args.pdf_pages)
        if "ocr" not in args.skip:
            bench_ocr_set(work)
        if "scans" not in args.skip:
            bench_scans(pool, work, args.scans)
        if "images" not in args.skip:
            bench_images(pool, work, args.images)
        if "audio" not in args.skip:
            bench_audio(pool, work, models_dir)


if __name__ == "__main__":
    main()
