"""Organisation settings, routing rules, provider keys (encrypted) and the monthly page meter.

Python entry points for the pipeline, search and upload code:
``get_org_settings(db)``, ``get_routing_rules(db)`` (routing itself is
:func:`roset_local.providers.registry.route`), ``usage(services)`` and ``check_quota(services)``;
``get_hosted_keys(services)`` is in :mod:`roset_local.secrets`.
"""

from __future__ import annotations

import copy
import re
from datetime import date
from typing import Any

from roset_local.errors import QuotaExceeded
from roset_local.index.chunking import STRATEGIES
from roset_local.providers.base import DEFAULT_EXTRACTION, EXTRACTION_MODES
from roset_local.providers.names import PROVIDER_NAMES, default_rules
from roset_local.store.analytics import pages_completed
from roset_local.store.db import Database, Row
from roset_local.store.migrations import Migrations
from roset_local.store.settings import all_settings, get_setting, set_setting
from roset_local.store.variants import VARIANT_TYPES
from roset_local.timeutil import now_str, utcnow

org = Migrations("org")
org.add(
    "0001_provider_keys",
    """
    CREATE TABLE provider_keys (
        provider TEXT PRIMARY KEY,
        ciphertext TEXT NOT NULL,        -- AES-GCM, see roset_local/secrets.py
        key_preview TEXT NOT NULL,
        base_url TEXT,
        updated_at TEXT NOT NULL
    );
    """,
)

CHUNK_STRATEGIES = STRATEGIES
LOCAL_EMBEDDING_MODEL = "all-minilm-l6-v2"

DEFAULT_SETTINGS: dict[str, Any] = {
    "default_embedding_model": LOCAL_EMBEDDING_MODEL,
    "default_chunking": {"strategy": "recursive", "chunk_size": 1000, "chunk_overlap": 200},
    "default_variants": list(VARIANT_TYPES),
    "chat_model": None,
    "pages_limit": None,
    "default_extraction": DEFAULT_EXTRACTION,  # "structured" or "fast" (text only) when an upload does not say
}

DEFAULT_RULES: list[dict[str, str]] = default_rules()

_MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")
_TOKEN = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
# "*/*", "type/subtype" or a glob on the subtype ("image/*", "application/vnd.*").
_PATTERN_RE = re.compile(rf"^(?:\*/\*|{_TOKEN}/[a-z0-9!#$&^_.+*-]{{1,127}})$")
MAX_RULES = 100


class InvalidSetting(ValueError):
    """A value that cannot be saved; the message starts with the field's name."""


# -- settings -----------------------------------------------------------------------------------


