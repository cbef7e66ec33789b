"""Fuzz the HTTP API with schemathesis against a real server and print what disagrees with its document.

Starts a server on a fresh temporary data directory (admin key from ROSET_ADMIN_KEY), runs
``st run`` over the live ``/schema/openapi.json`` with that key on every operation, and prints per
check the number of distinct failures and the failing operations, then ``server errors: N``.
Exits 1 when any required check failed.

The run is cut off from the network: the script re-executes itself in a new network namespace
(``unshare --net``) where only loopback exists, so webhooks, connections and provider URLs the
fuzzer invents reach nothing; outbound private addresses are refused as well.

    .venv/bin/python scripts/fuzz_api.py [--max-examples 20] [--seed N] [--json summary.json]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from soak import ADMIN_KEY, start_server  # the scripts' one way to start a server (scripts/ is on sys.path)

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "unsupported_method",
    "allow_header_conformance",
    "response_schema_conformance",
)
ISOLATED_FLAG = "--_isolated"


def isolate(argv: list[str]) -> None:
    """Re-run this script in a new user + network namespace (no route out; loopback only)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise SystemExit("unshare(1) is not installed; pass --allow-network to run without isolation")
    cmd = [unshare, "--net", "--map-root-user", "--", sys.executable, str(Path(__file__).resolve()), ISOLATED_FLAG, *argv]
    probe = subprocess.run([unshare, "--net", "--map-root-user", "true"], capture_output=True)
    if probe.returncode != 0:
        raise SystemExit(f"cannot create a network namespace ({probe.stderr.decode().strip()}); "
                         "pass --allow-network to run without isolation")
    os.execv(unshare, cmd)


def loopback_up() -> None:
    """A new network namespace starts with ``lo`` down: set IFF_UP on it (SIOCGIFFLAGS/SIOCSIFFLAGS)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = struct.unpack("16sh", fcntl.ioctl(sock, siocgifflags, struct.pack("16sh", b"lo", 0)))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def run_schemathesis(url: str, report_dir: Path, args: argparse.Namespace) -> Path:
    """One ``st run`` over every operation; returns its NDJSON event log."""
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/schema/openapi.json",
           "-H", f"Authorization: ApiKey {ADMIN_KEY}", "--checks", ",".join(CHECKS),
           "--max-examples", str(args.max_examples), "--workers", str(args.workers),
           "--report", "ndjson", "--report-dir", str(report_dir), "--suppress-health-check", "all"]
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    if args.phases:
        cmd += ["--phases", args.phases]
    out = subprocess.run(cmd, cwd=str(report_dir), capture_output=not args.verbose, text=True)
    reports = sorted(report_dir.glob("*.ndjson"))
    if not reports:
        sys.stderr.write((out.stdout or "") + (out.stderr or ""))
        raise SystemExit(f"schemathesis wrote no report (exit {out.returncode})")
    return reports[-1]


def failures_by_check(ndjson: Path) -> tuple[dict[str, dict[tuple[str, str], str]], set[str]]:
    """check name -> {(operation, first line of the message): example request} over the whole run,
    and the operations that were tested."""
    found: dict[str, dict[tuple[str, str], str]] = defaultdict(dict)
    tested: set[str] = set()
    with open(ndjson) as handle:
        for line in handle:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            recorder = finished["recorder"]
            if recorder.get("cases"):
                tested.add(recorder["label"])
            if finished.get("status") != "failure":
                continue
            for case_id, checks in recorder["checks"].items():
                case = recorder["cases"].get(case_id, {}).get("value", {})
                for check in checks:
                    if check["status"] != "failure":
                        continue
                    failure = check["failure_info"]["failure"]
                    message = (failure.get("message") or failure.get("title") or "").strip().splitlines()
                    request = f"{case.get('method', '?')} {case.get('path', '?')} {json.dumps(case.get('query') or {})}"
                    key = (failure.get("operation") or recorder["label"], message[0] if message else "")
                    found[check["name"]].setdefault(key, request)
    return found, tested


def phase_seconds(ndjson: Path) -> dict[str, float]:
    """Seconds each schemathesis phase took (first start to last finish)."""
    spans: dict[str, list[float]] = {}
    with open(ndjson) as handle:
        for line in handle:
            event = json.loads(line)
            for kind in ("PhaseStarted", "PhaseFinished"):
                if kind in event:
                    phase = event[kind].get("phase")
                    name = phase.get("name") if isinstance(phase, dict) else str(phase)
                    spans.setdefault(name, []).append(float(event[kind]["timestamp"]))
    return {name: round(max(times) - min(times), 1) for name, times in spans.items()}


def summarise(found: dict[str, dict[tuple[str, str], str]], verbose: bool) -> dict[str, dict]:
    summary = {}
    for check in CHECKS:
        items = found.get(check, {})
        operations = sorted({op for op, _ in items})
        examples = [f"{op}: {msg}  <- {req}" for (op, msg), req in sorted(items.items())]
        summary[check] = {"failures": len(items), "operations": operations, "examples": examples}
        print(f"{check}: {len(items)} failures in {len(operations)} operations")
        for line in examples if verbose else operations:
            print(f"    {line}")
    return summary


def main() -> int:
    argv = sys.argv[1:]
    isolated = bool(argv) and argv[0] == ISOLATED_FLAG
    if isolated:
        argv = argv[1:]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=20, help="test cases per operation and phase")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--phases", help="schemathesis phases (default: all)")
    parser.add_argument("--require", default=",".join(CHECKS),
                        help="checks whose failures make the exit status non-zero (default: all)")
    parser.add_argument("--json", type=Path, help="also write the summary as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the data directory, server log and report")
    parser.add_argument("--verbose", action="store_true", help="schemathesis output and one line per failure")
    parser.add_argument("--allow-network", action="store_true",
                        help="run without a network namespace (outbound private addresses are still refused)")
    args = parser.parse_args(argv)
    if not isolated and not args.allow_network:
        isolate(sys.argv[1:])
    if isolated:
        loopback_up()

    tmp = Path(tempfile.mkdtemp(prefix="roset-fuzz-"))
    proc = None
    try:
        # One worker; no rate limits in the way; outbound private addresses refused as well.
        proc, url = start_server(tmp / "data", 1, ROSET_ANON_RATE_LIMIT="100000000",
                                 ROSET_OUTBOUND_ALLOW_PRIVATE="false")
        print(f"server at {url} (data {tmp / 'data'}), schemathesis --max-examples {args.max_examples}", flush=True)
        started = time.monotonic()
        report = run_schemathesis(url, tmp, args)
        found, tested = failures_by_check(report)
        phases = ", ".join(f"{name} {seconds} s" for name, seconds in phase_seconds(report).items())
        print(f"schemathesis tested {len(tested)} operations in {time.monotonic() - started:.0f} s ({phases})")
        summary = summarise(found, args.verbose)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    server_errors = summary["not_a_server_error"]["failures"]
    print(f"server errors: {server_errors}")
    if args.json:
        args.json.write_text(json.dumps({"tested_operations": sorted(tested), "checks": summary}, indent=2))
    required = [c.strip() for c in args.require.split(",") if c.strip()]
    return 1 if any(summary[c]["failures"] for c in required if c in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
