"""The share portal's JSON API: tokens, and read-only access to one space's files, search and answers."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import UNSET, Meta, Struct, UnsetType

from roset_local.api.schemas.common import Shape
from roset_local.api.schemas.files import FileOut, VariantOut
from roset_local.api.schemas.search import QaSource

Ttl = Annotated[int | None, Meta(description="Seconds the token stays valid (default: the server's setting)",
                                 examples=[86400])]


class PortalTokenCreate(Struct):
    space: Annotated[str, Meta(examples=["default"])]
    ttl: Ttl = None


class PortalTokenCreated(Struct):
    """The token itself is shown this once; ``url`` opens the portal with it."""

    token: str
    expires_at: str
    space: str
    url: str
    id: str


class PortalTokenOut(Shape):
    id: str
    prefix: Annotated[str, Meta(description="The first characters of the token, to recognise it")]
    space: str
    expires_at: str
    revoked_at: str | None
    created_at: str
    created_by: str | None
    status: Annotated[str, Meta(description="active, expired or revoked")]


class PortalTokenList(Shape):
    tokens: list[PortalTokenOut]


class PortalTokenRevoked(Struct):
    revoked: bool
    id: str


class PortalTokenCheck(Shape):
    """``space`` and ``expires_at`` only when the token is valid."""

    valid: bool
    space: str | UnsetType = UNSET
    expires_at: str | UnsetType = UNSET


class PortalFile(FileOut, kw_only=True):
    """A file of the portal's space with its variants (text variants with their content)."""

    variants: list[VariantOut]


class PortalSearch(Struct):
    query: Annotated[str, Meta(examples=["termination clause"])]
    mode: Annotated[str, Meta(description="text, vector or hybrid")] = "hybrid"
    limit: Annotated[int, Meta(description="1-100")] = 20


class PortalQuestion(Struct):
    """With ``stream: true`` the answer comes as Server-Sent Events (``text/event-stream``)."""

    question: Annotated[str, Meta(examples=["When does the contract end?"])]
    stream: bool = False
    limit: Annotated[int, Meta(description="Passages to read, 1-20")] = 5


class PortalAnswer(Struct):
    answer: str
    sources: list[QaSource]

    @classmethod
    def of(cls, result: dict[str, Any]) -> PortalAnswer:
        return cls(answer=result["answer"], sources=[QaSource(**source) for source in result["sources"]])
