"""PDF extraction with pypdfium2: layout analysis of the text layer into structured markdown, OCR for pages without one."""

from __future__ import annotations

import threading
import time
from typing import Any

from roset_local.structure.layout import Outline, analyse, furniture_metadata
from roset_local.structure.model import Element, PageGeometry
from roset_local.structure.pdf_reader import read_page

from .base import Extraction, ExtractionError, ExtractRequest, Page, ProgressFn
from .engines import LocalEngines, OcrEngine, lib_version
from .guards import Limits, check_file, check_pixels
from .structured import render_pages, wants_structure
from .textutil import guess_language, tidy, word_count
from .thumbs import THUMB_SIZE, thumbnail_from_pil

# PDFium is not thread-safe and pypdfium2 does not serialise calls: one process-wide lock guards
# every PDFium call (OCR runs outside it).
PDFIUM_LOCK = threading.RLock()

OCR_DPI = 150  # PP-OCR reads 10 pt text fine at 150 dpi; det time grows with the pixel count
MIN_TEXT_CHARS = 16  # fewer non-blank characters than this = no usable text layer


def _open(path: str, password: str | None) -> Any:
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    try:
        return pdfium.PdfDocument(path, password=password)
    except pdfium.PdfiumError as exc:
        # PDFium's last-error code is process-wide and not reset by a failure that sets none (a
        # document without pages): it may still say "password" from an earlier encrypted file.
        if exc.err_code in (raw.FPDF_ERR_PASSWORD, raw.FPDF_ERR_SECURITY) and not _declares_encryption(path):
            raise ExtractionError("corrupt_file", "PDF cannot be opened: it has no readable pages") from exc
        if exc.err_code == raw.FPDF_ERR_PASSWORD:
            raise ExtractionError("encrypted", "PDF is password-protected") from exc
        if exc.err_code == raw.FPDF_ERR_SECURITY:
            raise ExtractionError("encrypted", "PDF uses an unsupported security handler") from exc
        raise ExtractionError("corrupt_file", f"PDF cannot be opened: {exc}") from exc


def _declares_encryption(path: str) -> bool:
    """True when the file has an /Encrypt entry (trailer or xref-stream dictionary: never compressed)."""
    tail = b""
    with open(path, "rb") as handle:
        while block := handle.read(1024 * 1024):
            if b"/Encrypt" in tail + block:
                return True
            tail = block[-16:]
    return False


def _has_images(page: Any) -> bool:
    import pypdfium2.raw as raw

    for _ in page.get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE], max_depth=3):
        return True
    return False


def _render(page: Any, dpi: float, max_side: float, limits: Limits) -> Any:
    width, height = page.get_size()
    scale = min(dpi / 72.0, max_side / max(width, height, 1.0))
    check_pixels(int(width * scale), int(height * scale), limits, "rendered page")
    return page.render(scale=scale).to_pil()


def _ocr_page(page: Any, ocr: OcrEngine, limits: Limits, number: int) -> tuple[str, PageGeometry]:
    """The page rendered and OCR'd: its plain lines and its words in points for layout analysis."""
    with PDFIUM_LOCK:
        image = _render(page, OCR_DPI, OcrEngine.DET_LIMIT_SIDE, limits)
        width = page.get_size()[0]
    return ocr.read_page(image, number, image.width / max(width, 1.0))


