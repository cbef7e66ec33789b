"""Thumbnails: at most 256 px on the long side, WebP when Pillow can write it, else PNG."""

from __future__ import annotations

import io
from typing import Any

THUMB_SIZE = 256


def thumbnail_from_pil(image: Any) -> tuple[bytes, str]:
    """Encodes a copy of a Pillow image as a small thumbnail; returns (bytes, mime type)."""
    from PIL import Image, features

    img = image
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGBA" if "A" in img.getbands() or img.mode == "P" else "RGB")
    else:
        img = img.copy()
    img.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if features.check("webp"):
        # method 2 encodes in half the time of the default 4 for ~1.5% more bytes at this size
        img.save(buf, format="WEBP", quality=80, method=2)
        return buf.getvalue(), "image/webp"
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue(), "image/png"
