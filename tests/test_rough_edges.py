"""What a new user trips over: CLI refusals before anything is created, and contract details of registration."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from roset_local.cli import main
from roset_local.store.keys import ALL_SCOPES
from tests.conftest import ROOT, server_env


def run_cli(*args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roset_local", *args], capture_output=True, text=True,
                          env=server_env(ROSET_ADMIN_KEY=""), cwd=ROOT, timeout=60, stdin=stdin)


def test_serve_refuses_an_impossible_port_before_creating_anything(tmp_path: Path):
    data = tmp_path / "data"
    result = run_cli("serve", "--port", "99999", "--data-dir", str(data))
    assert result.returncode == 2
    assert "between 1 and 65535" in result.stderr and "Traceback" not in result.stderr
    assert not data.exists()


def test_serve_reports_a_busy_port_before_the_data_dir_key_and_queue_exist(tmp_path: Path):
    data = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data))
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
    assert not data.exists()  # no data directory, so no admin key and no queue either


def test_keys_create_refuses_an_unknown_scope_with_the_valid_list(tmp_path: Path):
    data = tmp_path / "data"
    assert run_cli("init", "--data-dir", str(data)).returncode == 0
    result = run_cli("keys", "create", "--data-dir", str(data), "--name", "typo", "--scopes", "files:reed")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown scopes: files:reed" in result.stderr
    assert all(scope in result.stderr for scope in ALL_SCOPES)  # the same list the API validates against
    assert "typo" not in run_cli("keys", "list", "--data-dir", str(data)).stdout


def test_commands_refuse_a_missing_data_dir_instead_of_creating_it(tmp_path: Path):
    typo = tmp_path / "dat"
    for args in (("keys", "list"), ("users", "list"), ("worker",)):
        result = run_cli(*args, "--data-dir", str(typo))
        assert result.returncode == 2, (args, result.stderr)
        assert f"no data directory at {typo}" in result.stderr and "roset-local init" in result.stderr
        assert "Traceback" not in result.stderr
        assert not typo.exists()


def test_users_create_without_a_terminal_points_to_password_stdin(tmp_path: Path):
    data = tmp_path / "data"
    assert run_cli("init", "--data-dir", str(data)).returncode == 0
    result = run_cli("users", "create", "--data-dir", str(data), "--username", "ops", "--admin")
    assert result.returncode == 1
    assert "--password-stdin" in result.stderr and "Traceback" not in result.stderr


def test_backup_and_restore_do_not_warn_about_files_never_uploaded(client, settings, tmp_path, capsys):
    registered = client.post("/v1/upload", json={"filename": "later.pdf"})
    assert registered.status_code in (200, 201), registered.text
    dest, target = tmp_path / "backup", tmp_path / "restored"
    assert main(["backup", str(dest), "--data-dir", str(settings.data_dir)]) == 0
    assert main(["restore", str(dest), "--data-dir", str(target)]) == 0
    out = capsys.readouterr()
    assert "backed up" in out.out and "restored" in out.out
    assert "deleted while the backup ran" not in out.out + out.err


def _put(client, body: dict, content: bytes) -> None:
    response = client.put(body["upload_url"].split("8700", 1)[1], content=content)
    assert response.status_code == 200, response.text


def test_registration_without_content_type_detects_it_from_the_name_then_the_bytes(client):
    named = client.post("/v1/upload", json={"filename": "notes.md", "skip_processing": True}).json()
    assert named["content_type"] == "text/markdown"
    record = client.post("/v1/files", json={"filename": "scan.pdf", "skip_processing": True}).json()
    assert record["content_type"] == "application/pdf"
    assert client.get(f"/v1/files/{record['id']}").json()["content_type"] == "application/pdf"
    _put(client, record, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # the bytes say otherwise: they win
    assert client.get(f"/v1/files/{record['id']}").json()["content_type"] == "image/png"
    unnamed = client.post("/v1/files", json={"filename": "upload", "skip_processing": True}).json()
    assert unnamed["content_type"] is None  # nothing to go on until the bytes arrive
    _put(client, unnamed, b"%PDF-1.4\n%%EOF\n")
    assert client.get(f"/v1/files/{unnamed['id']}").json()["content_type"] == "application/pdf"
    declared = client.post("/v1/files", json={"filename": "a.bin", "content_type": "application/x-custom",
                                              "skip_processing": True}).json()
    assert declared["content_type"] == "application/x-custom"


def test_whisper_model_is_shared_and_hashed_once(tmp_path: Path, monkeypatch):
    from roset_local.config import Settings
    from roset_local.providers import models

    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    one = Settings.from_env(env, data_dir=tmp_path / "a").models_dir
    assert one == Settings.from_env(env, data_dir=tmp_path / "b").models_dir == tmp_path / "cache/roset-local/models"
    assert Settings.from_env({**env, "ROSET_MODELS_DIR": str(tmp_path / "m")}).models_dir == tmp_path / "m"
    if not models.whisper_parts_available():
        pytest.skip("the Whisper weight packages are not installed")
    target = models.ensure_whisper_model(one)
    assert target == one / models.WHISPER_DIRNAME and (target / "model.bin").stat().st_size == 145217532

    def no_hashing(path):
        raise AssertionError(f"hashed {path} again")

    monkeypatch.setattr(models, "file_sha256", no_hashing)
    assert models.ensure_whisper_model(one) == target  # size + mtime against the stamp, no 140 MB read
    with open(target / "vocabulary.txt", "ab") as fh:
        fh.write(b"x")  # changed since verified: the stamp no longer vouches for it
    monkeypatch.undo()
    models.ensure_whisper_model(one)
    assert models._status(target / "vocabulary.txt", models.WHISPER_FILES[3])[0] == "ok"  # re-joined
