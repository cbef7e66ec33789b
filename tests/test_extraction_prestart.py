"""The server starts its extraction worker processes in the background right after start-up."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.samplegen import PdfPage, pdf_bytes
from tests.test_faults import wait_job


def extraction_workers(pid: int) -> set[int]:
    """Live children of the server (any of its threads) started by multiprocessing's spawn."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline:
                found.add(child)
    return found


def wait_workers(pid: int, count: int, timeout: float = 60) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = extraction_workers(pid)
        if len(workers) >= count:
            return workers
        time.sleep(0.1)
    raise AssertionError(f"{count} extraction workers never started (have {extraction_workers(pid)})")


def ingest(http: httpx.Client, name: str) -> None:
    data = pdf_bytes([PdfPage(lines=[f"Prestart check {name}.", "A second line of text."])])
    r = http.post("/v1/upload", files={"file": (name, data, "application/pdf")}, data={"variants": json.dumps(["markdown"])})
    assert r.status_code == 201, r.text
    job = wait_job(http, r.json()["job"]["id"])
    assert job["status"] == "completed", job


def test_workers_start_before_any_job_and_take_the_first_ones(make_live_server):
    server = make_live_server()  # ROSET_WORKERS=2; /health answered before the workers were asked for
    assert server.proc is not None
    workers = wait_workers(server.proc.pid, 2)
    assert len(workers) == 2
    with server.client() as http:
        for i in range(3):
            ingest(http, f"pre{i}.pdf")
    assert extraction_workers(server.proc.pid) == workers  # the prestarted ones ran the jobs: none spawned on demand


def test_prestart_off_starts_workers_with_the_first_job(make_live_server):
    server = make_live_server(ROSET_PRESTART_EXTRACTION="0")
    assert server.proc is not None
    with server.client() as http:
        ingest(http, "lazy.pdf")
    assert len(extraction_workers(server.proc.pid)) == 1  # one job, one worker started for it
