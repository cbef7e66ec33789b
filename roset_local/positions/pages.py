"""Page images: page N of a processed PDF or image as a PNG, for viewing a cited region (cached, size-capped)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from roset_local.errors import Conflict, NotFound

if TYPE_CHECKING:
    from roset_local.services import Services

DEFAULT_WIDTH = 1000
MIN_WIDTH, MAX_WIDTH = 100, 2000
MAX_SIDE = 3000  # a very tall page is scaled down further so no image exceeds this many pixels a side
def page_png(services: "Services", file: dict[str, Any], number: int, width: int = DEFAULT_WIDTH) -> bytes:
    """Page ``number`` (1-based) of the file as a PNG about ``width`` pixels wide.

    Only files whose processing completed are rendered (their bytes already went through an isolated
    extraction once). Raises NotFound for a page the file does not have or a type without pages.
    """
    if file["status"] != "completed":
        raise Conflict("The file has not been processed yet")
    ctype = (file["content_type"] or "").lower()
    if ctype != "application/pdf" and not ctype.startswith("image/"):
        raise NotFound("This file type has no page images")
    if number < 1:
        raise NotFound("No such page")
    width = max(MIN_WIDTH, min(int(width), MAX_WIDTH))
    cache = services.page_images
    key = (file["id"], file["sha256"], number, width)
    png = cache.get(key)
    if png is None:
        from roset_local.pipeline.steps import local_copy

        with local_copy(services, file) as path:
            png = _render_pdf(path, number, width) if ctype == "application/pdf" else _render_image(path, number, width)
        cache.put(key, png)
    return png


def _scale(width: float, height: float, target: int) -> float:
    return min(target / max(width, 1.0), MAX_SIDE / max(width, height, 1.0))


def _png(image: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _render_pdf(path: str, number: int, width: int) -> bytes:
    import pypdfium2 as pdfium

    from roset_local.providers.pdf import PDFIUM_LOCK

    with PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError:
            raise NotFound("This file has no page images (it cannot be opened)") from None
        try:
            if number > len(pdf):
                raise NotFound(f"No page {number}: the document has {len(pdf)} pages")
            page = pdf[number - 1]
            try:
                w, h = page.get_size()
                image = page.render(scale=_scale(w, h, width)).to_pil()
            finally:
                page.close()
        finally:
            pdf.close()
    return _png(image)


def _render_image(path: str, number: int, width: int) -> bytes:
    from PIL import Image

    from roset_local.providers.guards import Limits

    with Image.open(path) as img:
        frames = getattr(img, "n_frames", 1)
        if number > frames:
            raise NotFound(f"No page {number}: the image has {frames} frame(s)")
        if img.width * img.height > Limits().max_image_pixels:
            raise NotFound("The image is too large to show")
        img.seek(number - 1)
        frame = img.convert("RGB")
    scale = min(1.0, _scale(frame.width, frame.height, width))
    if scale < 1.0:
        frame = frame.resize((max(1, round(frame.width * scale)), max(1, round(frame.height * scale))))
    return _png(frame)


def pdf_page_size(services: "Services", file: dict[str, Any], number: int) -> tuple[float, float] | None:
    """Page ``number``'s size in points as PDFium reads it (None for a page the PDF does not have)."""
    import pypdfium2 as pdfium

    from roset_local.pipeline.steps import local_copy
    from roset_local.providers.pdf import PDFIUM_LOCK

    with local_copy(services, file) as path, PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError:
            return None
        try:
            if not 1 <= number <= len(pdf):
                return None
            page = pdf[number - 1]
            try:
                w, h = page.get_size()
            finally:
                page.close()
            return float(w), float(h)
        finally:
            pdf.close()
