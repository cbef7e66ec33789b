"""One PDF page as positioned words, rules, rectangles and images, read with pypdfium2's raw API."""

from __future__ import annotations

import ctypes
import re
import struct
from typing import Any

from .model import Box, PageGeometry, Rule, Word

RULE_MAX_THICKNESS = 2.5  # points: a filled rectangle thinner than this draws a line
RULE_MIN_LENGTH = 4.0
MAX_PATH_SEGMENTS = 20000  # per page: vector art past this adds nothing a table detector needs
MIN_IMAGE_SIDE = 8.0

_FLAG_FIXED = 1 << 0
_FLAG_ITALIC = 1 << 6
_FLAG_FORCE_BOLD = 1 << 18
_MONO_NAMES = ("mono", "courier", "nimbusmon", "consol", "menlo", "typewriter", "cmtt", "sftt", "inconsolata", "code", "fixed")
_BOLD_NAMES = ("bold", "black", "heavy", "semibold", "demi", "-bd", ",bd")
_ITALIC_NAMES = ("italic", "oblique", "-it", ",it")
_TEX_BOLD = re.compile(r"^[a-z]{2,4}bx")  # TeX's bold extended faces: CMBX10, SFBX1000, LMRomanBX
# Presentation forms PDFs emit for ligatures; readers expect the letters.
_LIGATURES = {0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "st", 0xFB06: "st"}

_ALEFS = frozenset("\u0627\u0623\u0625\u0622")
# Letters whose widths tell a monospaced font: False = narrow, True = wide.
_PROBES = {ord(c): False for c in "iljI.,"} | {ord(c): True for c in "mwMW"}
_BREAKS = frozenset({0, 9, 10, 12, 13, 32, 0xA0, 0x200B, 0xFFFE, 0xFFFF, 0x3000})
_BREAK_CODES = _BREAKS | frozenset(range(0x2000, 0x200B))  # and the sized spaces U+2000-U+200A
_UNMAPPED = "\ufffd"
_RECTF = struct.Struct("=4f")  # FS_RECTF: four C floats, left, top, right, bottom
Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


class _Font:
    __slots__ = ("name", "bold", "italic", "mono")

    def __init__(self, name: str, bold: bool, italic: bool, mono: bool):
        self.name, self.bold, self.italic, self.mono = name, bold, italic, mono


class _Frame:
    """Maps PDF user space (origin bottom-left, page rotation) to top-left-origin page points."""

    def __init__(self, raw_page: Any):
        import pypdfium2.raw as raw

        # The effective crop box (inherited from the page tree when the page has none), unrotated.
        box = raw.FS_RECTF()
        if raw.FPDF_GetPageBoundingBox(raw_page, ctypes.byref(box)):
            l, b, r, t = box.left, box.bottom, box.right, box.top
        else:
            l, b = 0.0, 0.0
            r, t = raw.FPDF_GetPageWidthF(raw_page), raw.FPDF_GetPageHeightF(raw_page)
            if raw.FPDFPage_GetRotation(raw_page) % 2:
                r, t = t, r  # those sizes are the rotated page's
        self.left, self.bottom = min(l, r), min(b, t)
        self.right, self.top = max(l, r), max(b, t)
        self.rotation = raw.FPDFPage_GetRotation(raw_page) % 4
        w, h = self.right - self.left, self.top - self.bottom
        self.width, self.height = (h, w) if self.rotation in (1, 3) else (w, h)

    def point(self, x: float, y: float) -> tuple[float, float]:
        rot = self.rotation
        if rot == 0:
            return x - self.left, self.top - y
        if rot == 1:
            return y - self.bottom, x - self.left
        if rot == 2:
            return self.right - x, y - self.bottom
        return self.top - y, self.right - x

    def box(self, left: float, bottom: float, right: float, top: float) -> Box:
        x0, y0 = self.point(left, top)
        x1, y1 = self.point(right, bottom)
        return Box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def read_page(page: Any, number: int, textpage: Any = None) -> PageGeometry:
    """Words (with font size, weight, style), rules, rectangles and images of one page.

    `page` is a pypdfium2 `PdfPage`; the caller holds the process-wide PDFium lock. Coordinates
    are points with the origin at the top-left of the (rotated, cropped) page. `textpage` is the
    page's open pypdfium2 `PdfTextPage` when the caller has one: loading it costs as much as
    reading the words, so it is loaded once per page.
    """
    import pypdfium2.raw as raw

    frame = _Frame(page.raw)
    geo = PageGeometry(number=number, width=round(frame.width, 2), height=round(frame.height, 2))
    if textpage is not None:
        geo.words = _words(raw, textpage.raw, frame)
    else:
        own = raw.FPDFText_LoadPage(page.raw)
        if own:
            try:
                geo.words = _words(raw, own, frame)
            finally:
                raw.FPDFText_ClosePage(own)
    budget = [MAX_PATH_SEGMENTS]
    for i in range(raw.FPDFPage_CountObjects(page.raw)):
        _visit(raw, raw.FPDFPage_GetObject(page.raw, i), _IDENTITY, frame, geo, budget, 0)
    return geo


