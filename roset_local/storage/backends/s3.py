"""The S3 family (s3, r2, minio, b2, do_spaces, wasabi, supabase_storage) through s3fs/botocore."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from collections.abc import Iterator
from typing import IO, Any

from roset_local.storage.backends.errors import ConnectionAccessError
from roset_local.storage.backends.model import Page, ObjectInfo, PresignedUpload, clean_etag, guess_type, utc
from roset_local.storage.backends.spec import ConnectionSpec

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 60
WALK_PAGE = 1000


def open_fs(spec: ConnectionSpec) -> Any:
    """An ``S3FileSystem`` for the spec (fsspec reuses one instance per identical settings)."""
    import s3fs

    creds = spec.credentials
    return s3fs.S3FileSystem(
        key=creds["access_key_id"], secret=creds["secret_access_key"], token=creds.get("session_token"),
        endpoint_url=spec.resolved_endpoint,
        client_kwargs={"region_name": spec.effective_region or "us-east-1"},
        config_kwargs={
            # Non-AWS servers need path-style SigV4; several reject boto's default checksums.
            "signature_version": "s3v4",
            "s3": {"addressing_style": "path"},
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
            "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "retries": {"max_attempts": 3, "mode": "standard"},
        },
        use_listings_cache=False,
    )


def endpoint(spec: ConnectionSpec) -> str | None:
    return spec.resolved_endpoint


def _info(item: dict[str, Any], key: str | None = None, *, guess: bool = True) -> ObjectInfo:
    key = key if key is not None else item["Key"]
    return ObjectInfo(key=key, size=int(item.get("Size", item.get("ContentLength", 0)) or 0),
                      etag=clean_etag(item.get("ETag")),
                      content_type=item.get("ContentType") or (guess_type(key) if guess else None),
                      last_modified=utc(item.get("LastModified")))


def verify(spec: ConnectionSpec) -> None:
    # A one-key listing proves both the signature and the list permission a sync needs.
    open_fs(spec).call_s3("list_objects_v2", Bucket=spec.bucket, Prefix=spec.prefix, MaxKeys=1)


def list_buckets(spec: ConnectionSpec) -> list[dict[str, Any]]:
    out = open_fs(spec).call_s3("list_buckets")
    return [{"name": b["Name"], "region": b.get("BucketRegion") or spec.region} for b in out.get("Buckets", [])]


def list_page(spec: ConnectionSpec, prefix: str, limit: int, state: dict[str, Any] | None) -> Page:
    params: dict[str, Any] = {"Bucket": spec.bucket, "Prefix": prefix, "Delimiter": "/", "MaxKeys": limit}
    if state:
        params["ContinuationToken"] = state["t"]
    out = open_fs(spec).call_s3("list_objects_v2", **params)
    objects = [_info(item) for item in out.get("Contents", []) if not item["Key"].endswith("/")]
    folders = [p["Prefix"] for p in out.get("CommonPrefixes", [])]
    token = out.get("NextContinuationToken") if out.get("IsTruncated") else None
    return Page(objects, folders, {"t": token} if token else None)


def walk(spec: ConnectionSpec) -> Iterator[ObjectInfo]:
    fs = open_fs(spec)

    def request(**extra: Any) -> Future[dict[str, Any]]:
        # Runs on fsspec's event loop thread, so the next page is fetched while this one is consumed.
        return asyncio.run_coroutine_threadsafe(fs._call_s3(
            "list_objects_v2", Bucket=spec.bucket, Prefix=spec.prefix, MaxKeys=WALK_PAGE, **extra), fs.loop)

    pending: Future[dict[str, Any]] | None = request()
    while pending is not None:
        out = pending.result()
        token = out.get("NextContinuationToken")
        pending = request(ContinuationToken=token) if out.get("IsTruncated") and token else None
        for item in out.get("Contents", []):
            if not item["Key"].endswith("/"):  # folder markers are not objects
                yield _info(item, guess=False)  # typed by whoever records it: most of a re-sync is unchanged


def stat(spec: ConnectionSpec, key: str) -> ObjectInfo:
    out = open_fs(spec).call_s3("head_object", Bucket=spec.bucket, Key=key)
    return _info(out, key)


def open_read(spec: ConnectionSpec, key: str, block_size: int) -> IO[bytes]:
    fs = open_fs(spec)
    return fs.open(f"{spec.bucket}/{key}", "rb", block_size=block_size)  # type: ignore[no-any-return]


def presign_download(spec: ConnectionSpec, key: str, expires_in: int) -> str:
    url = open_fs(spec).url(f"{spec.bucket}/{key}", expires=expires_in, client_method="get_object")
    return str(url)


def presign_upload(spec: ConnectionSpec, key: str, content_type: str | None, expires_in: int) -> PresignedUpload:
    extra = {"ContentType": content_type} if content_type else {}
    url = open_fs(spec).url(f"{spec.bucket}/{key}", expires=expires_in, client_method="put_object", **extra)
    headers = {"Content-Type": content_type} if content_type else {}
    return PresignedUpload(url=str(url), headers=headers, expires_in=expires_in)


def classify(exc: BaseException, what: str) -> ConnectionAccessError | None:
    """Map s3fs/botocore errors; ``what`` is ``bucket`` or ``object`` (which one a 404 means)."""
    from botocore import exceptions as bx

    if isinstance(exc, PermissionError):
        return ConnectionAccessError(f"Access denied: {exc}", "auth_failed")
    if isinstance(exc, FileNotFoundError):
        text = str(exc)
        if what == "bucket" or "bucket" in text.lower():
            return ConnectionAccessError(f"Bucket not found: {text}", "bucket_not_found")
        return None  # an object 404: the caller raises ObjectNotFoundError
    if isinstance(exc, (bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return ConnectionAccessError(f"Timed out: {exc}", "timeout")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionClosedError)):
        return ConnectionAccessError(f"Cannot reach the endpoint: {exc}", "unreachable")
    if isinstance(exc, bx.NoCredentialsError):
        return ConnectionAccessError("No credentials", "auth_failed")
    if isinstance(exc, (bx.ClientError, bx.BotoCoreError, OSError)):
        return ConnectionAccessError(str(exc) or type(exc).__name__)
    return None
