"""Elements to markdown, recording each element's character range (span) in the result."""

from __future__ import annotations

import re

from .model import FURNITURE_TYPES, Element

_ORDERED_MARKER = re.compile(r"^\d{1,9}[.)]$")
_LEADING_SYNTAX = re.compile(r"^(#{1,6}\s|[-+*]\s|\d{1,9}[.)]\s|>|```|\|)")


def _escape(text: str) -> str:
    """Plain text that markdown would read as syntax (a leading "#", "- ", "1. ", underscores)."""
    text = _escape_inline(text)
    if _LEADING_SYNTAX.match(text):
        text = "\\" + text
    return text


def _escape_inline(text: str) -> str:
    """Underscores, which markdown reads as emphasis (a heading's "1. Scope" is not a list)."""
    return text.replace("_", "\\_")


def _table_markdown(e: Element) -> str:
    if e.table is None:
        return e.text
    try:
        from .tables import table_markdown
    except ImportError:
        return e.text
    return str(table_markdown(e.table))


def render_element(e: Element) -> str:
    """One element's markdown (no trailing newline); furniture renders as nothing."""
    if e.type in FURNITURE_TYPES:
        return ""
    if e.type == "title":
        return "# " + _escape_inline(e.text)
    if e.type == "heading":
        return "#" * max(1, min(e.level or 2, 6)) + " " + _escape_inline(e.text)
    if e.type == "list_item":
        indent = "  " * max((e.level or 1) - 1, 0)
        marker = e.marker or "-"
        if e.ordered and _ORDERED_MARKER.match(marker):
            return f"{indent}{marker} {_escape(e.text)}"
        prefix = f"{marker} " if e.ordered else ""
        return f"{indent}- {prefix}{_escape(e.text)}"
    if e.type == "code":
        return "```\n" + e.text + "\n```"
    if e.type == "figure":
        caption = _escape(e.text)
        return (caption + "\n\n" if caption else "") + "<!-- image -->"
    if e.type == "table":
        return _table_markdown(e)
    if e.type == "formula":
        return "$$\n" + e.text + "\n$$"
    return _escape(e.text)


def to_markdown(elements: list[Element]) -> str:
    """The document's markdown; sets `span` on every element (None for furniture and empty ones)."""
    parts: list[str] = []
    pos = 0
    prev: Element | None = None
    for e in elements:
        text = render_element(e)
        if not text:
            e.span = None
            continue
        if parts:
            tight = prev is not None and prev.type == "list_item" and e.type == "list_item"
            sep = "\n" if tight else "\n\n"
            parts.append(sep)
            pos += len(sep)
        e.span = (pos, pos + len(text))
        parts.append(text)
        pos += len(text)
        prev = e
    return "".join(parts)


def page_markdown(elements: list[Element], markdown: str) -> dict[int, str]:
    """Each page's part of `markdown` (from its first element's span to its last's)."""
    ranges: dict[int, tuple[int, int]] = {}
    for e in elements:
        if e.span is None or e.page is None:
            continue
        start, end = ranges.get(e.page, (e.span[0], e.span[1]))
        ranges[e.page] = (min(start, e.span[0]), max(end, e.span[1]))
    return {page: markdown[a:b] for page, (a, b) in ranges.items()}
