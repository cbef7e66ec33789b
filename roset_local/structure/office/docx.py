"""DOCX to document elements: mammoth's semantic HTML (styles, numbering, tables) read by the HTML walker."""

from __future__ import annotations

import io
import zipfile
from typing import Any, BinaryIO

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


_TEXT_PARTS = ("word/document.xml", "word/footnotes.xml", "word/endnotes.xml")


def _xml(data: bytes) -> Any:
    from lxml import etree

    return etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))


def prepare(stream: BinaryIO) -> tuple[BinaryIO, str]:
    """The package with equations as LaTeX text and heading numbers as text (see docx_math, docx_numbering),
    and mammoth style-map lines for the document's own heading styles."""
    from lxml import etree

    stream.seek(0)
    with zipfile.ZipFile(stream) as zin:
        names = set(zin.namelist())
        style_map = ""
        if "word/styles.xml" in names:
            levels = heading_styles(_xml(zin.read("word/styles.xml")))
            style_map = "\n".join(f"p.{sid} => h{min(level + 2, 6)}:fresh" for sid, level in levels.items()
                                  if sid.replace("'", "") == sid and sid != "Title")
        parts = {name: zin.read(name) for name in _TEXT_PARTS if name in names}
        changed = {name: replace_math(data) for name, data in parts.items() if b"oMath" in data}
        document = changed.get("word/document.xml", parts.get("word/document.xml", b""))
        if "word/numbering.xml" in names and document:
            tree = _xml(document)
            styles = _xml(zin.read("word/styles.xml")) if "word/styles.xml" in names else None
            if number_headings(tree, _xml(zin.read("word/numbering.xml")), styles):
                changed["word/document.xml"] = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
        if not changed:
            stream.seek(0)
            return stream, style_map
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                zout.writestr(info, changed.get(info.filename) or zin.read(info.filename))
    out.seek(0)
    return out, style_map


def docx_elements(path: str) -> HtmlDocument:
    import mammoth
    from markitdown.converter_utils.docx.pre_process import pre_process_docx

    with open(path, "rb") as fh:
        # markitdown's pass repairs zip name casing and styles mammoth cannot read; its equation step
        # gives up on a whole part at the first equation it cannot convert, so ours goes one at a time.
        stream, own_styles = prepare(pre_process_docx(fh))
    result = mammoth.convert_to_html(
        stream,
        style_map=_STYLE_MAP + ("\n" + own_styles if own_styles else ""),
        convert_image=mammoth.images.img_element(_image),
    )
    return html_elements(result.value, boilerplate=False)
