"""The one-file format: launcher + appended zip, unpacked once per build; stale folders are tidied."""

from __future__ import annotations

import importlib.util
import mmap
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"roset_packaging_{name}", ROOT / "packaging" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_app(tmp_path):
    app = tmp_path / "roset-local"
    (app / "_internal").mkdir(parents=True)
    (app / "roset-local").write_text("#!/bin/sh\necho hi\n")
    os.chmod(app / "roset-local", 0o755)
    (app / "_internal" / "model.onnx").write_bytes(os.urandom(4096))
    os.symlink("model.onnx", app / "_internal" / "alias.onnx")
    return app


@pytest.mark.skipif(shutil.which("objcopy") is None, reason="objcopy (binutils) not installed")
def test_payload_in_an_elf_section_unpacks_with_modes_symlinks_and_a_stable_build_id(tmp_path):
    pack, launcher = _load("pack"), _load("launcher")
    app = _fake_app(tmp_path)
    build_id = pack.pack(app, tmp_path / "one.zip")
    assert build_id == pack.pack(app, tmp_path / "two.zip")  # same content, same id
    carrier = tmp_path / "carrier"
    subprocess.run(["objcopy", "--add-section", f"rosetapp={tmp_path / 'one.zip'}", "--set-section-flags",
                    "rosetapp=noload,readonly", shutil.which("true"), str(carrier)], check=True)
    subprocess.run([str(carrier)], check=True)  # still a working executable
    target = tmp_path / "runtime" / build_id[:16]
    with launcher.open_payload(str(carrier)) as payload:
        assert payload.read("BUILD_ID").decode().strip() == build_id
        launcher._extract(payload, target)
    assert (target / ".complete").is_file()
    exe = target / "roset-local" / "roset-local"
    assert stat.S_IMODE(exe.stat().st_mode) == 0o755
    assert (target / "roset-local" / "_internal" / "alias.onnx").is_symlink()
    assert (target / "roset-local" / "_internal" / "model.onnx").read_bytes() == (app / "_internal" / "model.onnx").read_bytes()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".unpack-")]


def test_tidy_removes_unused_old_builds_and_unpack_folders_only(tmp_path, monkeypatch):
    launcher = _load("launcher")
    old = time.time() - 3600
    runtime, tmp = tmp_path / "runtime", tmp_path / "tmp"
    folders = {}
    for parent, name in ((runtime, "current"), (runtime, "oldbuild"), (runtime, "inuse"), (runtime, "young"),
                         (tmp, "_MEIours"), (tmp, "_MEIstale")):
        folder = parent / name
        folder.mkdir(parents=True)
        (folder / "lib.so").write_bytes(b"\0" * 4096)
        if name != "young":
            os.utime(folder, (old, old))
        folders[name] = folder
    monkeypatch.setattr(sys, "_MEIPASS", str(folders["_MEIours"]), raising=False)
    with open(folders["inuse"] / "lib.so", "rb") as fh, mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ):
        launcher._tidy(runtime, "current")  # a running build maps files from "inuse"
    assert sorted(p.name for p in runtime.iterdir()) == ["current", "inuse", "young"]
    assert sorted(p.name for p in tmp.iterdir()) == ["_MEIours"]
