"""Types every extraction provider shares: requests, results, errors and the Provider protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

from roset_local.structure.model import Element

REASONS = frozenset(
    {
        "unsupported_format",
        "corrupt_file",
        "encrypted",
        "too_large",
        "provider_timeout",
        "provider_crashed",
        "provider_not_configured",
        "cancelled",
    }
)

ProgressFn = Callable[[int, str], None]

# `ExtractRequest.options["extraction"]`: "structured" (the default: layout, elements, the
# `structure` variant) or "fast" (the text layer only, no elements) for users who only search.
EXTRACTION_MODES = ("structured", "fast")
DEFAULT_EXTRACTION = "structured"


class ExtractionError(Exception):
    """An extraction failed for a reason a job can report (`reason` is one of REASONS)."""

    def __init__(self, reason: str, message: str):
        if reason not in REASONS:
            raise ValueError(f"unknown extraction failure reason: {reason!r}")
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the error intact when it crosses a process boundary.
        return (type(self), (self.reason, self.message))


@dataclass
class Page:
    number: int
    markdown: str
    ocr: bool
    # Page size in PDF points (images: pixels scaled to points), when the engine knows it; element
    # boxes and chunk boxes are in this space.
    width: float | None = None
    height: float | None = None


@dataclass
class Segment:
    start: float
    end: float
    text: str


@dataclass
class Extraction:
    markdown: str
    pages: list[Page] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    thumbnail: bytes | None = None
    thumbnail_type: str | None = None
    # The document's structure (headings, lists, tables, figures with page and box), where the
    # engine finds one; empty for plain-text engines.
    elements: list[Element] = field(default_factory=list)


@dataclass
class ExtractRequest:
    path: str
    filename: str
    content_type: str
    options: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Provider(Protocol):
    name: str
    engine: str

    def supports(self, content_type: str) -> bool: ...

    def extract(self, req: ExtractRequest, progress: ProgressFn) -> Extraction: ...


def no_progress(percent: int, stage: str) -> None:
    """A progress callback that ignores every report."""
