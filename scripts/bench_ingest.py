#!/usr/bin/env python3
"""Ingest benchmark: every figure of issue 16's ingest goals in one run, each against a baseline
measured in the same run on the same machine.

1. Time to searchable: a 10-page PDF, from the upload response to the first text hit and the
   first vector hit (goal: text <= 1 s; vector <= 1 s + the job's own embedding time).
2. Throughput: 20 mixed PDFs with the default variants, pages/s end to end against raw pypdfium2
   extraction + raw embedding (same model, same chunks) of the same content (goal >= 0.8),
   with p95 of GET /v1/files while they ingest (goal < 100 ms) and the cores kept busy.
3. Fixed cost per file: N one-page PDFs against N five-page PDFs, markdown only (goal <= 10 ms);
   and N small PDFs with the default variants end to end (what cross-file embedding batches serve).
4. Upload: a 1 GiB file through POST /v1/upload against a bare ASGI app under uvicorn that streams
   the same body to disk with sha256, same client (curl), same host (goal >= 0.8); RSS over idle
   during the upload (goal <= 150 MB).

Usage: .venv/bin/python scripts/bench_ingest.py [--size-mb 1024] [--pdfs 20] [--small 20] [--rounds 2] [--upload-rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import ADMIN_KEY, LiveServer, free_port, server_env  # noqa: E402
from tests.samplegen import PdfPage, pdf_bytes  # noqa: E402

THROUGHPUT_POLL = 0.05  # seconds between status requests while the 20 PDFs ingest
WORDS = ("revenue", "harbour", "copper", "ledger", "quarter", "invoice", "freight", "timber", "glacier", "orchard")


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that are still alive (the extraction workers)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):  # children of every thread, not only the main one
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._halt = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.05):
            self.peak = max(self.peak, rss_mb(self.pid))

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return self.peak


class ListLatency(threading.Thread):
    """GET /v1/files every 50 ms while ingest runs: the API must not starve."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.samples, self._halt = url, [], threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers={"Authorization": f"ApiKey {ADMIN_KEY}"}, timeout=30) as http:
            while not self._halt.wait(0.05):
                t0 = time.perf_counter()
                http.get("/v1/files", params={"limit": 20}).raise_for_status()
                self.samples.append((time.perf_counter() - t0) * 1000)

    def stop(self) -> list[float]:
        self._halt.set()
        self.join()
        return self.samples


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else (values[0] if values else 0.0)


def text_pdf(pages: int, seed: int, marker: str = "") -> bytes:
    rows = []
    for p in range(pages):
        lines = [f"{marker} Document {seed} page {p + 1}." if marker else f"Document {seed} page {p + 1}."]
        for k in range(28):
            a, b = WORDS[(seed + k) % len(WORDS)], WORDS[(p * 3 + k) % len(WORDS)]
            lines.append(f"Line {k}: the {a} report for {b} shows {seed * 7 + k} units moved in week {p + k}.")
        rows.append(PdfPage(lines=lines))
    return pdf_bytes(rows, title=f"Doc {seed}")


def api(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"ApiKey {ADMIN_KEY}"}, timeout=120)


def upload(http: httpx.Client, name: str, data: bytes, variants: list[str] | None = None) -> dict[str, Any]:
    form = {"variants": json.dumps(variants)} if variants else {}
    resp = http.post("/v1/upload", files={"file": (name, data, "application/pdf")}, data=form)
    resp.raise_for_status()
    return resp.json()


def wait_done(http: httpx.Client, ids: list[str], timeout: float = 1800, poll: float = 0.01) -> int:
    """Wait until every file is completed or failed; returns the status requests it made.

    One file is asked at a time (the first not yet done), every ``poll`` seconds while it runs and
    at once for the next when it is done: the end is seen within ``poll`` of the last file's
    completion. Asking every pending file back to back (as this did until the ingest2 branch) made
    ~230 requests a second while 20 files ingested: a third of a core between the client and the
    server, load that the raw baseline never carries.
    """
    deadline = time.monotonic() + timeout
    pending = list(ids)
    requests = 0
    while pending and time.monotonic() < deadline:
        body = http.get(f"/v1/files/{pending[0]}").json()
        requests += 1
        if body["status"] in ("completed", "failed"):
            if body["status"] == "failed":
                print("  failed:", body.get("error"))
            pending.pop(0)
        else:
            time.sleep(poll)
    if pending:
        raise SystemExit(f"{len(pending)} files did not finish")
    return requests


