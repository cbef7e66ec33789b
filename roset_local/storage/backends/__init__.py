"""Storage backends: the providers a connection can point at (one module each), and the operations on them.

Usage: ``spec = ConnectionSpec.from_dict(payload, local_roots=settings.local_roots)`` then
``verify(spec)``, ``browse(spec, ...)``, ``walk(spec)`` + ``diff_listing(...)``, ``presign_*``.
Import the module (``from roset_local.storage import backends``) rather than ``test``
itself, so pytest never mistakes it for a test.
"""

from roset_local.storage.backends.base import Backend
from roset_local.storage.backends.errors import (
    ConnectionAccessError,
    ConnectionConfigError,
    ObjectNotFoundError,
)
from roset_local.storage.backends.instructions import setup_instructions
from roset_local.storage.backends.model import ObjectInfo, PresignedUpload
from roset_local.storage.backends.ops import (
    BACKENDS,
    browse,
    list_buckets,
    local_directory,
    local_path,
    open_fs,
    open_read,
    presign_download,
    presign_upload,
    probe,
    stat,
    test,
    verify,
    walk,
    walk_scope,
)
from roset_local.storage.backends.spec import FAMILIES, PROVIDER_IDS, PROVIDERS, S3_FAMILY, ConnectionSpec, Family
from roset_local.storage.backends.sync import ListingDiff, diff_listing, folders_for

__all__ = [
    "BACKENDS", "FAMILIES", "PROVIDERS", "PROVIDER_IDS", "S3_FAMILY", "Backend", "ConnectionAccessError",
    "ConnectionConfigError", "ConnectionSpec", "Family", "ListingDiff", "ObjectInfo", "ObjectNotFoundError", "PresignedUpload", "browse",
    "diff_listing", "folders_for", "list_buckets", "local_directory", "local_path", "open_fs", "open_read",
    "presign_download", "presign_upload", "probe", "setup_instructions", "stat", "test", "verify", "walk", "walk_scope",
]
