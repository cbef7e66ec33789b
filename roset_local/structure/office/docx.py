"""DOCX to document elements: mammoth's semantic HTML (styles, numbering, tables) read by the HTML walker."""

from __future__ import annotations

from typing import Any

from .html import HtmlDocument, html_elements

# Word's title styles are headings too; mammoth already maps Heading 1-6.
_STYLE_MAP = "\n".join(
    [
        "p[style-name='Title'] => h1:fresh",
        "p[style-name='Subtitle'] => h2:fresh",
        "p[style-name='heading 1'] => h1:fresh",
        "p[style-name='heading 2'] => h2:fresh",
        "p[style-name='heading 3'] => h3:fresh",
        "p[style-name='heading 4'] => h4:fresh",
        "u => u",
    ]
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