def _font_of(raw: Any, textpage: Any, obj: Any, index: int, cache: dict[int, _Font]) -> _Font:
    font = raw.FPDFTextObj_GetFont(obj)
    key = ctypes.cast(font, ctypes.c_void_p).value or 0
    cached = cache.get(key)
    if cached is None:
        buf = ctypes.create_string_buffer(256)
        n = raw.FPDFFont_GetBaseFontName(font, buf, 256) if font else 0
        name = buf.value.decode("utf-8", "replace") if n else ""
        name = name.split("+", 1)[1] if len(name) > 7 and name[6] == "+" else name  # subset prefix
        flags = raw.FPDFFont_GetFlags(font) if font else 0
        weight = raw.FPDFFont_GetWeight(font) if font else -1
        low = name.lower()
        bold = (
            weight >= 600 or bool(flags & _FLAG_FORCE_BOLD) or any(s in low for s in _BOLD_NAMES)
            or _TEX_BOLD.match(low) is not None
        )
        italic = bool(flags & _FLAG_ITALIC) or any(s in low for s in _ITALIC_NAMES)
        mono = bool(flags & _FLAG_FIXED) or any(s in low for s in _MONO_NAMES)
        cached = cache[key] = _Font(name, bold, italic, mono)
    return cached


class _CharCalls:
    """FPDFText_GetUnicode, GetLooseCharBox and GetTextObject called without ctypes argument checks.

    They run once per character, and the bindings' typed prototypes spend most of each call
    converting arguments: 0.7 us for the code, 1.9 us for the box, against 0.3 and 0.6 us through
    untyped prototypes given a `c_void_p` handle, a Python int and a `byref`. The object comes back
    as an address (an int): a cheap dictionary key.
    """

    def __init__(self, raw: Any):
        self.unicode = self._untyped(raw.FPDFText_GetUnicode, ctypes.c_uint)
        self.loose_box = self._untyped(raw.FPDFText_GetLooseCharBox, ctypes.c_int)
        self.object_key = self._untyped(raw.FPDFText_GetTextObject, ctypes.c_void_p)

    @staticmethod
    def _untyped(fn: Any, restype: Any) -> Any:
        address = ctypes.cast(fn, ctypes.c_void_p).value
        if address is None:  # a pdfium build without the function: fail loudly, never call address 0
            raise RuntimeError(f"pdfium lacks {fn.__name__}")
        return ctypes.CFUNCTYPE(restype)(address)


_CHAR_CALLS: list[_CharCalls] = []


def _char_calls(raw: Any) -> _CharCalls:
    if not _CHAR_CALLS:
        _CHAR_CALLS.append(_CharCalls(raw))
    return _CHAR_CALLS[0]