def raw_index_seconds(pdfs: list[bytes], work: Path) -> tuple[float, float, int]:
    """(extraction s, embedding s, chunks) of the same PDFs done directly: pypdfium2 text of every
    page, then our chunker and the same local model with nothing around them, in one call."""
    import pypdfium2 as pdfium

    from roset_local.index.chunking import chunk_document, validate_chunking
    from roset_local.index.embedder import local_embedder
    from roset_local.index.indexer import embedding_text

    texts: list[list[tuple[int, str]]] = []
    t0 = time.perf_counter()
    for i, data in enumerate(pdfs):
        path = work / f"raw{i}.pdf"
        path.write_bytes(data)
        doc = pdfium.PdfDocument(str(path))
        texts.append([(n + 1, page.get_textpage().get_text_range()) for n, page in enumerate(doc)])
        doc.close()
    extract_s = time.perf_counter() - t0
    embedder = local_embedder()
    embedder.embed(["warm up"])
    cfg = validate_chunking(None)
    t0 = time.perf_counter()
    # All chunks in one call: full batches on both model sessions, the best case for the model.
    chunk_texts = [embedding_text(c) for pages in texts for c in chunk_document("", pages=pages, config=cfg)]
    embedder.embed(chunk_texts)
    return extract_s, time.perf_counter() - t0, len(chunk_texts)


def bench_time_to_searchable(server: LiveServer) -> None:
    marker = "zq" + uuid.uuid4().hex[:10]
    data = text_pdf(10, 991, marker)
    with api(server) as http:
        up = upload(http, "ten-pages.pdf", data)
        t0 = time.perf_counter()
        text_s = vector_s = None
        while vector_s is None and time.perf_counter() - t0 < 300:
            if text_s is None:
                hits = http.post("/v1/search", json={"query": marker, "mode": "text", "limit": 1}).json()["results"]
                if hits:
                    text_s = time.perf_counter() - t0
            else:
                hits = http.post("/v1/search", json={"query": marker + " Document 991 page 3", "mode": "vector",
                                                     "limit": 5}).json()["results"]
                if any(h["file_id"] == up["id"] for h in hits):
                    vector_s = time.perf_counter() - t0
            time.sleep(0.005)
        wait_done(http, [up["id"]])
        variants = http.get(f"/v1/files/{up['id']}/variants").json()["variants"]
    meta = next((v.get("data") or {} for v in variants if v["type"] == "metadata"), {})
    timings = meta.get("timings_ms") or {}
    embed_s = float(timings.get("embed_ms") or 0) / 1000
    print(f"10-page PDF: text-searchable {text_s:.2f} s after the upload returned (goal <= 1 s); "
          f"vector-searchable {vector_s:.2f} s, the job's embedding took {embed_s:.2f} s "
          f"(goal <= {1 + embed_s:.2f} s = 1 s + embedding)")
    print(f"  job timings (ms): {timings}")


