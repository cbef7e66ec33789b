"""Broken, hostile and disguised files fail with a clear reason and never take the caller down."""

from __future__ import annotations

from pathlib import Path

import pytest
import samplegen

from roset_local.providers import ExtractionError, ExtractionPool, ExtractRequest, detect_content_type, route


def _fail(
    pool: ExtractionPool, path: Path, declared: str = "", provider: str | None = None, **options: object
) -> ExtractionError:
    name = provider or route(detect_content_type(str(path), path.name, declared), None)
    with pytest.raises(ExtractionError) as info:
        pool.run(name, {}, ExtractRequest(str(path), path.name, declared, dict(options)))
    assert info.value.message
    return info.value


def test_encrypted_pdf(pool: ExtractionPool, sample_dir: Path) -> None:
    sample = samplegen.make_pdf_encrypted(sample_dir)
    assert _fail(pool, sample.path).reason == "encrypted"
    # With the password the same file opens.
    result = pool.run(
        "reducto", {}, ExtractRequest(str(sample.path), sample.filename, "application/pdf", {"password": "secret"})
    )
    assert "seventeen" in result.markdown


@pytest.mark.parametrize(
    "name,make,reason",
    [
        ("garbage.pdf", lambda d: samplegen.garbage(d, "garbage.pdf", prefix=b"%PDF-1.7\n"), "corrupt_file"),
        (
            "truncated.pdf",
            lambda d: samplegen.truncated(samplegen.make_pdf_text(d, pages=5, name="t5.pdf").path, d, 0.4),
            "corrupt_file",
        ),
        ("empty.pdf", lambda d: samplegen.garbage(d, "empty.pdf", size=0), "corrupt_file"),
        ("not-a-zip.docx", lambda d: samplegen.garbage(d, "not-a-zip.docx"), "corrupt_file"),
        ("broken.docx", lambda d: samplegen.truncated(samplegen.make_docx(d).path, d, 0.6), "corrupt_file"),
        ("bomb.docx", lambda d: samplegen.zip_bomb_docx(d), "too_large"),
        ("bomb.png", lambda d: samplegen.png_bomb(d), "too_large"),
        ("truncated.png", lambda d: samplegen.truncated(samplegen.make_image(d, "png").path, d, 0.3), "corrupt_file"),
        ("fake.jpg", lambda d: samplegen.garbage(d, "fake.jpg"), "corrupt_file"),
        ("archive.zip", lambda d: _plain_zip(d), "unsupported_format"),
        ("blob.bin", lambda d: samplegen.garbage(d, "blob.bin"), "unsupported_format"),
    ],
)
def test_bad_documents_and_images(pool: ExtractionPool, tmp_path: Path, name: str, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    assert _fail(pool, path).reason == reason


def test_truncated_and_fake_media(pool: ExtractionPool, samples: dict[str, samplegen.Sample], tmp_path: Path) -> None:
    if "video_mp4" not in samples:
        pytest.skip("needs ffmpeg and espeak-ng")
    cut_mp4 = samplegen.truncated(samples["video_mp4"].path, tmp_path, 0.5)
    assert _fail(pool, cut_mp4, "video/mp4").reason == "corrupt_file"
    header_only = samplegen.truncated(
        samples["audio_wav"].path, tmp_path, 44 / samples["audio_wav"].path.stat().st_size
    )
    assert _fail(pool, header_only, "audio/wav").reason == "corrupt_file"
    fake = samplegen.garbage(tmp_path, "song.mp3", prefix=b"ID3\x03\x00\x00\x00\x00\x00\x00")
    assert _fail(pool, fake, "audio/mpeg").reason == "corrupt_file"


def test_media_half_cut_keeps_what_decodes(
    pool: ExtractionPool, samples: dict[str, samplegen.Sample], tmp_path: Path
) -> None:
    if "audio_wav" not in samples:
        pytest.skip("needs ffmpeg and espeak-ng")
    half = samplegen.truncated(samples["audio_wav"].path, tmp_path, 0.6)
    result = pool.run("whisper", {}, ExtractRequest(str(half), half.name, "audio/wav", {"language": "en"}))
    assert "quick" in result.markdown.lower()


def test_document_sent_to_the_wrong_engine(pool: ExtractionPool, samples: dict[str, samplegen.Sample]) -> None:
    assert _fail(pool, samples["docx"].path, provider="whisper").reason == "unsupported_format"
    assert _fail(pool, samples["txt"].path, provider="gemini").reason == "unsupported_format"


def test_limits_can_be_tightened_per_request(pool: ExtractionPool, samples: dict[str, samplegen.Sample]) -> None:
    err = _fail(pool, samples["png"].path, limits={"max_image_pixels": 1000})
    assert err.reason == "too_large"
    err = _fail(pool, samples["pdf"].path, limits={"max_pdf_pages": 2})
    assert err.reason == "too_large"
    err = _fail(pool, samples["pdf"].path, limits={"max_file_bytes": 100})
    assert err.reason == "too_large"


def _plain_zip(directory: Path) -> Path:
    import zipfile

    path = directory / "archive.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes/readme.txt", "hello")
    return path
