"""The same battery against every provider, each on its real local server."""

from __future__ import annotations

import time

import httpx
import pytest

from roset_local.storage import backends as conn

try:
    from tests.storage.targets import SAMPLE, Target
except ImportError:
    from targets import SAMPLE, Target


def _all_pages(spec: conn.ConnectionSpec, prefix: str, limit: int) -> tuple[list[str], list[str], int]:
    keys: list[str] = []
    folders: list[str] = []
    cursor = None
    pages = 0
    while True:
        objects, page_folders, cursor = conn.browse(spec, prefix, limit=limit, cursor=cursor)
        pages += 1
        assert len(objects) + len(page_folders) <= limit
        keys += [o["key"] for o in objects]
        folders += page_folders
        if cursor is None:
            return keys, folders, pages
        assert pages < 50


def test_verify_and_test_pass(target: Target) -> None:
    conn.verify(target.spec)
    assert conn.test(target.spec) == (True, None)


def test_missing_bucket_fails(target: Target) -> None:
    spec = target.with_(bucket="no-such-bucket-here")
    with pytest.raises(conn.ConnectionAccessError) as caught:
        conn.verify(spec)
    assert caught.value.code == "bucket_not_found"
    ok, error = conn.test(spec)
    assert not ok and error


def test_list_buckets_includes_the_bucket(target: Target) -> None:
    names = [b["name"] for b in conn.list_buckets(target.with_(bucket=""))]
    if target.spec.provider == "local":
        assert any(name.endswith("/" + target.spec.bucket) for name in names)
    else:
        assert target.spec.bucket in names


def test_browse_root_and_folder_with_pagination(target: Target) -> None:
    objects, folders, cursor = conn.browse(target.spec, "", limit=100)
    assert [o["key"] for o in objects] == ["top.txt"]
    assert sorted(folders) == ["docs/", "img/"]
    assert cursor is None
    top = objects[0]
    assert top["size_bytes"] == len(SAMPLE["top.txt"])
    assert top["etag"] and top["last_modified"] and top["content_type"]

    keys, sub, pages = _all_pages(target.spec, "docs/", limit=2)
    assert sorted(keys) == ["docs/a.txt", "docs/b.pdf", "docs/c.md"]
    assert sub == ["docs/sub/"]
    assert pages >= 2

    keys, folders, _ = _all_pages(target.spec, "", limit=1)
    assert keys == ["top.txt"] and sorted(folders) == ["docs/", "img/"]


def test_browse_rejects_a_garbage_or_foreign_cursor(target: Target) -> None:
    _, _, cursor = conn.browse(target.spec, "docs/", limit=1)
    assert cursor
    with pytest.raises(conn.ConnectionConfigError):
        conn.browse(target.spec, "img/", limit=1, cursor=cursor)
    with pytest.raises(conn.ConnectionConfigError):
        conn.browse(target.spec, "docs/", limit=1, cursor="not-a-cursor!")


def test_walk_lists_every_object_with_metadata(target: Target) -> None:
    found = {info.key: info for info in conn.walk(target.spec)}
    assert set(found) == set(SAMPLE)
    for key, data in SAMPLE.items():
        assert found[key].size == len(data)
        assert found[key].etag
        assert found[key].last_modified is not None and found[key].last_modified.tzinfo is not None
    if target.spec.family in ("s3", "local"):  # not guessed for each object of a re-sync: the sync types what it records
        assert found["docs/b.pdf"].content_type is None
        page, _, _ = conn.browse(target.spec, "docs/")
        assert {o["key"]: o["content_type"] for o in page}["docs/b.pdf"] == "application/pdf"


def test_prefix_confines_walk_browse_and_keys(target: Target) -> None:
    spec = target.with_(prefix="docs/")
    assert {i.key for i in conn.walk(spec)} == {"docs/a.txt", "docs/b.pdf", "docs/c.md", "docs/sub/d.txt"}
    objects, folders, _ = conn.browse(spec, None, limit=50)
    assert sorted(o["key"] for o in objects) == ["docs/a.txt", "docs/b.pdf", "docs/c.md"]
    assert folders == ["docs/sub/"]
    objects, _, _ = conn.browse(spec, "sub/", limit=50)  # relative to the connection prefix
    assert [o["key"] for o in objects] == ["docs/sub/d.txt"]
    with pytest.raises(conn.ConnectionConfigError):
        conn.stat(spec, "top.txt")


