"""Word equations (OMML) to LaTeX text runs before mammoth reads the document, one equation at a time."""

from __future__ import annotations

from typing import Any

_M = "{http://schemas.openxmlformats.org/officeDocument/2006/math}"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _latex(omath: Any) -> str:
    """LaTeX of one equation; its plain characters when the converter cannot handle a construct."""
    from markitdown.converter_utils.docx.math.omml import oMath2Latex

    try:
        text = str(oMath2Latex(omath).latex)
    except Exception:  # noqa: BLE001 - the converter fails on constructs it does not know
        text = ""
    if not text.strip():
        text = "".join(t.text or "" for t in omath.iter(f"{_M}t"))
    return " ".join(text.split())


def _run(text: str) -> Any:
    from lxml import etree

    run = etree.Element(f"{_W}r")
    t = etree.SubElement(run, f"{_W}t")
    t.text = text
    t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    return run


def replace_math(xml: bytes) -> bytes:
    """The part's XML with each equation replaced by a text run of its LaTeX ($...$, $$...$$ on its own)."""
    from lxml import etree

    if b"oMath" not in xml:
        return xml
    root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    changed = False
    for para in list(root.iter(f"{_M}oMathPara")):
        parent = para.getparent()
        if parent is None:
            continue
        pieces = [_latex(m) for m in para.iter(f"{_M}oMath")]
        parent.replace(para, _run(" ".join(f"$${p}$$" for p in pieces if p)))
        changed = True
    for omath in list(root.iter(f"{_M}oMath")):
        parent = omath.getparent()
        if parent is None:
            continue
        latex = _latex(omath)
        parent.replace(omath, _run(f"${latex}$" if latex else ""))
        changed = True
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True) if changed else xml
