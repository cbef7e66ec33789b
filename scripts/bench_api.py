"""Throughput of Roset Local's GET /v1/me against a bare Litestar hello-world, same server, same machine.

Both apps run with uvicorn (one process, the same loop/http implementation, access log off), one after
the other, on loopback; the load generator is `wrk` when installed, else a bounded-concurrency httpx
client. Prints requests/s, p50 and p99 latency of each and the ratio (goal: >= 0.5).

    .venv/bin/python scripts/bench_api.py [--duration 10] [--connections 32] [--python-client]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "rsk_bench_admin_key_0123456789abcdef"
HEADERS = {"Authorization": f"ApiKey {ADMIN_KEY}"}

BARE_APP = textwrap.dedent(
    """
    import sys
    import uvicorn
    from litestar import Litestar, get

    @get("/v1/me")
    async def me() -> dict:
        return {"org_id": "org-bench", "auth_type": "api_key", "key_id": "key-1", "scopes": ["files:read"]}

    uvicorn.run(Litestar([me], debug=False, logging_config=None), host="127.0.0.1", port=int(sys.argv[1]),
                log_level="warning", access_log=False, lifespan="on")
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, headers=HEADERS, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} not ready after {timeout}s")


def run_wrk(url: str, duration: int, connections: int, threads: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
         "-H", f"Authorization: {HEADERS['Authorization']}", url],
        capture_output=True, text=True, check=True,
    ).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            raise SystemExit(f"cannot read the {label}th percentile from wrk:\n{out}")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "errors": float(errors.group(1)) if errors else 0.0}


async def _python_load(url: str, duration: float, connections: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(headers=HEADERS, limits=limits, timeout=30) as client:
        stop_at = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                r = await client.get(url)
                latencies.append((time.perf_counter() - started) * 1000)
                if r.status_code != 200:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2],
            "p99": latencies[int(len(latencies) * 0.99)], "errors": float(errors)}


def measure_once(url: str, args: argparse.Namespace) -> dict[str, float]:
    if args.python_client:
        return asyncio.run(_python_load(url, args.duration, args.connections))
    return run_wrk(url, args.duration, args.connections, args.threads)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the server process (per-request cost that does not depend on machine load)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per app")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1 leaves a core to the server)")
    parser.add_argument("--python-client", action="store_true", help="use the httpx client even if wrk exists")
    args = parser.parse_args()
    if not args.python_client and shutil.which("wrk") is None:
        print("wrk not installed (Debian package `wrk`): using the slower Python client")
        args.python_client = True
    work = Path(tempfile.mkdtemp(prefix="roset-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSET_")}
    env.update({"ROSET_ADMIN_KEY": ADMIN_KEY, "ROSET_RATE_LIMIT": "1000000000", "ROSET_LOG_LEVEL": "warning",
                "ROSET_DATA_DIR": str(work / "data"), "PYTHONUNBUFFERED": "1"})
    results: dict[str, dict[str, float]] = {}
    try:
        (work / "bare_app.py").write_text(BARE_APP)
        for name, cmd in (
            ("roset-local", [sys.executable, "-m", "roset_local", "serve"]),
            ("bare litestar", [sys.executable, str(work / "bare_app.py")]),
        ):
            port = free_port()
            full = cmd + (["--port", str(port)] if name == "roset-local" else [str(port)])
            with open(work / f"{name.replace(' ', '_')}.log", "wb") as log:
                proc = subprocess.Popen(full, env=env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT)
            try:
                url = f"http://127.0.0.1:{port}/v1/me"
                wait_ready(url, proc)
                if args.python_client:
                    asyncio.run(_python_load(url, 2, args.connections))
                else:
                    run_wrk(url, 2, args.connections, args.threads)  # warm-up
                before = cpu_seconds(proc.pid)
                results[name] = measure_once(url, args)
                used = cpu_seconds(proc.pid) - before
                results[name]["cpu_us"] = used / max(1.0, results[name]["rps"] * args.duration) * 1e6
            finally:
                stop(proc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tool = "python httpx client" if args.python_client else f"wrk -t{args.threads}"
    print(f"GET /v1/me, {args.connections} connections, {args.duration} s, {tool}, {os.cpu_count()} cores")
    print(f"{'app':<14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU us/req':>11}")
    for name, r in results.items():
        print(f"{name:<14} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['errors']:>7.0f} {r['cpu_us']:>11.0f}")
    ours, bare = results["roset-local"], results["bare litestar"]
    ratio = ours["rps"] / bare["rps"]
    print(f"ratio roset-local / bare: {ratio:.2f} req/s (goal >= 0.5: {'met' if ratio >= 0.5 else 'NOT met'}); "
          f"{bare['cpu_us'] / ours['cpu_us']:.2f} by CPU per request (the figure to trust on a busy machine); "
          f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
