"""Analytics latency at scale: fills a temp data dir with a year of history, times every endpoint.

    .venv/bin/python scripts/bench_analytics.py [--jobs 1000000] [--keep DIR]

Rows go in through the normal schema, triggers included (so the fill rate shows their cost).
Prints the fill rate, then each endpoint's cold and median latency (goal: < 200 ms each).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from litestar.testing import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from roset_local.app import create_app  # noqa: E402
from roset_local.config import Settings  # noqa: E402
from roset_local.store.analytics import suspended_rollups  # noqa: E402
from roset_local.store.org import check_quota  # noqa: E402

ADMIN_KEY = "rsk_bench_admin_key_0123456789abcdef"
SPACES = ["default", "acme", "beta-corp", "globex", "initech"]
TYPES = [("application/pdf", "reducto", 0.45), ("image/png", "gemini", 0.2), ("image/jpeg", "gemini", 0.1),
         ("audio/mpeg", "whisper", 0.08), ("video/mp4", "whisper", 0.02), ("text/plain", "reducto", 0.07),
         ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "reducto", 0.05),
         ("text/markdown", "reducto", 0.03)]
REASONS = ["provider_timeout", "corrupt_file", "unsupported_format", "encrypted", "too_large", "provider_crashed"]


def fill(db, n_jobs: int, days: int = 365, chunk: int = 50_000, prefix: str = "") -> tuple[int, int, float]:
    rng = random.Random(7)
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    start = now - timedelta(days=days)
    span = days * 86400
    day_names = [(start + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(days + 2)]
    base_s = start.hour * 3600 + start.minute * 60 + start.second

    def stamp(moment: datetime) -> str:  # strftime is the fill's bottleneck; days are precomputed
        offset = int((moment - start).total_seconds()) + base_s
        d, rest = divmod(offset, 86400)
        return f"{day_names[d]} {rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"

    n_files = int(n_jobs * 0.85)  # some files were processed more than once
    weights = [w for _, _, w in TYPES]
    started = time.perf_counter()
    files: list[tuple] = []
    jobs: list[tuple] = []
    variants: list[tuple] = []
    n_variants = 0

    def flush() -> None:
        with db.write():
            db.conn.executemany(
                "INSERT INTO files (id, space, filename, content_type, size_bytes, storage_key, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", files)
            db.conn.executemany(
                "INSERT INTO jobs (id, file_id, space, status, provider, reason, error, pages, created_at, started_at, "
                "completed_at, duration_ms, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", jobs)
            db.conn.executemany(
                "INSERT INTO variants (id, file_id, type, content_type, size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                variants)
        files.clear(), jobs.clear(), variants.clear()

    job_no = 0
    for i in range(n_files):
        fid = f"{prefix}file-{i:09d}"
        space = SPACES[min(int(rng.expovariate(0.9)), len(SPACES) - 1)]
        ctype, provider, _ = rng.choices(TYPES, weights)[0]
        created = start + timedelta(seconds=span * (i / n_files))
        attempts = 1 + (i % 100 < 18) if job_no < n_jobs else 0
        status = "uploaded"
        for attempt in range(attempts):
            if job_no >= n_jobs:
                break
            job_no += 1
            roll = rng.random()
            jstatus = "completed" if roll < 0.90 else "failed" if roll < 0.96 else "cancelled" if roll < 0.97 else "completed"
            if attempt == 0 and attempts == 2:
                jstatus = "failed"
            if (now - created).days < 1 and roll > 0.985:
                jstatus = "queued"
            ms = int(rng.lognormvariate(7.6, 1.0)) if jstatus in ("completed", "failed") else None
            jcreated = created + timedelta(seconds=attempt * 60)
            done = stamp(jcreated + timedelta(milliseconds=ms or 500)) if jstatus != "queued" else None
            reason = rng.choice(REASONS) if jstatus == "failed" else None
            jobs.append((f"{prefix}job-{job_no:09d}", fid, space, jstatus, provider, reason, "failed" if reason else None,
                         rng.randint(1, 30) if jstatus == "completed" else 0, stamp(jcreated),
                         stamp(jcreated), done, ms if jstatus != "cancelled" else None, done or stamp(jcreated)))
            status = {"completed": "completed", "failed": "failed", "queued": "processing"}.get(jstatus, status)
        files.append((fid, space, f"doc-{i}", ctype, rng.randint(1_000, 5_000_000), f"{space}/{fid}", status,
                      stamp(created), stamp(created)))
        if status == "completed":
            for vtype in ("markdown", "metadata") if rng.random() < 0.7 else ("markdown",):
                n_variants += 1
                variants.append((f"{prefix}var-{n_variants:09d}", fid, vtype, "text/markdown", rng.randint(100, 200_000),
                                 stamp(created)))
        if len(jobs) >= chunk:
            flush()
    flush()
    return n_files, n_variants, time.perf_counter() - started


def timed(client: TestClient, path: str, headers: dict[str, str] | None = None, runs: int = 5) -> tuple[float, float]:
    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        r = client.get(path, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code, r.text[:200])
    return times[0], statistics.median(times[1:])


ENDPOINTS = [
    "/v1/analytics/overview", "/v1/analytics/processing", "/v1/analytics/processing?days=365",
    "/v1/analytics/file-types", "/v1/analytics/spaces", "/v1/analytics/failures", "/v1/analytics/failures?limit=200",
    "/v1/analytics/volume", "/v1/analytics/volume?days=365", "/v1/analytics/trends", "/v1/analytics/trends?days=365",
    "/v1/analytics/providers", "/v1/analytics/providers?days=365", "/v1/analytics/top-failures",
    "/v1/analytics/storage-growth", "/v1/analytics/storage-growth?days=365", "/v1/org/usage", "/metrics",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="data dir to keep (reused when it already holds data)")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="roset-bench-"))
    settings = Settings.from_env({}, data_dir=base, admin_key=ADMIN_KEY, consumer=False, rate_limit_per_minute=10**6)
    app = create_app(settings)
    services = app.app.state.services
    db = services.db
    try:
        if not db.value("SELECT count(*) FROM jobs"):
            t0 = time.perf_counter()
            with suspended_rollups(db):
                n_files, n_variants, seconds = fill(db, args.jobs)
            total = n_files + args.jobs + n_variants
            print(f"bulk: {args.jobs:,} jobs, {n_files:,} files, {n_variants:,} variants inserted in {seconds:.1f} s "
                  f"({total / seconds:,.0f} rows/s); with rollup rebuild {time.perf_counter() - t0:.1f} s")
            n_files, n_variants, seconds = fill(db, 10_000, chunk=1_000, prefix="live-")
            total = n_files + 10_000 + n_variants
            print(f"live: {total:,} more rows with the analytics triggers on: {total / seconds:,.0f} rows/s")
        size = settings.db_path.stat().st_size / 1e6
        rollup_rows = sum(db.value(f"SELECT count(*) FROM {t}") for t in
                          ("an_jobs_daily", "an_latency_daily", "an_files_daily", "an_variants_daily"))
        print(f"database {size:,.0f} MB; rollup rows {rollup_rows:,}")
        with TestClient(app) as client:
            client.headers["Authorization"] = f"ApiKey {ADMIN_KEY}"
            confined = client.post("/v1/org/api-keys", json={"name": "bench", "scopes": ["analytics:read"],
                                                             "spaces": ["acme", "globex"]}).json()["key"]
            print(f"{'endpoint':45} {'cold ms':>8} {'median ms':>10} {'confined median':>16}")
            worst = 0.0
            for path in ENDPOINTS:
                cold, median = timed(client, path)
                _, confined_median = timed(client, path, {"Authorization": f"ApiKey {confined}"}) if "analytics" in path else (0, 0)
                worst = max(worst, median, confined_median)
                print(f"{path:45} {cold:8.1f} {median:10.1f} {confined_median:16.1f}")
            t0 = time.perf_counter()
            for _ in range(20):
                check_quota(services)
            print(f"check_quota: {(time.perf_counter() - t0) / 20 * 1000:.2f} ms per call")
            print(f"worst median: {worst:.1f} ms (goal < 200 ms)")
    finally:
        services.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
