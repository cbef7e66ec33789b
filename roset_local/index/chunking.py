"""Split extracted text into chunks (recursive, fixed or markdown sections) that keep page, heading, time and offsets."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STRATEGIES = ("recursive", "fixed", "markdown")
DEFAULT_CHUNKING: dict[str, Any] = {"strategy": "recursive", "chunk_size": 1000, "chunk_overlap": 200}
MIN_SIZE, MAX_SIZE = 100, 8000

_HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
# Coarse to fine: paragraphs, lines, sentences, words. A piece keeps its trailing separator.
_SEPARATORS = (
    re.compile(r"\n[ \t]*\n\s*"),
    re.compile(r"\n"),
    re.compile(r"(?<=[.!?;:])[\"')\]]*\s+"),
    re.compile(r"\s+"),
)


@dataclass
class Chunk:
    text: str
    char_start: int
    char_end: int
    page: int | None = None
    heading: str | None = None
    ts_start: float | None = None
    ts_end: float | None = None
    # Where the text sits on its page (points, origin top-left), set by roset_local.positions.
    bbox: list[float] | None = None
    page_width: float | None = None
    page_height: float | None = None
    parts: list[list[float]] | None = None  # the boxes of the elements it covers, with their spans


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_chunking(cfg: Any) -> dict[str, Any]:
    """Check a ``{strategy, chunk_size, chunk_overlap}`` object; returns it with defaults filled in.

    Raises ValueError naming the field. Sizes are characters: 100-8000, overlap 0 to chunk_size/2.
    ``None`` means the defaults.
    """
    if cfg is None:
        return dict(DEFAULT_CHUNKING)
    if not isinstance(cfg, dict):
        raise ValueError("must be an object {strategy, chunk_size, chunk_overlap}")
    unknown = sorted(set(cfg) - set(DEFAULT_CHUNKING))
    if unknown:
        raise ValueError(f"unknown field '{unknown[0]}' (allowed: strategy, chunk_size, chunk_overlap)")
    out = {**DEFAULT_CHUNKING, **{k: v for k, v in cfg.items() if v is not None}}
    if out["strategy"] not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}")
    size = out["chunk_size"]
    if not _is_int(size) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"chunk_size must be an integer from {MIN_SIZE} to {MAX_SIZE} (characters)")
    if "chunk_overlap" not in cfg or cfg.get("chunk_overlap") is None:
        out["chunk_overlap"] = min(DEFAULT_CHUNKING["chunk_overlap"], size // 5)
    overlap = out["chunk_overlap"]
    if not _is_int(overlap) or not 0 <= overlap <= size // 2:
        raise ValueError(f"chunk_overlap must be an integer from 0 to chunk_size/2 ({size // 2})")
    return out


# -- splitting into spans -----------------------------------------------------------------------


def _pieces(text: str, start: int, end: int, sep: re.Pattern[str]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    pos = start
    for m in sep.finditer(text, start, end):
        if m.end() <= pos or m.end() >= end:
            continue
        out.append((pos, m.end()))
        pos = m.end()
    out.append((pos, end))
    return out


def _atoms(text: str, start: int, end: int, size: int, level: int = 0) -> list[tuple[int, int]]:
    """Contiguous spans covering text[start:end], each at most ``size`` long, cut at the coarsest separator."""
    if end - start <= size:
        return [(start, end)]
    for i in range(level, len(_SEPARATORS)):
        parts = _pieces(text, start, end, _SEPARATORS[i])
        if len(parts) > 1:
            out: list[tuple[int, int]] = []
            for s, e in parts:
                out.extend(_atoms(text, s, e, size, i + 1) if e - s > size else [(s, e)])
            return out
    return [(s, min(s + size, end)) for s in range(start, end, size)]


def _merge(atoms: list[tuple[int, int]], size: int, overlap: int) -> list[tuple[int, int]]:
    """Greedily pack atoms into windows of at most ``size``; each window repeats up to ``overlap`` of the last."""
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(atoms):
        j = i
        while j + 1 < len(atoms) and atoms[j + 1][1] - atoms[i][0] <= size:
            j += 1
        spans.append((atoms[i][0], atoms[j][1]))
        if j + 1 >= len(atoms):
            break
        # Step back over whole atoms that fit in the overlap, but always move forward.
        k = j + 1
        while k - 1 > i and atoms[j][1] - atoms[k - 1][0] <= overlap:
            k -= 1
        i = k
    return spans


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _recursive(text: str, start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    return _merge(_atoms(text, start, end, size), size, overlap)


def _fixed(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    step = max(1, size - overlap)
    spans = []
    for s in range(0, len(text), step):
        spans.append((s, min(s + size, len(text))))
        if s + size >= len(text):
            break
    return spans


def _headings(text: str) -> list[tuple[int, int, str]]:
    """(offset, level, title) of every markdown heading outside fenced code."""
    fences = [m.start() for m in re.finditer(r"^(```|~~~)", text, re.M)]
    out = []
    for m in _HEADING_RE.finditer(text):
        inside = sum(1 for f in fences if f < m.start()) % 2 == 1
        if not inside:
            out.append((m.start(), len(m.group(1)), m.group(2).strip()))
    return out


def _markdown_sections(text: str, heads: list[tuple[int, int, str]], size: int, overlap: int) -> list[tuple[int, int]]:
    bounds = [0] + [h[0] for h in heads if h[0] > 0] + [len(text)]
    spans: list[tuple[int, int]] = []
    for s, e in zip(bounds, bounds[1:]):
        if e - s <= size:
            spans.append((s, e))
        else:
            spans.extend(_recursive(text, s, e, size, overlap))
    return spans


class _HeadingPath:
    def __init__(self, heads: list[tuple[int, int, str]]) -> None:
        self.offsets = [h[0] for h in heads]
        self.paths: list[str] = []
        stack: list[tuple[int, str]] = []
        for _, level, title in heads:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            self.paths.append(" > ".join(t for _, t in stack))

    def at(self, offset: int) -> str | None:
        i = bisect.bisect_right(self.offsets, offset) - 1
        return self.paths[i] if i >= 0 else None


def _content_start(text: str, start: int, end: int) -> int:
    """First offset after the headings and blank lines a chunk opens with (its heading is the last of those)."""
    pos = start
    while pos < end:
        line_end = text.find("\n", pos, end)
        line_end = end if line_end < 0 else line_end + 1
        line = text[pos:line_end].strip()
        if line and not _HEADING_RE.match(line):
            return pos
        pos = line_end
    return start


def _locate(markdown: str, parts: Sequence[str]) -> list[int | None]:
    """Where each part (page or segment text) starts in the markdown, searching forward; None if not found."""
    out: list[int | None] = []
    cursor = 0
    for part in parts:
        probe = part.strip()[:60]
        pos = markdown.find(probe, cursor) if probe else -1
        out.append(pos if pos >= 0 else None)
        if pos >= 0:  # skip most of this part so repetitive text can't match the next one early
            cursor = pos + max(len(probe), int(len(part.strip()) * 0.8))
    return out


def page_starts(markdown: str, pages: Sequence[tuple[int, str]]) -> list[tuple[int, int]]:
    """``(page number, offset in markdown)`` of each page found in the joined markdown, in order."""
    found = _locate(markdown, [text for _, text in pages])
    return [(number, pos) for (number, _), pos in zip(pages, found) if pos is not None]


def chunk_document(
    markdown: str,
    *,
    pages: Sequence[tuple[int, str]] = (),
    segments: Sequence[tuple[float, float, str]] = (),
    config: dict[str, Any] | None = None,
) -> list[Chunk]:
    """Chunk one document. Offsets are into ``markdown`` (built from the pages/segments if it is empty).

    Media (``segments``) is chunked by whole segments so every chunk has a start/end time; text by
    the configured strategy. Each chunk records its page (from ``pages``) and heading path.
    """
    cfg = validate_chunking(config)
    size, overlap = cfg["chunk_size"], cfg["chunk_overlap"]
    if not markdown.strip():
        if segments:
            markdown = "\n".join(t for _, _, t in segments)
        elif pages:
            markdown = "\n\n".join(t for _, t in pages)
    if not markdown.strip():
        return []
    if segments:
        return _chunk_segments(markdown, segments, size, overlap)
    heads = _headings(markdown)
    if cfg["strategy"] == "fixed":
        spans = _fixed(markdown, size, overlap)
    elif cfg["strategy"] == "markdown":
        spans = _markdown_sections(markdown, heads, size, overlap)
    else:
        spans = _recursive(markdown, 0, len(markdown), size, overlap)
    heading_at = _HeadingPath(heads)
    page_starts = [(pos, num) for pos, (num, _) in zip(_locate(markdown, [t for _, t in pages]), pages) if pos is not None]
    page_offsets = [p for p, _ in page_starts]
    chunks: list[Chunk] = []
    for s, e in spans:
        s, e = _strip(markdown, s, e)
        if e <= s:
            continue
        page = None
        if page_starts:
            i = bisect.bisect_right(page_offsets, s) - 1
            page = page_starts[max(i, 0)][1]
        chunks.append(Chunk(markdown[s:e], s, e, page=page, heading=heading_at.at(_content_start(markdown, s, e))))
    return chunks


def _chunk_segments(markdown: str, segments: Sequence[tuple[float, float, str]], size: int, overlap: int) -> list[Chunk]:
    starts = _locate(markdown, [t for _, _, t in segments])
    chunks: list[Chunk] = []
    i = 0
    n = len(segments)
    while i < n:
        j, length = i, len(segments[i][2].strip())
        while j + 1 < n and length + 1 + len(segments[j + 1][2].strip()) <= size:
            j += 1
            length += 1 + len(segments[j][2].strip())
        text = " ".join(segments[k][2].strip() for k in range(i, j + 1)).strip()
        if len(text) > size:  # one very long segment: split its text, same times
            pieces = _recursive(text, 0, len(text), size, overlap)
        else:
            pieces = [(0, len(text))]
        first = starts[i]
        base = first if first is not None else -1
        for ps, pe in pieces:
            ps, pe = _strip(text, ps, pe)
            if pe <= ps:
                continue
            cs = base + ps if base >= 0 else ps
            chunks.append(Chunk(text[ps:pe], cs, cs + (pe - ps), ts_start=float(segments[i][0]), ts_end=float(segments[j][1])))
        if j + 1 >= n:
            break
        # Overlap by whole segments, always moving forward.
        k, back = j + 1, 0
        while k - 1 > i and back + len(segments[k - 1][2]) <= overlap:
            k -= 1
            back += len(segments[k][2])
        i = k
    return chunks
