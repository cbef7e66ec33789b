"""The one-file executable: build it, then smoke it from an empty folder, clean env, no network.

Opt-in (building takes minutes): ROSET_TEST_BINARY=1. ROSET_TEST_BINARY_PATH=... smokes an existing build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("ROSET_TEST_BINARY") != "1", reason="set ROSET_TEST_BINARY=1 to build and smoke the executable"),
]


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    given = os.environ.get("ROSET_TEST_BINARY_PATH")
    if given:
        return Path(given)
    dist = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "ROSET_BUILD_DIST": str(dist)}
    proc = subprocess.run([str(ROOT / "scripts" / "build-binary")], env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dist / "roset-local"


def test_the_executable_serves_offline_from_an_empty_folder(binary):
    proc = subprocess.run([str(ROOT / "scripts" / "smoke-binary"), str(binary)], capture_output=True, text=True, timeout=1800)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    assert "smoke: passed" in proc.stdout
    assert "/v1/me: HTTP 200" in proc.stdout
    assert "/mcp: initialize HTTP 200, tools/list HTTP 200: ask, get_markdown" in proc.stdout
    assert "roset-local mcp (stdio): serverInfo roset-local" in proc.stdout
    # The parts merged later load frozen: typed OpenAPI + vendored docs, the watchfiles thread, redis, OCR.
    assert "security schemes: ApiKey, EventSecret, PortalToken" in proc.stdout
    assert "/schema/docs: HTTP 200, swagger-ui-bundle.js: HTTP 200" in proc.stdout
    assert "live sync: file seen after" in proc.stdout
    assert "ocr (rapidocr): completed" in proc.stdout
    if shutil.which("tesseract"):
        assert "ocr (tesseract): completed" in proc.stdout
        assert "no tesseract failure logged" in proc.stdout
    assert "worker --help: exit 0, --queue listed, --storage listed" in proc.stdout
    if shutil.which("redis-server"):
        assert "worker with a local folder as store: exit 2: " in proc.stdout
        assert "needs an object store every host reaches" in proc.stdout
        assert "worker host on redis: registered in redis-server, exit after SIGTERM 0" in proc.stdout


def test_the_executable_runs_the_operations_commands(binary, tmp_path):
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    version = subprocess.run([str(binary), "version"], env=env, capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("roset-local ")
    doctor = subprocess.run([str(binary), "doctor", "--data-dir", str(tmp_path / "none")], env=env,
                            capture_output=True, text=True, timeout=120)
    assert doctor.returncode == 1 and "does not exist" in doctor.stderr