def bench_throughput(server: LiveServer, work: Path, n_pdfs: int, rounds: int = 2) -> None:
    """Raw, then end to end, ``rounds`` times alternating with new content each round (the same bytes
    again would be copied from their twins); the best of each. One load spike of another process on
    the shared machine moved a single round's ratio anywhere between 0.63 and 1.03."""
    sizes = [(1, 2, 4, 8, 16)[i % 5] for i in range(n_pdfs)]  # mixed: 1 to 16 pages
    total_pages = sum(sizes)
    raw_runs: list[tuple[float, float]] = []
    raw_cpu: list[float] = []
    e2e_runs: list[tuple[float, float, int]] = []  # (seconds, server CPU seconds, status requests)
    client_cpu: list[float] = []
    samples: list[float] = []
    for round_no in range(rounds):
        pdfs = [text_pdf(pages, i + 1000 * round_no) for i, pages in enumerate(sizes)]
        cpu_before = time.process_time()
        extract_s, embed_s, chunks = raw_index_seconds(pdfs, work)
        raw_cpu.append(time.process_time() - cpu_before)
        raw_runs.append((extract_s, embed_s))
        with api(server) as http:
            latency = ListLatency(server.url)
            cpu0, client0, t0 = cpu_seconds(server.proc.pid), time.process_time(), time.perf_counter()
            latency.start()
            ids = [upload(http, f"mixed{round_no}-{i}.pdf", data)["id"] for i, data in enumerate(pdfs)]
            # Asked every 50 ms: the end is seen at most 50 ms late (under 1% of a run), and the client's
            # polling, load the raw baseline never carries, stays small (at 10 ms it was ~0.8 CPU-s of
            # client plus ~0.4 of server for ~570 requests, 5-8% of the machine during the run).
            polls = wait_done(http, ids, poll=THROUGHPUT_POLL)
            e2e_s = time.perf_counter() - t0
            e2e_runs.append((e2e_s, cpu_seconds(server.proc.pid) - cpu0, polls))
            client_cpu.append(time.process_time() - client0)
            samples += latency.stop()
    extract_s, embed_s = min(raw_runs, key=sum)
    e2e_s, cpu, polls = min(e2e_runs)
    e2e_rate, raw_rate = total_pages / e2e_s, total_pages / (extract_s + embed_s)
    each = ", ".join(f"{sum(r) / e[0]:.2f}" for r, e in zip(raw_runs, e2e_runs))
    print(f"{n_pdfs} mixed PDFs ({total_pages} pages, {chunks} chunks, default variants): end to end "
          f"{e2e_rate:.1f} pages/s ({e2e_s:.2f} s); raw extraction + raw embedding {raw_rate:.1f} pages/s "
          f"({extract_s:.2f} s + {embed_s:.2f} s, same model); best of {rounds} each")
    print(f"  ratio end-to-end/raw: {e2e_rate / raw_rate:.2f} (goal >= 0.8); round by round {each}")
    print(f"  server CPU during ingest: {cpu / e2e_s:.2f} cores busy of {os.cpu_count()}; the client asked for "
          f"the files' status {polls} times")
    # Load-independent: when both sides keep every core busy, the ratio is about the ratio of their CPU.
    e2e_cpu, client = min(c for _, c, _ in e2e_runs), min(client_cpu)
    print(f"  CPU seconds: end to end {e2e_cpu:.1f} in the server (extraction processes included) + {client:.1f} in "
          f"this client (uploads, status, list calls); raw {min(raw_cpu):.1f}: CPU-bound ratio "
          f"{min(raw_cpu) / (e2e_cpu + client):.2f}")
    print(f"  GET /v1/files while ingesting: p50 {statistics.median(samples):.1f} ms, p95 {p95(samples):.1f} ms, "
          f"max {max(samples):.1f} ms over {len(samples)} calls (goal p95 < 100 ms)")


def bench_small_files(server: LiveServer, n_small: int) -> None:
    """N small PDFs (1-2 pages) with the default variants, uploaded back to back: pages/s end to end.
    Their chunks wait for the embedder at the same time, which is what cross-file batching serves;
    compare runs of this script on two versions (the machine's load is printed)."""
    sizes = [1 + i % 2 for i in range(n_small)]
    pdfs = [text_pdf(pages, 700 + i) for i, pages in enumerate(sizes)]
    with api(server) as http:
        t0 = time.perf_counter()
        ids = [upload(http, f"small{i}.pdf", data)["id"] for i, data in enumerate(pdfs)]
        wait_done(http, ids)
        seconds = time.perf_counter() - t0
    print(f"{n_small} small PDFs ({sum(sizes)} pages, default variants): {sum(sizes) / seconds:.1f} pages/s end to end "
          f"({seconds:.2f} s, {seconds / n_small * 1000:.0f} ms a file; load average {os.getloadavg()[0]:.1f})")


def bench_fixed_cost(server: LiveServer, n_small: int, pages_b: int = 5) -> None:
    """Two batches of N files (1 page each, then ``pages_b`` pages each), markdown only, uploaded back
    to back: the difference gives the cost of a page, the rest of the first batch the cost of a file
    (both at the server's full parallelism, upload to completed; best of three runs each)."""
    variants = ["markdown"]
    runs: dict[int, list[float]] = {1: [], pages_b: []}
    for attempt in range(3):  # alternating, best of three each: one load spike on a shared machine skews a difference
        for pages in (1, pages_b):
            batch = [text_pdf(pages, 500 + 50 * attempt + i) for i in range(n_small)]
            with api(server) as http:
                t0 = time.perf_counter()
                ids = [upload(http, f"p{pages}-{i}.pdf", data, variants)["id"] for i, data in enumerate(batch)]
                wait_done(http, ids)
                runs[pages].append(time.perf_counter() - t0)
    seconds = [min(runs[1]), min(runs[pages_b])]
    per_page = max(0.0, (seconds[1] - seconds[0]) / (n_small * (pages_b - 1)))
    fixed_ms = (seconds[0] - n_small * per_page) / n_small * 1000
    print(f"fixed cost per file: {n_small} x 1-page PDFs {seconds[0]:.2f} s, {n_small} x {pages_b}-page PDFs "
          f"{seconds[1]:.2f} s (markdown only, upload to completed): {per_page * 1000:.1f} ms a page, "
          f"{fixed_ms:.1f} ms a file beyond its pages (goal <= 10 ms)")