def char_codes(raw: Any, textpage: Any, count: int) -> list[int]:
    """Each character's FPDFText_GetUnicode value, from one FPDFText_GetText call where that is exact.

    PDFium's page text holds one unit per character, in character order, except that it leaves out
    characters that are neither generated nor printable and writes U+FFFE where a character's own
    value is 0 (no mapping) or 2 (a hyphen ending a line). So when the text has exactly one UTF-16
    unit per character, only the U+FFFE positions are asked one by one; otherwise (a character left
    out, one beyond the BMP) every character is.
    """
    get_unicode = _char_calls(raw).unicode
    handle = ctypes.c_void_p(ctypes.cast(textpage, ctypes.c_void_p).value)
    if count <= 0:
        return []
    buf = (ctypes.c_ushort * (2 * count + 1))()  # room for surrogate pairs: PDFium counts code points
    units = raw.FPDFText_GetText(textpage, 0, count, buf) - 1  # less the terminating NUL
    text = ""
    if units == count:
        try:
            text = ctypes.string_at(buf, 2 * units).decode("utf-16-le")
        except UnicodeDecodeError:  # a lone surrogate
            text = ""
    if len(text) != count:
        return [get_unicode(handle, i) for i in range(count)]
    codes = list(map(ord, text))
    i = text.find("\ufffe")
    while i >= 0:
        codes[i] = get_unicode(handle, i)
        i = text.find("\ufffe", i + 1)
    return codes


def _band(y0: float, y1: float) -> tuple[float, float, float, float]:
    """A word's vertical terms for the next character: y0 + y1, 0.8 em, and the drift band (-0.6 h, 0.6 h)."""
    h = y1 - y0
    if h < 1.0:
        h = 1.0
    return y0 + y1, 0.8 * h, -0.6 * h, 0.6 * h


def _emit(words: list[Word], chars: list[str], x0: float, y0: float, x1: float, y1: float,
          font: _Font | None, size: float, bold: bool) -> None:
    """The word built so far (if any) appended to `words`; `chars` emptied for the next one."""
    if chars and font is not None:
        text = "".join(chars)
        # A glyph without a Unicode mapping standing alone is a bullet; inside a word it is noise.
        text = "\u2022" if text == _UNMAPPED else text.replace(_UNMAPPED, "")
        if text.strip():
            # Positional: text, box, size, bold, italic, font, mono (keywords cost more, per word).
            words.append(Word(text, Box(x0, y0, x1, y1), round(size, 2), bold, font.italic, font.name, font.mono))
    chars.clear()


