"""Google Cloud Storage through gcsfs (JSON API) and V4 signed URLs from the service-account key."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import IO, Any

from roset_local.storage.backends.errors import ConnectionAccessError, ConnectionConfigError
from roset_local.storage.backends.model import Page, ObjectInfo, PresignedUpload, clean_etag, guess_type, utc
from roset_local.storage.backends.spec import ConnectionSpec, gcs_service_account

DEFAULT_ENDPOINT = "https://storage.googleapis.com"
REQUEST_TIMEOUT = 60
WALK_PAGE = 1000
_FIELDS = "items(name,size,etag,contentType,updated),prefixes,nextPageToken"


def endpoint(spec: ConnectionSpec) -> str:
    return spec.endpoint_url or DEFAULT_ENDPOINT


def _project(spec: ConnectionSpec) -> str | None:
    account = gcs_service_account(spec) or {}
    return spec.credentials.get("project_id") or account.get("project_id")


def open_fs(spec: ConnectionSpec) -> Any:
    # The core class, not the package default: gcsfs's default "extended" class probes a gRPC API and
    # hangs 60 s per bucket on emulators (STACK.md).
    from gcsfs.core import GCSFileSystem

    account = gcs_service_account(spec)
    with warnings.catch_warnings():  # "project not set": only bucket listing needs one, and it checks
        warnings.simplefilter("ignore", UserWarning)
        return GCSFileSystem(project=_project(spec), token=account if account is not None else "anon",
                             endpoint_url=spec.endpoint_url or None, requests_timeout=REQUEST_TIMEOUT,
                             use_listings_cache=False)


def _info(item: dict[str, Any]) -> ObjectInfo:
    name = item["name"]
    updated = item.get("updated")
    moment = datetime.fromisoformat(updated.replace("Z", "+00:00")) if isinstance(updated, str) else updated
    return ObjectInfo(key=name, size=int(item.get("size") or 0), etag=clean_etag(item.get("etag")),
                      content_type=item.get("contentType") or guess_type(name), last_modified=utc(moment))


def _list(fs: Any, bucket: str, **params: Any) -> dict[str, Any]:
    return fs.call("GET", "b/{}/o", bucket, json_out=True, **params)  # type: ignore[no-any-return]


def verify(spec: ConnectionSpec) -> None:
    _list(open_fs(spec), spec.bucket, prefix=spec.prefix, maxResults=1, fields=_FIELDS)


def list_buckets(spec: ConnectionSpec) -> list[dict[str, Any]]:
    project = _project(spec)
    if not project:
        raise ConnectionConfigError("listing GCS buckets needs a project (project_id in the key or credentials)")
    fs = open_fs(spec)
    buckets: list[dict[str, Any]] = []
    params: dict[str, Any] = {"project": project}
    while True:
        out = fs.call("GET", "b", json_out=True, **params)
        buckets += [{"name": b["name"], "region": (b.get("location") or "").lower() or None}
                    for b in out.get("items", [])]
        if not out.get("nextPageToken"):
            return buckets
        params["pageToken"] = out["nextPageToken"]


def _successor(entry: str) -> str:
    """The smallest name at or after which the listing resumes (startOffset is inclusive)."""
    if entry.endswith("/"):  # past every key inside the folder
        return entry[:-1] + chr(ord("/") + 1)
    return entry


def list_page(spec: ConnectionSpec, prefix: str, limit: int, state: dict[str, Any] | None) -> Page:
    # Resume by name (startOffset) instead of pageToken: some servers ignore maxResults with a delimiter,
    # so the page is trimmed here and the next one starts after the last entry returned.
    after = state["a"] if state else None
    params: dict[str, Any] = {"prefix": prefix, "delimiter": "/", "maxResults": limit, "fields": _FIELDS}
    if after is not None:
        params["startOffset"] = _successor(after)
    out = _list(open_fs(spec), spec.bucket, **params)
    entries: list[tuple[str, ObjectInfo | None]] = []
    for item in out.get("items", []):
        if not item["name"].endswith("/"):
            entries.append((item["name"], _info(item)))
    entries += [(p, None) for p in out.get("prefixes", [])]
    entries = sorted(e for e in entries if after is None or _after(e[0], after))
    more = bool(out.get("nextPageToken")) or len(entries) > limit
    entries = entries[:limit]
    objects = [info for _, info in entries if info is not None]
    folders = [name for name, info in entries if info is None]
    return Page(objects, folders, {"a": entries[-1][0]} if more and entries else None)


def _after(name: str, after: str) -> bool:
    if after.endswith("/") and name.startswith(after):
        return False
    return name > after


def walk(spec: ConnectionSpec) -> Iterator[ObjectInfo]:
    fs = open_fs(spec)
    params: dict[str, Any] = {"prefix": spec.prefix, "maxResults": WALK_PAGE, "fields": _FIELDS}
    while True:
        out = _list(fs, spec.bucket, **params)
        for item in out.get("items", []):
            if not item["name"].endswith("/"):
                yield _info(item)
        if not out.get("nextPageToken"):
            return
        params["pageToken"] = out["nextPageToken"]


def stat(spec: ConnectionSpec, key: str) -> ObjectInfo:
    out = open_fs(spec).call("GET", "b/{}/o/{}", spec.bucket, key, json_out=True)
    return _info(out)


def open_read(spec: ConnectionSpec, key: str, block_size: int) -> IO[bytes]:
    return open_fs(spec).open(f"{spec.bucket}/{key}", "rb", block_size=block_size)  # type: ignore[no-any-return]


def _signed_url(spec: ConnectionSpec, key: str, expires_in: int, method: str,
                content_type: str | None = None) -> str:
    account = gcs_service_account(spec)
    if account is None:
        raise ConnectionConfigError("signed URLs need a service-account key; this connection is anonymous")
    from google.cloud import storage
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_info(account)
    # Building the client makes no request; the URL is signed locally with the private key.
    client = storage.Client(project=_project(spec) or "unused", credentials=creds)
    blob = client.bucket(spec.bucket).blob(key)
    return str(blob.generate_signed_url(version="v4", expiration=timedelta(seconds=expires_in), method=method,
                                        content_type=content_type, api_access_endpoint=endpoint(spec),
                                        credentials=creds))


def presign_download(spec: ConnectionSpec, key: str, expires_in: int) -> str:
    return _signed_url(spec, key, expires_in, "GET")


def presign_upload(spec: ConnectionSpec, key: str, content_type: str | None, expires_in: int) -> PresignedUpload:
    url = _signed_url(spec, key, expires_in, "PUT", content_type)
    headers = {"Content-Type": content_type} if content_type else {}
    return PresignedUpload(url=url, headers=headers, expires_in=expires_in)


def classify(exc: BaseException, what: str) -> ConnectionAccessError | None:
    import asyncio

    import aiohttp
    from gcsfs.retry import HttpError
    from google.auth import exceptions as gauth

    if isinstance(exc, FileNotFoundError):
        if what == "bucket":
            return ConnectionAccessError(f"Bucket not found: {exc}", "bucket_not_found")
        return None
    if isinstance(exc, HttpError):
        # gcsfs puts a non-JSON body in the message as is: quote only a JSON API's structured error.
        structured = "errors" in (getattr(exc, "_error_response", None) or {})
        detail = exc.message if structured else f"HTTP {exc.code}"
        if exc.code in (401, 403):
            return ConnectionAccessError(f"Access denied: {detail}", "auth_failed")
        return ConnectionAccessError(str(detail) if structured else f"Unexpected answer: {detail}")
    if isinstance(exc, PermissionError):
        return ConnectionAccessError(f"Access denied: {exc}", "auth_failed")
    if isinstance(exc, gauth.RefreshError):
        return ConnectionAccessError(f"The service-account key was refused: {exc}", "auth_failed")
    if isinstance(exc, gauth.TransportError):
        return ConnectionAccessError(f"Cannot reach the token endpoint: {exc}", "unreachable")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return ConnectionAccessError("Timed out", "timeout")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return ConnectionAccessError(f"Cannot reach the endpoint: {exc}", "unreachable")
    if isinstance(exc, (aiohttp.ClientError, OSError, ValueError)):
        return ConnectionAccessError(str(exc) or type(exc).__name__)
    return None
