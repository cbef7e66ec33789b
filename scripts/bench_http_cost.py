"""Server CPU per 1,000 requests of the common API calls, against a bare Litestar app in the same run.

Starts a real Roset Local server (uvicorn, its own settings; in-process consumer off so uploads only queue
and no extraction runs) and a bare Litestar app under the same uvicorn settings that answers a trivial JSON
GET. One keep-alive client sends the requests one after another; the figure is the server process's
utime + stime from /proc/<pid>/stat (load-independent, unlike wall time) per 1,000 requests of:

    GET /health, POST /v1/upload (small multipart file), GET /v1/files/{id}, GET /v1/files (a page of 20)

and each one's ratio to the bare app's figure (1.0 = no overhead over the framework and server).

    .venv/bin/python scripts/bench_http_cost.py [--requests 2000] [--rounds 2]

``--profile FILE`` runs the server under cProfile (env-guarded hook, ROSET_BENCH_PROFILE) and writes its
stats to FILE on shutdown: the place to look when a figure grows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from bench_api import (  # the same server plumbing
    ADMIN_KEY,
    HEADERS,
    cpu_seconds,
    free_port,
    stop,
    wait_ready,
)

ROOT = Path(__file__).resolve().parent.parent

BARE_APP = textwrap.dedent(
    """
    import sys
    import uvicorn
    from litestar import Litestar, get

    @get("/trivial")
    async def trivial() -> dict:
        return {"status": "ok"}

    uvicorn.run(Litestar([trivial], debug=False, logging_config=None), host="127.0.0.1", port=int(sys.argv[1]),
                log_level="warning", access_log=False, lifespan="on")
    """
)

# The server under cProfile: the same ``serve`` entry point, stats dumped when it stops.
PROFILED_SERVER = textwrap.dedent(
    """
    import atexit, cProfile, os, pstats, sys, threading
    profilers = [cProfile.Profile()]

    def per_thread(frame, event, arg):  # first event of a new thread: give it its own profiler
        profiler = cProfile.Profile()
        profilers.append(profiler)
        profiler.enable()

    def dump():
        for profiler in profilers:
            profiler.disable()
        stats = pstats.Stats(profilers[0])
        for profiler in profilers[1:]:
            try:
                stats.add(profiler)
            except TypeError:  # a thread that never ran a profiled call
                pass
        stats.dump_stats(os.environ["ROSET_BENCH_PROFILE"])

    atexit.register(dump)
    threading.setprofile(per_thread)
    from roset_local.cli import main
    sys.argv = ["roset_local"] + sys.argv[1:]
    profilers[0].enable()
    main()
    """
)


def settle(pid: int, quiet_s: float = 0.3, limit_s: float = 5.0) -> None:
    """Wait until the server stops burning CPU (batched log writes, start-up work) before a measurement."""
    deadline = time.monotonic() + limit_s
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = cpu_seconds(pid)
        if now - last < 0.02:
            return
        last = now


def cpu_per_1000(pid: int, count: int, one: Callable[[int], httpx.Response]) -> float:
    """Server CPU-seconds per 1,000 calls of ``one`` (a warm-up first; every answer must be a success)."""
    for i in range(min(100, count)):
        one(-1 - i)
    settle(pid)
    before = cpu_seconds(pid)
    for i in range(count):
        response = one(i)
        if response.status_code >= 300:
            raise SystemExit(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    settle(pid)  # the log writer's batches belong to these requests
    return (cpu_seconds(pid) - before) / count * 1000


def measure_roset(client: httpx.Client, pid: int, count: int, tag: str, only: str) -> dict[str, float]:
    def upload(i: int) -> httpx.Response:  # a small PDF (what an ingest sends), new bytes every time
        body = b"%PDF-1.4\n%" + f"bench {tag} {i}\n".encode() + b"1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
        return client.post("/v1/upload", files={"file": (f"doc-{tag}-{i}.pdf", body, "application/pdf")})

    for i in range(25):  # a page of files to list and one to read, whichever calls run
        file_id = upload(10**9 + i).json()["id"]
    calls: dict[str, Callable[[int], httpx.Response]] = {
        "POST /v1/upload": upload,
        "GET /health": lambda i: client.get("/health"),
        "GET /v1/files/{id}": lambda i: client.get(f"/v1/files/{file_id}"),
        "GET /v1/files": lambda i: client.get("/v1/files", params={"limit": 20}),
    }
    return {name: cpu_per_1000(pid, count, one) for name, one in calls.items() if only in name}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per call and round")
    parser.add_argument("--rounds", type=int, default=2, help="best of this many rounds per figure")
    parser.add_argument("--only", default="", help="measure only the calls whose name contains this")
    parser.add_argument("--profile", type=Path, help="run Roset Local under cProfile, write the stats here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="roset-bench-http-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSET_")}
    env.update({"ROSET_ADMIN_KEY": ADMIN_KEY, "ROSET_RATE_LIMIT": "1000000000", "ROSET_LOG_LEVEL": "warning",
                "ROSET_DATA_DIR": str(work / "data"), "ROSET_CONSUMER": "0", "PYTHONUNBUFFERED": "1"})
    best: dict[str, float] = {}
    try:
        (work / "bare_app.py").write_text(BARE_APP)
        (work / "profiled.py").write_text(PROFILED_SERVER)
        port = free_port()
        if args.profile:
            env["ROSET_BENCH_PROFILE"] = str(args.profile.resolve())
            env["PYTHONPATH"] = str(ROOT)  # this checkout's package, as ``-m`` from its root gives
            cmd = [sys.executable, str(work / "profiled.py"), "serve", "--port", str(port)]
        else:
            cmd = [sys.executable, "-m", "roset_local", "serve", "--port", str(port)]
        bare_port = free_port()
        with open(work / "roset.log", "wb") as log, open(work / "bare.log", "wb") as bare_log:
            proc = subprocess.Popen(cmd, env=env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT)
            bare = subprocess.Popen([sys.executable, str(work / "bare_app.py"), str(bare_port)], env=env,
                                    cwd=str(ROOT), stdout=bare_log, stderr=subprocess.STDOUT)
        try:
            wait_ready(f"http://127.0.0.1:{port}/health", proc)
            wait_ready(f"http://127.0.0.1:{bare_port}/trivial", bare)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=HEADERS, timeout=30) as client, \
                    httpx.Client(base_url=f"http://127.0.0.1:{bare_port}", timeout=30) as bare_client:
                for rnd in range(args.rounds):
                    figures = {"bare GET /trivial": cpu_per_1000(bare.pid, args.requests,
                                                                 lambda i: bare_client.get("/trivial"))}
                    figures.update(measure_roset(client, proc.pid, args.requests, f"r{rnd}", args.only))
                    for name, value in figures.items():
                        best[name] = min(best.get(name, value), value)
        finally:
            stop(proc)
            stop(bare)
            if proc.returncode not in (0, -signal.SIGTERM):
                print((work / "roset.log").read_text()[-3000:], file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = best["bare GET /trivial"]
    print(f"server CPU-seconds per 1,000 requests (best of {args.rounds} rounds of {args.requests}, one keep-alive "
          f"client, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    print(f"{'call':<22} {'CPU-s/1000':>11} {'ms/req':>8} {'x bare':>7}")
    for name, value in best.items():
        print(f"{name:<22} {value:>11.3f} {value:>8.3f} {value / base:>7.2f}")
    if args.profile:
        print(f"profile written to {args.profile} (python -m pstats)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
