"""The explicit provider registry, default routing rules and routing (no plugin discovery)."""

from __future__ import annotations

import fnmatch
import os
from typing import Any, Iterable, Mapping

from .base import ExtractionError, Provider
from .detect import detect_content_type
from .engines import LocalEngines
from .hosted import hosted_provider
from .local import local_providers
from .names import FALLBACK_PROVIDER, PROVIDER_NAMES, default_rules


def build_registry(
    hosted_keys: Mapping[str, Mapping[str, Any]] | None,
    *,
    models_dir: str | os.PathLike[str] | None = None,
    engines: LocalEngines | None = None,
) -> dict[str, Provider]:
    """One provider per contract name: the local engine, or the hosted adapter when a key is saved.

    `hosted_keys` maps a provider name to `{"key": ..., "base_url": ...}` (optionally `model`,
    `timeout`). Local engines share `engines` (one per process: models load once), made from
    `models_dir` when not given. Building is cheap: nothing is loaded before the first extraction.
    """
    keys = dict(hosted_keys or {})
    local = local_providers(engines or LocalEngines(models_dir))
    registry: dict[str, Provider] = {}
    for name in PROVIDER_NAMES:
        entry = keys.get(name)
        registry[name] = hosted_provider(name, dict(entry)) if entry else local[name]
    return registry


def default_routing_rules() -> list[dict[str, str]]:
    """The contract's defaults, plus video to whisper and every other type to reducto (see names.py)."""
    return default_rules()


def route(content_type: str, rules: Iterable[Mapping[str, str]] | None, forced_provider: str | None = None) -> str:
    """Provider name for a content type: the forced one, else the first matching rule, else the defaults.

    Patterns are globs (`image/*`, `application/vnd.*`, `*/*`), matched case-insensitively; custom
    rules are tried before the defaults so a partial rule set still routes everything.
    """
    if forced_provider:
        if forced_provider not in PROVIDER_NAMES:
            raise ExtractionError("provider_not_configured", f"unknown provider {forced_provider!r}")
        return forced_provider
    ctype = (content_type or "application/octet-stream").split(";")[0].strip().lower()
    for rule in [*(rules or []), *default_routing_rules()]:
        pattern = str(rule.get("content_type", "")).strip().lower()
        if pattern and fnmatch.fnmatchcase(ctype, pattern):
            return str(rule["provider"])
    return FALLBACK_PROVIDER


__all__ = ["PROVIDER_NAMES", "build_registry", "default_routing_rules", "detect_content_type", "route"]
