"""Small text helpers shared by the engines: word counts, a stopword language guess, tidy markdown."""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"\w+", re.UNICODE)

# The most frequent function words per language: enough to tell the common European languages apart.
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and of to in is that for it with as was on are be this by not or from at".split()),
    "de": frozenset("der die und den das ist nicht mit sich des auf für ein eine dem zu von im auch".split()),
    "fr": frozenset("le la les et des est une que dans pour qui pas sur au du avec il elle ce".split()),
    "es": frozenset("el la los las y de que en un una es por con para no se del al lo".split()),
    "it": frozenset("il di che la è e per un una non sono con del della le gli lo nel".split()),
    "nl": frozenset("de het een en van is dat niet op te zijn met voor aan er die".split()),
    "pt": frozenset("o a os as e de que em um uma não para com do da no na por".split()),
}


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def guess_language(text: str, sample_chars: int = 20000) -> str | None:
    """ISO 639-1 code of the likeliest language, or None when the text is too short to tell."""
    words = [w.lower() for w in _WORD.findall(text[:sample_chars])]
    if len(words) < 5:
        return None
    counts = Counter(words)
    scores = {lang: sum(counts[w] for w in stop) for lang, stop in _STOPWORDS.items()}
    best = max(scores, key=lambda k: scores[k])
    if scores[best] == 0 or scores[best] < 0.05 * len(words):
        return None
    return best


def tidy(text: str) -> str:
    """Normalises newlines, strips trailing spaces and collapses runs of blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines = [line.rstrip() for line in text.split("\n")]
    out = "\n".join(lines)
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip()


def fmt_timestamp(seconds: float) -> str:
    """`mm:ss`, or `h:mm:ss` past an hour."""
    total = int(seconds)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
