"""Credential failures, stalled servers and secret hygiene, against the real servers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from roset_local.storage import backends as conn

try:
    from tests.storage.targets import S3_PROVIDERS, Target
except ImportError:
    from targets import S3_PROVIDERS, Target


def _assert_no_secret(exc: BaseException, secret: str) -> None:
    assert secret not in str(exc) and secret not in repr(exc)
    assert exc.__cause__ is None


@pytest.mark.parametrize("provider", S3_PROVIDERS)
def test_s3_family_wrong_secret_fails_without_leaking_it(new_target, provider: str) -> None:
    target: Target = new_target(provider)
    secret = "definitely-wrong-secret-value"
    spec = target.with_(credentials={"secret_access_key": secret})
    with pytest.raises(conn.ConnectionAccessError) as caught:
        conn.verify(spec)
    assert caught.value.code == "auth_failed"
    assert "signature" in caught.value.reason.lower()
    _assert_no_secret(caught.value, secret)
    ok, error = conn.test(spec)
    assert not ok and error and secret not in error


def test_s3_wrong_access_key_fails(new_target) -> None:
    target: Target = new_target("s3")
    with pytest.raises(conn.ConnectionAccessError) as caught:
        conn.verify(target.with_(credentials={"access_key_id": "nobody"}))
    assert caught.value.code == "auth_failed"


def test_azure_wrong_key_fails_without_leaking_it(new_target, azurite_server) -> None:
    target: Target = new_target("azure_blob")
    wrong_key = "V3Jvbmcga2V5IGZvciB0ZXN0cyBvbmx5IC0tIG5vdCBhIHJlYWwgb25lISE="
    spec = target.with_(credentials={"connection_string": azurite_server.connection_string.replace(
        azurite_server.account_key, wrong_key)})
    with pytest.raises(conn.ConnectionAccessError) as caught:
        conn.verify(spec)
    assert caught.value.code == "auth_failed"
    _assert_no_secret(caught.value, wrong_key)


def test_azure_shared_key_form_works(new_target, azurite_server) -> None:
    target: Target = new_target("azure_blob")
    spec = conn.ConnectionSpec(provider="azure_blob", bucket=target.spec.bucket,
                               endpoint_url=azurite_server.blob_endpoint,
                               credentials={"account_name": azurite_server.account_name,
                                            "account_key": azurite_server.account_key})
    conn.verify(spec)
    assert {i.key for i in conn.walk(spec)} == {i.key for i in conn.walk(target.spec)}


def test_gcs_anonymous_lists_but_cannot_sign(new_target, gcs_server) -> None:
    # fake-gcs-server checks no credentials, so a wrong key cannot be shown failing here.
    target: Target = new_target("gcs")
    spec = conn.ConnectionSpec(provider="gcs", bucket=target.spec.bucket, endpoint_url=gcs_server.endpoint,
                               credentials={"anonymous": True})
    conn.verify(spec)
    with pytest.raises(conn.ConnectionConfigError):
        conn.presign_download(spec, "top.txt")


@pytest.fixture
def stalled_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) but never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize("provider", ["s3", "gcs", "azure_blob"])
def test_test_returns_quickly_when_the_server_stalls(provider: str, stalled_port: int) -> None:
    endpoint = f"http://127.0.0.1:{stalled_port}"
    if provider == "s3":
        spec = conn.ConnectionSpec(provider="s3", bucket="bucket", endpoint_url=endpoint,
                                   credentials={"access_key_id": "a", "secret_access_key": "bbbb"})
    elif provider == "gcs":
        spec = conn.ConnectionSpec(provider="gcs", bucket="bucket", endpoint_url=endpoint,
                                   credentials={"anonymous": True})
    else:
        spec = conn.ConnectionSpec(provider="azure_blob", bucket="bucket", endpoint_url=f"{endpoint}/acct",
                                   credentials={"account_name": "acct", "account_key": "a2V5a2V5a2V5"})
    started = time.monotonic()
    ok, error = conn.test(spec, timeout=1.5)
    assert not ok and error and "Timed out" in error
    assert time.monotonic() - started < 3


def test_unresolvable_host_fails_fast() -> None:
    spec = conn.ConnectionSpec(provider="minio", bucket="bucket", endpoint_url="http://no-such-host.invalid:9000",
                               credentials={"access_key_id": "a", "secret_access_key": "bbbb"})
    started = time.monotonic()
    ok, error = conn.test(spec)
    assert not ok and "no-such-host.invalid" in (error or "")
    assert time.monotonic() - started < 5
