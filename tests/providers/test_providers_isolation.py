"""The worker pool: crashes, memory blow-ups, hangs and cancellation fail one job, not the pool."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import samplegen

from roset_local.providers import ExtractionError, ExtractionPool, ExtractRequest


def _txt(samples: dict[str, samplegen.Sample], **options: object) -> ExtractRequest:
    # A born-digital PDF: the cheapest real job (a fresh worker imports only pypdfium2 for it).
    s = samples["pdf"]
    return ExtractRequest(str(s.path), s.filename, s.content_type, dict(options))


@pytest.fixture()
def small_pool(models_dir: Path):  # type: ignore[no-untyped-def]
    with ExtractionPool(
        max_workers=1,
        memory_limit_bytes=400 * 1024**2,
        timeout_seconds=120,
        max_jobs_per_worker=3,
        models_dir=models_dir,
        test_faults=True,
        cancel_grace_seconds=1.0,
    ) as p:
        yield p


def _reason(pool: ExtractionPool, req: ExtractRequest, **kw: object) -> str:
    with pytest.raises(ExtractionError) as info:
        pool.run("reducto", {}, req, **kw)  # type: ignore[arg-type]
    return info.value.reason


def test_segfault_fails_the_job_and_the_pool_goes_on(
    small_pool: ExtractionPool, samples: dict[str, samplegen.Sample]
) -> None:
    assert _reason(small_pool, _txt(samples, _test_fault="segfault")) == "provider_crashed"
    assert "seventeen" in small_pool.run("reducto", {}, _txt(samples)).markdown


def test_memory_hog_is_too_large(small_pool: ExtractionPool, samples: dict[str, samplegen.Sample]) -> None:
    assert _reason(small_pool, _txt(samples, _test_fault="hog")) == "too_large"
    assert small_pool.run("reducto", {}, _txt(samples)).markdown


def test_hang_is_a_timeout(small_pool: ExtractionPool, samples: dict[str, samplegen.Sample]) -> None:
    started = time.monotonic()
    assert _reason(small_pool, _txt(samples, _test_fault="sleep"), timeout_seconds=2) == "provider_timeout"
    assert time.monotonic() - started < 10
    assert small_pool.run("reducto", {}, _txt(samples)).markdown


def test_library_exception_is_provider_crashed(
    small_pool: ExtractionPool, samples: dict[str, samplegen.Sample]
) -> None:
    assert _reason(small_pool, _txt(samples, _test_fault="raise")) == "provider_crashed"


def test_cancel_stops_at_the_next_progress_point(
    small_pool: ExtractionPool, samples: dict[str, samplegen.Sample]
) -> None:
    event = threading.Event()
    threading.Timer(0.3, event.set).start()
    started = time.monotonic()
    assert _reason(small_pool, _txt(samples, _test_fault="slow"), cancel=event) == "cancelled"
    assert time.monotonic() - started < 2.5
    # A cooperative cancel leaves the worker alive and reusable.
    pids = small_pool.worker_pids()
    assert small_pool.run("reducto", {}, _txt(samples)).markdown
    assert small_pool.worker_pids() == pids


def test_cancel_of_a_stuck_worker_kills_it_after_the_grace_time(
    small_pool: ExtractionPool, samples: dict[str, samplegen.Sample]
) -> None:
    started = time.monotonic()
    assert (
        _reason(small_pool, _txt(samples, _test_fault="sleep"), cancel=lambda: True, timeout_seconds=30) == "cancelled"
    )
    assert time.monotonic() - started < 10  # the grace time, not the timeout
    assert small_pool.run("reducto", {}, _txt(samples)).markdown


def test_progress_flows_back_and_workers_recycle(
    small_pool: ExtractionPool, samples: dict[str, samplegen.Sample]
) -> None:
    seen: list[tuple[int, str]] = []
    small_pool.run("reducto", {}, _txt(samples), lambda pct, stage: seen.append((pct, stage)))
    assert seen[0][0] < seen[-1][0] == 100
    first = small_pool.worker_pids()
    for _ in range(3):
        small_pool.run("reducto", {}, _txt(samples))
    assert small_pool.worker_pids() != first  # replaced after max_jobs_per_worker


def test_concurrent_jobs_share_the_pool(pool: ExtractionPool, samples: dict[str, samplegen.Sample]) -> None:
    kinds = ["pdf", "docx", "csv", "md", "html", "json", "txt", "xlsx"]
    with ThreadPoolExecutor(4) as ex:
        results = list(
            ex.map(
                lambda k: pool.run("reducto", {}, ExtractRequest(str(samples[k].path), samples[k].filename, "", {})),
                kinds,
            )
        )
    for kind, result in zip(kinds, results):
        assert samplegen.found_words(result.markdown, samples[kind].words) == samples[kind].words


def test_errors_survive_pickling() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(ExtractionError("encrypted", "locked")))
    assert (err.reason, err.message, str(err)) == ("encrypted", "locked", "encrypted: locked")
    with pytest.raises(ValueError):
        ExtractionError("nope", "unknown reason")
