"""HTML to document elements: the main content only, with headings, nested lists, tables and figures."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

from roset_local.structure.model import Cell, Element, Table

from .boilerplate import main_content

HEADINGS = {f"h{i}": i for i in range(1, 7)}
LISTS = {"ul", "ol", "dl"}
BLOCKS = (
    set(HEADINGS) | LISTS
    | {"p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "blockquote", "pre",
       "table", "figure", "figcaption", "li", "dt", "dd", "hr", "form", "fieldset", "address", "details",
       "summary", "center", "body", "html", "caption", "tr", "td", "th", "thead", "tbody", "tfoot"}
)
_STRUCTURE = set(HEADINGS) | LISTS | {"table", "img", "pre", "figure"}
SKIP = {"script", "style", "noscript", "template", "head", "title", "meta", "link", "iframe", "object",
        "embed", "svg", "canvas", "button", "select", "input", "textarea", "map", "area"}
_NOT_TEXT = (Comment, Declaration, Doctype, ProcessingInstruction)  # strings that are markup, not text
_SPACE = re.compile(r"\s+")
_MAX_CELLS = 250_000  # a table larger than this is read as text: pathological colspans, not data


@dataclass
class HtmlDocument:
    elements: list[Element] = field(default_factory=list)
    title: str | None = None


def parse_html(data: bytes | str) -> BeautifulSoup:
    return BeautifulSoup(data, "lxml")


def html_elements(data: bytes | str, *, boilerplate: bool = True, anchors: bool = True) -> HtmlDocument:
    """The document's elements; with `boilerplate` the main content is chosen first (see boilerplate.py);
    without `anchors`, in-page links (#...) are plain text and "↑" back-links are dropped."""
    soup = parse_html(data)
    title_tag = soup.find("title")
    # str(): the title must be plain data, a bs4 object cannot cross the worker's process boundary.
    title = " ".join(str(title_tag.get_text()).split()) if title_tag is not None else None
    root: Tag = soup.body or soup
    if boilerplate:
        root = main_content(soup, root)
    walker = _Walker(_contents_index(root), anchors=anchors)
    walker.block(root)
    walker.flush()
    return HtmlDocument(elements=walker.out, title=title or None)


# What a tag holds somewhere below it, as bits: found once per document (bs4's find() per tag is slow).
_HAS_BLOCK, _HAS_STRUCTURE, _HAS_NESTED = 1, 2, 4
_NESTED = LISTS | {"table", "img"}


def _contents_index(root: Tag) -> dict[int, int]:
    """id(tag) -> bits of the kinds of tags among its descendants."""
    bits: dict[int, int] = {}
    tags = [n for n in root.descendants if isinstance(n, Tag)]
    for tag in reversed(tags):  # descendants before their ancestors
        name = tag.name
        mine = bits.get(id(tag), 0)
        mine |= (_HAS_BLOCK if name in BLOCKS else 0) | (_HAS_STRUCTURE if name in _STRUCTURE else 0)
        mine |= _HAS_NESTED if name in _NESTED else 0
        if tag.parent is not None:
            bits[id(tag.parent)] = bits.get(id(tag.parent), 0) | mine
    return bits


def _children(node: Tag, *names: str) -> list[Tag]:
    return [c for c in node.children if isinstance(c, Tag) and c.name in names]


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


class _Walker:
    """Walks the tree once; inline content collects in a buffer that every block boundary flushes."""

    def __init__(self, contents: dict[int, int], anchors: bool = True) -> None:
        self.contents = contents
        self.out: list[Element] = []
        self.buffer: list[str] = []
        self.anchors = anchors

    def holds(self, node: Tag, bits: int) -> bool:
        return bool(self.contents.get(id(node), 0) & bits)

    def is_block(self, node: Tag) -> bool:
        if node.name in BLOCKS:
            return True
        # An inline tag wrapping blocks (a <a> around a <div>) is a block, unless it only wraps text.
        return self.holds(node, _HAS_STRUCTURE if node.name == "a" else _HAS_BLOCK)

    # -- blocks ----------------------------------------------------------------------------------
    def flush(self) -> None:
        text = _clean("".join(self.buffer))
        self.buffer = []
        if text.startswith(("[x] ", "[ ] ")):  # a paragraph led by a checkbox is a task-list item
            self.out.append(Element(type="list_item", text=text, level=1))
        elif text:
            self.out.append(Element(type="paragraph", text=text))

    def block(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, _NOT_TEXT):
                continue
            if isinstance(child, NavigableString):
                self.buffer.append(str(child))
                continue
            if not isinstance(child, Tag) or _hidden(child):
                continue
            if child.name in SKIP:
                self.buffer.append(_checkbox(child))
                continue
            name = child.name
            if name == "img":
                self.flush()
                self.out.append(Element(type="figure"))
            elif name == "br":
                self.buffer.append(" ")
            elif not self.is_block(child):
                self.buffer.append(self.styled(child))
            elif name in HEADINGS:
                self.flush()
                text = _clean(self.inline(child))
                if text:
                    self.out.append(Element(type="heading", text=text, level=HEADINGS[name]))
                self._figures_in(child)
            elif name in LISTS:
                self.flush()
                self.list(child, 1)
            elif name == "table":
                self.flush()
                self.table(child)
            elif name == "pre":
                self.flush()
                code = child.get_text().strip("\n")
                if code.strip():
                    self.out.append(Element(type="code", text=code))
            elif name == "hr":
                self.flush()
            elif name == "figcaption":
                self.flush()
                text = _clean(self.inline(child))
                if text:
                    self.out.append(Element(type="caption", text=text))
            else:
                self.flush()
                self.block(child)
                self.flush()

    def _figures_in(self, node: Tag) -> None:
        for _ in node.find_all("img"):
            self.out.append(Element(type="figure"))

    # -- lists -----------------------------------------------------------------------------------
    def list(self, node: Tag, depth: int) -> None:
        ordered = node.name == "ol"
        try:
            number = int(str(node.get("start", "1")))
        except ValueError:
            number = 1
        seen_term = False
        for item in _children(node, "li", "dt", "dd"):
            if item.name == "dd":
                self.item(item, depth + 1 if seen_term else depth, False, None)
                continue
            seen_term = seen_term or item.name == "dt"
            marker = f"{number}." if ordered else None
            number += 1 if ordered else 0
            self.item(item, depth, ordered, marker, bold=item.name == "dt")

    def item(self, node: Tag, depth: int, ordered: bool, marker: str | None, bold: bool = False) -> None:
        """One list item: its own text inline, then its nested lists one level deeper."""
        text_parts: list[str] = []
        nested: list[Tag] = []
        figures = 0

        def collect(n: Tag) -> None:
            nonlocal figures
            for child in n.children:
                if isinstance(child, _NOT_TEXT):
                    continue
                if isinstance(child, NavigableString):
                    text_parts.append(str(child))
                elif isinstance(child, Tag) and child.name in SKIP:
                    text_parts.append(_checkbox(child))
                elif isinstance(child, Tag) and not _hidden(child):
                    if child.name in LISTS:
                        nested.append(child)
                    elif child.name == "img":
                        figures += 1
                    elif child.name == "table":
                        nested.append(child)
                    elif self.holds(child, _HAS_NESTED):
                        collect(child)
                    else:
                        text_parts.append(" " + self.styled(child) + " " if self.is_block(child) else self.styled(child))

        collect(node)
        text = _clean("".join(text_parts))
        if text or not nested:
            if bold and text:
                text = f"**{text}**"
            self.out.append(Element(type="list_item", text=text, level=depth, ordered=ordered, marker=marker))
        self.out.extend(Element(type="figure") for _ in range(figures))
        for sub in nested:
            if sub.name == "table":
                self.table(sub)
            else:
                self.list(sub, depth + 1)

    # -- tables ----------------------------------------------------------------------------------
    def table(self, node: Tag) -> None:
        caption = next(iter(_children(node, "caption")), None)
        if caption is not None:
            text = _clean(self.inline(caption))
            if text:
                self.out.append(Element(type="caption", text=text))
        rows = [
            tr
            for part in _children(node, "tr", "thead", "tbody", "tfoot")
            for tr in ([part] if part.name == "tr" else _children(part, "tr"))
        ]
        only = _children(rows[0], "td", "th") if len(rows) == 1 else []
        if len(only) == 1:
            # A one-cell table is a frame around content (a layout box), not data: read what it holds.
            self.block(only[0])
            self.flush()
            return
        cells: list[Cell] = []
        taken: set[tuple[int, int]] = set()
        n_cols = 0
        for r, tr in enumerate(rows):
            c = 0
            for td in _children(tr, "td", "th"):
                while (r, c) in taken:
                    c += 1
                rowspan = max(1, min(_int(td.get("rowspan")), len(rows) - r))
                colspan = max(1, min(_int(td.get("colspan")), 1000))
                text = _clean(self.inline(td, in_cell=True))
                cells.append(Cell(row=r, col=c, text=text, rowspan=rowspan, colspan=colspan, header=td.name == "th"))
                for dr in range(rowspan):
                    for dc in range(colspan):
                        taken.add((r + dr, c + dc))
                c += colspan
                n_cols = max(n_cols, c)
        if not cells:
            return
        if n_cols * len(rows) > _MAX_CELLS:
            self.out.append(Element(type="paragraph", text=_clean(node.get_text(" "))))
            return
        self.out.append(Element(type="table", table=Table(n_rows=len(rows), n_cols=n_cols, cells=cells)))

    # -- inline ----------------------------------------------------------------------------------
    def inline(self, node: Tag, in_cell: bool = False) -> str:
        parts: list[str] = []
        for child in node.children:
            if isinstance(child, _NOT_TEXT):
                continue
            if isinstance(child, NavigableString):
                parts.append(str(child))
                continue
            if not isinstance(child, Tag) or _hidden(child):
                continue
            if child.name in SKIP:
                parts.append(_checkbox(child))
                continue
            name = child.name
            if name == "br":
                parts.append(" ")
            elif name == "img":
                parts.append(" <!-- image --> " if in_cell else " ")
            elif name == "table":
                parts.append(" " + _clean(child.get_text(" ")) + " ")
            elif name == "li":
                marker = "1." if child.parent is not None and child.parent.name == "ol" else "-"
                parts.append(f" {marker} " + self.inline(child, in_cell) + " ")
            else:
                parts.append(self.styled(child, in_cell))
                if child.name in BLOCKS:
                    parts.append(" ")
        return "".join(parts)

    def styled(self, node: Tag, in_cell: bool = False) -> str:
        """The node's inline markdown with its own emphasis, code or link markup."""
        if node.name == "br":
            return " "
        inner = self.inline(node, in_cell)
        text = inner.strip()
        if not text:
            return inner
        lead = " " if inner[:1].isspace() else ""
        tail = " " if inner[-1:].isspace() else ""
        name = node.name
        if name in ("strong", "b"):
            text = f"**{text}**"
        elif name in ("em", "i"):
            text = f"*{text}*"
        elif name in ("s", "del", "strike"):
            text = f"~~{text}~~"
        elif name == "code":
            text = f"`{text}`"
        elif name == "a":
            href = str(node.get("href") or "").strip()
            if not self.anchors and href.startswith("#"):
                return "" if text == "↑" else lead + text + tail  # a footnote's way back to its mark
            if href and not href.lower().startswith(("javascript:", "data:")):
                text = f"[{text}]({href})"
        return lead + text + tail


def _int(value: object) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 1


def _checkbox(node: Tag) -> str:
    """A checkbox as a task-list mark ("[x] " / "[ ] "); any other skipped element as nothing."""
    if node.name == "input" and str(node.get("type") or "").lower() == "checkbox":
        return "[x] " if node.has_attr("checked") else "[ ] "
    return ""


def _hidden(node: Tag) -> bool:
    if node.attrs is None:
        return False
    if node.has_attr("hidden"):
        return True
    style = str(node.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style