def get_org_settings(db: Database) -> dict[str, Any]:
    """The organisation's settings, defaults filled in (a fresh dict the caller may change)."""
    stored = all_settings(db)
    return {name: copy.deepcopy(stored.get(name, default)) for name, default in DEFAULT_SETTINGS.items()}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_chunking(value: Any, current: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidSetting("default_chunking: must be an object {strategy, chunk_size, chunk_overlap}")
    unknown = sorted(set(value) - {"strategy", "chunk_size", "chunk_overlap"})
    if unknown:
        raise InvalidSetting(f"default_chunking.{unknown[0]}: unknown field")
    merged = {**current, **value}
    if merged["strategy"] not in CHUNK_STRATEGIES:
        raise InvalidSetting(f"default_chunking.strategy: must be one of {', '.join(CHUNK_STRATEGIES)}")
    size = merged["chunk_size"]
    if not _is_int(size) or not 100 <= size <= 8000:
        raise InvalidSetting("default_chunking.chunk_size: must be an integer from 100 to 8000 (characters)")
    overlap = merged["chunk_overlap"]
    if not _is_int(overlap) or not 0 <= overlap <= size // 2:
        raise InvalidSetting(f"default_chunking.chunk_overlap: must be an integer from 0 to chunk_size/2 ({size // 2})")
    return merged


def _check_variants(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidSetting("default_variants: must be an array of variant types")
    unknown = [v for v in value if v not in VARIANT_TYPES]
    if unknown:
        raise InvalidSetting(f"default_variants: unknown type '{unknown[0]}' (allowed: {', '.join(VARIANT_TYPES)})")
    if not value:
        raise InvalidSetting("default_variants: must name at least one variant type")
    return list(dict.fromkeys(value))


def validate_settings_patch(current: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Check a PUT body against the current settings; returns only the values to store."""
    if not isinstance(patch, dict):
        raise InvalidSetting("body: must be a JSON object")
    out: dict[str, Any] = {}
    for name, value in patch.items():
        if name not in DEFAULT_SETTINGS:
            raise InvalidSetting(f"{name}: unknown setting (allowed: {', '.join(DEFAULT_SETTINGS)})")
        if name == "default_embedding_model":
            if not isinstance(value, str) or not _MODEL_RE.match(value):
                raise InvalidSetting(f"default_embedding_model: must be a model name such as '{LOCAL_EMBEDDING_MODEL}' or 'text-embedding-3-small'")
        elif name == "default_chunking":
            value = _check_chunking(value, current["default_chunking"])
        elif name == "default_variants":
            value = _check_variants(value)
        elif name == "chat_model":
            if value is not None and (not isinstance(value, str) or not _MODEL_RE.match(value)):
                raise InvalidSetting("chat_model: must be null or a model name")
        elif name == "default_extraction":
            if value not in EXTRACTION_MODES:
                raise InvalidSetting(f"default_extraction: must be one of {', '.join(EXTRACTION_MODES)}")
        elif name == "pages_limit":
            if value is not None and (not _is_int(value) or value < 1):
                raise InvalidSetting("pages_limit: must be null (unlimited) or a positive integer")
        out[name] = value
    return out


def update_org_settings(db: Database, patch: Any) -> dict[str, Any]:
    """Merge a partial update (validated as a whole before anything is written)."""
    with db.write():
        values = validate_settings_patch(get_org_settings(db), patch)
        for name, value in values.items():
            set_setting(db, name, value)
        return get_org_settings(db)


# -- routing rules -------------------------------------------------------------------------------


def _specificity(pattern: str) -> int:
    return 0 if pattern == "*/*" else 1 if "*" in pattern else 2


def effective_rules(custom: list[dict[str, str]]) -> list[dict[str, str]]:
    """Saved rules override the defaults for the same pattern; most specific pattern first."""
    seen = {r["content_type"] for r in custom}
    merged = list(custom) + [dict(r) for r in DEFAULT_RULES if r["content_type"] not in seen]
    return sorted(merged, key=lambda r: -_specificity(r["content_type"]))  # stable: saved order kept


def get_routing_rules(db: Database) -> list[dict[str, str]]:
    """Rules in match order (first match wins); there is always a final ``*/*`` rule."""
    return effective_rules(get_setting(db, "routing_rules", []) or [])


def validate_rules(body: Any) -> list[dict[str, str]]:
    if not isinstance(body, dict) or set(body) != {"rules"}:
        raise InvalidSetting("rules: body must be {\"rules\": [{content_type, provider}, ...]}")
    rules = body["rules"]
    if not isinstance(rules, list) or len(rules) > MAX_RULES:
        raise InvalidSetting(f"rules: must be an array of at most {MAX_RULES} rules")
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or set(rule) != {"content_type", "provider"}:
            raise InvalidSetting(f"rules[{i}]: must be an object with exactly content_type and provider")
        pattern, provider = rule["content_type"], rule["provider"]
        if pattern == "*":
            pattern = "*/*"
        if not isinstance(pattern, str) or not _PATTERN_RE.match(pattern.strip().lower()):
            raise InvalidSetting(f"rules[{i}].content_type: must be a MIME type or pattern such as 'application/pdf', 'image/*' or '*/*'")
        if provider not in PROVIDER_NAMES:
            raise InvalidSetting(f"rules[{i}].provider: must be one of {', '.join(PROVIDER_NAMES)}")
        pattern = pattern.strip().lower()
        if pattern in seen:
            raise InvalidSetting(f"rules[{i}].content_type: '{pattern}' appears twice")
        seen.add(pattern)
        out.append({"content_type": pattern, "provider": provider})
    return out


def set_routing_rules(db: Database, body: Any) -> list[dict[str, str]]:
    """Replace the saved rules (``[]`` restores the defaults); returns the effective rules."""
    rules = validate_rules(body)
    set_setting(db, "routing_rules", rules)
    return effective_rules(rules)


# -- provider keys (ciphertext only; encryption lives in roset_local.secrets) ---------------------


def list_provider_keys(db: Database) -> list[Row]:
    return db.all("SELECT provider, ciphertext, key_preview, base_url, updated_at FROM provider_keys")


def save_provider_key(db: Database, provider: str, ciphertext: str, preview: str, base_url: str | None) -> Row:
    with db.write():
        db.execute(
            """INSERT INTO provider_keys (provider, ciphertext, key_preview, base_url, updated_at)
               VALUES (:p, :c, :k, :b, :t)
               ON CONFLICT (provider) DO UPDATE SET ciphertext = excluded.ciphertext,
                   key_preview = excluded.key_preview, base_url = excluded.base_url, updated_at = excluded.updated_at""",
            {"p": provider, "c": ciphertext, "k": preview, "b": base_url, "t": now_str()},
        )
        row = db.one("SELECT * FROM provider_keys WHERE provider = :p", {"p": provider})
    assert row is not None
    return row


def delete_provider_key(db: Database, provider: str) -> bool:
    with db.write():
        return db.execute("DELETE FROM provider_keys WHERE provider = :p", {"p": provider}).rowcount > 0


# -- usage and quota ----------------------------------------------------------------------------


def _month_bounds(today: date) -> tuple[str, str, str]:
    first = today.replace(day=1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    last = date.fromordinal(following.toordinal() - 1)
    return first.strftime("%Y-%m"), first.isoformat(), last.isoformat()


def pages_limit_of(db: Database, env_limit: int | None) -> int | None:
    """The org setting when set, else ROSET_PAGES_LIMIT; None means unlimited."""
    limit = get_setting(db, "pages_limit")
    return limit if limit is not None else env_limit


def usage(services: Any, today: date | None = None) -> dict[str, Any]:
    """This UTC month's pages: the sum of ``jobs.pages`` over jobs completed this month."""
    period, first, last = _month_bounds(today or utcnow().date())
    used = pages_completed(services.db, first, last)
    limit = pages_limit_of(services.db, services.settings.pages_limit)
    return {
        "period": period,
        "pages_used": used,
        "pages_limit": limit,
        "plan": "self-hosted",
        "overage_pages": max(0, used - limit) if limit is not None else 0,
    }


def check_quota(services: Any) -> None:
    """Raise QuotaExceeded (402) when a page limit is configured and this month's usage reached it."""
    meter = usage(services)
    limit = meter["pages_limit"]
    if limit is not None and meter["pages_used"] >= limit:
        raise QuotaExceeded(
            f"Monthly page quota reached: {meter['pages_used']} of {limit} pages used in {meter['period']}",
            pages_used=meter["pages_used"],
            pages_limit=limit,
        )
