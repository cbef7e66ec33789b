"""Ruling lines of a page merged into connected frames: the skeletons of ruled and partially ruled tables."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from roset_local.structure.model import Box, PageGeometry

SNAP = 2.0  # points: rules this close are the same line (double rules, a cell's own border)
MIN_RULE = 3.0  # shorter strokes are glyph parts, ticks or dots, not rules
MAX_THICK = 4.0  # a filled rectangle thinner than this is a rule
MAX_PAIRS = 250_000  # horizontal x vertical rules beyond which a page is a drawing


@dataclass
class Seg:
    """An axis-aligned rule: `pos` is its y (horizontal) or x (vertical), [a, b] its extent along the line."""

    pos: float
    a: float
    b: float


@dataclass
class Frame:
    """Rules that touch each other: horizontal and vertical segments of one table skeleton."""

    hs: list[Seg] = field(default_factory=list)
    vs: list[Seg] = field(default_factory=list)

    @property
    def box(self) -> Box:
        xs = [s.a for s in self.hs] + [s.pos for s in self.vs]
        xe = [s.b for s in self.hs] + [s.pos for s in self.vs]
        ys = [s.pos for s in self.hs] + [s.a for s in self.vs]
        ye = [s.pos for s in self.hs] + [s.b for s in self.vs]
        return Box(min(xs), min(ys), max(xe), max(ye))


def _raw_segments(page: PageGeometry) -> tuple[list[Seg], list[Seg]]:
    hs: list[Seg] = []
    vs: list[Seg] = []

    def add(x0: float, y0: float, x1: float, y1: float) -> None:
        x0, x1 = min(x0, x1), max(x0, x1)
        y0, y1 = min(y0, y1), max(y0, y1)
        w, h = x1 - x0, y1 - y0
        if w >= h and w >= MIN_RULE and h <= MAX_THICK:
            hs.append(Seg((y0 + y1) / 2, x0, x1))
        elif h > w and h >= MIN_RULE and w <= MAX_THICK:
            vs.append(Seg((x0 + x1) / 2, y0, y1))

    for r in page.rules:
        add(r.x0, r.y0, r.x1, r.y1)
    page_area = page.width * page.height
    rects = [b for b in page.rects if b.width * b.height < 0.8 * page_area]  # not a page background
    for b in rects:
        if b.width <= MAX_THICK or b.height <= MAX_THICK:
            add(b.x0, b.y0, b.x1, b.y1)
            continue
        # a shaded cell: its edges are borders, except where another shaded rectangle continues it
        # (one cell shaded line by line, a row shaded cell by cell)
        if not _continued(rects, b, "top"):
            add(b.x0, b.y0, b.x1, b.y0)
        if not _continued(rects, b, "bottom"):
            add(b.x0, b.y1, b.x1, b.y1)
        if not _continued(rects, b, "left"):
            add(b.x0, b.y0, b.x0, b.y1)
        if not _continued(rects, b, "right"):
            add(b.x1, b.y0, b.x1, b.y1)
    return hs, vs


def _continued(rects: list[Box], b: Box, side: str) -> bool:
    if len(rects) > 400:
        return False  # a chart or a drawing: not worth the quadratic look
    for o in rects:
        if o is b:
            continue
        if side in ("top", "bottom"):
            edge, other = (b.y0, o.y1) if side == "top" else (b.y1, o.y0)
            along = min(b.x1, o.x1) - max(b.x0, o.x0)
            if abs(edge - other) <= SNAP and along >= 0.8 * b.width:
                return True
        else:
            edge, other = (b.x0, o.x1) if side == "left" else (b.x1, o.x0)
            along = min(b.y1, o.y1) - max(b.y0, o.y0)
            if abs(edge - other) <= SNAP and along >= 0.8 * b.height:
                return True
    return False


def _merge(segs: list[Seg]) -> list[Seg]:
    """Collinear segments within SNAP of each other, overlapping or nearly touching, become one."""
    out: list[Seg] = []
    segs = sorted(segs, key=lambda s: s.pos)
    band: list[Seg] = []

    def flush() -> None:
        if not band:
            return
        pos = sum(s.pos for s in band) / len(band)
        cur: Seg | None = None
        for s in sorted(band, key=lambda s: s.a):
            if cur is not None and s.a <= cur.b + SNAP:
                cur.b = max(cur.b, s.b)
            else:
                cur = Seg(pos, s.a, s.b)
                out.append(cur)
        band.clear()

    for s in segs:
        if band and s.pos - band[-1].pos > SNAP:
            flush()
        band.append(s)
    flush()
    return out


def _touch(h: Seg, v: Seg) -> bool:
    return h.a - SNAP <= v.pos <= h.b + SNAP and v.a - SNAP <= h.pos <= v.b + SNAP


def frames(page: PageGeometry) -> tuple[list[Frame], list[Seg]]:
    """Connected frames of horizontal+vertical rules, and the horizontal rules that touch no vertical."""
    hs, vs = _raw_segments(page)
    hs, vs = _merge(hs), _merge(vs)
    if len(hs) * len(vs) > MAX_PAIRS:
        return [], []  # a chart or a vector drawing, not a table: not worth the quadratic look
    parent = list(range(len(hs) + len(vs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    touched = [False] * len(hs)
    vs_sorted = sorted(range(len(vs)), key=lambda j: vs[j].pos)
    v_pos = [vs[j].pos for j in vs_sorted]
    for i, h in enumerate(hs):
        for k in range(bisect_left(v_pos, h.a - SNAP), bisect_right(v_pos, h.b + SNAP)):
            j = vs_sorted[k]
            v = vs[j]
            if _touch(h, v):
                touched[i] = True
                parent[find(i)] = find(len(hs) + j)
    groups: dict[int, Frame] = {}
    for i, h in enumerate(hs):
        if touched[i]:
            groups.setdefault(find(i), Frame()).hs.append(h)
    for j, v in enumerate(vs):
        root = find(len(hs) + j)
        if root in groups:
            groups[root].vs.append(v)
    loose = [h for i, h in enumerate(hs) if not touched[i]]
    return list(groups.values()), loose


def cluster(values: list[float], tol: float = SNAP * 1.5) -> list[float]:
    """Sorted values with neighbours closer than tol collapsed to their mean."""
    out: list[list[float]] = []
    for v in sorted(values):
        if out and v - out[-1][-1] <= tol:
            out[-1].append(v)
        else:
            out.append([v])
    return [sum(g) / len(g) for g in out]


def covered(segs: list[Seg], pos: float, a: float, b: float) -> bool:
    """Whether rules at `pos` cover most of the span [a, b] (a border between two grid cells)."""
    need = (b - a) * 0.6
    got = 0.0
    for s in segs:
        if abs(s.pos - pos) <= SNAP * 1.5:
            got += max(0.0, min(s.b, b) - max(s.a, a))
    return got >= need
