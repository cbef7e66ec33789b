"""One real file per supported type goes through the worker pool and its known words come out."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import samplegen
from PIL import Image

from roset_local.providers import ExtractionPool, ExtractRequest, detect_content_type, route

DOCS = ["pdf", "docx", "pptx", "xlsx", "html", "csv", "json", "md", "txt", "eml"]
IMAGES = ["png", "jpeg", "webp", "tiff", "bmp", "gif"]
MEDIA = [f"audio_{f}" for f in ("wav", "mp3", "m4a", "ogg", "flac", "webm")] + [
    f"video_{f}" for f in ("mp4", "mov", "webm")
]
COMMON_FIELDS = {"detected_type", "word_count", "language", "title", "author", "engine", "timings"}


def _get(extracted: dict[str, Any], kind: str) -> Any:
    """The session's extraction of one sample (see conftest.extracted), checked for success."""
    if kind not in extracted:
        pytest.skip("espeak-ng and ffmpeg are needed to make speech samples (tests/providers/APT_PACKAGES)")
    outcome = extracted[kind]
    assert outcome.error is None, outcome.error
    assert outcome.stages and outcome.stages[-1][0] == 100, "progress must reach 100"
    assert all(0 <= pct <= 100 for pct, _ in outcome.stages)
    return outcome.content_type, outcome.provider, outcome.result


def _extract(pool: ExtractionPool, sample: samplegen.Sample, **options: Any) -> Any:
    ctype = detect_content_type(str(sample.path), sample.filename, sample.content_type)
    provider = route(ctype, None)
    req = ExtractRequest(str(sample.path), sample.filename, sample.content_type, dict(options))
    return ctype, provider, pool.run(provider, {}, req)


def _assert_thumbnail(result: Any) -> None:
    assert result.thumbnail and result.thumbnail_type in ("image/png", "image/webp")
    img = Image.open(io.BytesIO(result.thumbnail))
    img.load()
    assert max(img.size) <= 256
    assert img.format and Image.MIME[img.format] == result.thumbnail_type


@pytest.mark.parametrize("kind", DOCS)
def test_documents(extracted: dict[str, Any], samples: dict[str, samplegen.Sample], kind: str) -> None:
    sample = samples[kind]
    ctype, provider, result = _get(extracted, kind)
    assert ctype == sample.content_type
    assert provider == "reducto"
    assert samplegen.found_words(result.markdown, sample.words) == sample.words
    assert COMMON_FIELDS <= set(result.metadata)
    assert result.metadata["detected_type"] == sample.content_type
    assert result.metadata["word_count"] >= len(sample.words)
    assert result.segments == []
    if kind in ("pdf", "docx", "md", "html"):
        assert result.metadata["title"] == "Quarterly Report"


def test_pdf_pages_metadata_and_thumbnail(extracted: dict[str, Any]) -> None:
    _, _, result = _get(extracted, "pdf")
    meta = result.metadata
    assert meta["page_count"] == 3 and [p.number for p in result.pages] == [1, 2, 3]
    assert meta["ocr_pages"] == [] and not any(p.ocr for p in result.pages)
    assert "Page 2 of the report." in result.pages[1].markdown
    assert meta["author"] == "Roset Tests" and meta["language"] == "en"
    assert meta["engine"]["library"] == "pypdfium2" and meta["engine"]["version"]
    assert (meta["width"], meta["height"]) == (612, 792)
    _assert_thumbnail(result)


def test_office_keeps_headings_and_tables(extracted: dict[str, Any]) -> None:
    _, _, docx = _get(extracted, "docx")
    assert "# Quarterly Report" in docx.markdown
    assert "| Region | Revenue |" in docx.markdown and "| North | 4200 |" in docx.markdown
    assert docx.metadata["author"] == "Roset Tests"
    _, _, xlsx = _get(extracted, "xlsx")
    assert "## Revenue" in xlsx.markdown and "| North | 4200 | seventeen |" in xlsx.markdown
    _, _, pptx = _get(extracted, "pptx")
    assert [p.number for p in pptx.pages] == [1, 2] and "Next Steps" in pptx.pages[1].markdown
    _, _, csv = _get(extracted, "csv")
    assert "| Region | Quarterly | Percent |" in csv.markdown
    _, _, eml = _get(extracted, "eml")
    assert eml.metadata["title"] == "Quarterly report" and "alice@example.com" in eml.metadata["author"]


@pytest.mark.parametrize("kind", IMAGES)
def test_images(extracted: dict[str, Any], samples: dict[str, samplegen.Sample], kind: str) -> None:
    sample = samples[kind]
    ctype, provider, result = _get(extracted, kind)
    assert (ctype, provider) == (sample.content_type, "gemini")
    assert len(samplegen.found_words(result.markdown, sample.words)) >= len(sample.words) - 1
    # Reading order survives (layout analysis may join the drawn lines into one paragraph).
    text = result.markdown
    assert text.index("4821") < text.index("Acme") < text.index("129")
    assert result.metadata["width"] == 900 and result.metadata["ocr_pages"] == [1]
    assert result.metadata["engine"]["library"] == "rapidocr"
    assert COMMON_FIELDS <= set(result.metadata)
    _assert_thumbnail(result)


