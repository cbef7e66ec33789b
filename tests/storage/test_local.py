"""The local provider refuses every way out of its directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from roset_local.storage import backends as conn


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / "share" / "docs").mkdir(parents=True)
    (root / "share" / "docs" / "a.txt").write_text("inside")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside")
    (root / "share" / "escape.txt").symlink_to(outside / "secret.txt")
    (root / "share" / "escape-dir").symlink_to(outside, target_is_directory=True)
    (root / "share" / "inner-link.txt").symlink_to(root / "share" / "docs" / "a.txt")
    (root / "elsewhere").symlink_to(outside, target_is_directory=True)
    return root, outside


def spec_for(root: Path, bucket: str, **kw: object) -> conn.ConnectionSpec:
    return conn.ConnectionSpec.from_dict({"provider": "local", "bucket": bucket, **kw}, local_roots=[str(root)])


def test_bucket_must_be_inside_a_root(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    assert spec_for(root, "share").bucket == "share"
    assert spec_for(root, str(root / "share")).bucket == str(root / "share")
    for bad in (str(outside), "../outside", "share/../../outside", "elsewhere", "/etc"):
        with pytest.raises(conn.ConnectionConfigError):
            spec_for(root, bad)
    with pytest.raises(conn.ConnectionConfigError, match="ROSET_LOCAL_ROOTS"):
        conn.ConnectionSpec(provider="local", bucket=str(root / "share"))


@pytest.mark.parametrize("key", ["../outside/secret.txt", "/etc/passwd", "docs/../../outside/secret.txt",
                                 "escape.txt", "escape-dir/secret.txt", "docs/./a.txt", "docs//a.txt"])
def test_keys_cannot_escape(layout: tuple[Path, Path], key: str) -> None:
    root, _ = layout
    spec = spec_for(root, "share")
    with pytest.raises(conn.ConnectionConfigError):
        conn.local_path(spec, key)
    with pytest.raises(conn.ConnectionConfigError):
        conn.open_read(spec, key)
    with pytest.raises(conn.ConnectionConfigError):
        conn.stat(spec, key)


@pytest.mark.parametrize("prefix", ["../", "escape-dir/", "docs/../../"])
def test_browse_cannot_escape(layout: tuple[Path, Path], prefix: str) -> None:
    root, _ = layout
    with pytest.raises(conn.ConnectionConfigError):
        conn.browse(spec_for(root, "share"), prefix)


def test_listing_skips_links_that_leave(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    spec = spec_for(root, "share")
    assert sorted(i.key for i in conn.walk(spec)) == ["docs/a.txt", "inner-link.txt"]
    objects, folders, _ = conn.browse(spec, "")
    assert [o["key"] for o in objects] == ["inner-link.txt"] and folders == ["docs/"]
    assert conn.local_path(spec, "inner-link.txt") == os.path.join(os.path.realpath(root), "share", "inner-link.txt")


def test_local_path_for_a_new_file_stays_inside(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    path = conn.local_path(spec_for(root, "share"), "new/dir/file.pdf")
    assert path.startswith(os.path.realpath(root / "share") + os.sep)


def test_missing_directory_fails_verify(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    with pytest.raises(conn.ConnectionAccessError) as caught:
        conn.verify(spec_for(root, "not-there"))
    assert caught.value.code == "bucket_not_found"
