"""Deleting a connection: its files go with it (cascade) or keep their bytes, copied into the blob store first.

A file whose bytes live only in the bucket would be unreadable once the connection is gone, so no
such file is ever left behind: each is either copied in, or deleted (``connection_deleted`` on a
cascade, ``source_deleted`` when its object is already gone from the bucket).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from roset_local import audit
from roset_local.audit import Actor
from roset_local.connections.manage import spec_of
from roset_local.errors import BadRequest, Conflict, NotFound
from roset_local.pipeline import lifecycle
from roset_local.storage import backends as conn
from roset_local.store import connections as store
from roset_local.store import files as file_store

if TYPE_CHECKING:
    from roset_local.services import Services

COPY_CHUNK = 1024 * 1024


def delete_connection(services: Services, row: Mapping[str, Any], cascade: bool,
                      actor: Actor | None = None) -> dict[str, int]:
    """Forget the connection and its nodes (the bucket is never touched); its files are deleted
    (``cascade``) or kept with their bytes copied in. Returns how many files went each way."""
    files = store.connection_files(services.db, row["id"])
    deleted = kept = 0
    if cascade:
        deleted = sum(_delete(services, f["id"], "connection_deleted") for f in files)
    elif files:
        try:
            spec = spec_of(services, row)
        except BadRequest as exc:
            raise Conflict(f"The files' bytes cannot be copied out of the bucket ({exc.message}); "
                           "delete with cascade=true to delete the files too") from None
        for file in files:
            if _copy_in(services, spec, file):
                kept += 1
            else:  # the object is gone: there are no bytes left to keep
                deleted += _delete(services, file["id"], "source_deleted")
    with services.db.write():
        store.delete_connection(services.db, row["id"])
        if actor is not None:
            audit.record(services.db, actor, "connection.deleted", target_type="connection", target_id=row["id"],
                         space=row["space"], changes={"name": row["name"], "provider": row["provider"],
                                                      "files_deleted": deleted, "files_kept": kept})
    return {"files_deleted": deleted, "files_kept": kept}


def _delete(services: Services, file_id: str, reason: str) -> int:
    try:
        lifecycle.delete_file(services, file_id, reason=reason)
    except NotFound:  # deleted through the API meanwhile
        return 0
    return 1


def _chunks(handle: IO[bytes]) -> Any:
    with handle:
        while chunk := handle.read(COPY_CHUNK):
            yield chunk


def _copy_in(services: Services, spec: conn.ConnectionSpec, file: Mapping[str, Any]) -> bool:
    """Copy the object into the blob store and detach the file from the bucket; False when the
    object no longer exists. Any other storage error stops the deletion (409), nothing lost."""
    key = f"{file['space']}/{file['id']}/{lifecycle.storage_name(file['filename'])}"
    try:
        written = services.blobs.write_stream(key, _chunks(conn.open_read(spec, file["storage_key"])))
    except (conn.ObjectNotFoundError, FileNotFoundError):
        return False
    except conn.ConnectionAccessError as exc:
        raise Conflict(f"The bytes of {file['filename']} cannot be copied out of the bucket ({exc.reason}); "
                       "fix the connection or delete with cascade=true to delete the files too") from None
    with services.db.write():
        if file_store.get_file(services.db, file["id"]) is None:  # deleted meanwhile
            services.blobs.delete(key)
            return True
        file_store.set_file_fields(services.db, file["id"], connection_id=None, node_id=None, storage_key=key,
                                   size_bytes=written.size, sha256=written.sha256)
    return True
