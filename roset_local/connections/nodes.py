"""Nodes: their API shape, signed downloads/uploads, and the files created from them for processing."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from roset_local.api.schemas.nodes import NodeOut
from roset_local.auth import Principal
from roset_local.connections.manage import spec_of, storage_errors, visible_connection
from roset_local.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RosetError,
)
from roset_local.ids import new_id
from roset_local.pipeline import lifecycle
from roset_local.storage import backends as conn
from roset_local.storage.backends.model import guess_type
from roset_local.store import connections as store
from roset_local.store import files as file_store
from roset_local.timeutil import now_str, to_str

if TYPE_CHECKING:
    from roset_local.services import Services

log = logging.getLogger("roset_local.connections")

URL_TTL = 3600
DOWNLOAD_PURPOSE = "node-download"
UPLOAD_PURPOSE = "node-upload"


def node_out(node: Mapping[str, Any]) -> NodeOut:
    return NodeOut(
        id=node["id"],
        connection_id=node["connection_id"],
        parent_id=node["parent_id"],
        type=node["type"],
        name=node["name"],
        path=node["path"],
        size_bytes=node["size_bytes"],
        content_type=node["content_type"],
        etag=node["etag"],
        last_modified=node["last_modified"],
        file_id=node["file_id"],
        status=node["status"],
        created_at=node["created_at"],
        updated_at=node["updated_at"],
    )


def visible_node(services: Services, principal: Principal, node_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    node = store.get_node(services.db, node_id)
    if node is None:
        raise NotFound("Node not found")
    try:
        row = visible_connection(services, principal, node["connection_id"])
    except NotFound:
        raise NotFound("Node not found") from None
    return node, row


def delete_node(services: Services, node: Mapping[str, Any]) -> None:
    """Forget the record (a folder: the records below it too); the object stays in the bucket."""
    with services.db.write():
        store.delete_node_tree(services.db, node)


# -- signed URLs ----------------------------------------------------------------------------------

def _local_url(services: Services, purpose: str, node: Mapping[str, Any]) -> str:
    expires, signature = services.signer.expiring(purpose, f"{node['id']}:{node['path']}", URL_TTL)
    return f"{services.settings.base_url}/v1/nodes/{node['id']}/content?expires={expires}&signature={signature}"


def download_url(services: Services, row: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    """The provider's own signed GET URL (local: an expiring URL served by Roset Local)."""
    if node["type"] != "file":
        raise BadRequest("Only file nodes can be downloaded")
    if node["status"] != "present":
        raise Conflict("The upload of this node has not been committed yet")
    spec = spec_of(services, row)
    if spec.family == "local":
        return {"url": _local_url(services, DOWNLOAD_PURPOSE, node), "expires_in": URL_TTL}
    with storage_errors():
        return {"url": conn.presign_download(spec, node["path"], URL_TTL), "expires_in": URL_TTL}


def check_local_url(services: Services, purpose: str, node_id: str, expires: str,
                    signature: str) -> tuple[dict[str, Any], conn.ConnectionSpec]:
    """The node and spec behind a valid local URL; 403 for a tampered or expired one."""
    node = store.get_node(services.db, node_id)
    subject = f"{node_id}:{node['path'] if node else ''}"
    problem = services.signer.check_expiring(purpose, subject, expires, signature)
    if problem == "expired":
        raise Forbidden("This URL has expired")
    if problem or node is None:
        raise Forbidden("Invalid URL signature")
    row = store.get_connection(services.db, node["connection_id"])
    if row is None:
        raise NotFound("Node not found")
    return node, spec_of(services, row)


def read_local(services: Services, node_id: str, expires: str, signature: str) -> tuple[IO[bytes], dict[str, Any]]:
    node, spec = check_local_url(services, DOWNLOAD_PURPOSE, node_id, expires, signature)
    try:
        return conn.open_read(spec, node["path"]), node
    except conn.ObjectNotFoundError:
        raise NotFound("The object no longer exists") from None
    except (conn.ConnectionAccessError, conn.ConnectionConfigError):
        raise NotFound("The object cannot be read") from None


def write_local(services: Services, node_id: str, expires: str, signature: str, chunks: Iterable[bytes]) -> int:
    """Store a PUT body at the node's path (atomically: temp file, then rename). Returns the size."""
    node, spec = check_local_url(services, UPLOAD_PURPOSE, node_id, expires, signature)
    with storage_errors():
        path = conn.local_path(spec, node["path"])
    limit = services.settings.max_upload_bytes
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".roset-upload-", dir=os.path.dirname(path))
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"The upload exceeds {limit} bytes")
                out.write(chunk)
        expected = node["size_bytes"]
        if expected is not None and node["status"] == "pending" and size != expected:
            raise BadRequest(f"The body has {size} bytes; size_bytes said {expected}")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return size


# -- uploads --------------------------------------------------------------------------------------

