"""Markdown structure metrics of the opendataloader-bench kind: NID (text and order), TEDS (tables), MHS (headings).

Definitions (shared/corpora/docling/README.md):
- NID: 1 - indel distance / (len(reference) + len(prediction)) over the whole markdown (whitespace runs
  collapsed); NID-S the same with the tables removed from both sides.
- TEDS: tree edit distance similarity between the HTML table trees of both sides (pipe tables become
  <table><tr><td>), 1 - distance / max(nodes); TEDS-S ignores cell text. Only where the reference has a
  table; a prediction without tables scores 0.
- MHS: each side becomes a flat list of headings (with level) under one root, each heading owning its
  following content; tree edit distance similarity as for TEDS; MHS-S ignores the text.
- overall: the mean of NID, TEDS and MHS where each applies.
Renaming a text-carrying node costs its normalised edit distance (as TEDS does for cells); renaming
across kinds or levels costs 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from apted import APTED, Config
from rapidfuzz.distance import Indel, Levenshtein

_WS = re.compile(r"\s+")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_PIPE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_PIPE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_HTML_TABLE = re.compile(r"<table\b.*?</table>", re.S | re.I)


@dataclass
class Node:
    kind: str  # root | table | tr | td | h1..h6 | content
    text: str = ""
    children: list["Node"] = field(default_factory=list)

    def size(self) -> int:
        return 1 + sum(c.size() for c in self.children)


class _Cost(Config):
    def __init__(self, structure_only: bool) -> None:
        self.structure_only = structure_only

    def rename(self, a: Node, b: Node) -> float:
        if a.kind != b.kind:
            return 1.0
        if self.structure_only or (not a.text and not b.text):
            return 0.0
        return Levenshtein.normalized_distance(a.text, b.text)

    def children(self, node: Node) -> list[Node]:
        return node.children


def _tree_similarity(ref: Node, pred: Node, structure_only: bool) -> float:
    distance = APTED(ref, pred, _Cost(structure_only)).compute_edit_distance()
    return max(0.0, 1.0 - distance / max(ref.size(), pred.size()))


def _norm(text: str) -> str:
    return _WS.sub(" ", text).strip()


# -- tables ---------------------------------------------------------------------------------------


def _split_pipe_row(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells = re.split(r"(?<!\\)\|", body)
    return [_norm(c.replace("\\|", "|")) for c in cells]


def _html_table(fragment: str) -> Node:
    import lxml.html

    table = Node("table")
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    for tr in root.iter("tr"):
        row = Node("tr")
        for cell in tr:
            if cell.tag in ("td", "th"):
                text = _norm(cell.text_content())
                # spans are structure: a spanning cell is a distinct kind of node
                span = f"td{cell.get('rowspan', '1')}x{cell.get('colspan', '1')}"
                row.children.append(Node("td" if span == "td1x1" else span, text))
        table.children.append(row)
    return table


def split_tables(markdown: str) -> tuple[str, list[Node]]:
    """The markdown without its tables, and each table (pipe or HTML) as a tree."""
    tables: list[tuple[int, Node]] = []

    def take_html(m: re.Match[str]) -> str:
        tables.append((m.start(), _html_table(m.group(0))))
        return "\n"

    text = _HTML_TABLE.sub(take_html, markdown)
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if _PIPE_ROW.match(lines[i]) and i + 1 < len(lines) and _PIPE_RULE.match(lines[i + 1]):
            table = Node("table", children=[Node("tr", children=[Node("td", c) for c in _split_pipe_row(lines[i])])])
            i += 2
            while i < len(lines) and _PIPE_ROW.match(lines[i]):
                table.children.append(Node("tr", children=[Node("td", c) for c in _split_pipe_row(lines[i])]))
                i += 1
            tables.append((len("\n".join(out)), table))
            out.append("")
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out), [t for _, t in sorted(tables, key=lambda t: t[0])]


def teds(ref_tables: list[Node], pred_tables: list[Node], structure_only: bool = False) -> float:
    if not pred_tables:
        return 0.0
    return _tree_similarity(Node("root", children=ref_tables), Node("root", children=pred_tables), structure_only)


# -- headings -------------------------------------------------------------------------------------


def heading_tree(markdown: str) -> Node:
    root = Node("root")
    current: Node | None = None
    buf: list[str] = []
    in_code = False

    def flush() -> None:
        if current is not None:
            current.children = [Node("content", _norm(" ".join(buf)))]

    for line in markdown.split("\n"):
        if line.strip().startswith("```"):
            in_code = not in_code
        m = None if in_code else _HEADING.match(line)
        if m:
            flush()
            buf = []
            current = Node(f"h{len(m.group(1))}", _norm(m.group(2)))
            root.children.append(current)
        else:
            buf.append(line)
    flush()
    return root


def has_heading(markdown: str) -> bool:
    return bool(heading_tree(markdown).children)


# -- the document score ---------------------------------------------------------------------------


def score(reference: str, prediction: str) -> dict[str, Any]:
    """NID, NID-S, TEDS, TEDS-S, MHS, MHS-S and overall of one document (None where not applicable)."""
    ref_text, ref_tables = split_tables(reference)
    pred_text, pred_tables = split_tables(prediction)
    out: dict[str, Any] = {
        "nid": Indel.normalized_similarity(_norm(reference), _norm(prediction)),
        "nid_s": Indel.normalized_similarity(_norm(ref_text), _norm(pred_text)),
        "teds": None,
        "teds_s": None,
        "mhs": None,
        "mhs_s": None,
    }
    if ref_tables:
        out["teds"] = teds(ref_tables, pred_tables)
        out["teds_s"] = teds(ref_tables, pred_tables, structure_only=True)
    ref_heads = heading_tree(reference)
    if ref_heads.children:
        pred_heads = heading_tree(prediction)
        out["mhs"] = _tree_similarity(ref_heads, pred_heads, False) if pred_heads.children else 0.0
        out["mhs_s"] = _tree_similarity(ref_heads, pred_heads, True) if pred_heads.children else 0.0
    parts = [v for v in (out["nid"], out["teds"], out["mhs"]) if v is not None]
    out["overall"] = sum(parts) / len(parts)
    return out
