"""ConnectionSpec validation, derived endpoints, provider metadata, setup steps and the sync helpers."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from roset_local.storage import backends as conn
from roset_local.storage.backends import ObjectInfo

KEYS = {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t-value-xyz"}


@pytest.mark.parametrize(("provider", "extra", "endpoint"), [
    ("s3", {"region": "eu-west-1"}, "https://s3.eu-west-1.amazonaws.com"),
    ("s3", {}, "https://s3.us-east-1.amazonaws.com"),
    ("r2", {"credentials": {"account_id": "abc123"}}, "https://abc123.r2.cloudflarestorage.com"),
    ("b2", {"region": "us-west-004"}, "https://s3.us-west-004.backblazeb2.com"),
    ("do_spaces", {"region": "nyc3"}, "https://nyc3.digitaloceanspaces.com"),
    ("wasabi", {"region": "eu-central-1"}, "https://s3.eu-central-1.wasabisys.com"),
    ("wasabi", {}, "https://s3.us-east-1.wasabisys.com"),
    ("supabase_storage", {"credentials": {"project_ref": "abcdefghijkl"}},
     "https://abcdefghijkl.supabase.co/storage/v1/s3"),
])
def test_derived_endpoints(provider: str, extra: dict, endpoint: str) -> None:
    spec = conn.ConnectionSpec(provider=provider, bucket="my-bucket", region=extra.get("region"),
                               credentials={**KEYS, **extra.get("credentials", {})})
    assert spec.resolved_endpoint == endpoint
    explicit = conn.ConnectionSpec(provider=provider, bucket="my-bucket", region=extra.get("region"),
                                   endpoint_url="http://127.0.0.1:9000/", credentials={**KEYS, **extra.get("credentials", {})})
    assert explicit.resolved_endpoint == "http://127.0.0.1:9000"


def test_azure_and_gcs_endpoints() -> None:
    azure = conn.ConnectionSpec(provider="azure_blob", bucket="box",
                                credentials={"account_name": "acct1", "account_key": "a2V5"})
    assert azure.resolved_endpoint == "https://acct1.blob.core.windows.net"
    gcs = conn.ConnectionSpec(provider="gcs", bucket="box", credentials={"anonymous": True})
    assert gcs.resolved_endpoint == "https://storage.googleapis.com"


@pytest.mark.parametrize(("data", "message"), [
    ({"provider": "dropbox", "bucket": "b"}, "Unknown provider"),
    ({"bucket": "b"}, "provider is required"),
    ({"provider": "s3", "bucket": "b!", "credentials": KEYS}, "not a valid bucket name"),
    ({"provider": "s3", "bucket": "bucket"}, "missing: access_key_id, secret_access_key"),
    ({"provider": "minio", "bucket": "bucket", "credentials": KEYS}, "needs endpoint_url"),
    ({"provider": "b2", "bucket": "bucket", "credentials": KEYS}, "needs a region"),
    ({"provider": "do_spaces", "bucket": "bucket", "credentials": KEYS}, "needs a region"),
    ({"provider": "r2", "bucket": "bucket", "credentials": KEYS}, "credentials.account_id"),
    ({"provider": "r2", "bucket": "bucket", "credentials": {**KEYS, "account_id": "a.evil.com/"}},
     "credentials.account_id"),
    ({"provider": "supabase_storage", "bucket": "bucket", "credentials": KEYS}, "credentials.project_ref"),
    ({"provider": "s3", "bucket": "bucket", "endpoint_url": "ftp://x", "credentials": KEYS}, "http(s) URL"),
    ({"provider": "s3", "bucket": "bucket", "region": "us east", "credentials": KEYS}, "valid region"),
    ({"provider": "azure_blob", "bucket": "bucket", "credentials": {}}, "connection_string"),
    ({"provider": "azure_blob", "bucket": "bucket", "credentials": {"connection_string": "AccountName=x"}},
     "AccountKey"),
    ({"provider": "gcs", "bucket": "bucket", "credentials": {}}, "service_account_json"),
    ({"provider": "gcs", "bucket": "bucket", "credentials": {"service_account_json": "{not json"}},
     "not valid JSON"),
    ({"provider": "gcs", "bucket": "bucket", "credentials": {"service_account_json": {"type": "user"}}},
     "service-account key"),
    ({"provider": "s3", "bucket": "bucket", "credentials": "[1]"}, "credentials must be an object"),
])
def test_invalid_settings_have_clear_messages(data: dict, message: str) -> None:
    with pytest.raises(conn.ConnectionConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        conn.ConnectionSpec.from_dict(data)


def test_credentials_stay_out_of_repr_and_redacted() -> None:
    spec = conn.ConnectionSpec.from_dict({"provider": "s3", "bucket": "bucket", "credentials": json.dumps(KEYS),
                                          "name": "ignored"})
    assert KEYS["secret_access_key"] not in repr(spec)
    assert spec.redacted()["credentials"] == {"access_key_id": "***", "secret_access_key": "***"}


def test_provider_list_and_setup_instructions() -> None:
    ids = [p["id"] for p in conn.PROVIDERS]
    assert ids == ["s3", "gcs", "azure_blob", "r2", "minio", "supabase_storage", "b2", "do_spaces", "wasabi", "local"]
    assert all({"id", "name", "auth_type"} <= set(p) for p in conn.PROVIDERS)
    assert {p["auth_type"] for p in conn.PROVIDERS} == {"access_key", "service_account", "connection_string", "none"}
    for provider in ids:
        steps = conn.setup_instructions(provider, "reports")["steps"]
        assert steps and all(isinstance(s, str) for s in steps)
    s3 = conn.setup_instructions("s3", "reports")
    resources = [r for st in s3["policy"]["Statement"] for r in [st["Resource"]]]
    assert resources == ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"]
    assert json.loads(s3["policy_json"]) == s3["policy"]
    assert "s3:DeleteObject" not in s3["policy_json"]


def _info(key: str, etag: str | None, size: int, when: datetime | None = None) -> ObjectInfo:
    return ObjectInfo(key=key, size=size, etag=etag, last_modified=when)


def test_diff_listing_rules() -> None:
    t1 = datetime(2025, 6, 14, 10, 0, 0, tzinfo=timezone.utc)
    t2 = datetime(2025, 6, 14, 11, 0, 0, tzinfo=timezone.utc)
    previous = {
        "same": ("e1", 10, "2025-06-14 10:00:00"),
        "etag-changed": ("e2", 10, t1),
        "quoted": ('"e3"', 5, t1),
        "no-etag-same": (None, 7, "2025-06-14T10:00:00Z"),
        "no-etag-touched": (None, 7, t1),
        "gone": ("e4", 1, t1),
    }
    current = [_info("same", "e1", 10, t1), _info("etag-changed", "e2b", 10, t1), _info("quoted", "e3", 5, t2),
               _info("no-etag-same", None, 7, t1), _info("no-etag-touched", None, 7, t2),
               _info("fresh", "e5", 100, t2), _info("fresh", "e5", 100, t2)]
    new, updated, deleted, total = conn.diff_listing(previous, iter(current))
    assert [i.key for i in new] == ["fresh"]
    assert [i.key for i in updated] == ["etag-changed", "no-etag-touched"]
    assert deleted == ["gone"]
    assert total == 100 + 10 + 7


def test_folders_for() -> None:
    keys = ["a/b/c.txt", "a/d.txt", "top.txt", "x/y/z/w.pdf"]
    assert conn.folders_for(keys) == {"a/", "a/b/", "x/", "x/y/", "x/y/z/"}
    assert conn.folders_for(keys, root="x/") == {"x/y/", "x/y/z/"}
    assert conn.folders_for([]) == set()


def test_object_info_as_dict_uses_contract_timestamps() -> None:
    info = ObjectInfo("a/b.pdf", 12, "abc", "application/pdf", datetime(2025, 6, 14, 10, 0, 0, tzinfo=timezone.utc))
    assert info.as_dict() == {"key": "a/b.pdf", "size_bytes": 12, "last_modified": "2025-06-14 10:00:00",
                              "etag": "abc", "content_type": "application/pdf"}


def test_keys_and_expiry_are_checked_before_any_network() -> None:
    spec = conn.ConnectionSpec(provider="s3", bucket="bucket", prefix="in/", credentials=KEYS,
                               endpoint_url="http://127.0.0.1:9")
    for bad in ["", "/abs", "dir/", "out/x.txt"]:
        with pytest.raises(conn.ConnectionConfigError):
            conn.presign_download(spec, bad)
    with pytest.raises(conn.ConnectionConfigError):
        conn.presign_download(spec, "in/x.txt", expires_in=0)
    with pytest.raises(conn.ConnectionConfigError):
        conn.browse(spec, "in/", limit=0)
    with pytest.raises(conn.ConnectionConfigError):
        conn.local_path(spec, "in/x.txt")
