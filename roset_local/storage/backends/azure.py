"""Azure Blob Storage: adlfs for file access, the Azure SDK for paged listings and SAS URLs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from roset_local.storage.backends.errors import ConnectionAccessError, ConnectionConfigError
from roset_local.storage.backends.model import Page, ObjectInfo, PresignedUpload, clean_etag, guess_type, utc
from roset_local.storage.backends.spec import ConnectionSpec, azure_account, azure_connection_string

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 60
WALK_PAGE = 5000
CLOCK_SKEW = timedelta(minutes=5)


def open_fs(spec: ConnectionSpec) -> Any:
    import adlfs

    # A connection string, not account_name/account_host: adlfs forces https with account_host.
    return adlfs.AzureBlobFileSystem(connection_string=azure_connection_string(spec),
                                     connection_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)


def _service(spec: ConnectionSpec) -> Any:
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(
        azure_connection_string(spec), connection_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
        retry_total=2, permit_redirects=False)  # a redirect could point the credentials anywhere


def _container(spec: ConnectionSpec) -> Any:
    return _service(spec).get_container_client(spec.bucket)


def _info(blob: Any) -> ObjectInfo:
    settings = blob.content_settings
    return ObjectInfo(key=blob.name, size=int(blob.size or 0), etag=clean_etag(blob.etag),
                      content_type=(settings.content_type if settings else None) or guess_type(blob.name),
                      last_modified=utc(blob.last_modified))


def endpoint(spec: ConnectionSpec) -> str:
    return str(_service(spec).url).rstrip("/")


def verify(spec: ConnectionSpec) -> None:
    pages = _container(spec).list_blobs(name_starts_with=spec.prefix or None, results_per_page=1).by_page()
    next(pages, None)


def list_buckets(spec: ConnectionSpec) -> list[dict[str, Any]]:
    return [{"name": c.name, "region": None} for c in _service(spec).list_containers()]


def list_page(spec: ConnectionSpec, prefix: str, limit: int, state: dict[str, Any] | None) -> Page:
    from azure.storage.blob import BlobPrefix

    pages = _container(spec).walk_blobs(name_starts_with=prefix or None, delimiter="/",
                                        results_per_page=limit).by_page(continuation_token=state["t"] if state else None)
    objects: list[ObjectInfo] = []
    folders: list[str] = []
    for item in next(pages, []):
        if isinstance(item, BlobPrefix):
            folders.append(item.name)
        elif not item.name.endswith("/"):
            objects.append(_info(item))
    token = pages.continuation_token
    return Page(objects, folders, {"t": token} if token else None)


def walk(spec: ConnectionSpec) -> Iterator[ObjectInfo]:
    for blob in _container(spec).list_blobs(name_starts_with=spec.prefix or None, results_per_page=WALK_PAGE):
        if not blob.name.endswith("/"):
            yield _info(blob)


def stat(spec: ConnectionSpec, key: str) -> ObjectInfo:
    props = _container(spec).get_blob_client(key).get_blob_properties()
    props.name = key
    return _info(props)


def open_read(spec: ConnectionSpec, key: str, block_size: int) -> IO[bytes]:
    return open_fs(spec).open(f"{spec.bucket}/{key}", "rb", block_size=block_size)  # type: ignore[no-any-return]


def _sas_url(spec: ConnectionSpec, key: str, expires_in: int, **permission: bool) -> str:
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    name, account_key = azure_account(spec)
    if not name or not account_key:
        raise ConnectionConfigError("signed URLs need the account name and key (a shared-key connection string)")
    now = datetime.now(timezone.utc)
    sas = generate_blob_sas(account_name=name, container_name=spec.bucket, blob_name=key,
                            account_key=account_key, permission=BlobSasPermissions(**permission),
                            start=now - CLOCK_SKEW, expiry=now + timedelta(seconds=expires_in))
    return f"{_container(spec).get_blob_client(key).url}?{sas}"


def presign_download(spec: ConnectionSpec, key: str, expires_in: int) -> str:
    return _sas_url(spec, key, expires_in, read=True)


def presign_upload(spec: ConnectionSpec, key: str, content_type: str | None, expires_in: int) -> PresignedUpload:
    url = _sas_url(spec, key, expires_in, create=True, write=True)
    headers = {"x-ms-blob-type": "BlockBlob"}
    if content_type:
        headers["Content-Type"] = content_type
    return PresignedUpload(url=url, headers=headers, expires_in=expires_in)


def classify(exc: BaseException, what: str) -> ConnectionAccessError | None:
    from azure.core import exceptions as ax

    if isinstance(exc, ax.ResourceNotFoundError):
        code = str(getattr(exc, "error_code", "") or "")
        if what == "bucket" or code == "ContainerNotFound":
            return ConnectionAccessError(f"Container not found: {_first_line(exc)}", "bucket_not_found")
        return None
    if isinstance(exc, FileNotFoundError):
        if what == "bucket":
            return ConnectionAccessError(f"Container not found: {exc}", "bucket_not_found")
        return None
    if isinstance(exc, ax.ClientAuthenticationError) or (
            isinstance(exc, ax.HttpResponseError) and exc.status_code in (401, 403)):
        return ConnectionAccessError(f"Access denied: {_first_line(exc)}", "auth_failed")
    if isinstance(exc, ax.ServiceResponseTimeoutError | ax.ServiceRequestTimeoutError):
        return ConnectionAccessError(f"Timed out: {_first_line(exc)}", "timeout")
    if isinstance(exc, ax.ServiceRequestError):
        return ConnectionAccessError(f"Cannot reach the endpoint: {_first_line(exc)}", "unreachable")
    if isinstance(exc, ax.AzureError | OSError | ValueError):
        return ConnectionAccessError(_first_line(exc))
    return None


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
