"""Benchmark the metadata side of a connection sync against a local rclone S3 server.

Creates a bucket of N objects (default 10,000), then times ``walk`` + ``diff_listing`` (what a sync
does, minus the database) against a raw ``fs.find(..., detail=True)`` listing, and prints objects/s
and the ratio. Then runs the real sync path (queue task, nodes + folders written in one transaction,
sync row, event) into a fresh data directory, first sync and a no-change re-sync, with the
throughput ratio against the raw listing (goal >= 0.5; the no-change re-sync <= 1.5x the raw time),
a re-sync with 100 changed objects among N, and the same 100 changes applied as bucket events. Needs the test servers: run scripts/install-test-servers first.

    python scripts/bench_sync.py [--objects 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "storage")]

from servers import start_rclone_s3  # noqa: E402  (tests/storage/servers.py)

from roset_local.storage import backends as conn  # noqa: E402


def key_of(i: int) -> str:
    return f"dir{i % 100:03d}/sub{i % 7}/file{i:06d}.txt"


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = func()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="roset-bench-"))
    server = start_rclone_s3(workdir / "s3")
    try:
        spec = conn.ConnectionSpec(provider="minio", bucket="bench", endpoint_url=server.endpoint,
                                   credentials={"access_key_id": server.access_key,
                                                "secret_access_key": server.secret_key})
        fs = conn.open_fs(spec)
        started = time.perf_counter()
        # rclone serves a plain directory (top-level folders are buckets): writing the files there
        # is ~100x faster than 10,000 S3 PUTs and lists the same.
        for i in range(args.objects):
            path = server.root / "bench" / key_of(i)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"object {i}\n".encode())
        print(f"created {args.objects} objects in {time.perf_counter() - started:.1f} s")

        raw_time = first_time = again_time = folder_time = float("inf")
        previous: dict = {}
        for _ in range(args.repeat):  # interleaved, so a busy machine slows every variant alike
            t, raw = timed(lambda: fs.find("bench", detail=True))
            raw_time = min(raw_time, t)
            assert len(raw) == args.objects, len(raw)
            t, first = timed(lambda: conn.diff_listing({}, conn.walk(spec)))
            first_time = min(first_time, t)
            assert len(first.new) == args.objects
            previous = {i.key: (i.etag, i.size, i.last_modified) for i in first.new}
            t, again = timed(lambda: conn.diff_listing(previous, conn.walk(spec)))
            again_time = min(again_time, t)
            assert not (again.new or again.updated or again.deleted)
            t, folders = timed(lambda: conn.folders_for(previous))
            folder_time = min(folder_time, t)

        n = args.objects
        print(f"raw fs.find(detail=True):           {raw_time:6.2f} s  {n / raw_time:8.0f} objects/s")
        print(f"walk + diff_listing (first sync):   {first_time:6.2f} s  {n / first_time:8.0f} objects/s"
              f"  ratio {first_time / raw_time:.2f}x raw")
        print(f"walk + diff_listing (no changes):   {again_time:6.2f} s  {n / again_time:8.0f} objects/s"
              f"  ratio {again_time / raw_time:.2f}x raw")
        print(f"folders_for ({len(folders)} folders):          {folder_time * 1000:6.1f} ms")
        db_sync(spec, workdir, n, raw_time, args.repeat)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def db_sync(spec: Any, workdir: Path, n: int, raw_time: float, repeat: int) -> None:
    """The real sync path (queue task → listing → one transaction of nodes, folders, sync row, event)."""
    from roset_local.auth import Principal
    from roset_local.config import Settings
    from roset_local.connections import manage, sync
    from roset_local.services import Services
    from roset_local.wiring import wire
    from roset_local.store import connections as store

    best_first = best_again = best_changed = best_events = float("inf")
    for attempt in range(repeat):
        services = wire(Services(Settings.from_env({}, data_dir=workdir / f"data{attempt}", consumer=False)).open())
        services.huey.immediate = True  # the sync task runs inline, as the consumer would run it
        try:
            principal = Principal("api_key", None, None, frozenset())
            data = {"name": "bench", "provider": spec.provider, "bucket": spec.bucket,
                    "endpoint_url": spec.endpoint_url, "credentials": dict(spec.credentials)}
            row = manage.create_connection(services, principal, {**data, "sync_interval_minutes": None}, verified=True,
                                           checked=("default", spec))
            t, _ = timed(lambda: sync.request_sync(services, row))
            done = store.latest_sync(services.db, row["id"])
            assert done and done["status"] == "completed" and done["files_added"] == n, done
            best_first = min(best_first, t)
            # The raw listing again, right before: the machine's load drifts between the phases.
            t, _ = timed(lambda: conn.open_fs(spec).find(spec.bucket, detail=True))
            raw_time = min(raw_time, t)
            t, _ = timed(lambda: sync.request_sync(services, row))
            again = store.latest_sync(services.db, row["id"])
            assert again and again["status"] == "completed" and again["files_added"] == 0, again
            best_again = min(best_again, t)
            fs = conn.open_fs(spec)  # 100 changed objects among n: new bytes, new etags
            for i in range(0, n, max(1, n // 100)):
                fs.pipe_file(f"{spec.bucket}/{key_of(i)}", f"changed {attempt} {i}\n".encode())
            t, _ = timed(lambda: sync.request_sync(services, row))
            changed = store.latest_sync(services.db, row["id"])
            assert changed and changed["status"] == "completed" and changed["files_updated"] == min(n, 100), changed
            best_changed = min(best_changed, t)
            keys = [key_of(i) for i in range(1, n, max(1, n // 100))][:100]  # 100 more, announced as bucket events
            for key in keys:
                fs.pipe_file(f"{spec.bucket}/{key}", f"event {attempt} {key}\n".encode())
            t, applied = timed(lambda: sync.apply_scope(services, row, sync.Scope(keys=frozenset(keys)), "event"))
            assert applied and applied["status"] == "completed" and applied["files_updated"] == len(keys), applied
            best_events = min(best_events, t)
            nodes = services.db.value("SELECT count(*) FROM nodes WHERE connection_id = :c", {"c": row["id"]})
        finally:
            services.stop()
    print(f"raw listing (best, interleaved):    {raw_time:6.2f} s")
    print(f"full sync into the DB ({nodes} nodes):  {best_first:6.2f} s  {n / best_first:8.0f} objects/s"
          f"  throughput ratio {raw_time / best_first:.2f} of raw (goal >= 0.5)")
    print(f"no-change re-sync (DB):             {best_again:6.2f} s  {n / best_again:8.0f} objects/s"
          f"  throughput ratio {raw_time / best_again:.2f} of raw (goal >= 0.67, i.e. <= 1.5x the raw time)")
    print(f"re-sync with 100 changed objects:    {best_changed:6.2f} s  ({best_changed / raw_time:.2f}x the raw listing)")
    print(f"100 changed objects as bucket events: {best_events:6.2f} s  (apply_scope: a HEAD per key, no listing)")


if __name__ == "__main__":
    main()
