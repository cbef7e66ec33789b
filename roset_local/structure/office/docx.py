"""DOCX to document elements: mammoth's semantic HTML (styles, numbering, tables) read by the HTML walker."""

from __future__ import annotations

from typing import Any

from .docx_math import with_equations_as_text
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


def docx_elements(path: str) -> HtmlDocument:
    import mammoth
    from markitdown.converter_utils.docx.pre_process import pre_process_docx

    with open(path, "rb") as fh:
        # markitdown's pass repairs zip name casing and styles mammoth cannot read; its equation step
        # gives up on a whole part at the first equation it cannot convert, so ours goes one at a time.
        stream = with_equations_as_text(pre_process_docx(fh))
    result = mammoth.convert_to_html(
        stream,
        style_map=_STYLE_MAP,
        convert_image=mammoth.images.img_element(_image),
    )
    return html_elements(result.value, boilerplate=False)
