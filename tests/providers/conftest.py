"""Fixtures for the provider tests: generated samples, a models directory, one worker pool, results."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/samplegen.py

import samplegen  # noqa: E402

from roset_local.providers import (  # noqa: E402
    ExtractionError,
    ExtractionPool,
    ExtractRequest,
    detect_content_type,
    route,
)


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("samples")


@pytest.fixture(scope="session")
def samples(sample_dir: Path) -> dict[str, samplegen.Sample]:
    return samplegen.make_all(sample_dir)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def pool(models_dir: Path) -> Iterator[ExtractionPool]:
    """Two workers with no network at all: every local extraction in these tests runs offline."""
    with ExtractionPool(
        max_workers=2,
        memory_limit_bytes=2 * 1024**3,
        timeout_seconds=300,
        max_jobs_per_worker=500,
        models_dir=models_dir,
        test_faults=True,
        deny_network=True,
    ) as p:
        p.warm()
        yield p


@dataclass
class Outcome:
    content_type: str
    provider: str
    result: Any = None
    error: ExtractionError | None = None
    stages: list[tuple[int, str]] = field(default_factory=list)


@pytest.fixture(scope="session")
def extracted(pool: ExtractionPool, samples: dict[str, samplegen.Sample]) -> dict[str, Outcome]:
    """Every sample extracted once through the pool, two at a time (the per-type tests read these)."""

    def one(kind: str) -> tuple[str, Outcome]:
        sample = samples[kind]
        ctype = detect_content_type(str(sample.path), sample.filename, sample.content_type)
        outcome = Outcome(ctype, route(ctype, None))
        # Language detection costs a second encoder pass: exercised on two files, skipped on the rest.
        options = (
            {"language": "en"}
            if kind.startswith(("audio_", "video_")) and kind not in ("audio_wav", "video_mp4")
            else {}
        )
        req = ExtractRequest(str(sample.path), sample.filename, sample.content_type, options)
        try:
            outcome.result = pool.run(outcome.provider, {}, req, lambda pct, stage: outcome.stages.append((pct, stage)))
        except ExtractionError as exc:
            outcome.error = exc
        return kind, outcome

    # Heaviest first so the two workers finish together.
    order = sorted(samples, key=lambda k: (not k.startswith(("audio_", "video_", "pdf_")), k))
    with ThreadPoolExecutor(2) as ex:
        return dict(ex.map(one, order))
