"""Where a ``local`` connection may point: its directory resolved with symlinks followed, inside a root.

Kept apart from the provider so the spec can check a local connection without importing the provider.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from roset_local.storage.backends.errors import ConnectionConfigError

if TYPE_CHECKING:
    from roset_local.storage.backends.spec import ConnectionSpec


def inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def resolve_base(spec: ConnectionSpec) -> str:
    """The connection directory's real absolute path; refuses anything outside ``local_roots``."""
    if not spec.local_roots:
        raise ConnectionConfigError("local connections are disabled: no local roots are configured (ROSET_LOCAL_ROOTS)")
    if not spec.bucket or "\x00" in spec.bucket:
        raise ConnectionConfigError("bucket must be a directory path for a local connection")
    roots = [os.path.realpath(os.path.abspath(os.path.expanduser(r))) for r in spec.local_roots]
    candidates = [spec.bucket] if os.path.isabs(spec.bucket) else [os.path.join(r, spec.bucket) for r in roots]
    allowed = [real for real in map(os.path.realpath, candidates) if any(inside(real, r) for r in roots)]
    if allowed:  # a relative name prefers the root where that directory exists
        return next((real for real in allowed if os.path.isdir(real)), allowed[0])
    raise ConnectionConfigError(f"{spec.bucket!r} is not inside an allowed local root")
