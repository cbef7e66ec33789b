"""Extraction providers: local engines (pypdfium2, markitdown, rapidocr, faster-whisper) and hosted adapters."""

from .base import REASONS, Extraction, ExtractionError, ExtractRequest, Page, Provider, Segment
from .isolation import ExtractionPool
from .models import list_models
from .registry import PROVIDER_NAMES, build_registry, default_routing_rules, detect_content_type, route

__all__ = [
    "REASONS",
    "Extraction",
    "ExtractionError",
    "ExtractRequest",
    "ExtractionPool",
    "Page",
    "Provider",
    "Segment",
    "PROVIDER_NAMES",
    "build_registry",
    "default_routing_rules",
    "detect_content_type",
    "list_models",
    "route",
]