@pytest.mark.parametrize("kind", ["pdf_scanned", "pdf_mixed"])
def test_scanned_and_mixed_pdfs(extracted: dict[str, Any], samples: dict[str, samplegen.Sample], kind: str) -> None:
    sample = samples[kind]
    _, provider, result = _get(extracted, kind)
    assert provider == "reducto"
    assert len(samplegen.found_words(result.markdown, sample.words)) >= len(sample.words) - 1
    expected_ocr = [1] if kind == "pdf_scanned" else [2]
    assert result.metadata["ocr_pages"] == expected_ocr
    assert [p.number for p in result.pages if p.ocr] == expected_ocr
    assert result.metadata["engine"]["ocr_library"] == "rapidocr"
    _assert_thumbnail(result)


def test_ocr_off_leaves_scans_empty(pool: ExtractionPool, samples: dict[str, samplegen.Sample]) -> None:
    _, _, result = _extract(pool, samples["pdf_scanned"], ocr="off")
    assert result.metadata["ocr_pages"] == [] and result.markdown == ""


def test_gemini_reads_pdf_pages_by_ocr(pool: ExtractionPool, samples: dict[str, samplegen.Sample]) -> None:
    sample = samples["pdf_scanned"]
    req = ExtractRequest(str(sample.path), sample.filename, sample.content_type, {})
    result = pool.run("gemini", {}, req)
    assert "4821" in result.markdown and result.metadata["ocr_pages"] == [1]


@pytest.mark.parametrize("kind", MEDIA)
def test_audio_and_video(extracted: dict[str, Any], samples: dict[str, samplegen.Sample], kind: str) -> None:
    ctype, provider, result = _get(extracted, kind)
    sample = samples[kind]
    assert (ctype, provider) == (sample.content_type, "whisper")
    assert len(samplegen.found_words(result.markdown, sample.words)) >= 3, result.markdown
    assert result.segments and result.segments[0].start >= 0 and result.segments[-1].end > result.segments[0].start
    assert result.markdown.startswith("[00:0")
    meta = result.metadata
    assert meta["language"] == "en" and 1.5 < meta["duration_seconds"] < 10
    assert meta["engine"]["library"] == "faster-whisper"
    assert COMMON_FIELDS <= set(meta)
    if kind.startswith("video_"):
        assert (meta["width"], meta["height"]) == (320, 240)
        _assert_thumbnail(result)
    else:
        assert result.thumbnail is None


def test_wrong_extension_is_detected_from_bytes(
    pool: ExtractionPool, samples: dict[str, samplegen.Sample], tmp_path: Path
) -> None:
    disguised = tmp_path / "report.txt"
    disguised.write_bytes(samples["pdf"].path.read_bytes())
    assert detect_content_type(str(disguised), disguised.name, "text/plain") == "application/pdf"
    result = pool.run("reducto", {}, ExtractRequest(str(disguised), disguised.name, "text/plain", {}))
    assert result.metadata["page_count"] == 3
    picture = tmp_path / "scan.pdf"
    picture.write_bytes(samples["png"].path.read_bytes())
    assert detect_content_type(str(picture), picture.name, "application/pdf") == "image/png"
    result = pool.run("reducto", {}, ExtractRequest(str(picture), picture.name, "application/pdf", {}))
    assert "4821" in result.markdown


def test_multipage_tiff_and_transparent_png(pool: ExtractionPool, tmp_path: Path) -> None:
    first = samplegen.text_image(["Invoice number 4821"])
    second = samplegen.text_image(["Second page 7733"])
    tiff = tmp_path / "two-pages.tiff"
    first.save(tiff, save_all=True, append_images=[second])
    result = pool.run("gemini", {}, ExtractRequest(str(tiff), tiff.name, "image/tiff", {}))
    assert [p.number for p in result.pages] == [1, 2] and result.metadata["ocr_pages"] == [1, 2]
    assert "4821" in result.pages[0].markdown and "7733" in result.pages[1].markdown
    # Black text on a transparent background is read on white, not on black.
    ink = samplegen.text_image(["Invoice number 4821"], mode="L")
    rgba = Image.new("RGBA", ink.size, (0, 0, 0, 0))
    rgba.putalpha(ink.point(lambda v: 255 - v))  # opaque black where the text is, clear elsewhere
    png = tmp_path / "transparent.png"
    rgba.save(png)
    result = pool.run("gemini", {}, ExtractRequest(str(png), png.name, "image/png", {}))
    assert "4821" in result.markdown
