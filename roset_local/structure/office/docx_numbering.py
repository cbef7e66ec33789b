"""Word's automatic heading numbers ("2.1 Scope") written into the heading text before mammoth reads it.

mammoth turns numbered paragraphs into HTML lists and drops the numbers; for a heading that loses the
section number people cite ("see 2.1"). Here every numbered paragraph is counted in document order
(lists share counters with headings), and headings get their label as text and lose the numbering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_VAL = f"{_W}val"


@dataclass
class _Level:
    fmt: str = "decimal"
    text: str = "%1."
    start: int = 1
    legal: bool = False


@dataclass
class _Numbering:
    abstract_of: dict[str, str] = field(default_factory=dict)  # numId -> abstractNumId
    levels: dict[str, dict[int, _Level]] = field(default_factory=dict)  # abstractNumId -> levels
    style_level: dict[tuple[str, str], int] = field(default_factory=dict)  # (abstractNumId, styleId) -> ilvl
    overrides: dict[str, dict[int, int]] = field(default_factory=dict)  # numId -> {ilvl: start}


def _val(el: Any, tag: str) -> str | None:
    child = el.find(f"{_W}{tag}") if el is not None else None
    return child.get(_VAL) if child is not None else None


def _read_numbering(root: Any) -> _Numbering:
    out = _Numbering()
    for abstract in root.iter(f"{_W}abstractNum"):
        aid = abstract.get(f"{_W}abstractNumId") or ""
        levels: dict[int, _Level] = {}
        for lvl in abstract.iter(f"{_W}lvl"):
            ilvl = int(lvl.get(f"{_W}ilvl") or 0)
            start = _val(lvl, "start")
            levels[ilvl] = _Level(
                fmt=_val(lvl, "numFmt") or "decimal",
                text=_val(lvl, "lvlText") or "",
                start=int(start) if start and start.lstrip("-").isdigit() else 1,
                legal=lvl.find(f"{_W}isLgl") is not None,
            )
            style = _val(lvl, "pStyle")
            if style:
                out.style_level[(aid, style)] = ilvl
        out.levels[aid] = levels
    for num in root.iter(f"{_W}num"):
        nid = num.get(f"{_W}numId") or ""
        out.abstract_of[nid] = _val(num, "abstractNumId") or ""
        for override in num.iter(f"{_W}lvlOverride"):
            start = _val(override, "startOverride")
            if start and start.isdigit():
                out.overrides.setdefault(nid, {})[int(override.get(f"{_W}ilvl") or 0)] = int(start)
    return out


@dataclass
class _Style:
    heading: bool = False
    outline: int | None = None  # 0-based outline level (9 is body text)
    num_id: str | None = None
    ilvl: int | None = None
    based_on: str | None = None


def _read_styles(root: Any) -> dict[str, _Style]:
    styles: dict[str, _Style] = {}
    for style in root.iter(f"{_W}style"):
        sid = style.get(f"{_W}styleId") or ""
        name = (_val(style, "name") or "").lower()
        ppr = style.find(f"{_W}pPr")
        numpr = ppr.find(f"{_W}numPr") if ppr is not None else None
        ilvl = _val(numpr, "ilvl")
        outline = _val(ppr, "outlineLvl")
        level = int(outline) if outline and outline.isdigit() and int(outline) < 9 else None
        styles[sid] = _Style(
            heading=name.startswith("heading") or level is not None,
            outline=level,
            num_id=_val(numpr, "numId"),
            ilvl=int(ilvl) if ilvl and ilvl.isdigit() else None,
            based_on=_val(style, "basedOn"),
        )
    return styles


def _roman(n: int) -> str:
    out = ""
    for value, letters in ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"),
                           (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")):
        while n >= value:
            out, n = out + letters, n - value
    return out


def _format(n: int, fmt: str) -> str:
    if fmt in ("lowerLetter", "upperLetter"):
        letter = chr(ord("a") + (n - 1) % 26) * ((n - 1) // 26 + 1)
        return letter.upper() if fmt == "upperLetter" else letter
    if fmt in ("lowerRoman", "upperRoman"):
        return _roman(n).upper() if fmt == "upperRoman" else _roman(n)
    if fmt in ("bullet", "none"):
        return ""
    return str(n)


class _Counter:
    def __init__(self, numbering: _Numbering) -> None:
        self.numbering = numbering
        self.counts: dict[str, dict[int, int]] = {}
        self.seen_nums: set[str] = set()

    def label(self, num_id: str, ilvl: int) -> str:
        aid = self.numbering.abstract_of.get(num_id)
        levels = self.numbering.levels.get(aid or "")
        if not levels or ilvl not in levels:
            return ""
        counts = self.counts.setdefault(aid or "", {})
        if num_id not in self.seen_nums:  # a num with start overrides restarts its levels when first used
            self.seen_nums.add(num_id)
            for lvl, start in self.numbering.overrides.get(num_id, {}).items():
                counts[lvl] = start - 1
        level = levels[ilvl]
        counts[ilvl] = counts.get(ilvl, level.start - 1) + 1
        for deeper in [k for k in counts if k > ilvl]:
            del counts[deeper]
        if level.fmt in ("bullet", "none"):
            return ""
        text = level.text
        for k in range(ilvl, -1, -1):
            fmt = "decimal" if level.legal else levels.get(k, _Level()).fmt
            value = counts.get(k, levels.get(k, _Level()).start)
            text = text.replace(f"%{k + 1}", _format(value, fmt))
        return text.strip()


def _style_chain(styles: dict[str, _Style], sid: str | None) -> list[_Style]:
    chain: list[_Style] = []
    while sid and sid in styles and len(chain) < 20:
        chain.append(styles[sid])
        sid = styles[sid].based_on
    return chain


def number_headings(document: Any, numbering_root: Any, styles_root: Any) -> bool:
    """Prepends each numbered heading's label to its text in `document` (an lxml tree); True if any."""
    from lxml import etree

    numbering = _read_numbering(numbering_root)
    styles = _read_styles(styles_root) if styles_root is not None else {}
    counter = _Counter(numbering)
    changed = False
    for para in document.iter(f"{_W}p"):
        ppr = para.find(f"{_W}pPr")
        style_id = _val(ppr, "pStyle")
        chain = _style_chain(styles, style_id)
        numpr = ppr.find(f"{_W}numPr") if ppr is not None else None
        num_id, ilvl_text = _val(numpr, "numId"), _val(numpr, "ilvl")
        ilvl = int(ilvl_text) if ilvl_text and ilvl_text.isdigit() else None
        for style in chain:
            num_id = num_id or style.num_id
            ilvl = ilvl if ilvl is not None else style.ilvl
        if not num_id or num_id == "0":
            continue
        if ilvl is None:
            aid = numbering.abstract_of.get(num_id, "")
            ilvl = numbering.style_level.get((aid, style_id or ""), 0)
        label = counter.label(num_id, ilvl)
        if ppr is None or not any(s.heading for s in chain):
            continue
        if label:  # an invisible number (format "none") leaves the text alone but still is no list item
            run = etree.Element(f"{_W}r")
            t = etree.SubElement(run, f"{_W}t")
            t.text = label + " "
            t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
            para.insert(list(para).index(ppr) + 1, run)
        if numpr is None:
            numpr = etree.SubElement(ppr, f"{_W}numPr")
        for child in list(numpr):
            numpr.remove(child)
        etree.SubElement(numpr, f"{_W}numId").set(_VAL, "0")  # numbered by text now, not a list item
        changed = True
    return changed


def heading_styles(styles_root: Any) -> dict[str, int]:
    """Style id -> 0-based outline level of every paragraph style that is a heading by its outline level
    (its own or inherited through basedOn): custom styles such as "heading 2 invisible num"."""
    styles = _read_styles(styles_root)
    out: dict[str, int] = {}
    for sid in styles:
        level = next((s.outline for s in _style_chain(styles, sid) if s.outline is not None), None)
        if level is not None:
            out[sid] = level
    return out
