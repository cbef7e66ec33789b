"""Organisation: settings, routing rules, provider keys (redacted) and the monthly usage meter."""

from __future__ import annotations

from typing import Annotated

from msgspec import UNSET, Meta, Struct, UnsetType

from roset_local.api.schemas.common import Shape


class Chunking(Shape):
    strategy: Annotated[str, Meta(description="recursive, fixed or markdown")]
    chunk_size: Annotated[int, Meta(description="Characters, 100-8000")]
    chunk_overlap: Annotated[int, Meta(description="Characters, 0 to chunk_size/2")]


class OrgSettings(Shape):
    default_embedding_model: Annotated[str, Meta(examples=["all-minilm-l6-v2"])]
    default_chunking: Chunking
    default_variants: Annotated[list[str], Meta(examples=[["markdown", "embeddings", "metadata"]])]
    chat_model: str | None
    pages_limit: Annotated[int | None, Meta(description="Pages per UTC month; null: unlimited")]
    default_extraction: Annotated[str, Meta(description="structured, or fast (text only), when an upload does not say")]


class ChunkingPatch(Struct):
    strategy: str | UnsetType = UNSET
    chunk_size: int | UnsetType = UNSET
    chunk_overlap: int | UnsetType = UNSET


class OrgSettingsPatch(Struct):
    """A partial update: only the settings named change (validated as a whole before anything is saved)."""

    default_embedding_model: str | UnsetType = UNSET
    default_chunking: ChunkingPatch | UnsetType = UNSET
    default_variants: list[str] | UnsetType = UNSET
    chat_model: str | None | UnsetType = UNSET
    pages_limit: int | None | UnsetType = UNSET
    default_extraction: str | UnsetType = UNSET


class RoutingRule(Shape):
    content_type: Annotated[str, Meta(description="A MIME type or pattern", examples=["application/pdf", "image/*"])]
    provider: Annotated[str, Meta(examples=["reducto"])]


class RoutingRules(Shape):
    """Rules in match order, first match wins; the effective list always ends with a ``*/*`` rule.
    PUT ``{"rules": []}`` restores the defaults."""

    rules: list[RoutingRule]


class ProviderKeyIn(Struct, forbid_unknown_fields=True):
    provider: Annotated[str, Meta(examples=["openai"])]
    key: Annotated[str, Meta(description="1-4096 printable characters without spaces; never shown again")]
    base_url: str | None = None


class ProviderKeyOut(Shape):
    provider: str
    configured: bool
    key_preview: Annotated[str | None, Meta(description="A redacted preview, never the key")]
    base_url: str | None
    updated_at: str | None


class ProviderKeyList(Shape):
    provider_keys: list[ProviderKeyOut]


class ProviderKeyDeleted(Struct):
    deleted: bool
    provider: str


class UsageOut(Shape):
    period: Annotated[str, Meta(examples=["2026-11"])]
    pages_used: int
    pages_limit: int | None
    plan: str
    overage_pages: int
