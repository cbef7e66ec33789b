"""DOCX to document elements: mammoth's semantic HTML (styles, numbering, tables) read by the HTML walker."""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from roset_local.structure.model import Element

from .chart_xml import chart_elements

from .docx_math import replace_math
from .docx_numbering import heading_styles, number_headings
from .html import HtmlDocument, html_elements

# Word's Title is the document's one top heading, so its sections (Heading 1-5) sit one level below it,
# whether or not the document has a title: the outline keeps the same depth either way.
_STYLE_MAP = "\n".join(
    ["p[style-name='Title'] => h1:fresh", "p.Title => h1:fresh"]
    + [f"p.Heading{n} => h{n + 1}:fresh" for n in range(1, 6)]
    + [f"p[style-name='heading {n}'] => h{n + 1}:fresh" for n in range(1, 6)]
    + [f"p[style-name='Heading {n}'] => h{n + 1}:fresh" for n in range(1, 6)]
)


def _image(image: Any) -> dict[str, str]:
    # Never opens the image: an external (linked) picture has no part in the package to read.
    return {"src": "", "alt": ""}


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_TEXT_PARTS = ("word/document.xml", "word/footnotes.xml", "word/endnotes.xml")


def _xml(data: bytes) -> Any:
    from lxml import etree

    return etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))


@dataclass
class Prepared:
    stream: BinaryIO
    style_map: str = ""  # mammoth style-map lines for the document's own heading styles
    charts: list[list[Element]] = field(default_factory=list)  # chart N's elements, for its text marker


def _marker(n: int) -> str:
    return f"\u27e6chart {n}\u27e7"


_MARKER = re.compile("\u27e6chart (\\d+)\u27e7")


def _charts_as_markers(tree: Any, zin: zipfile.ZipFile, names: set[str]) -> list[list[Element]]:
    """Each chart drawing becomes a text marker (mammoth skips charts); its elements are returned."""
    from lxml import etree

    rels_name = "word/_rels/document.xml.rels"
    if rels_name not in names:
        return []
    targets = {
        rel.get("Id"): rel.get("Target") or ""
        for rel in _xml(zin.read(rels_name))
        if str(rel.get("Type") or "").endswith("/chart")
    }
    charts: list[list[Element]] = []
    for chart in list(tree.iter(f"{_C}chart")):
        drawing = next((a for a in chart.iterancestors(f"{_W}drawing")), None)
        target = targets.get(chart.get(f"{_R}id"))
        if drawing is None or not target:
            continue
        part = posixpath.normpath(posixpath.join("word", target)) if not target.startswith("/") else target[1:]
        if part not in names:
            continue
        try:
            charts.append(chart_elements(_xml(zin.read(part))))
        except etree.XMLSyntaxError:
            continue
        text = etree.Element(f"{_W}t")
        text.text = _marker(len(charts) - 1)
        drawing.getparent().replace(drawing, text)
    return charts


def prepare(stream: BinaryIO) -> Prepared:
    """The package with equations as LaTeX text, heading numbers as text and charts as markers (see
    docx_math, docx_numbering, chart_xml)."""
    from lxml import etree

    stream.seek(0)
    with zipfile.ZipFile(stream) as zin:
        names = set(zin.namelist())
        prepared = Prepared(stream)
        styles = _xml(zin.read("word/styles.xml")) if "word/styles.xml" in names else None
        if styles is not None:
            prepared.style_map = "\n".join(
                f"p.{sid} => h{min(level + 2, 6)}:fresh" for sid, level in heading_styles(styles).items()
                if sid.replace("'", "") == sid and sid != "Title"
            )
        parts = {name: zin.read(name) for name in _TEXT_PARTS if name in names}
        changed = {name: replace_math(data) for name, data in parts.items() if b"oMath" in data}
        document = changed.get("word/document.xml", parts.get("word/document.xml", b""))
        if document and ("word/numbering.xml" in names or b"/chart" in document):
            tree = _xml(document)
            numbered = "word/numbering.xml" in names and number_headings(
                tree, _xml(zin.read("word/numbering.xml")), styles
            )
            prepared.charts = _charts_as_markers(tree, zin, names)
            if numbered or prepared.charts:
                changed["word/document.xml"] = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
        if not changed:
            stream.seek(0)
            return prepared
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                zout.writestr(info, changed.get(info.filename) or zin.read(info.filename))
    out.seek(0)
    prepared.stream = out
    return prepared


def _with_charts(elements: list[Element], charts: list[list[Element]]) -> list[Element]:
    """The elements with each chart marker replaced by that chart's elements (text around it kept)."""
    if not charts:
        return elements
    out: list[Element] = []
    for el in elements:
        pieces = _MARKER.split(el.text) if el.type in ("paragraph", "list_item") else [el.text]
        if len(pieces) == 1:
            out.append(el)
            continue
        for i, piece in enumerate(pieces):
            if i % 2:
                n = int(piece)
                out.extend(charts[n] if n < len(charts) else [])
            elif piece.strip():
                out.append(Element(type=el.type, text=piece.strip(), level=el.level, ordered=el.ordered))
    return out


def docx_elements(path: str) -> HtmlDocument:
    import mammoth
    from markitdown.converter_utils.docx.pre_process import pre_process_docx

    with open(path, "rb") as fh:
        # markitdown's pass repairs zip name casing and styles mammoth cannot read; its equation step
        # gives up on a whole part at the first equation it cannot convert, so ours goes one at a time.
        prepared = prepare(pre_process_docx(fh))
    result = mammoth.convert_to_html(
        prepared.stream,
        style_map=_STYLE_MAP + ("\n" + prepared.style_map if prepared.style_map else ""),
        convert_image=mammoth.images.img_element(_image),
    )
    # mammoth links footnote marks and footnotes to each other: in-page links mean nothing in markdown.
    doc = html_elements(result.value, boilerplate=False, anchors=False)
    doc.elements = [_typed(el) for el in _with_charts(doc.elements, prepared.charts)]
    return doc


_DISPLAY_MATH = re.compile(r"^\$\$(.+)\$\$$", re.S)


def _typed(el: Element) -> Element:
    """Word's Title (the only level-1 heading, see _STYLE_MAP) is the document title; a paragraph that is
    one display equation is a formula."""
    if el.type == "heading" and el.level == 1:
        el.type = "title"
    elif el.type == "paragraph" and (m := _DISPLAY_MATH.match(el.text)) and "$$" not in m.group(1):
        el.type, el.text = "formula", m.group(1).strip()
    return el