def object_key(spec: conn.ConnectionSpec, path: Any) -> str:
    """The full key for an upload ``path``: relative to the connection prefix unless it already starts with it."""
    if not isinstance(path, str) or not path.strip():
        raise BadRequest("path: must be a non-empty object path")
    path = path.strip()
    if path.startswith("/") or "\x00" in path or "\\" in path:
        raise BadRequest("path: must be a relative path inside the connection (no leading '/', no '\\')")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise BadRequest("path: must not contain '..', '.' or empty segments")
    key = path if path.startswith(spec.prefix) else spec.prefix + path
    if len(key.encode()) > 1024:
        raise BadRequest("path: longer than 1024 bytes")
    return key


def upload_init(services: Services, row: Mapping[str, Any], path: Any, content_type: str | None,
                size_bytes: int | None) -> dict[str, Any]:
    spec = spec_of(services, row)
    key = object_key(spec, path)
    if size_bytes is not None and (size_bytes < 0 or size_bytes > services.settings.max_upload_bytes):
        raise BadRequest(f"size_bytes: must be between 0 and {services.settings.max_upload_bytes}")
    ctype = content_type or guess_type(key)
    db = services.db
    with storage_errors():
        if spec.family == "local":
            conn.local_path(spec, key)  # refuses symlink escapes before anything is recorded
            upload = None
        else:
            upload = conn.presign_upload(spec, key, content_type, URL_TTL)
    now = now_str()
    with db.write():
        node = store.get_node_by_path(db, row["id"], key)
        if node is not None and node["type"] != "file":
            raise Conflict(f"{key} is a folder")
        if node is None:
            node = {"id": new_id("node"), "connection_id": row["id"], "parent_id": None, "type": "file",
                    "name": key.rsplit("/", 1)[-1], "path": key, "size_bytes": size_bytes, "etag": None,
                    "content_type": ctype, "last_modified": None, "file_id": None, "status": "pending",
                    "created_at": now, "updated_at": now}
            store.insert_nodes(db, [node])
        elif node["status"] == "pending":
            store.set_node_fields(db, node["id"], size_bytes=size_bytes, content_type=ctype)
    node = store.get_node(db, node["id"])
    assert node is not None
    if upload is None:
        return {"upload_url": _local_url(services, UPLOAD_PURPOSE, node), "upload_method": "PUT",
                "upload_headers": {}, "node_id": node["id"], "path": key, "expires_in": URL_TTL}
    return {"upload_url": upload.url, "upload_method": upload.method, "upload_headers": dict(upload.headers),
            "node_id": node["id"], "path": key, "expires_in": upload.expires_in}


def _folder_chain(services: Services, row: Mapping[str, Any], prefix: str, key: str) -> str | None:
    """Create the folder nodes above ``key`` that are missing (inside db.write()); the parent's id."""
    db = services.db
    parent_id: str | None = None
    now = now_str()
    for folder in sorted(conn.folders_for([key], prefix), key=len):
        existing = store.get_node_by_path(db, row["id"], folder)
        if existing is None:
            existing = {"id": new_id("node"), "connection_id": row["id"], "parent_id": parent_id, "type": "folder",
                        "name": folder.rstrip("/").rsplit("/", 1)[-1], "path": folder, "size_bytes": None,
                        "etag": None, "content_type": None, "last_modified": None, "file_id": None,
                        "status": "present", "created_at": now, "updated_at": now}
            store.insert_nodes(db, [existing])
        parent_id = existing["id"]
    return parent_id


def upload_commit(services: Services, principal: Principal, node_id: str) -> dict[str, Any]:
    """Check the object exists, record it, and create + queue its file."""
    node, row = visible_node(services, principal, node_id)
    if node["type"] != "file":
        raise BadRequest("Only file nodes can be committed")
    spec = spec_of(services, row)
    try:
        info = conn.stat(spec, node["path"])
    except conn.ObjectNotFoundError:
        raise Conflict("The object has not been uploaded yet: PUT the bytes to upload_url first") from None
    except conn.ConnectionAccessError as exc:
        raise BadRequest(exc.reason, reason=exc.code) from None
    except conn.ConnectionConfigError as exc:
        raise BadRequest(exc.message) from None
    db = services.db
    with db.write():
        parent_id = _folder_chain(services, row, spec.prefix, node["path"])
        store.set_node_fields(db, node_id, status="present", parent_id=parent_id, size_bytes=info.size,
                              etag=info.etag, content_type=_object_type(info),
                              last_modified=to_str(info.last_modified) if info.last_modified else None)
        if node["file_id"]:
            file_store.set_file_fields(db, node["file_id"], size_bytes=info.size, sha256=None)
    refreshed = store.get_node(db, node_id)
    assert refreshed is not None
    node = refreshed
    sha256 = object_sha256(spec, node["path"]) if info.size <= SHA_INLINE_LIMIT else None
    file, job = ensure_file(services, row, node, process=True, sha256=sha256)
    return {"node_id": node_id, "file_id": file["id"], "job_id": job["id"] if job else None,
            "status": job["status"] if job else file["status"]}


