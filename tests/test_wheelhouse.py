"""scripts/wheelhouse: an offline `pip install --no-index --find-links` into a fresh venv works and serves.

Opt-in (downloads and builds wheels, ~1-2 min): ROSET_TEST_WHEELHOUSE=1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import ADMIN_KEY, ROOT, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("ROSET_TEST_WHEELHOUSE") != "1", reason="set ROSET_TEST_WHEELHOUSE=1"),
]


def test_offline_install_from_the_wheelhouse_serves(tmp_path):
    house = tmp_path / "wheelhouse"
    built = subprocess.run([str(ROOT / "scripts" / "wheelhouse"), str(house)], capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stderr[-3000:]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "ROSET_"))}
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--no-index", "--find-links", str(house), "roset-local"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    port = free_port()
    env.update({"ROSET_ADMIN_KEY": ADMIN_KEY, "ROSET_DATA_DIR": str(tmp_path / "data")})
    server = subprocess.Popen([str(venv / "bin" / "roset-local"), "serve", "--port", str(port)], env=env,
                              cwd=str(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        headers = {"Authorization": f"ApiKey {ADMIN_KEY}"}
        assert httpx.get(url + "/v1/me", headers=headers).status_code == 200
        # the console's assets must travel in the wheel too
        assert httpx.get(url + "/static/favicon.svg").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
