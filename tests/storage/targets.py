"""Seeded buckets on the real servers: the sample objects, spec builders and ``make_target``."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

try:
    from tests.storage.servers import AzuriteServer, GcsServer, S3Server
except ImportError:  # the repository root is not on sys.path: pytest put this folder there
    from servers import AzuriteServer, GcsServer, S3Server

from roset_local.storage import backends as conn

# From the one provider table: a provider added there is tested against the real servers here.
S3_PROVIDERS = list(conn.S3_FAMILY)
ALL_PROVIDERS = list(conn.PROVIDER_IDS)

# Provider-specific settings a real connection would carry; endpoint_url overrides the derived one.
S3_EXTRA: dict[str, dict[str, Any]] = {
    "r2": {"credentials": {"account_id": "0123abcd"}},
    "b2": {"region": "us-west-004"},
    "do_spaces": {"region": "nyc3"},
    "wasabi": {"region": "eu-central-1"},
    "supabase_storage": {"credentials": {"project_ref": "abcdefghijkl"}},
}

SAMPLE = {
    "top.txt": b"top level\n",
    "docs/a.txt": b"alpha " * 10,
    "docs/b.pdf": b"%PDF-1.4 not really\n",
    "docs/c.md": b"# c\n",
    "docs/sub/d.txt": b"deep\n",
    "img/x.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
}

_counter = itertools.count()


@dataclass
class Target:
    """A seeded bucket and a way to change it behind the library's back."""

    spec: conn.ConnectionSpec
    put: Callable[[str, bytes], None]
    delete: Callable[[str], None]

    def with_(self, **changes: Any) -> conn.ConnectionSpec:
        data = {"provider": self.spec.provider, "bucket": self.spec.bucket, "region": self.spec.region,
                "prefix": self.spec.prefix, "endpoint_url": self.spec.endpoint_url,
                "credentials": dict(self.spec.credentials)}
        creds = changes.pop("credentials", None)
        if creds:
            data["credentials"].update(creds)
        data.update(changes)
        return conn.ConnectionSpec.from_dict(data, local_roots=self.spec.local_roots)


def s3_spec(server: S3Server, provider: str, bucket: str = "", **over: Any) -> conn.ConnectionSpec:
    extra = S3_EXTRA.get(provider, {})
    creds = {"access_key_id": server.access_key, "secret_access_key": server.secret_key,
             **extra.get("credentials", {}), **over.pop("credentials", {})}
    data = {"provider": provider, "bucket": bucket, "endpoint_url": server.endpoint,
            "region": extra.get("region"), "credentials": creds, **over}
    return conn.ConnectionSpec.from_dict(data)


def azure_spec(server: AzuriteServer, bucket: str = "", **over: Any) -> conn.ConnectionSpec:
    creds = over.pop("credentials", None) or {"connection_string": server.connection_string}
    return conn.ConnectionSpec.from_dict({"provider": "azure_blob", "bucket": bucket, "credentials": creds, **over})


def gcs_spec(server: GcsServer, bucket: str = "", **over: Any) -> conn.ConnectionSpec:
    creds = over.pop("credentials", None) or {"service_account_json": server.service_account}
    return conn.ConnectionSpec.from_dict({"provider": "gcs", "bucket": bucket, "endpoint_url": server.endpoint,
                                          "credentials": creds, **over})


def _bucket_name(provider: str) -> str:
    return f"t{next(_counter)}-{provider.replace('_', '-')}"


def make_target(provider: str, request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    bucket = _bucket_name(provider)
    if provider == "local":
        root = tmp_path / "root"
        root.mkdir(exist_ok=True)
        (root / bucket).mkdir()
        spec = conn.ConnectionSpec.from_dict({"provider": "local", "bucket": bucket}, local_roots=[str(root)])

        def put(key: str, data: bytes) -> None:
            path = root / bucket / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        def delete(key: str) -> None:
            (root / bucket / key).unlink()

        target = Target(spec, put, delete)
    else:
        if provider == "azure_blob":
            spec = azure_spec(request.getfixturevalue("azurite_server"), bucket)
        elif provider == "gcs":
            spec = gcs_spec(request.getfixturevalue("gcs_server"), bucket)
        else:
            spec = s3_spec(request.getfixturevalue("s3_server"), provider, bucket)
        fs = conn.open_fs(spec)
        if provider in S3_PROVIDERS:
            fs.call_s3("create_bucket", Bucket=bucket)  # no LocationConstraint (us-east-1 semantics)
        else:
            fs.mkdir(bucket)
        target = Target(spec, lambda k, d: fs.pipe_file(f"{bucket}/{k}", d),
                        lambda k: fs.rm_file(f"{bucket}/{k}"))
    for key, data in SAMPLE.items():
        target.put(key, data)
    return target