def _object_type(info: conn.ObjectInfo) -> str:
    """The stored type, unless the store only knows "octet-stream" (then the extension decides)."""
    if info.content_type and info.content_type != "application/octet-stream":
        return info.content_type
    return guess_type(info.key)


SHA_INLINE_LIMIT = 64 * 1024 * 1024  # larger objects get their hash when the job reads them


def object_sha256(spec: conn.ConnectionSpec, key: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with conn.open_read(spec, key) as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
    except (conn.ConnectionAccessError, OSError):
        return None
    return digest.hexdigest()


# -- files made from nodes ------------------------------------------------------------------------

def ensure_file(services: Services, row: Mapping[str, Any], node: Mapping[str, Any], *, process: bool,
                sha256: str | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The node's file record (created on first need, bytes staying in the bucket) and, if ``process``,
    a queued job (None when one is already queued or running)."""
    db = services.db
    with services.connection_files_lock:
        current = store.get_node(db, node["id"])
        file = file_store.get_file(db, current["file_id"]) if current and current["file_id"] else None
        if file is not None:
            if sha256:
                with db.write():
                    file_store.set_file_fields(db, file["id"], sha256=sha256)
            if not process:
                return file, None
            try:
                return file, lifecycle.start_processing(services, file, {})
            except Conflict:
                return file, None
        ctype = node["content_type"] or guess_type(node["path"])
        file, job = lifecycle.create_file(
            services, space=row["space"], filename=node["name"], content_type=ctype, size_bytes=node["size_bytes"],
            metadata={}, options={}, skip_processing=not process, connection_id=row["id"], node_id=node["id"],
        )
        with db.write():
            file_store.set_file_fields(db, file["id"], storage_key=node["path"])
            store.link_file(db, node["id"], file["id"])
        file = {**file, "storage_key": node["path"]}
        # sha256 None: filled in when the job first streams the bytes (see open_file_bytes).
        file = lifecycle.mark_uploaded(services, file, size=node["size_bytes"] or 0, sha256=sha256,  # type: ignore[arg-type]
                                       content_type=ctype)
    return file, job


def process_nodes(services: Services, row: Mapping[str, Any], paths: Iterable[str]) -> int:
    """Process-after-sync: a job for each new or changed object. Returns how many were queued."""
    queued = 0
    for node in store.nodes_by_paths(services.db, row["id"], paths):
        try:
            _, job = ensure_file(services, row, node, process=True)
        except RosetError as exc:  # e.g. quota reached: the rest would fail alike
            log.warning("process-after-sync of %s stopped: %s", row["id"], exc.message)
            break
        queued += job is not None
    return queued


def connection_file_ids(services: Services, connection_id: str, principal: Principal) -> list[str]:
    """Hook for process-batch: the file of every file node (created as needed, not yet processed)."""
    row = visible_connection(services, principal, connection_id)
    ids = []
    for node in store.file_nodes(services.db, connection_id):
        file, _ = ensure_file(services, row, node, process=False)
        ids.append(file["id"])
    return ids


class _HashingReader:
    """Wraps the object stream; on a full read it records the sha256 a synced file was created without."""

    def __init__(self, services: Services, file: dict[str, Any], handle: IO[bytes]) -> None:
        self._services, self._file, self._handle = services, file, handle
        self._digest = hashlib.sha256() if not file.get("sha256") else None

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        if self._digest is not None:
            if data:
                self._digest.update(data)
            elif size != 0:
                self._finish()
        return data

    def _finish(self) -> None:
        digest, self._digest = self._digest, None
        if digest is None:
            return
        value = digest.hexdigest()
        self._file["sha256"] = value  # the running job's copy, so its metadata variant has it
        try:
            with self._services.db.write():
                file_store.set_file_fields(self._services.db, self._file["id"], sha256=value)
        except Exception:
            log.exception("could not record the sha256 of %s", self._file["id"])

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> _HashingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(1024 * 1024):
            yield chunk


def open_file_bytes(services: Services, file: dict[str, Any]) -> Any:
    """Hook for the job runner: stream a node file's bytes from its bucket."""
    row = store.get_connection(services.db, file["connection_id"]) if file.get("connection_id") else None
    if row is None:
        raise FileNotFoundError("The file's storage connection was deleted")
    node = store.get_node(services.db, file["node_id"]) if file.get("node_id") else None
    key = node["path"] if node is not None else file["storage_key"]
    spec = spec_of(services, row)
    try:
        handle = conn.open_read(spec, key)
    except conn.ConnectionAccessError as exc:
        raise FileNotFoundError(f"Cannot read {key} from the bucket: {exc.reason}") from None
    return _HashingReader(services, file, handle)
