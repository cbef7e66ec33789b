"""DOCX to document elements: mammoth's semantic HTML (styles, numbering, tables) read by the HTML walker."""

from __future__ import annotations

from typing import Any

from .html import HtmlDocument, html_elements

# Word's Title is the document's one top heading, so its sections (Heading 1-5) sit one level below it,
# whether or not the document has a title: the outline keeps the same depth either way.
_STYLE_MAP = "\n".join(
    ["p[style-name='Title'] => h1:fresh", "p.Title => h1:fresh", "p[style-name='Subtitle'] => h2:fresh"]
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
        stream = pre_process_docx(fh)  # equations (OMML) become LaTeX text
    result = mammoth.convert_to_html(
        stream,
        style_map=_STYLE_MAP,
        convert_image=mammoth.images.img_element(_image),
    )
    return html_elements(result.value, boilerplate=False)
