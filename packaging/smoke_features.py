"""Checks of the frozen program's later parts: typed OpenAPI + docs, live sync, the Redis worker host, OCR."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.samplegen and the project's names (this runs with the build's venv)
WATCHED = "watched"  # the live-sync connection's folder under the server's ROSET_LOCAL_ROOTS
LIVE_WORDS = b"The copper weathervane above the granary spins toward the eastern marsh.\n"
# One scan per engine, with different words: the second upload must not be a duplicate of the first.
OCR_SCANS = {"tesseract": ["Invoice number 4821", "Total due: seventy dollars"],
             "rapidocr": ["Receipt number 9350", "Balance: forty euros"]}
TESSERACT_TROUBLE = (b"tesseract exited", b"tesseract failed", b"tesseract is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return None


def smoke_openapi(http: httpx.Client) -> list[str]:
    """The typed document (component schemas from the msgspec Structs, the security schemes) and the docs page
    with its vendored assets."""
    problems: list[str] = []
    r = http.get("/schema/openapi.json")
    doc = r.json() if r.status_code == 200 else {}
    components = doc.get("components", {})
    schemas, schemes = components.get("schemas", {}), components.get("securitySchemes", {})
    print(f"openapi: HTTP {r.status_code}, {len(doc.get('paths', {}))} paths, {len(schemas)} component schemas, "
          f"security schemes: {', '.join(sorted(schemes))}")
    if len(schemas) < 10 or "ApiKey" not in schemes:
        problems.append(f"openapi: HTTP {r.status_code}, {len(schemas)} component schemas, schemes {sorted(schemes)}")
    refs = str(doc.get("paths", {})).count("#/components/schemas/")
    if refs == 0:
        problems.append("openapi: no operation refers to a component schema")
    docs = http.get("/schema/docs")
    bundle = http.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    print(f"/schema/docs: HTTP {docs.status_code}, swagger-ui-bundle.js: HTTP {bundle.status_code} "
          f"({len(bundle.content) // 1024} KiB)")
    if docs.status_code != 200 or "swagger-ui-bundle.js" not in docs.text:
        problems.append(f"/schema/docs: HTTP {docs.status_code} {docs.text[:200]}")
    if bundle.status_code != 200 or len(bundle.content) < 100_000:
        problems.append(f"swagger-ui-bundle.js: HTTP {bundle.status_code}, {len(bundle.content)} bytes")
    return problems


def _node_file(http: httpx.Client, cid: str, path: str) -> str | None:
    body = http.get("/v1/nodes", params={"connection_id": cid, "type": "file", "limit": 100}).json()
    return next((n.get("file_id") for n in body.get("nodes", []) if n.get("path") == path), None)


def _file_done(http: httpx.Client, file_id: str) -> dict[str, Any] | None:
    body = http.get(f"/v1/files/{file_id}").json()
    return body if body.get("status") in ("completed", "failed", "cancelled") else None


def smoke_live_sync(http: httpx.Client, roots: Path, timeout: float) -> list[str]:
    """A ``local`` connection on a folder picks up a newly written file with no sync call (the watchfiles thread)."""
    folder = roots / WATCHED
    folder.mkdir(parents=True, exist_ok=True)
    r = http.post("/v1/connections/verify", json={"provider": "local", "name": "Watched", "bucket": WATCHED,
                                                   "process_new_files": True})
    if r.status_code != 201:
        return [f"live sync: creating a local connection answered {r.status_code} {r.text[:300]}"]
    cid = r.json()["id"]
    history = f"/v1/connections/{cid}/sync/history"
    # The creation's own first sync runs on an empty folder: let it finish so the file can only arrive by watching.
    _wait(lambda: all(s.get("status") != "running" for s in http.get(history).json().get("syncs", [])), timeout)
    started = time.monotonic()
    (folder / "weathervane.txt").write_bytes(LIVE_WORDS)
    file_id = _wait(lambda: _node_file(http, cid, "weathervane.txt"), timeout, 0.2)
    seen = time.monotonic() - started
    file = _wait(lambda: _file_done(http, file_id), timeout) if file_id else None
    syncs = http.get(history).json().get("syncs", [])
    watched = [s for s in syncs if s.get("trigger") == "watch"]
    print(f"live sync: file {'seen' if file_id else 'NOT seen'} after {seen:.1f} s, status "
          f"{(file or {}).get('status')}, syncs by trigger: {sorted(s.get('trigger') for s in syncs)}")
    if not file_id or not file or file.get("status") != "completed" or not watched:
        return [f"live sync: file {file_id}, {file}, history {syncs}"]
    return []


def smoke_ocr(http: httpx.Client, work: Path, timeout: float, engine: str, log: Path) -> list[str]:
    """A scanned image comes back as text. ``engine`` "tesseract": the server has Debian's tesseract on PATH and
    calls it as a subprocess (with the system's libraries, not the bundle's); "rapidocr": PATH has none, the
    bundled PP-OCR models read it. The server log says when tesseract failed or was missing."""
    from tests import samplegen

    lines = OCR_SCANS[engine]
    words = " ".join(lines).replace(":", "").split()
    path = work / f"scan-{engine}.png"
    samplegen.text_image(lines).save(path)
    logged = log.stat().st_size
    with open(path, "rb") as fh:
        r = http.post("/v1/upload", files={"file": (path.name, fh, "image/png")})
    if r.status_code != 201:
        return [f"ocr ({engine}): upload answered {r.status_code} {r.text[:200]}"]
    started = time.monotonic()
    file = _wait(lambda: _file_done(http, r.json()["id"]), timeout) or {}
    markdown = http.get(f"/v1/files/{r.json()['id']}/variants/markdown")
    text = markdown.json().get("content", "") if markdown.status_code == 200 else ""
    found = samplegen.found_words(text, words)
    with open(log, "rb") as fh:
        fh.seek(logged)
        trouble = [line for line in fh.read().splitlines() if any(t in line for t in TESSERACT_TROUBLE)]
    note = ("tesseract failure logged" if trouble else "no tesseract failure logged") if engine == "tesseract" \
        else "no tesseract on PATH"
    print(f"ocr ({engine}): {file.get('status')} in {time.monotonic() - started:.1f} s, {len(found)}/{len(words)} "
          f"words read, {note}")
    problems = []
    if file.get("status") != "completed" or len(found) < len(words) - 1:
        problems.append(f"ocr ({engine}): status {file.get('status')}, markdown HTTP {markdown.status_code}: {text[:300]!r}")
    if engine == "tesseract" and trouble:
        problems.append(f"ocr (tesseract): {b' | '.join(trouble).decode(errors='replace')[:600]}")
    return problems


def _run(exe: Path, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), *args], cwd=str(cwd), env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def smoke_worker(exe: Path, env: dict[str, str], work: Path) -> list[str]:
    """`roset-local worker`: its options, a clear refusal of a local folder as the shared store, and a worker
    host that really registers in a Redis server (the redis client and huey's Redis queue load frozen)."""
    problems: list[str] = []
    helped = _run(exe, ["worker", "--help"], env, work)
    print(f"worker --help: exit {helped.returncode}, --queue {'listed' if '--queue' in helped.stdout else 'MISSING'}, "
          f"--storage {'listed' if '--storage' in helped.stdout else 'MISSING'}")
    if helped.returncode != 0 or "--queue" not in helped.stdout or "--storage" not in helped.stdout:
        problems.append(f"worker --help: exit {helped.returncode} {helped.stdout[-500:]} {helped.stderr[-500:]}")
    server = shutil.which("redis-server")
    if server is None:
        print("worker host: redis-server not installed (skipped)")
        return problems
    port = free_port()
    redis_proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                   "no", "--dir", str(work)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        import redis

        client = redis.Redis(port=port)
        if not _wait(lambda: _pings(client), 10, 0.1):
            return problems + ["worker host: redis-server did not start"]
        queue = f"redis://127.0.0.1:{port}/0"
        refused = _run(exe, ["worker", "--queue", queue, "--storage", f"file://{work / 'blobs'}"], env, work)
        said = (refused.stderr.strip().splitlines() or [""])[-1]
        print(f"worker with a local folder as store: exit {refused.returncode}: {said}")
        if refused.returncode == 0 or "object store" not in refused.stderr:
            problems.append(f"worker host on a local folder: exit {refused.returncode} {refused.stderr[-500:]}")
        # memory:// is an fsspec store that is not a local folder: enough to start a host offline.
        with open(work / "worker.log", "wb") as log:
            worker = subprocess.Popen([str(exe), "worker", "--queue", queue, "--storage", "memory://smoke",
                                       "--workers", "1"], cwd=str(work), env=env, stdout=log, stderr=subprocess.STDOUT)
        from roset_local.scaleout.queues import WORKER_PREFIX

        registered = _wait(lambda: worker.poll() is None and list(client.scan_iter(match=WORKER_PREFIX + "*")), 120)
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
        print(f"worker host on redis: {'registered' if registered else 'NOT registered'} in redis-server, "
              f"exit after SIGTERM {code}")
        if not registered or code != 0:
            tail = (work / "worker.log").read_text(errors="replace")[-1500:]
            problems.append(f"worker host on redis: registered {bool(registered)}, exit {code}: {tail}")
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
        redis_proc.terminate()
        redis_proc.wait(timeout=30)
    return problems


def _pings(client: Any) -> bool:
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
