"""Chunking: validation, the three strategies, offsets, pages, headings and media timestamps."""

from __future__ import annotations

import pytest

from roset_local.index.chunking import chunk_document, validate_chunking

DOC = (
    "# Guide\n\nIntro paragraph. " + "This sentence fills the introduction. " * 12 + "\n\n"
    "## Setup\n\nInstall the package and run it. Configuration lives in one file.\n\n"
    "## Usage\n\n" + "Call the function with a path. " * 30 + "\n"
)


@pytest.mark.parametrize("cfg, message", [
    ("nope", "object"),
    ({"strategy": "semantic"}, "strategy"),
    ({"chunk_size": 50}, "chunk_size"),
    ({"chunk_size": 9000}, "chunk_size"),
    ({"chunk_size": "big"}, "chunk_size"),
    ({"chunk_size": 500, "chunk_overlap": 300}, "chunk_overlap"),
    ({"chunk_overlap": -1}, "chunk_overlap"),
    ({"chunk_overlap": True}, "chunk_overlap"),
    ({"size": 10}, "unknown field"),
])
def test_validation_names_the_problem(cfg, message):
    with pytest.raises(ValueError, match=message):
        validate_chunking(cfg)


def test_defaults():
    assert validate_chunking(None) == {"strategy": "recursive", "chunk_size": 1000, "chunk_overlap": 200}
    assert validate_chunking({"chunk_size": 300}) == {"strategy": "recursive", "chunk_size": 300, "chunk_overlap": 60}


@pytest.mark.parametrize("strategy", ["recursive", "fixed", "markdown"])
def test_chunks_respect_size_and_offsets(strategy):
    chunks = chunk_document(DOC, config={"strategy": strategy, "chunk_size": 300, "chunk_overlap": 50})
    assert len(chunks) > 3
    for c in chunks:
        assert 0 < len(c.text) <= 300
        assert DOC[c.char_start:c.char_end] == c.text
    covered = "".join(DOC[c.char_start:c.char_end] for c in chunks)
    assert "Configuration lives in one file." in covered


def test_recursive_prefers_sentence_boundaries_and_overlaps():
    chunks = chunk_document(DOC, config={"strategy": "recursive", "chunk_size": 300, "chunk_overlap": 80})
    inner = [c for c in chunks if "Call the function" in c.text]
    assert all(c.text.endswith(".") for c in inner)
    assert any(a.char_end > b.char_start for a, b in zip(chunks, chunks[1:]))  # overlap


def test_markdown_strategy_splits_at_headings():
    chunks = chunk_document(DOC, config={"strategy": "markdown", "chunk_size": 1000, "chunk_overlap": 0})
    setup = [c for c in chunks if c.text.startswith("## Setup")]
    assert len(setup) == 1 and "## Usage" not in setup[0].text
    assert setup[0].heading == "Guide > Setup"
    assert all(c.heading.startswith("Guide") for c in chunks)


def test_pages_follow_chunks():
    pages = [(1, "First page text about apples. " * 5), (2, "Second page text about pears. " * 5)]
    md = "\n\n".join(t for _, t in pages)
    chunks = chunk_document(md, pages=pages, config={"chunk_size": 150, "chunk_overlap": 0})
    assert {c.page for c in chunks if "apples" in c.text and "pears" not in c.text} == {1}
    assert {c.page for c in chunks if "pears" in c.text and "apples" not in c.text} == {2}


def test_segments_keep_timestamps():
    segments = [(i * 3.0, i * 3.0 + 3.0, f"Segment number {i} of the talk.") for i in range(20)]
    chunks = chunk_document("", segments=segments, config={"chunk_size": 150, "chunk_overlap": 40})
    assert chunks[0].ts_start == 0.0 and chunks[-1].ts_end == 60.0
    assert all(c.ts_start < c.ts_end for c in chunks)
    assert all(len(c.text) <= 150 for c in chunks)
    assert chunks[1].ts_start < chunks[0].ts_end  # overlapping by whole segments


def test_empty_text_has_no_chunks():
    assert chunk_document("   \n") == []
