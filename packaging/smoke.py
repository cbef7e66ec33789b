"""Smoke-test the one-file executable as a stranger would run it: empty folder, clean env, no network.

Run through scripts/smoke-binary. Prints the figures the release checklist asks for: executable
size, cold start to /health, idle RSS and RSS after the smoke corpus (bootloader + server process).
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from smoke_features import (
    free_port,
    smoke_live_sync,
    smoke_ocr,
    smoke_openapi,
    smoke_worker,
)

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "rsk_smoke_admin_key_0123456789abcdef"
CLONE_NEWNET = 0x40000000
TERMINAL = {"completed", "failed", "cancelled"}


def isolate_network() -> str:
    """Move this process into a new network namespace with only loopback up; say what happened."""
    if os.geteuid() != 0:
        return "network NOT isolated (not root: run as root, or under `unshare -rn`, for the offline check)"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return f"network NOT isolated (unshare failed: {os.strerror(ctypes.get_errno())})"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifreq = struct.pack("16sH14s", b"lo", 0, b"")
    flags = struct.unpack("16sH14s", fcntl.ioctl(sock, 0x8913, ifreq))[1]  # SIOCGIFFLAGS
    fcntl.ioctl(sock, 0x8914, struct.pack("16sH14s", b"lo", flags | 0x1, b""))  # SIOCSIFFLAGS: IFF_UP
    sock.close()
    try:
        socket.create_connection(("192.0.2.1", 80), timeout=2).close()  # TEST-NET-1: must not route
        return "network NOT isolated (an outside address was reachable)"
    except OSError:
        return "network isolated (new network namespace, loopback only)"


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants (the onefile bootloader runs the server as a child)."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    stack += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):
            continue
    return total / 1024**2


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live descendants: start-up cost independent of load."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    stack += [int(c) for c in fh.read().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def wait_health(url: str, proc: subprocess.Popen, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"the executable exited with {proc.returncode} before answering")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            time.sleep(0.02)
    raise SystemExit(f"no answer on {url}/health within {timeout}s")


def has_route(http: httpx.Client, path: str) -> bool:
    r = http.get("/schema/openapi.json")
    return r.status_code == 200 and path in r.json().get("paths", {})


def smoke_corpus(http: httpx.Client, workdir: Path, timeout: float) -> list[str]:
    """Upload one file of every supported type, wait for processing, then try search and Q&A."""
    sys.path.insert(0, str(ROOT))
    from tests import samplegen

    problems: list[str] = []
    samples = samplegen.make_all(workdir / "samples", media=samplegen.have_media_tools())
    ids: dict[str, str] = {}
    for kind, sample in samples.items():
        with open(sample.path, "rb") as fh:
            r = http.post("/v1/upload", files={"file": (sample.filename, fh, sample.content_type)})
        if r.status_code != 201:
            problems.append(f"upload {kind}: HTTP {r.status_code} {r.text[:200]}")
            continue
        ids[kind] = r.json()["id"]
    deadline = time.monotonic() + timeout
    pending = dict(ids)
    while pending and time.monotonic() < deadline:
        for kind, file_id in list(pending.items()):
            status = http.get(f"/v1/files/{file_id}").json().get("status")
            if status in TERMINAL:
                del pending[kind]
                if status != "completed":
                    problems.append(f"processing {kind}: {status}")
        time.sleep(0.5)
    problems += [f"processing {kind}: not finished after {timeout:.0f}s" for kind in pending]
    print(f"corpus: {len(ids)} files uploaded, {len(ids) - len(problems)} processed without a problem")
    if has_route(http, "/v1/search"):
        r = http.post("/v1/search", json={"query": "quarterly revenue", "limit": 5})
        hits = r.json().get("results", []) if r.status_code == 200 else []
        print(f"search: HTTP {r.status_code}, {len(hits)} results")
        if not hits:
            problems.append(f"search: HTTP {r.status_code}, no results for words the corpus holds")
    else:
        print("search: not in this build (skipped)")
    if has_route(http, "/v1/qa"):
        r = http.post("/v1/qa", json={"question": "How much did revenue grow?"})
        print(f"qa: HTTP {r.status_code}")
        if r.status_code != 200:
            problems.append(f"qa: HTTP {r.status_code} {r.text[:200]}")
    else:
        print("qa: not in this build (skipped)")
    return problems


MCP_INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "smoke", "version": "1"}}}
MCP_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def _tool_names(answer: dict) -> list[str]:
    return sorted(t["name"] for t in answer.get("result", {}).get("tools", []))


def smoke_mcp_http(http: httpx.Client) -> list[str]:
    """initialize + tools/list against /mcp (streamable HTTP, the same API key)."""
    init = http.post("/mcp", json=MCP_INIT, headers=MCP_HEADERS)
    tools = http.post("/mcp", json=MCP_TOOLS, headers=MCP_HEADERS)
    names = _tool_names(tools.json()) if tools.status_code == 200 else []
    print(f"/mcp: initialize HTTP {init.status_code}, tools/list HTTP {tools.status_code}: {', '.join(names)}")
    if init.status_code != 200 or "search" not in names:
        return [f"/mcp: initialize {init.status_code} {init.text[:200]}, tools/list {tools.status_code} {tools.text[:200]}"]
    return []


def smoke_mcp_stdio(exe: Path, env: dict[str, str], cwd: Path) -> list[str]:
    """`roset-local mcp`: initialize + tools/list over stdio, beside the running server."""
    lines = [MCP_INIT, {"jsonrpc": "2.0", "method": "notifications/initialized"}, MCP_TOOLS]
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    proc = subprocess.Popen([str(exe), "mcp", "--no-worker"], cwd=str(cwd), env={**env, "ROSET_API_KEY": ADMIN_KEY},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(stdin)
    proc.stdin.flush()
    answers: dict[int, dict] = {}
    deadline = time.monotonic() + 120
    while len(answers) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        message = json.loads(line)
        answers[message.get("id")] = message
    proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    names = _tool_names(answers.get(2, {}))
    server = answers.get(1, {}).get("result", {}).get("serverInfo", {}).get("name")
    print(f"roset-local mcp (stdio): serverInfo {server}, tools/list: {', '.join(names)}, exit {proc.returncode}")
    if server != "roset-local" or "upload" not in names:
        return [f"roset-local mcp: {answers or 'no answer'}; stderr: {(proc.stderr.read() if proc.stderr else '')[-1500:]}"]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("binary", nargs="?", default=str(ROOT / "dist" / "roset-local"))
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for /health")
    parser.add_argument("--corpus-timeout", type=float, default=600, help="seconds to wait for processing")
    parser.add_argument("--no-corpus", action="store_true", help="skip the upload corpus")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    binary = Path(args.binary).resolve()
    if not binary.is_file():
        raise SystemExit(f"{binary} not found: run scripts/build-binary first")
    print(isolate_network())
    work = Path(tempfile.mkdtemp(prefix="roset-smoke-"))
    problems: list[str] = []
    proc = None
    try:
        home, tmp, empty_path, tools = work / "home", work / "tmp", work / "no-bin", work / "tools"
        for d in (home, tmp, empty_path, tools):
            d.mkdir()
        tesseract = shutil.which("tesseract")  # the first start finds it (and nothing else) on PATH: OCR's fast path
        if tesseract:
            (tools / "tesseract").symlink_to(tesseract)
        exe = work / "roset-local"
        shutil.copy2(binary, exe)
        port = free_port()
        # The equivalent of `env -i`: nothing inherited; PATH names an empty folder (no python anywhere).
        env = {"PATH": str(empty_path), "HOME": str(home), "TMPDIR": str(tmp), "LANG": "C.UTF-8",
               "ROSET_ADMIN_KEY": ADMIN_KEY, "ROSET_PORT": str(port), "ROSET_DATA_DIR": str(work / "data"),
               "ROSET_RATE_LIMIT": "100000",  # the smoke polls statuses fast; not a rate-limit test
               "ROSET_LOCAL_ROOTS": str(work / "roots")}  # local connections (live sync) live under it
        print(f"executable: {exe.stat().st_size / 1024**2:.1f} MiB")
        log = open(work / "server.log", "wb")
        url = f"http://127.0.0.1:{port}"

        def launch(path: Path) -> tuple[subprocess.Popen, float, float]:
            child = subprocess.Popen([str(exe), "serve"], cwd=str(work), env={**env, "PATH": str(path)}, stdout=log,
                                     stderr=subprocess.STDOUT)
            seconds = wait_health(url, child, args.timeout)
            return child, seconds, tree_cpu_seconds(child.pid)

        proc, first, first_cpu = launch(tools)
        print(f"first start to /health: {first:.2f} s, {first_cpu:.2f} s CPU (unpacks the application once per build)")
        with httpx.Client(base_url=url, headers={"Authorization": f"ApiKey {ADMIN_KEY}"}, timeout=60) as http:
            if tesseract and has_route(http, "/v1/upload"):
                problems += smoke_ocr(http, work, args.corpus_timeout, "tesseract", work / "server.log")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        proc, cold, cold_cpu = launch(empty_path)
        print(f"start to /health: {cold:.2f} s, {cold_cpu:.2f} s CPU (every later start; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        time.sleep(2)  # let start-up work settle before reading memory
        print(f"idle RSS: {tree_rss_mib(proc.pid):.0f} MiB (launcher + server)")
        with httpx.Client(base_url=url, headers={"Authorization": f"ApiKey {ADMIN_KEY}"}, timeout=60) as http:
            me = http.get("/v1/me")
            print(f"/v1/me: HTTP {me.status_code}")
            if me.status_code != 200:
                problems.append(f"/v1/me answered {me.status_code}")
            problems += smoke_mcp_http(http)
            problems += smoke_mcp_stdio(exe, env, work)
            problems += smoke_openapi(http)
            if has_route(http, "/v1/connections/verify"):
                problems += smoke_live_sync(http, work / "roots", args.corpus_timeout)
            if has_route(http, "/v1/upload"):
                problems += smoke_ocr(http, work, args.corpus_timeout, "rapidocr", work / "server.log")
            problems += smoke_worker(exe, env, work)
            if not args.no_corpus and has_route(http, "/v1/upload"):
                problems += smoke_corpus(http, work, args.corpus_timeout)
                print(f"RSS after the smoke corpus: {tree_rss_mib(proc.pid):.0f} MiB")
            elif not args.no_corpus:
                print("upload: not in this build (corpus skipped)")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        print(f"exit after SIGTERM: {code}")
        leftovers = list(tmp.glob("_MEI*")) + list((home / ".cache" / "roset-local" / "runtime").glob(".unpack-*"))
        if leftovers:
            problems.append(f"unpack folder left behind after a clean exit: {leftovers[0]}")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if problems:
            print(f"server log: {work / 'server.log'}")
            print((work / "server.log").read_text(errors="replace")[-3000:])
        if args.keep or problems:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for line in problems:
        print(f"PROBLEM: {line}")
    print("smoke: " + ("FAILED" if problems else "passed"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
