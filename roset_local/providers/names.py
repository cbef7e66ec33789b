"""The one table of extraction provider names and the default routing rules (everything imports these)."""

from __future__ import annotations

from typing import Final, Literal, get_args

ProviderName = Literal["reducto", "gemini", "whisper", "openai"]
PROVIDER_NAMES: Final[tuple[ProviderName, ...]] = get_args(ProviderName)

# The contract's defaults (pdf → reducto, images → gemini, audio → whisper), plus video to whisper and
# every other type to reducto. Patterns are MIME globs; the first match wins, so "*/*" comes last.
DEFAULT_ROUTES: Final[tuple[tuple[str, ProviderName], ...]] = (
    ("application/pdf", "reducto"),
    ("image/*", "gemini"),
    ("audio/*", "whisper"),
    ("video/*", "whisper"),
    ("*/*", "reducto"),
)
# What a type that matches no pattern at all (no "/" in it) goes to.
FALLBACK_PROVIDER: Final[ProviderName] = DEFAULT_ROUTES[-1][1]


def default_rules() -> list[dict[str, str]]:
    """The defaults in the API's rule shape ``{content_type, provider}`` (a fresh list)."""
    return [{"content_type": pattern, "provider": provider} for pattern, provider in DEFAULT_ROUTES]


def is_provider_name(value: object) -> bool:
    return value in PROVIDER_NAMES
