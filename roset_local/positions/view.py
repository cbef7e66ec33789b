"""The console's page view: which page of a file to show and where the cited region sits on it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from roset_local.positions.pages import pdf_page_size
from roset_local.store import variants as variant_store

if TYPE_CHECKING:
    from roset_local.services import Services


def parse_bbox(text: str | None) -> list[float] | None:
    """``x0,y0,x1,y1`` (points) from a link; None when absent or malformed (the page still shows)."""
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        return None
    if len(values) != 4 or values[2] <= values[0] or values[3] <= values[1]:
        return None
    return values


def _structure_pages(services: "Services", file_id: str) -> dict[int, tuple[float, float]]:
    row = variant_store.get_variant(services.db, file_id, "structure")
    if not row or not row.get("content"):
        return {}
    try:
        pages = json.loads(row["content"]).get("pages") or []
        return {int(p["number"]): (float(p["width"]), float(p["height"])) for p in pages if p.get("width")}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}


def page_view(services: "Services", file: dict[str, Any], metadata: dict[str, Any] | None, number: int | None,
              bbox: str | None, images: str) -> dict[str, Any] | None:
    """``{number, count, image, highlight}`` for a processed PDF or image, else None; the image is
    ``{images}/{number}`` (the console's or the share portal's page image route).

    ``highlight`` is the cited box clipped to the page, with the page size, in points: the page
    draws it as an SVG rectangle in a ``viewBox`` of the page's size laid over the image, so it stays
    over the same words whatever size the browser draws the image (and needs no inline style,
    which the console's Content-Security-Policy forbids).
    """
    ctype = (file["content_type"] or "").lower()
    if file["status"] != "completed" or not (ctype == "application/pdf" or ctype.startswith("image/")):
        return None
    sizes = _structure_pages(services, file["id"])
    count = int((metadata or {}).get("page_count") or max(sizes, default=1))
    number = max(1, min(int(number or 1), count))
    view: dict[str, Any] = {"number": number, "count": count, "highlight": None,
                            "image": f"{images}/{number}"}
    box = parse_bbox(bbox)
    size = sizes.get(number) or (pdf_page_size(services, file, number) if ctype == "application/pdf" else None)
    if box is not None and size is not None:
        width, height = size
        x0, y0 = max(0.0, box[0]), max(0.0, box[1])
        x1, y1 = min(width, box[2]), min(height, box[3])
        if x1 > x0 and y1 > y0:
            view["highlight"] = {"x": x0, "y": y0, "width": round(x1 - x0, 2), "height": round(y1 - y0, 2),
                                 "page_width": width, "page_height": height, "bbox": box}
    return view