BARE_APP = '''
import hashlib, os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    digest, size = hashlib.sha256(), 0
    with open(os.environ["BARE_TARGET"], "wb") as out:
        while True:
            message = await receive()
            body = message.get("body", b"")
            if body:
                digest.update(body)
                out.write(body)
                size += len(body)
            if not message.get("more_body"):
                break
    payload = ('{"size_bytes": %d, "sha256": "%s"}' % (size, digest.hexdigest())).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})
'''


def curl_upload(url: str, src: Path) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    out = subprocess.run(["curl", "-sS", "-H", f"Authorization: ApiKey {ADMIN_KEY}", "-F", "skip_processing=true",
                          "-F", f"file=@{src}", url], capture_output=True, check=True)
    return time.perf_counter() - t0, json.loads(out.stdout)


def bench_upload(server: LiveServer, work: Path, size_mb: int, rounds: int) -> None:
    if not shutil.which("curl"):
        print("upload: skipped (curl is needed so that both sides get the same C client)")
        return
    src = work / "big.bin"
    block = os.urandom(1024 * 1024)
    with open(src, "wb") as handle:
        for i in range(size_mb):
            handle.write(block[i % 7:] + block[: i % 7])
    size = src.stat().st_size
    (work / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    bare = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port), "--log-level",
                             "warning"], cwd=str(work), env={**os.environ, "BARE_TARGET": str(work / "bare.out")})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        bare_runs, ours_runs, peak, idle = [], [], 0.0, 0.0
        for _ in range(rounds):  # alternate, best of each: the machine is shared
            # Each side starts with no dirty pages left by the other: a 1 GiB write that lands while
            # the kernel flushes the previous one is slower for reasons neither side controls.
            (work / "bare.out").unlink(missing_ok=True)
            os.sync()
            seconds, body = curl_upload(f"http://127.0.0.1:{port}/upload", src)
            assert body["size_bytes"] > size, body  # the multipart body around the file
            bare_runs.append(seconds)
            os.sync()
            time.sleep(1)
            idle = rss_mb(server.proc.pid)
            sampler = RssSampler(server.proc.pid)
            sampler.start()
            seconds, body = curl_upload(f"{server.url}/v1/upload", src)
            peak = max(peak, sampler.stop() - idle)
            assert body.get("size_bytes") == size, body
            ours_runs.append(seconds)
            with api(server) as http:
                http.delete(f"/v1/files/{body['id']}")
    finally:
        bare.terminate()
        bare.wait()
    mb = size / 1024 / 1024
    ours, base = mb / min(ours_runs), mb / min(bare_runs)
    print(f"upload {mb:.0f} MiB (curl multipart): Roset {ours:.0f} MiB/s, bare ASGI app (uvicorn, body to disk "
          f"with sha256) {base:.0f} MiB/s; ratio {ours / base:.2f} (goal >= 0.8), best of {rounds} alternating runs")
    print("  per run, MiB/s: Roset " + ", ".join(f"{mb / s:.0f}" for s in ours_runs)
          + "; bare " + ", ".join(f"{mb / s:.0f}" for s in bare_runs))
    print(f"  server RSS: idle {idle:.0f} MB, +{peak:.0f} MB over idle during the upload (goal <= 150 MB)")
    src.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--pdfs", type=int, default=20)
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds (raw and end to end), best of each")
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--upload-rounds", type=int, default=3, help="alternating uploads per side (best of)")
    parser.add_argument("--workers", type=int, default=2, help="the server's job threads (ROSET_WORKERS)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="roset-bench-ingest-"))
    server = LiveServer(data_dir=work / "data", env=server_env(ROSET_RATE_LIMIT="100000", ROSET_WORKERS=str(args.workers)))
    try:
        server.start(timeout=60)
        print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at start; "
              f"{args.workers} job threads")
        with api(server) as http:  # load the models and start the workers first
            wait_done(http, [upload(http, "warm.pdf", text_pdf(2, 0))["id"]])
        bench_time_to_searchable(server)
        bench_throughput(server, work, args.pdfs, args.rounds)
        bench_small_files(server, args.small)
        bench_fixed_cost(server, args.small)
        if not args.skip_upload:
            bench_upload(server, work, args.size_mb, args.upload_rounds)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