def extract_pdf(req: ExtractRequest, progress: ProgressFn, engines: LocalEngines) -> Extraction:
    """Markdown per page; `options["ocr"]` is "auto" (default), "off" or "force".

    `options["extraction"] == "fast"` keeps the plain text layer (no layout analysis).
    """
    limits = Limits.from_options(req.options)
    check_file(req.path, limits)
    mode = str(req.options.get("ocr", "auto")).lower()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    progress(1, "opening")
    with PDFIUM_LOCK:
        pdf = _open(req.path, req.options.get("password"))
    try:
        with PDFIUM_LOCK:
            count = len(pdf)
            info = pdf.get_metadata_dict(skip_empty=True)
            outline = _outline(pdf)
        if count > limits.max_pdf_pages:
            raise ExtractionError("too_large", f"PDF has {count} pages; the limit is {limits.max_pdf_pages}")
        timings["open"] = time.perf_counter() - t0
        structured = wants_structure(req.options)
        pages, geometry, ocr_pages, ocr_engines, ocr_seconds, first_size = _pages(
            pdf, count, mode, engines, limits, progress, structured
        )
        _set_page_sizes(pdf, pages)
        t1 = time.perf_counter()
        thumb = None
        if count and req.options.get("thumbnail", True):  # a job that keeps no thumbnail skips the render
            with PDFIUM_LOCK:
                thumb = thumbnail_from_pil(_render(pdf[0], 300, THUMB_SIZE, limits))
        timings["thumbnail"] = time.perf_counter() - t1
    finally:
        with PDFIUM_LOCK:
            pdf.close()
    timings["text"] = max(0.0, time.perf_counter() - t0 - timings["open"] - timings["thumbnail"] - ocr_seconds)
    timings["ocr"] = ocr_seconds
    t2 = time.perf_counter()
    elements: list[Element] = []
    if geometry:
        elements = analyse(geometry, outline)
        render_pages(pages, elements)
        timings["layout"] = time.perf_counter() - t2
    markdown = "\n\n".join(p.markdown for p in pages if p.markdown)
    engine: dict[str, Any] = {"library": "pypdfium2", "version": lib_version("pypdfium2")}
    if ocr_pages:
        engine["ocr_library"] = "rapidocr"
        engine["ocr_version"] = OcrEngine.version()
    metadata: dict[str, Any] = {
        "detected_type": "application/pdf",
        "page_count": count,
        "word_count": word_count(markdown),
        "language": guess_language(markdown),
        "title": info.get("Title") or None,
        "author": info.get("Author") or None,
        "width": first_size[0],
        "height": first_size[1],
        "size_unit": "pt",
        "ocr_pages": ocr_pages,
        "ocr_engines": ocr_engines,  # which OCR engine read which pages: tesseract or rapidocr
        "engine": engine,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
    if outline:
        metadata["outline"] = [{"level": lv, "title": t, "page": pg} for lv, t, pg in outline[:500]]
    furniture = furniture_metadata(elements)
    if furniture:
        metadata["furniture"] = furniture[:500]
    progress(100, "done")
    return Extraction(
        markdown=markdown,
        pages=pages,
        metadata=metadata,
        thumbnail=thumb[0] if thumb else None,
        thumbnail_type=thumb[1] if thumb else None,
        elements=elements,
    )


def _outline(pdf: Any) -> Outline:
    """The PDF's bookmarks as (level from 1, title, page from 1); empty when it has none or they are broken."""
    out: Outline = []
    try:
        for item in pdf.get_toc(max_depth=6):
            title = (item.get_title() or "").strip()
            dest = item.get_dest()
            index = dest.get_index() if dest is not None else None
            if title:
                out.append((item.level + 1, title, index + 1 if index is not None else None))
            if len(out) >= 2000:
                break
    except Exception:  # a malformed outline must not fail the extraction; it only refines headings
        return []
    return out


def _pages(
    pdf: Any, count: int, mode: str, engines: LocalEngines, limits: Limits, progress: ProgressFn, structured: bool
) -> tuple[list[Page], list[PageGeometry], list[int], dict[str, list[int]], float, tuple[float | None, float | None]]:
    pages: list[Page] = []
    geometry: list[PageGeometry] = []
    ocr_pages: list[int] = []
    ocr_engines: dict[str, list[int]] = {}
    ocr_seconds = 0.0
    first_size: tuple[float | None, float | None] = (None, None)
    last_pct = -1
    for index in range(count):
        with PDFIUM_LOCK:
            page = pdf[index]
        try:
            with PDFIUM_LOCK:
                if index == 0:
                    w, h = page.get_size()
                    first_size = (round(w, 2), round(h, 2))
                textpage = page.get_textpage()
                text = textpage.get_text_bounded()
                needs_ocr = mode == "force" or (
                    mode == "auto" and len("".join(text.split())) < MIN_TEXT_CHARS and _has_images(page)
                )
                if needs_ocr or not structured:
                    textpage.close()
            if needs_ocr:
                t = time.perf_counter()
                progress(_pct(index, count), f"ocr page {index + 1}/{count}")
                ocr_text, ocr_geometry = _ocr_page(page, engines.ocr, limits, index + 1)
                ocr_seconds += time.perf_counter() - t
                pages.append(Page(number=index + 1, markdown=tidy(ocr_text), ocr=True))
                ocr_pages.append(index + 1)
                ocr_engines.setdefault(ocr_geometry.ocr_engine, []).append(index + 1)
                if structured:
                    geometry.append(ocr_geometry)
            else:
                pages.append(Page(number=index + 1, markdown=tidy(text), ocr=False))
                if structured:
                    with PDFIUM_LOCK:
                        try:
                            geometry.append(read_page(page, index + 1, textpage))  # the text layer read once
                        finally:
                            textpage.close()
        finally:
            with PDFIUM_LOCK:
                page.close()
        pct = _pct(index + 1, count)
        if pct != last_pct:
            # Also the cancellation point between pages (the callback may raise "cancelled").
            progress(pct, f"page {index + 1}/{count}")
            last_pct = pct
    return pages, geometry, ocr_pages, ocr_engines, ocr_seconds, first_size


def _pct(done: int, total: int) -> int:
    return 2 + int(95 * done / max(total, 1))


def _set_page_sizes(pdf: Any, pages: list[Page]) -> None:
    """Each page's size in points: element and chunk boxes are read against it (roset_local.positions)."""
    with PDFIUM_LOCK:
        for page in pages:
            width, height = pdf.get_page_size(page.number - 1)
            page.width, page.height = round(width, 2), round(height, 2)
