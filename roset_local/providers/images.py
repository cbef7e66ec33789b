"""Images (png, jpeg, webp, tiff, bmp, gif) through OCR (tesseract or rapidocr) and layout analysis (columns, headings, paragraphs)."""

from __future__ import annotations

import time
import warnings
from typing import Any

from roset_local.structure.layout import analyse, furniture_metadata
from roset_local.structure.model import Element, PageGeometry

from .base import Extraction, ExtractionError, ExtractRequest, Page, ProgressFn
from .engines import LocalEngines, OcrEngine
from .guards import Limits, check_file, check_pixels
from .structured import render_pages, wants_structure
from .textutil import guess_language, tidy, word_count
from .thumbs import thumbnail_from_pil

IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/tiff", "image/bmp", "image/gif"}
MAX_FRAMES = 50  # multi-page TIFFs become pages; animated GIFs keep their first frame
DEFAULT_DPI = 150.0  # an image that does not say its resolution is taken for a 150 dpi scan


def _open_image(path: str, limits: Limits) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise ExtractionError("too_large", str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise ExtractionError("corrupt_file", "not a readable image") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ExtractionError("corrupt_file", f"image cannot be read: {exc}") from exc
    # Dimensions come from the header: refuse a decompression bomb before any pixel is decoded.
    check_pixels(img.width, img.height, limits)
    return img


def _rgb_frame(img: Any) -> Any:
    """The current frame as RGB, transparent areas on white (OCR sees text on a page)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img.load()
        except Image.DecompressionBombError as exc:
            raise ExtractionError("too_large", str(exc)) from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ExtractionError("corrupt_file", f"image data is truncated or corrupt: {exc}") from exc
    if img.mode in ("RGBA", "LA", "P", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode == "I;16" or img.mode == "I" or img.mode == "F":
        return img.point(lambda v: v / 256).convert("RGB")  # 16-bit scans
    return img.convert("RGB")


def _pixels_per_point(img: Any) -> float:
    """The image's resolution in pixels per PDF point, from its dpi when it states a plausible one."""
    dpi = img.info.get("dpi")
    try:
        x = float(dpi[0]) if dpi else 0.0
    except (TypeError, ValueError, IndexError):
        x = 0.0
    return (x if 50.0 <= x <= 1200.0 else DEFAULT_DPI) / 72.0


def _by_engine(geometry: list[PageGeometry]) -> dict[str, list[int]]:
    """Which OCR engine read which frames (tesseract where it was confident, rapidocr otherwise)."""
    out: dict[str, list[int]] = {}
    for page in geometry:
        out.setdefault(page.ocr_engine, []).append(page.number)
    return out


def extract_image(req: ExtractRequest, content_type: str, progress: ProgressFn, engines: LocalEngines) -> Extraction:
    """Every frame OCR'd, then laid out; `options["extraction"] == "fast"` keeps the plain OCR lines."""
    limits = Limits.from_options(req.options)
    check_file(req.path, limits)
    t0 = time.perf_counter()
    progress(1, "decoding")
    img = _open_image(req.path, limits)
    try:
        fmt = img.format
        width, height = img.width, img.height
        frames = min(getattr(img, "n_frames", 1), MAX_FRAMES) if content_type == "image/tiff" else 1
        first = _rgb_frame(img)
        thumb = thumbnail_from_pil(first)
        decode_s = time.perf_counter() - t0
        pages: list[Page] = []
        geometry: list[PageGeometry] = []
        t1 = time.perf_counter()
        for index in range(frames):
            if index:
                img.seek(index)
                check_pixels(img.width, img.height, limits)
                frame = _rgb_frame(img)
            else:
                frame = first
            progress(5 + int(90 * index / frames), f"ocr {index + 1}/{frames}" if frames > 1 else "ocr")
            text, geom = engines.ocr.read_page(frame, index + 1, _pixels_per_point(img))
            pages.append(Page(number=index + 1, markdown=tidy(text), ocr=True, width=geom.width, height=geom.height))
            geometry.append(geom)
        ocr_s = time.perf_counter() - t1
    finally:
        img.close()
    t2 = time.perf_counter()
    elements: list[Element] = []
    if wants_structure(req.options):
        elements = analyse(geometry)
        render_pages(pages, elements)
    layout_s = time.perf_counter() - t2
    markdown = "\n\n".join(p.markdown for p in pages if p.markdown)
    metadata: dict[str, Any] = {
        "detected_type": content_type,
        "format": fmt,
        "width": width,
        "height": height,
        "page_count": frames,
        "word_count": word_count(markdown),
        "language": guess_language(markdown),
        "title": None,
        "author": None,
        "ocr_pages": [p.number for p in pages],
        "ocr_engines": _by_engine(geometry),
        "engine": {"library": "rapidocr", "version": OcrEngine.version()},
        "timings": {"decode": round(decode_s, 4), "ocr": round(ocr_s, 4), "layout": round(layout_s, 4)},
    }
    furniture = furniture_metadata(elements)
    if furniture:  # running headers and page numbers of a multi-page TIFF, out of the body
        metadata["furniture"] = furniture[:500]
    progress(100, "done")
    return Extraction(
        markdown=markdown,
        pages=pages,
        metadata=metadata,
        thumbnail=thumb[0],
        thumbnail_type=thumb[1],
        elements=elements,
    )
