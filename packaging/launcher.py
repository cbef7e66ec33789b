"""The one-file `roset-local`: a small launcher carrying the full application as a zip in an ELF section.

Unpacking ~900 MB (libraries + models) at every start took 1.5-40 s depending on the disk, so the
application (a PyInstaller one-folder build) is unpacked ONCE per build into a runtime folder and
every later start just execs it. Runtime folder, first match: $ROSET_RUNTIME_DIR,
$XDG_CACHE_HOME/roset-local/runtime, ~/.cache/roset-local/runtime, $TMPDIR/roset-local-runtime-<uid>.
Folders of other builds are removed once no running process uses them.
"""

from __future__ import annotations

import os
import io
import shutil
import stat
import struct
import sys
import tempfile
import time
import zipfile
from pathlib import Path

APP = "roset-local/roset-local"   # the application executable inside the payload
SECTION = b"rosetapp"              # ELF section holding the payload (placed before PyInstaller's pydata,
                                   # whose bootloader scans back from the end of the file for its cookie)
BUILD_ID = "BUILD_ID"              # payload member: sha256 of the payload's files
COMPLETE = ".complete"


def elf_section(path: str, name: bytes) -> tuple[int, int]:
    """(offset, size) of a named section of a 64-bit little-endian ELF file (x86_64, aarch64)."""
    with open(path, "rb") as fh:
        header = fh.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
            raise ValueError("not a 64-bit little-endian ELF file")
        (shoff,) = struct.unpack_from("<Q", header, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", header, 0x3A)
        fh.seek(shoff)
        table = fh.read(shentsize * shnum)

        def section(i: int) -> tuple[int, ...]:
            return struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize)

        strtab = section(shstrndx)
        fh.seek(strtab[4])
        names = fh.read(strtab[5])
    for i in range(shnum):
        entry = section(i)
        if names[entry[0]:names.index(b"\0", entry[0])] == name:
            return entry[4], entry[5]
    raise ValueError(f"no {name.decode()} section")


class FileSlice(io.RawIOBase):
    """A read-only, seekable window [offset, offset + size) of a file, for zipfile."""

    def __init__(self, path: str, offset: int, size: int) -> None:
        self._fh = open(path, "rb")
        self._start, self._size, self._pos = offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, min(self._size, base + pos))
        return self._pos

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        self._fh.seek(self._start + self._pos)
        got = self._fh.readinto(memoryview(buffer)[:want])
        self._pos += got
        return got

    def close(self) -> None:
        self._fh.close()
        super().close()


def open_payload(path: str) -> zipfile.ZipFile:
    offset, size = elf_section(path, SECTION)
    return zipfile.ZipFile(FileSlice(path, offset, size))


def runtime_root() -> Path:
    explicit = os.environ.get("ROSET_RUNTIME_DIR")
    if explicit:
        return Path(explicit)
    candidates = []
    if os.environ.get("XDG_CACHE_HOME"):
        candidates.append(Path(os.environ["XDG_CACHE_HOME"]) / "roset-local" / "runtime")
    home = os.environ.get("HOME")
    if home:
        candidates.append(Path(home) / ".cache" / "roset-local" / "runtime")
    for path in candidates:
        try:
            path.mkdir(parents=True, exist_ok=True)
            if os.access(path, os.W_OK | os.X_OK):
                return path
        except OSError:
            continue
    return Path(tempfile.gettempdir()) / f"roset-local-runtime-{os.getuid()}"


def _in_use(folder: str) -> bool:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as fh:
                    if folder in fh.read():
                        return True
            except OSError:
                continue
    return False


def _tidy(root: Path, keep: str) -> None:
    """Remove other builds' folders and SIGKILLed launchers' _MEI folders nobody uses any more."""
    old = time.time() - 120
    stale = [p for p in root.iterdir() if p.name != keep and p.is_dir()]
    ours = getattr(sys, "_MEIPASS", None)
    if ours:
        stale += [p for p in Path(ours).parent.glob("_MEI*") if str(p) != ours and p.is_dir()]
    for path in stale:
        try:
            if path.stat().st_uid == os.getuid() and path.stat().st_mtime < old and not _in_use(str(path) + "/"):
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def _extract(payload: zipfile.ZipFile, target: Path) -> None:
    """Unpack into a private folder, then rename into place (concurrent first starts are safe)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        for info in payload.infolist():
            mode = info.external_attr >> 16
            dest = staging / info.filename
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            if stat.S_ISLNK(mode):
                os.symlink(payload.read(info).decode(), dest)
                continue
            with payload.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            os.chmod(dest, stat.S_IMODE(mode) or 0o644)
        (staging / COMPLETE).write_text("")
        try:
            os.rename(staging, target)
        except OSError:  # another first start won the race: use its copy
            if not (target / COMPLETE).is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _child_env() -> dict[str, str]:
    """Undo what this launcher's bootloader set, so the application's own bootloader starts clean."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("_PYI") and k != "_MEIPASS2"}
    original = env.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is not None:
        env["LD_LIBRARY_PATH"] = original
    else:
        env.pop("LD_LIBRARY_PATH", None)
    env["PYINSTALLER_RESET_ENVIRONMENT"] = "1"
    return env


def main() -> int:
    me = sys.executable
    try:
        payload = open_payload(me)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        print(f"roset-local: this executable has no application payload ({exc}); rebuild it", file=sys.stderr)
        return 2
    with payload:
        build_id = payload.read(BUILD_ID).decode().strip()[:16]
        root = runtime_root()
        target = root / build_id
        if not (target / COMPLETE).is_file():
            print(f"roset-local: first start of this build, unpacking into {target} (once)", file=sys.stderr)
            try:
                _extract(payload, target)
            except OSError as exc:
                print(f"roset-local: cannot unpack into {target}: {exc}. Set ROSET_RUNTIME_DIR to a writable folder.",
                      file=sys.stderr)
                return 2
    try:
        _tidy(root, build_id)
    except OSError:
        pass
    app = str(target / APP)
    os.execve(app, [app, *sys.argv[1:]], _child_env())
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
