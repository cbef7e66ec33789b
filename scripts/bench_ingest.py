#!/usr/bin/env python3
"""Ingest benchmark: upload throughput and memory against a plain disk copy, and end-to-end PDF
pages/s against raw pypdfium2 extraction of the same files, all measured in one run.

Usage: .venv/bin/python scripts/bench_ingest.py [--size-mb 1024] [--pdfs 20] [--pages 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import ADMIN_KEY, LiveServer, server_env  # noqa: E402
from tests.samplegen import PdfPage, pdf_bytes  # noqa: E402


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


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


def make_big_file(path: Path, size_mb: int) -> None:
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as handle:
        for i in range(size_mb):
            handle.write(block[i % 7:] + block[: i % 7])


def multipart_stream(path: Path, boundary: str):
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"skip_processing\"\r\n\r\ntrue\r\n"
           f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
           "Content-Type: application/octet-stream\r\n\r\n").encode()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def bench_upload(server: LiveServer, work: Path, size_mb: int) -> None:
    src = work / "big.bin"
    make_big_file(src, size_mb)
    size = src.stat().st_size
    # Baseline: a plain copy of the same bytes on the same disk (page cache warm for both).
    copies = []
    for _ in range(2):
        dst = work / "copy.bin"
        t0 = time.perf_counter()
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1024 * 1024)
            fout.flush()
        copies.append(time.perf_counter() - t0)
        dst.unlink()
    copy_s = min(copies)
    pid = server.proc.pid
    time.sleep(1)
    idle = rss_mb(pid)
    sampler = RssSampler(pid)
    sampler.start()
    boundary = "benchboundary7e3f"
    curl = shutil.which("curl")
    t0 = time.perf_counter()
    if curl:  # a C client, so the figure is the server's, not a Python client's
        out = subprocess.run([curl, "-sS", "-H", f"Authorization: ApiKey {ADMIN_KEY}", "-F", "skip_processing=true",
                              "-F", f"file=@{src}", f"{server.url}/v1/upload"], capture_output=True, check=True)
        body = json.loads(out.stdout)
    else:
        r = httpx.post(f"{server.url}/v1/upload", content=multipart_stream(src, boundary),
                       headers={"Authorization": f"ApiKey {ADMIN_KEY}",
                                "Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=600)
        body = r.json()
    upload_s = time.perf_counter() - t0
    peak = sampler.stop()
    assert body.get("size_bytes") == size, body
    print(f"client: {'curl' if curl else 'httpx (Python; slower than the server)'}")
    mb = size / 1024 / 1024
    print(f"upload {mb:.0f} MiB: {upload_s:.2f} s = {mb / upload_s:.0f} MiB/s (sha256 computed on the way)")
    print(f"plain disk copy:   {copy_s:.2f} s = {mb / copy_s:.0f} MiB/s")
    print(f"ratio upload/copy throughput: {copy_s / upload_s:.2f} (goal >= 0.7)")
    print(f"server RSS: idle {idle:.0f} MB, peak during upload {peak:.0f} MB, +{peak - idle:.0f} MB (goal < 150 MB)")
    src.unlink()


def bench_pdfs(server: LiveServer, work: Path, n_pdfs: int, pages: int, variants: list[str]) -> tuple[float, float]:
    import pypdfium2 as pdfium

    corpus = []
    for i in range(n_pdfs):
        path = work / f"doc{i}.pdf"
        page_list = [PdfPage(lines=[f"Document {i} page {p} line {k}: revenue grew seventeen percent in the quarter."
                                    for k in range(30)]) for p in range(pages)]
        path.write_bytes(pdf_bytes(page_list, title=f"Doc {i}"))
        corpus.append(path)
    total_pages = n_pdfs * pages
    # Raw: pypdfium2 text of every page of the same files, one process.
    t0 = time.perf_counter()
    for path in corpus:
        doc = pdfium.PdfDocument(str(path))
        for page in doc:
            page.get_textpage().get_text_range()
        doc.close()
    raw_s = time.perf_counter() - t0
    with httpx.Client(base_url=server.url, headers={"Authorization": f"ApiKey {ADMIN_KEY}"}, timeout=120) as http:
        # warm the extraction workers with one file so process start-up is not counted
        warm = http.post("/v1/upload", files={"file": ("warm.pdf", corpus[0].read_bytes(), "application/pdf")},
                         data={"variants": '["markdown"]'}).json()
        _wait(http, [warm["id"]])
        t0 = time.perf_counter()
        ids = [http.post("/v1/upload", files={"file": (p.name, p.read_bytes(), "application/pdf")},
                         data={"variants": str(variants).replace("'", '"')}).json()["id"] for p in corpus]
        _wait(http, ids)
        e2e_s = time.perf_counter() - t0
    raw_rate, e2e_rate = total_pages / raw_s, total_pages / e2e_s
    print(f"PDFs ({n_pdfs} x {pages} pages, variants={variants}): end-to-end {e2e_rate:.0f} pages/s "
          f"({e2e_s:.2f} s), raw pypdfium2 {raw_rate:.0f} pages/s ({raw_s:.2f} s, 1 process)")
    print(f"ratio end-to-end/raw: {e2e_rate / raw_rate:.2f} (goal >= 0.7)")
    return e2e_rate, raw_rate


def _wait(http: httpx.Client, ids: list[str], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        for fid in list(pending):
            status = http.get(f"/v1/files/{fid}").json()["status"]
            if status in ("completed", "failed"):
                if status == "failed":
                    print("  failed:", http.get(f"/v1/files/{fid}").json().get("error"))
                pending.discard(fid)
        time.sleep(0.05)
    if pending:
        raise SystemExit(f"{len(pending)} files did not finish")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--pdfs", type=int, default=20)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--skip-upload", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="roset-bench-ingest-"))
    server = LiveServer(data_dir=work / "data", env=server_env(ROSET_RATE_LIMIT="100000"))
    try:
        server.start(timeout=60)
        print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
        if not args.skip_upload:
            bench_upload(server, work, args.size_mb)
        bench_pdfs(server, work, args.pdfs, args.pages, ["markdown", "metadata"])
        bench_pdfs(server, work, max(2, args.pdfs // 4), args.pages, ["markdown", "metadata", "searchable-index"])
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
