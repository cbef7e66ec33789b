"""Query terms, FTS5 query building, sentence splitting and highlighted snippets."""

from __future__ import annotations

import re

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    tell please say said says find give get also any many much may might must shall us use used using via per
    whats what's does doesn't isn't aren't""".split()
)
_WORD_RE = re.compile(r"\w+", re.U)
_SENTENCE_RE = re.compile(r"[^.!?\n]+(?:[.!?]+[\"')\]]*|\n|$)")
MARK_OPEN, MARK_CLOSE = "«", "»"


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD_RE.findall(text)]


def query_terms(query: str, limit: int = 32) -> list[str]:
    """Content words of a query (stopwords dropped unless nothing else is left), first occurrence order."""
    all_words = list(dict.fromkeys(words(query)))
    content = [w for w in all_words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return (content or all_words)[:limit]


def fts_query(terms: list[str]) -> str:
    """An FTS5 query matching any of the terms (each quoted, so no FTS5 syntax gets through)."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def stem(word: str) -> str:
    """A crude stem for highlighting and overlap scoring (FTS5's porter stemmer does the real matching)."""
    w = word.lower()
    for suffix in ("ational", "ations", "ation", "ings", "ing", "ies", "ied", "ness", "ment", "edly", "ed", "es", "ly", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[: -len(suffix)]
    return w


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences (or lines) of a text, stripped, skipping empty ones."""
    out = []
    for m in _SENTENCE_RE.finditer(text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e - s >= 2:
            out.append((s, e))
    return out


def _mark(text: str, stems: set[str]) -> str:
    """Wrap each run of matching words in «…» (adjacent matches share one mark)."""
    out: list[str] = []
    pos = 0
    run_start = run_end = -1
    for m in _WORD_RE.finditer(text):
        if stem(m.group()) in stems:
            if run_start >= 0 and text[run_end : m.start()].strip() == "":
                run_end = m.end()
                continue
            if run_start >= 0:
                out.append(text[pos:run_start] + MARK_OPEN + text[run_start:run_end] + MARK_CLOSE)
                pos = run_end
            run_start, run_end = m.start(), m.end()
    if run_start >= 0:
        out.append(text[pos:run_start] + MARK_OPEN + text[run_start:run_end] + MARK_CLOSE)
        pos = run_end
    out.append(text[pos:])
    return "".join(out)


def snippet(text: str, query: str, width: int = 240, mark: bool = True) -> str:
    """The passage of ``text`` that best matches the query, about ``width`` characters, matches marked."""
    stems = {stem(t) for t in query_terms(query)}
    spans = sentences(text) or [(0, len(text))]
    best, best_score = 0, -1.0
    for i, (s, e) in enumerate(spans):
        toks = [stem(w) for w in words(text[s:e])]
        hits = len({t for t in toks if t in stems})
        score = hits + 0.1 * sum(1 for t in toks if t in stems) / max(1, len(toks))
        if score > best_score:
            best, best_score = i, score
    start, end = spans[best]
    j = best + 1
    while j < len(spans) and spans[j][1] - start <= width:  # extend with the following sentences
        end = spans[j][1]
        j += 1
    prefix = suffix = ""
    if end - start > width:  # one long sentence: centre the window on the first match
        first = next((m.start() for m in _WORD_RE.finditer(text, start, end) if stem(m.group()) in stems), start)
        lo = max(start, first - width // 3)
        hi = min(end, lo + width)
        while lo > start and not text[lo - 1].isspace():
            lo -= 1
        while hi < end and not text[hi - 1].isspace():
            hi += 1
        prefix, suffix = ("…" if lo > start else ""), "…"
        start, end = lo, hi
    else:
        prefix = "…" if start > 0 else ""
        suffix = "…" if end < len(text.rstrip()) else ""
    passage = " ".join(text[start:end].split())
    return prefix + (_mark(passage, stems) if mark else passage) + suffix
