"""Soak: run many small jobs through a real server and print its memory (RSS) every 100 jobs.

Starts a server on a fresh data directory (or targets --url/--key, with --pid for its RSS), uploads
N small Markdown files a few at a time, waits for each job, and prints the server's RSS every
--every jobs. Goal: flat within 5 MB after the first 200 jobs (the first ones load models and
fill caches).

    .venv/bin/python scripts/soak.py [--jobs 1000] [--every 100] [--concurrency 4]
    .venv/bin/python scripts/soak.py --url http://127.0.0.1:8700 --key rsk_... --pid 1234
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "rsk_soak_admin_key_0123456789abcdef"
DONE = ("completed", "failed", "cancelled")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path, workers: int, **settings: str) -> tuple[subprocess.Popen, str]:
    """A server on ``data_dir`` with the admin key ADMIN_KEY (``settings``: more ROSET_* variables)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSET_")}
    env.update({"ROSET_ADMIN_KEY": ADMIN_KEY, "ROSET_WORKERS": str(workers), "ROSET_LOG_LEVEL": "warning",
                "ROSET_RATE_LIMIT": "100000000", **settings})
    log = open(data_dir.parent / "server.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "roset_local", "serve", "--port", str(port), "--data-dir",
                             str(data_dir)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; see {data_dir.parent / 'server.log'}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start within 60 s")


def call(http: httpx.Client, method: str, path: str, **kwargs: object) -> dict:
    """One request; waits out a 429 (a --url server keeps its rate limit)."""
    while True:
        r = http.request(method, path, **kwargs)  # type: ignore[arg-type]
        if r.status_code != 429:
            r.raise_for_status()
            return r.json()
        time.sleep(float(r.headers.get("Retry-After") or 1))


def run_job(http: httpx.Client, n: int) -> str:
    text = f"# Note {n}\n\nA small note, number {n}, about soak testing and memory {n * 7}.\n".encode()
    job_id = call(http, "POST", "/v1/upload", files={"file": (f"note-{n}.md", text, "text/markdown")})["job_id"]
    while True:
        status = call(http, "GET", f"/v1/jobs/{job_id}")["status"]
        if status in DONE:
            return status
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="ROSET_WORKERS of a server started here")
    parser.add_argument("--url")
    parser.add_argument("--key", default=ADMIN_KEY)
    parser.add_argument("--pid", type=int, help="the server's process id (for its RSS) with --url")
    args = parser.parse_args()

    proc = None
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid
    else:
        tmp = Path(tempfile.mkdtemp(prefix="roset-soak-"))
        proc, url = start_server(tmp / "data", args.workers)
        pid = proc.pid
        print(f"server pid {pid} at {url} (data {tmp / 'data'})", flush=True)
    figures: list[tuple[int, float]] = []
    failed = 0
    started = time.monotonic()
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"ApiKey {args.key}"}, timeout=60) as http:
            with ThreadPoolExecutor(args.concurrency) as pool:
                for batch_start in range(0, args.jobs, args.every):
                    count = min(args.every, args.jobs - batch_start)
                    statuses = list(pool.map(lambda n: run_job(http, n), range(batch_start, batch_start + count)))
                    failed += sum(1 for s in statuses if s != "completed")
                    done = batch_start + count
                    rss = rss_mib(pid) if pid else float("nan")
                    figures.append((done, rss))
                    print(f"{done:6d} jobs  server RSS {rss:8.1f} MiB  failed {failed}  "
                          f"{time.monotonic() - started:6.0f} s", flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    after = [(n, r) for n, r in figures if n >= 200]
    if pid and len(after) >= 2:
        spread = max(r for _, r in after) - min(r for _, r in after)
        growth = (after[-1][1] - after[0][1]) * 1024 / max(1, after[-1][0] - after[0][0])
        verdict = "flat" if spread <= 5 else "GROWING"
        print(f"after 200 jobs: spread {spread:.1f} MiB, {growth:.1f} KiB/job -> {verdict} (goal: within 5 MB)")


if __name__ == "__main__":
    main()
