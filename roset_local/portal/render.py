"""Server-side rendering helpers: safe markdown, SVG charts, human-readable sizes."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from markdown_it import MarkdownIt
from markupsafe import Markup

# Raw HTML in documents is escaped, never passed through; markdown-it refuses javascript:/vbscript:/data: links.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")

MAX_MARKDOWN = 400_000


def markdown(text: str | None) -> Markup:
    if not text:
        return Markup("")
    clipped = text[:MAX_MARKDOWN]
    html = _md.render(clipped)
    if len(text) > MAX_MARKDOWN:
        html += "<p><em>… (truncated: the rest of the document is in the markdown variant)</em></p>"
    return Markup(html)  # noqa: S704 - markdown-it output with HTML disabled


def highlight(snippet: str | None) -> Markup:
    """A search snippet as HTML: the API's «…» match markers become <mark>, everything else is escaped."""
    from roset_local.index.text import MARK_CLOSE, MARK_OPEN

    out: list[str] = []
    for i, piece in enumerate((snippet or "").split(MARK_OPEN)):
        marked, _, rest = piece.partition(MARK_CLOSE) if i else ("", "", piece)
        if marked:
            out.append(f"<mark>{escape(marked)}</mark>")
        out.append(str(escape(rest)))
    return Markup("".join(out))  # noqa: S704 - every piece above is escaped


# What a share-portal visitor is shown of the metadata variant; engine, billing and timings stay internal.
PUBLIC_METADATA = ("title", "author", "detected_type", "page_count", "word_count", "language", "duration_seconds",
                   "width", "height", "format", "has_audio", "has_video")


def metadata_rows(meta: dict[str, Any] | None, *, public: bool) -> list[tuple[str, str]]:
    """(label, value) pairs of the metadata variant; values JSON-style (true, null, {...}) as the API shows them."""
    if not meta:
        return []
    if public:
        return [(key.replace("_", " ").capitalize(), _json_value(meta[key])) for key in PUBLIC_METADATA
                if meta.get(key) not in (None, "", [], {})]
    return [(key, _json_value(value)) for key, value in meta.items()]


def _json_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def size(n: Any) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


# Charts are drawn about as wide as they are shown (a dashboard column is 320-440 px, see app.css), so
# the 13-unit labels render at 12-16 px instead of being shrunk to ~5 px.
CHART_WIDTH, CHART_HEIGHT = 360, 170


def _ticks(top: float) -> float:
    return top if top > 0 else 1


def bar_chart(points: list[dict[str, Any]], series: list[tuple[str, str, str]], title: str,
              fmt: Any = str, width: int = CHART_WIDTH, height: int = CHART_HEIGHT) -> Markup:
    """Grouped bars per day. ``series`` is (key, label, css class)."""
    pad_l, pad_b, pad_t = 44, 22, 10
    inner_w, inner_h = width - pad_l - 8, height - pad_b - pad_t
    top = _ticks(max((p[k] for p in points for k, _, _ in series), default=0))
    n = max(len(points), 1)
    slot = inner_w / n
    bar = max(1.0, (slot - 2) / len(series))
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<line class="axis" x1="{pad_l}" y1="{pad_t + inner_h}" x2="{width - 8}" y2="{pad_t + inner_h}"/>',
             f'<text class="tick" x="{pad_l - 4}" y="{pad_t + 8}" text-anchor="end">{escape(fmt(top))}</text>',
             f'<text class="tick" x="{pad_l - 4}" y="{pad_t + inner_h}" text-anchor="end">0</text>']
    for i, p in enumerate(points):
        for j, (key, label, css) in enumerate(series):
            h = inner_h * (p[key] / top)
            x = pad_l + i * slot + 1 + j * bar
            parts.append(f'<rect class="{css}" x="{x:.1f}" y="{pad_t + inner_h - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}"><title>{escape(p["date"])}: {escape(fmt(p[key]))} {escape(label)}</title></rect>')
    for i in (0, n - 1):
        if points:
            anchor = "start" if i == 0 else "end"
            x = pad_l + (i + (0 if i == 0 else 1)) * slot
            parts.append(f'<text class="tick" x="{x:.1f}" y="{height - 6}" text-anchor="{anchor}">'
                         f'{escape(points[i]["date"])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(points: list[dict[str, Any]], key: str, title: str, fmt: Any = str, width: int = CHART_WIDTH,
               height: int = CHART_HEIGHT) -> Markup:
    pad_l, pad_b, pad_t = 64, 22, 10
    inner_w, inner_h = width - pad_l - 8, height - pad_b - pad_t
    values = [float(p[key]) for p in points]
    top = _ticks(max(values, default=0))
    n = max(len(points) - 1, 1)
    coords = [(pad_l + inner_w * i / n, pad_t + inner_h - inner_h * v / top) for i, v in enumerate(values)]
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(coords))
    area = path + f" L{pad_l + inner_w:.1f},{pad_t + inner_h} L{pad_l},{pad_t + inner_h} Z" if coords else ""
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<line class="axis" x1="{pad_l}" y1="{pad_t + inner_h}" x2="{width - 8}" y2="{pad_t + inner_h}"/>',
             f'<text class="tick" x="{pad_l - 4}" y="{pad_t + 8}" text-anchor="end">{escape(fmt(top))}</text>',
             f'<text class="tick" x="{pad_l - 4}" y="{pad_t + inner_h}" text-anchor="end">0</text>']
    if coords:
        parts.append(f'<path class="area" d="{area}"/><path class="line" d="{path}"/>')
        parts.append(f'<text class="tick" x="{pad_l}" y="{height - 6}">{escape(points[0]["date"])}</text>')
        parts.append(f'<text class="tick" x="{width - 8}" y="{height - 6}" text-anchor="end">'
                     f'{escape(points[-1]["date"])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


BUCKET_PLACEHOLDER = "YOUR_BUCKET"


def bucket_refs(text: str | None) -> Markup:
    """Setup text with each bucket placeholder wrapped, so the page can show the bucket being typed."""
    parts = [escape(p) for p in (text or "").split(BUCKET_PLACEHOLDER)]
    return Markup(f'<span class="bucket-ref">{BUCKET_PLACEHOLDER}</span>'.join(parts))  # parts are escaped