def _words(raw: Any, textpage: Any, frame: _Frame) -> list[Word]:
    count = raw.FPDFText_CountChars(textpage)
    codes = char_codes(raw, textpage, count)
    words: list[Word] = []
    fonts: dict[int, _Font] = {}
    objects: dict[int, tuple[_Font, float, bool]] = {}
    rect = raw.FS_RECTF()
    rect_ref = ctypes.byref(rect)
    read_rect = _RECTF.unpack_from  # left, top, right, bottom in one call, not four field reads
    calls = _char_calls(raw)
    get_box, get_obj = calls.loose_box, calls.object_key
    handle = ctypes.c_void_p(ctypes.cast(textpage, ctypes.c_void_p).value)  # the untyped calls' first argument
    get_size = raw.FPDFText_GetFontSize
    get_matrix = raw.FPDFText_GetMatrix
    matrix = raw.FS_MATRIX()
    matrix_ref = ctypes.byref(matrix)
    fill_stroke = raw.FPDF_TEXTRENDERMODE_FILL_STROKE
    upright, left, top = frame.rotation == 0, frame.left, frame.top
    # The word being built: characters, box, font, size.
    chars: list[str] = []
    append, emit = chars.append, _emit
    wx0 = wy0 = wx1 = wy1 = 0.0
    wsum, em8, low, high = _band(wy0, wy1)
    cur_font: _Font | None = None
    cur_size = 0.0
    cur_bold = False
    last_x0 = -1.0
    last_okey = -1  # no text object has this address
    props: tuple[_Font, float, bool] | None = None
    glyph_widths: dict[str, list[float]] = {}  # font -> [narrowest, widest] advance per em

    for i, code in enumerate(codes):
        if code in _BREAK_CODES:
            emit(words, chars, wx0, wy0, wx1, wy1, cur_font, cur_size, cur_bold)
            continue
        okey = get_obj(handle, i) or 0
        if okey != last_okey:  # characters of one text object come in runs: one lookup per run
            last_okey = okey
            props = objects.get(okey)
            if props is None:
                obj = raw.FPDFText_GetTextObject(textpage, i)
                font = _font_of(raw, textpage, obj, i, fonts)
                fake_bold = bool(obj) and raw.FPDFTextObj_GetTextRenderMode(obj) == fill_stroke
                # The effective size: the nominal size scaled by the text and page matrices (TeX sets size 1).
                get_matrix(textpage, i, matrix_ref)
                scale = abs(matrix.a * matrix.d - matrix.b * matrix.c) ** 0.5 or 1.0
                props = objects[okey] = (font, get_size(textpage, i) * scale, font.bold or fake_bold)
            font, size, bold = props
        if not get_box(handle, i, rect_ref):
            continue
        r_left, r_top, r_right, r_bottom = read_rect(rect)
        if upright:
            x0, y0, x1, y1 = r_left - left, top - r_top, r_right - left, top - r_bottom
        else:
            x0, y0 = frame.point(r_left, r_top)
            x1, y1 = frame.point(r_right, r_bottom)
        if x0 > x1:
            x0, x1 = x1, x0
        if y0 > y1:
            y0, y1 = y1, y0
        if chars:
            # Comparisons rather than min/max calls, and the word's height terms kept from when its
            # box last grew (`_band`): this runs once per character.
            drift = (y0 + y1) - wsum
            gap = x0 - wx1
            if wx0 - x1 > gap:
                gap = wx0 - x1  # either side: right-to-left scripts run leftwards
            em = size if size > em8 else em8
            if not low < drift < high or gap > 0.25 * em:
                emit(words, chars, wx0, wy0, wx1, wy1, cur_font, cur_size, cur_bold)
            elif size != cur_size and size > 0 and cur_size > 0 and abs(size - cur_size) > 0.2 * max(size, cur_size):
                emit(words, chars, wx0, wy0, wx1, wy1, cur_font, cur_size, cur_bold)
        if code == 0x644 and chars and chars[-1] in _ALEFS and abs(x0 - last_x0) < 0.01:
            # A lam-alef ligature glyph comes out as alef, lam: readers expect lam, alef.
            chars.insert(len(chars) - 1, "\u0644")
            continue
        last_x0 = x0
        if code in _PROBES and size > 0:
            widths = glyph_widths.setdefault(font.name, [9.0, 0.0])
            if _PROBES[code]:
                widths[1] = max(widths[1], (x1 - x0) / size)
            else:
                widths[0] = min(widths[0], (x1 - x0) / size)
        if not chars:
            wx0, wy0, wx1, wy1 = x0, y0, x1, y1
            cur_font, cur_size, cur_bold = font, size, bold
            wsum, em8, low, high = _band(wy0, wy1)
        else:
            if x0 < wx0:
                wx0 = x0
            if x1 > wx1:
                wx1 = x1
            if y0 < wy0 or y1 > wy1:
                if y0 < wy0:
                    wy0 = y0
                if y1 > wy1:
                    wy1 = y1
                wsum, em8, low, high = _band(wy0, wy1)
        if 0x20 < code < 0x7F:
            append(chr(code))
            continue
        ch = _LIGATURES.get(code)
        if code == 2 and raw.FPDFText_IsHyphen(textpage, i):
            ch = "-"  # PDFium reports a hyphen ending a line as 0x02
        elif ch is None:
            if code < 0x20 or 0x7F <= code <= 0x9F:
                ch = _UNMAPPED  # a control code: a glyph the font maps to no character
            else:
                ch = chr(code) if code < 0xD800 or code > 0xDFFF else ""
        append(ch)
    emit(words, chars, wx0, wy0, wx1, wy1, cur_font, cur_size, cur_bold)
    # A font whose narrowest letters are as wide as its widest is monospaced, whatever its name says.
    mono = {name for name, (narrow, wide) in glyph_widths.items() if wide > 0 and narrow < 9 and narrow >= 0.85 * wide}
    if mono:
        for w in words:
            if w.font in mono:
                w.mono = True
    return words


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    """m then n (row-vector convention, as in PDF)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + b * c2, a * b2 + b * d2,
        c * a2 + d * c2, c * b2 + d * d2,
        e * a2 + f * c2 + e2, e * b2 + f * d2 + f2,
    )


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


def _bounds(raw: Any, obj: Any, ctm: Matrix, frame: _Frame) -> Box | None:
    l, b, r, t = (ctypes.c_float() for _ in range(4))
    if not raw.FPDFPageObj_GetBounds(obj, l, b, r, t):
        return None
    if ctm is _IDENTITY:
        return frame.box(l.value, b.value, r.value, t.value)
    pts = [_apply(ctm, x, y) for x in (l.value, r.value) for y in (b.value, t.value)]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return frame.box(min(xs), min(ys), max(xs), max(ys))


def _visit(raw: Any, obj: Any, ctm: Matrix, frame: _Frame, geo: PageGeometry, budget: list[int], depth: int) -> None:
    kind = raw.FPDFPageObj_GetType(obj)
    if kind == raw.FPDF_PAGEOBJ_PATH:
        _path(raw, obj, ctm, frame, geo, budget)
    elif kind == raw.FPDF_PAGEOBJ_IMAGE:
        box = _bounds(raw, obj, ctm, frame)
        if box and box.width >= MIN_IMAGE_SIDE and box.height >= MIN_IMAGE_SIDE:
            geo.images.append(_clip(box, geo))
    elif kind == raw.FPDF_PAGEOBJ_FORM and depth < 8:
        m = raw.FS_MATRIX()
        inner = ctm
        if raw.FPDFPageObj_GetMatrix(obj, ctypes.byref(m)):
            inner = _multiply((m.a, m.b, m.c, m.d, m.e, m.f), ctm)
        for i in range(raw.FPDFFormObj_CountObjects(obj)):
            _visit(raw, raw.FPDFFormObj_GetObject(obj, i), inner, frame, geo, budget, depth + 1)


def _clip(box: Box, geo: PageGeometry) -> Box:
    return Box(max(box.x0, 0.0), max(box.y0, 0.0), min(box.x1, geo.width), min(box.y1, geo.height))


def _is_white(raw: Any, obj: Any) -> bool:
    r, g, b, a = (ctypes.c_uint() for _ in range(4))
    if not raw.FPDFPageObj_GetFillColor(obj, r, g, b, a):
        return False
    return a.value == 0 or min(r.value, g.value, b.value) >= 245


def _path(raw: Any, obj: Any, ctm: Matrix, frame: _Frame, geo: PageGeometry, budget: list[int]) -> None:
    fill = ctypes.c_int()
    stroke = ctypes.c_int()
    if not raw.FPDFPath_GetDrawMode(obj, ctypes.byref(fill), ctypes.byref(stroke)):
        return
    filled = fill.value != raw.FPDF_FILLMODE_NONE and not _is_white(raw, obj)
    stroked = bool(stroke.value)
    if not filled and not stroked:
        return
    box = _bounds(raw, obj, ctm, frame)
    if box is None:
        return
    if box.width < RULE_MAX_THICKNESS or box.height < RULE_MAX_THICKNESS:
        # A line or a thin bar, whatever its segments.
        _thin_rule(box, geo)
        return
    nseg = raw.FPDFPath_CountSegments(obj)
    if nseg <= 0 or nseg > budget[0]:
        return
    budget[0] -= nseg
    points, curved = _segments(raw, obj, nseg)
    if curved:
        return
    m = raw.FS_MATRIX()
    local = _multiply((m.a, m.b, m.c, m.d, m.e, m.f), ctm) if raw.FPDFPageObj_GetMatrix(obj, ctypes.byref(m)) else ctm
    page_pts = [[frame.point(*_apply(local, x, y)) for x, y in sub] for sub in points]
    if _is_rect(page_pts):
        xs = [p[0] for p in page_pts[0]]
        ys = [p[1] for p in page_pts[0]]
        rect = Box(min(xs), min(ys), max(xs), max(ys))
        geo.rects.append(rect)
        if stroked:
            geo.rules.extend(
                [
                    Rule(rect.x0, rect.y0, rect.x1, rect.y0), Rule(rect.x0, rect.y1, rect.x1, rect.y1),
                    Rule(rect.x0, rect.y0, rect.x0, rect.y1), Rule(rect.x1, rect.y0, rect.x1, rect.y1),
                ]
            )
        return
    if not stroked:
        # Several filled rectangles in one path (cell shading or bars).
        for sub in page_pts:
            if _is_rect([sub]):
                xs, ys = [p[0] for p in sub], [p[1] for p in sub]
                r = Box(min(xs), min(ys), max(xs), max(ys))
                if r.width < RULE_MAX_THICKNESS or r.height < RULE_MAX_THICKNESS:
                    _thin_rule(r, geo)
                else:
                    geo.rects.append(r)
        return
    for sub in page_pts:
        for (xa, ya), (xb, yb) in zip(sub, sub[1:]):
            if abs(ya - yb) < 0.5 and abs(xb - xa) >= RULE_MIN_LENGTH:
                geo.rules.append(Rule(min(xa, xb), ya, max(xa, xb), ya))
            elif abs(xa - xb) < 0.5 and abs(yb - ya) >= RULE_MIN_LENGTH:
                geo.rules.append(Rule(xa, min(ya, yb), xa, max(ya, yb)))


def _thin_rule(r: Box, geo: PageGeometry) -> None:
    if max(r.width, r.height) < RULE_MIN_LENGTH:
        return
    if r.width < r.height:
        xm = (r.x0 + r.x1) / 2
        geo.rules.append(Rule(xm, r.y0, xm, r.y1))
    else:
        ym = (r.y0 + r.y1) / 2
        geo.rules.append(Rule(r.x0, ym, r.x1, ym))


def _segments(raw: Any, obj: Any, nseg: int) -> tuple[list[list[tuple[float, float]]], bool]:
    """Sub-paths as point lists (closing point added), and whether any segment is a curve."""
    subs: list[list[tuple[float, float]]] = []
    x, y = ctypes.c_float(), ctypes.c_float()
    xr, yr = ctypes.byref(x), ctypes.byref(y)
    moveto, lineto = raw.FPDF_SEGMENT_MOVETO, raw.FPDF_SEGMENT_LINETO
    for i in range(nseg):
        seg = raw.FPDFPath_GetPathSegment(obj, i)
        kind = raw.FPDFPathSegment_GetType(seg)
        if kind != moveto and kind != lineto:
            return subs, True
        raw.FPDFPathSegment_GetPoint(seg, xr, yr)
        if kind == moveto or not subs:
            subs.append([(x.value, y.value)])
        else:
            subs[-1].append((x.value, y.value))
        if raw.FPDFPathSegment_GetClose(seg) and subs[-1]:
            subs[-1].append(subs[-1][0])
    return subs, False


def _is_rect(subs: list[list[tuple[float, float]]]) -> bool:
    """One closed axis-aligned quadrilateral."""
    if len(subs) != 1:
        return False
    pts = [p for i, p in enumerate(subs[0]) if i == 0 or p != subs[0][i - 1]]  # an explicit close + close flag repeat a point
    if len(pts) > 1 and pts[-1] == pts[0]:
        pts = pts[:-1]
    if len(pts) != 4:
        return False
    for (xa, ya), (xb, yb) in zip(pts, pts[1:] + pts[:1]):
        if abs(xa - xb) > 0.5 and abs(ya - yb) > 0.5:
            return False
    return True