def test_diff_listing_across_add_modify_delete(target: Target) -> None:
    before = {i.key: (i.etag, i.size, i.last_modified) for i in conn.walk(target.spec)}
    time.sleep(0.01)
    target.put("docs/new.txt", b"brand new")
    target.put("docs/a.txt", b"changed and longer than before " * 3)
    target.delete("img/x.png")
    new, updated, deleted, total = conn.diff_listing(before, conn.walk(target.spec))
    assert [i.key for i in new] == ["docs/new.txt"]
    assert [i.key for i in updated] == ["docs/a.txt"]
    assert deleted == ["img/x.png"]
    assert total == len(b"brand new") + len(b"changed and longer than before " * 3)
    again = {i.key: (i.etag, i.size, i.last_modified) for i in conn.walk(target.spec)}
    assert conn.diff_listing(again, conn.walk(target.spec)) == ([], [], [], 0)
    assert conn.folders_for(again) == {"docs/", "docs/sub/"}


def test_stat_and_open_read_stream(target: Target) -> None:
    payload = bytes(range(256)) * 1200  # 300 KiB, read in 64 KiB blocks
    target.put("big/blob.bin", payload)
    info = conn.stat(target.spec, "big/blob.bin")
    assert info.size == len(payload)
    with conn.open_read(target.spec, "big/blob.bin", block_size=64 * 1024) as handle:
        chunks = []
        while chunk := handle.read(50_000):
            chunks.append(chunk)
    assert b"".join(chunks) == payload and len(chunks) > 1
    with pytest.raises(conn.ObjectNotFoundError):
        conn.stat(target.spec, "docs/missing.txt")
    with pytest.raises(conn.ObjectNotFoundError):
        conn.open_read(target.spec, "docs/missing.txt")


def test_presigned_download_and_upload(target: Target) -> None:
    if target.spec.provider == "local":
        with pytest.raises(conn.ConnectionConfigError):
            conn.presign_download(target.spec, "top.txt")
        path = conn.local_path(target.spec, "docs/a.txt")
        with open(path, "rb") as handle:
            assert handle.read() == SAMPLE["docs/a.txt"]
        return
    url = conn.presign_download(target.spec, "docs/b.pdf", expires_in=600)
    assert target.spec.credentials.get("secret_access_key", "@@") not in url
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.content == SAMPLE["docs/b.pdf"]

    up = conn.presign_upload(target.spec, "uploads/new report.pdf", "application/pdf", expires_in=600)
    body = b"%PDF-1.7 uploaded through a signed URL"
    response = httpx.put(up.url, content=body, headers=up.headers, timeout=10)
    assert response.status_code in (200, 201), response.text
    info = conn.stat(target.spec, "uploads/new report.pdf")
    assert info.size == len(body)
    assert info.content_type == "application/pdf"
    with conn.open_read(target.spec, "uploads/new report.pdf") as handle:
        assert handle.read() == body


def test_unreachable_endpoint_fails_fast(target: Target, unused_port: int) -> None:
    if target.spec.provider == "local":
        spec = target.with_(bucket="missing-dir")
    elif target.spec.provider == "azure_blob":
        cs = target.spec.credentials["connection_string"]
        spec = target.with_(credentials={"connection_string": cs.replace(
            cs.split("BlobEndpoint=")[1].split("/")[2], f"127.0.0.1:{unused_port}")})
    else:
        spec = target.with_(endpoint_url=f"http://127.0.0.1:{unused_port}")
    started = time.monotonic()
    ok, error = conn.test(spec)
    assert not ok and error
    assert time.monotonic() - started < 5
    with pytest.raises(conn.ConnectionAccessError) as caught:
        conn.verify(spec)
    assert caught.value.code in ("unreachable", "bucket_not_found")
