"""Routing rules, content-type detection, the registry's local/hosted choice and the model files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import samplegen

from roset_local.providers import (
    ExtractionError,
    build_registry,
    default_routing_rules,
    detect_content_type,
    list_models,
    route,
)
from roset_local.providers.models import WHISPER_DIRNAME, ensure_whisper_model


def test_default_rules_are_the_contracts() -> None:
    rules = default_routing_rules()
    assert rules[:3] == [
        {"content_type": "application/pdf", "provider": "reducto"},
        {"content_type": "image/*", "provider": "gemini"},
        {"content_type": "audio/*", "provider": "whisper"},
    ]
    assert route("application/pdf", None) == "reducto"
    assert route("image/webp", None) == "gemini"
    assert route("audio/mpeg", None) == "whisper"
    assert route("video/quicktime", None) == "whisper"
    assert route("text/csv", None) == "reducto"
    assert route("application/x-unknown", []) == "reducto"


def test_custom_rules_globs_and_forcing() -> None:
    rules = [
        {"content_type": "application/pdf", "provider": "gemini"},
        {"content_type": "text/*", "provider": "openai"},
    ]
    assert route("application/pdf", rules) == "gemini"
    assert route("TEXT/HTML; charset=utf-8", rules) == "openai"
    assert route("image/png", rules) == "gemini"  # defaults still apply past the custom rules
    assert route("image/png", rules, forced_provider="reducto") == "reducto"
    with pytest.raises(ExtractionError) as info:
        route("image/png", rules, forced_provider="acme")
    assert info.value.reason == "provider_not_configured"


def test_registry_is_local_unless_a_key_is_saved() -> None:
    reg = build_registry({})
    assert set(reg) == {"reducto", "gemini", "whisper", "openai"}
    assert all(p.engine == "local" for p in reg.values())
    reg = build_registry({"gemini": {"key": "g-123", "base_url": "http://127.0.0.1:9"}})
    assert (reg["gemini"].engine, reg["reducto"].engine) == ("hosted", "local")
    assert reg["gemini"].supports("image/png") and not reg["gemini"].supports("audio/wav")
    assert reg["whisper"].supports("video/mp4") and reg["reducto"].supports("text/csv")


def test_detection_uses_bytes_then_magika_then_extension(samples: dict[str, samplegen.Sample], tmp_path: Path) -> None:
    for kind, sample in samples.items():
        # A generic declared type and a neutral name: only the bytes (and, for text, magika) decide.
        neutral = tmp_path / f"upload-{kind}"
        shutil.copy(sample.path, neutral)
        detected = detect_content_type(str(neutral), neutral.name, "application/octet-stream")
        if kind.startswith("audio_") and kind != "audio_m4a":
            assert detected.startswith("audio/") or kind == "audio_webm", (kind, detected)
        elif kind in ("md", "txt"):
            assert detected in ("text/markdown", "text/plain"), (kind, detected)
        elif kind not in ("audio_m4a", "audio_webm"):
            assert detected == sample.content_type, (kind, detected)
        # With its real name, every sample is detected exactly.
        assert detect_content_type(str(sample.path), sample.filename, sample.content_type) == sample.content_type
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert detect_content_type(str(empty), empty.name, None) == "text/csv"


def test_list_models_and_whisper_join(tmp_path: Path) -> None:
    rows = {r["name"]: r for r in list_models(tmp_path)}
    assert rows["whisper-base/model.bin"]["status"] == "missing"
    assert all(rows[n]["status"] == "ok" for n in rows if n.startswith("rapidocr/"))
    target = ensure_whisper_model(tmp_path)
    assert target == tmp_path / WHISPER_DIRNAME
    rows = {r["name"]: r for r in list_models(tmp_path)}
    model = rows["whisper-base/model.bin"]
    assert model["status"] == "ok" and model["sha256_actual"] == model["sha256_expected"]
    # A flipped byte is caught, and the next use re-joins a good copy.
    with open(target / "model.bin", "r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert {r["name"]: r for r in list_models(tmp_path)}["whisper-base/model.bin"]["status"] == "corrupt"
    ensure_whisper_model(tmp_path)
    assert {r["name"]: r for r in list_models(tmp_path)}["whisper-base/model.bin"]["status"] == "ok"
