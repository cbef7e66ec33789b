"""Zip the one-folder build (the payload scripts/build-binary puts into the launcher's ELF section)."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import zipfile
from pathlib import Path


def pack(onedir: Path, out: Path) -> str:
    """Write ``out`` = zip(onedir) with a BUILD_ID member (sha256 of names and contents); return the id."""
    files = sorted(p for p in onedir.rglob("*") if p.is_file() or p.is_symlink())
    digest = hashlib.sha256()
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in files:
            arcname = f"{onedir.name}/{path.relative_to(onedir).as_posix()}"
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.create_system = 3  # unix: external_attr carries the mode
            if path.is_symlink():
                target = os.readlink(path)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, target, compress_type=zipfile.ZIP_STORED)
                digest.update(f"L {arcname} {target}\n".encode())
                continue
            info.external_attr = (stat.S_IFREG | stat.S_IMODE(path.stat().st_mode)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            file_digest = hashlib.sha256()
            with open(path, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                for block in iter(lambda: src.read(1 << 20), b""):
                    file_digest.update(block)
                    dst.write(block)
            digest.update(f"F {arcname} {file_digest.hexdigest()}\n".encode())
        build_id = digest.hexdigest()
        zf.writestr("BUILD_ID", build_id + "\n")
    os.replace(tmp, out)
    return build_id


if __name__ == "__main__":
    onedir, out = (Path(a) for a in sys.argv[1:3])
    print(f"build id {pack(onedir, out)[:16]}")
