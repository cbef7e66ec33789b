"""Review comments of PPTX slides (legacy and modern comment parts) as paragraphs."""

from __future__ import annotations

from typing import Any

from roset_local.structure.model import Element


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _parse(blob: bytes) -> Any:
    from lxml import etree

    return etree.fromstring(blob, parser=etree.XMLParser(resolve_entities=False, no_network=True))


def comment_authors(prs: Any) -> dict[str, str]:
    """Author id -> name from the presentation's commentAuthors (legacy) or authors (modern) part."""
    out: dict[str, str] = {}
    try:
        rels = list(prs.part.rels.values())
    except (AttributeError, KeyError):
        return out
    for rel in rels:
        if rel.is_external or not rel.reltype.endswith(("/commentAuthors", "/authors")):
            continue
        try:
            root = _parse(rel.target_part.blob)
        except Exception:  # noqa: BLE001 - a broken authors part only loses the names
            continue
        for el in root.iter():
            if _local(el.tag) in ("cmAuthor", "author") and el.get("id") is not None:
                out[str(el.get("id"))] = str(el.get("name") or "")
    return out


def slide_comments(slide: Any, authors: dict[str, str]) -> list[Element]:
    out: list[Element] = []
    try:
        rels = list(slide.part.rels.values())
    except (AttributeError, KeyError):
        return out
    for rel in rels:
        if rel.is_external or not rel.reltype.endswith("/comments"):
            continue
        try:
            root = _parse(rel.target_part.blob)
        except Exception:  # noqa: BLE001 - a broken comments part loses its comments, not the slide
            continue
        for el in root.iter():
            if _local(el.tag) not in ("cm", "reply"):
                continue
            own = [t for t in el.iter() if _local(t.tag) in ("t", "text") and _owner(t) is el]
            text = " ".join("".join(t.text or "" for t in own).split())
            if not text:
                continue
            author = authors.get(str(el.get("authorId")), "")
            who = f" by {author}" if author else ""
            out.append(Element(type="paragraph", text=f"Comment{who}: {text}"))
    return out


def _owner(node: Any) -> Any:
    """The nearest enclosing comment or reply of a text node (replies nest inside their comment)."""
    parent = node.getparent()
    while parent is not None and _local(parent.tag) not in ("cm", "reply"):
        parent = parent.getparent()
    return parent
