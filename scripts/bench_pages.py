#!/usr/bin/env python3
"""Server-side render time of the console's files page with 10,000 files (goal: < 100 ms).

Run: .venv/bin/python scripts/bench_pages.py [--files 10000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from litestar.testing import TestClient

from roset_local.app import create_app
from roset_local.config import Settings
from roset_local.pipeline import lifecycle
from roset_local.portal import users


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({}, data_dir=Path(tmp) / "data", admin_key="rsk_bench_admin_key_0123456789", workers=1,
                                     consumer=False)
        app = create_app(settings)
        services = app.app.state.services
        start = time.perf_counter()
        with services.db.write():
            for i in range(args.files):
                lifecycle.create_file(services, space=f"space{i % 5}", filename=f"document-{i:05d}.pdf",
                                      content_type="application/pdf", size_bytes=1000 + i, metadata={"n": str(i)},
                                      options={}, skip_processing=True)
        print(f"seeded {args.files} files in {time.perf_counter() - start:.1f} s")
        users.create_user(services.db, "bench", "bench-password", is_admin=True)
        with TestClient(app, base_url="http://127.0.0.1:8700") as client:
            form = client.get("/console/login").text
            token = re.search(r'name="_csrf" value="([^"]+)"', form).group(1)
            client.post("/console/login", data={"_csrf": token, "username": "bench", "password": "bench-password"})
            for label, url in [("files page (all spaces, newest first)", "/console/files"),
                               ("files page (one space, by name)", "/console/files?space=space3&sort=filename&order=asc"),
                               ("files page (status filter)", "/console/files?status=uploading"),
                               ("dashboard", "/console")]:
                client.get(url)  # warm up
                times = []
                for _ in range(args.rounds):
                    t0 = time.perf_counter()
                    r = client.get(url)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, r.status_code
                times.sort()
                print(f"{label:42s} median {statistics.median(times):6.1f} ms  p95 {times[int(len(times) * .95) - 1]:6.1f} ms"
                      f"  ({len(r.content) // 1024} KB)")


if __name__ == "__main__":
    main()
