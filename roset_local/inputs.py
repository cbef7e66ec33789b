"""Checks of user input shared by the JSON API, the console, the share portal, the pipeline and MCP."""

from __future__ import annotations

import re

from roset_local.errors import BadRequest

SPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
MAX_QUERY_CHARS = 4096  # search queries, questions, file-name searches


def check_query(value: str | None, field: str) -> str | None:
    """A search text within :data:`MAX_QUERY_CHARS`; a longer one is a 400 that never echoes it."""
    if value is not None and len(value) > MAX_QUERY_CHARS:
        raise BadRequest(f"{field}: must be at most {MAX_QUERY_CHARS} characters (got {len(value)})")
    return value


def check_space_name(space: str) -> str:
    if not isinstance(space, str) or not SPACE_RE.match(space):
        raise BadRequest(
            "Invalid space name: use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return space
