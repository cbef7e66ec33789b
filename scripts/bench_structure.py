#!/usr/bin/env python3
"""Structure benchmark: Roset Local's markdown against the reference markdown of shared/corpora/docling.

Prints, per document and on average, NID, NID-S, TEDS, TEDS-S, MHS, MHS-S, overall and seconds per
page, plus the speed of raw pypdfium2 text extraction of the same PDFs in the same run (the floor).

    python scripts/bench_structure.py                   # PDFs, through the extraction engine
    python scripts/bench_structure.py --set office      # DOCX/PPTX/XLSX/HTML
    python scripts/bench_structure.py --set all --json out.json
    python scripts/bench_structure.py --api http://127.0.0.1:8700 --key rsk_...   # through a running server
    python scripts/bench_structure.py --only redp5110 --show    # one document, with its markdown

The engine path runs the local document provider in this process (as a worker process would) and
round-trips its result through pickle, as the extraction pool does, so a result that cannot cross
the process boundary counts as a failure.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import pickle
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from structure_metrics import score  # noqa: E402

# shared/ sits beside the checkout (also beside a worktree's parent folder)
CORPUS = next(
    (p / "shared" / "corpora" / "docling" for p in ROOT.parents if (p / "shared" / "corpora" / "docling").is_dir()),
    ROOT.parent / "shared" / "corpora" / "docling",
)
METRICS = ("nid", "nid_s", "teds", "teds_s", "mhs", "mhs_s", "overall")
TYPES = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".html": "text/html",
    ".htm": "text/html",
}


def documents(corpus: Path, which: str, only: str | None) -> list[tuple[Path, Path]]:
    out = []
    sets = ["pdf", "office"] if which == "all" else [which]
    for name in sets:
        for path in sorted((corpus / name).iterdir()):
            if only and only not in path.name:
                continue
            expected = corpus / "expected" / name / (path.stem + ".md" if name == "pdf" else path.name + ".md")
            if expected.exists():
                out.append((path, expected))
    return out


def pdf_pages(path: Path) -> int:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        return len(pdf)
    finally:
        pdf.close()


def raw_pdfium(path: Path) -> float:
    """Seconds to pull the raw text layer of every page: the speed floor."""
    import pypdfium2 as pdfium

    t = time.perf_counter()
    pdf = pdfium.PdfDocument(str(path))
    for page in pdf:
        tp = page.get_textpage()
        tp.get_text_bounded()
        tp.close()
        page.close()
    pdf.close()
    return time.perf_counter() - t


class Engine:
    """The local document provider, called in this process."""

    def __init__(self, options: dict[str, Any]) -> None:
        from roset_local.providers.engines import LocalEngines
        from roset_local.providers.local import ReductoLocal
        from roset_local.providers.office import MarkItDownHolder

        self.provider = ReductoLocal(LocalEngines(), MarkItDownHolder())
        self.options = options

    def convert(self, path: Path) -> str:
        from roset_local.providers.base import ExtractRequest, no_progress

        content_type = TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        result = self.provider.extract(ExtractRequest(str(path), path.name, content_type, dict(self.options)), no_progress)
        result = pickle.loads(pickle.dumps(result))
        return result.markdown


class Api:
    """A running Roset Local server: upload, wait for the job, read the markdown variant."""

    def __init__(self, url: str, key: str, options: dict[str, Any]) -> None:
        import httpx

        self.http = httpx.Client(base_url=url.rstrip("/"), headers={"Authorization": f"ApiKey {key}"}, timeout=600)
        self.options = options

    def convert(self, path: Path) -> str:
        data = {"variants": json.dumps(["markdown"])}
        if self.options.get("extraction"):
            data["extraction"] = self.options["extraction"]
        with path.open("rb") as fh:
            r = self.http.post("/v1/upload", files={"file": (path.name, fh)}, data=data)
        r.raise_for_status()
        body = r.json()
        file_id, job_id = body["file"]["id"], body["job"]["id"]
        while True:
            job = self.http.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.05)
        if job["status"] != "completed":
            raise RuntimeError(f"job {job['status']}: {job.get('reason')}: {job.get('error')}")
        return self.http.get(f"/v1/files/{file_id}/variants/markdown").json()["content"]


def fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def mean(values: list[float | None]) -> float | None:
    real = [v for v in values if v is not None]
    return statistics.fmean(real) if real else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=("pdf", "office", "all"), default="pdf")
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--only", help="substring of the file names to run")
    ap.add_argument("--api", help="base URL of a running server (default: the engine in this process)")
    ap.add_argument("--key", help="API key for --api")
    ap.add_argument("--extraction", help="extraction mode to request (e.g. fast)")
    ap.add_argument("--show", action="store_true", help="print each prediction")
    ap.add_argument("--json", type=Path, help="write per-document figures here")
    args = ap.parse_args()

    options: dict[str, Any] = {}
    if args.extraction:
        options["extraction"] = args.extraction
    runner: Engine | Api = Api(args.api, args.key, options) if args.api else Engine(options)
    docs = documents(args.corpus, args.set, args.only)
    if not docs:
        print("no documents found", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = []
    print(f"{'document':42} {'NID':>6} {'NID-S':>6} {'TEDS':>6} {'TEDS-S':>6} {'MHS':>6} {'MHS-S':>6} {'overall':>7} {'s/page':>7}")
    for path, expected in docs:
        pages = pdf_pages(path) if path.suffix.lower() == ".pdf" else 1
        t = time.perf_counter()
        try:
            prediction = runner.convert(path)
            error = None
        except Exception as exc:  # a failure is a figure of the benchmark, not the end of it
            prediction, error = "", f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - t
        row: dict[str, Any] = {"document": path.name, "pages": pages, "seconds": seconds, "error": error}
        row.update(score(expected.read_text(encoding="utf-8"), prediction))
        if path.suffix.lower() == ".pdf":
            row["raw_seconds"] = raw_pdfium(path)
        rows.append(row)
        figures = " ".join(fmt(row[m]) for m in METRICS[:-1])
        print(f"{path.name[:42]:42} {figures} {row['overall']:7.3f} {seconds / pages:7.3f}" + (f"  FAILED {error}" if error else ""))
        if args.show:
            print(prediction, "\n" + "-" * 100)
    print("-" * 100)
    averages = {m: mean([r[m] for r in rows]) for m in METRICS}
    total_pages = sum(r["pages"] for r in rows)
    total_seconds = sum(r["seconds"] for r in rows)
    print(f"{'average (' + str(len(rows)) + ' documents)':42} " + " ".join(fmt(averages[m]) for m in METRICS[:-1])
          + f" {averages['overall']:7.3f} {total_seconds / max(total_pages, 1):7.3f}")
    failed = [r["document"] for r in rows if r["error"]]
    print(f"failed: {len(failed)}" + (f" ({', '.join(failed)})" if failed else ""))
    pdf_rows = [r for r in rows if "raw_seconds" in r]
    if pdf_rows:
        pages = sum(r["pages"] for r in pdf_rows)
        ours = sum(r["seconds"] for r in pdf_rows)
        raw = sum(r["raw_seconds"] for r in pdf_rows)
        print(f"PDF speed: {pages / ours:.1f} pages/s ({pages} pages in {ours:.2f} s); raw pypdfium2 text "
              f"{pages / raw:.1f} pages/s; ratio {ours / raw:.1f}x the floor")
    if args.json:
        args.json.write_text(json.dumps({"documents": rows, "average": averages}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
