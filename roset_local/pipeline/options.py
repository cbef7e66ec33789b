"""Validation of per-upload processing options and metadata (shared by upload, process, batch)."""

from __future__ import annotations

from typing import Any

from roset_local import jsonsafe
from roset_local.errors import BadRequest
from roset_local.index.chunking import validate_chunking as validate_chunking_config
from roset_local.providers.base import EXTRACTION_MODES
from roset_local.providers.names import PROVIDER_NAMES
from roset_local.store.variants import VARIANT_TYPES

MAX_METADATA_KEYS = 50


def is_metadata_key(key: Any) -> bool:
    """A key usable in a JSON path (``$."key"``) for filters: no quote, backslash or control character."""
    return (isinstance(key, str) and 0 < len(key) <= 100 and '"' not in key and "\\" not in key
            and key.isprintable())


def validate_metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = jsonsafe.loads(value)
        except ValueError:
            raise BadRequest("metadata: must be a JSON object") from None
    if not isinstance(value, dict):
        raise BadRequest("metadata: must be a JSON object of string values")
    if len(value) > MAX_METADATA_KEYS:
        raise BadRequest(f"metadata: at most {MAX_METADATA_KEYS} keys")
    for key, item in value.items():
        if not is_metadata_key(key):
            raise BadRequest("metadata: keys must be 1-100 characters without quotes, backslashes or control characters")
        if not isinstance(item, str) or len(item) > 2000:
            raise BadRequest(f"metadata.{key}: values must be strings of at most 2000 characters")
    return dict(value)


def _json_field(name: str, value: Any) -> Any:
    if isinstance(value, str):
        try:
            return jsonsafe.loads(value)
        except ValueError:
            raise BadRequest(f"{name}: must be valid JSON") from None
    return value


def validate_chunking(value: Any) -> dict[str, Any] | None:
    value = _json_field("chunking", value)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest("chunking: must be an object {strategy, chunk_size, chunk_overlap}")
    try:
        return validate_chunking_config(value)
    except ValueError as exc:
        raise BadRequest(f"chunking: {exc}") from None


def validate_variants(value: Any) -> list[str] | None:
    value = _json_field("variants", value)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("variants: must be an array of variant types")
    unknown = [v for v in value if v not in VARIANT_TYPES]
    if unknown:
        raise BadRequest(f"variants: unknown types {', '.join(unknown)} (allowed: {', '.join(VARIANT_TYPES)})")
    return list(dict.fromkeys(value))


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> str | None:
    if value in (None, ""):
        return None
    if value not in allowed:
        raise BadRequest(f"{name}: must be one of {', '.join(allowed)}")
    return str(value)


def validate_provider(value: Any) -> str | None:
    return _one_of("provider", value, PROVIDER_NAMES)


def validate_embedding_model(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise BadRequest("embedding_model: must be a model name")
    return value


def validate_extraction(value: Any) -> str | None:
    """``structured`` (layout, elements, the structure variant) or ``fast`` (text only)."""
    return _one_of("extraction", value, EXTRACTION_MODES)


def processing_options(raw: dict[str, Any]) -> dict[str, Any]:
    """The options a job carries: provider, embedding_model, chunking, variants, extraction (None = defaults)."""
    options = {
        "provider": validate_provider(raw.get("provider")),
        "embedding_model": validate_embedding_model(raw.get("embedding_model")),
        "chunking": validate_chunking(raw.get("chunking")),
        "variants": validate_variants(raw.get("variants")),
        "extraction": validate_extraction(raw.get("extraction")),
    }
    if options["extraction"] == "fast" and "structure" in (options["variants"] or ()):
        raise BadRequest("variants: structure needs extraction \"structured\" (fast extraction finds no elements)")
    return {k: v for k, v in options.items() if v is not None}


def parse_bool(name: str, value: Any) -> bool:
    if value in (None, ""):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "1", "yes"}:
        return True
    if isinstance(value, str) and value.lower() in {"false", "0", "no"}:
        return False
    raise BadRequest(f"{name}: must be a boolean")
