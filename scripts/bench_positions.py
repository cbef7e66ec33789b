#!/usr/bin/env python3
"""Extraction modes and positions on real PDFs: seconds per page for `fast` (text layer only) and
`structured` (layout + elements), the cost of the structure variant and of boxing chunks, how many
chunks get a box and how tight it is, and the page image render time.

Run: .venv/bin/python scripts/bench_positions.py [--corpus ../shared/corpora/docling/pdf] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from roset_local.index.chunking import chunk_document
from roset_local.positions.chunks import place_chunks
from roset_local.positions.pages import _render_pdf
from roset_local.positions.structure import document_elements, structure_document
from roset_local.providers.base import ExtractRequest, no_progress
from roset_local.providers.engines import LocalEngines
from roset_local.providers.pdf import extract_pdf

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "docling" / "pdf"


def best_of(rounds: int, fn):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    engines = LocalEngines()
    totals = {"pages": 0, "fast": 0.0, "structured": 0.0, "positions": 0.0, "render": 0.0}
    boxed, chunks_total, areas = 0, 0, []
    print(f"{'document':34s} {'pages':>5s} {'fast p/s':>9s} {'struct p/s':>10s} {'positions ms':>12s} "
          f"{'boxed':>7s} {'render ms/pg':>12s}")
    for path in sorted(args.corpus.glob("*.pdf")):
        def run(mode: str):  # type: ignore[no-untyped-def]
            req = ExtractRequest(str(path), path.name, "application/pdf", {"extraction": mode})
            return extract_pdf(req, no_progress, engines)

        fast_s, _ = best_of(args.rounds, lambda: run("fast"))
        struct_s, extraction = best_of(args.rounds, lambda: run("structured"))
        pages = len(extraction.pages)

        def positions():  # type: ignore[no-untyped-def]
            elements, sizes = document_elements(extraction, "structured")
            json.dumps(structure_document(elements, sizes))
            chunks = chunk_document(extraction.markdown, pages=[(p.number, p.markdown) for p in extraction.pages])
            place_chunks(chunks, elements, sizes)
            return chunks

        pos_s, chunks = best_of(args.rounds, positions)
        render_s, _ = best_of(1, lambda: [_render_pdf(str(path), n, 1000) for n in range(1, pages + 1)])
        with_box = [c for c in chunks if c.bbox]
        boxed += len(with_box)
        chunks_total += len(chunks)
        for c in with_box:
            if c.page_width and c.page_height:
                areas.append((c.bbox[2] - c.bbox[0]) * (c.bbox[3] - c.bbox[1]) / (c.page_width * c.page_height))
        for key, value in (("pages", pages), ("fast", fast_s), ("structured", struct_s), ("positions", pos_s),
                           ("render", render_s)):
            totals[key] += value
        print(f"{path.name[:34]:34s} {pages:5d} {pages / fast_s:9.1f} {pages / struct_s:10.1f} {pos_s * 1000:12.1f} "
              f"{len(with_box):3d}/{len(chunks):<3d} {render_s * 1000 / max(pages, 1):12.1f}")
    n = totals["pages"]
    print(f"\nall {n} pages: fast {n / totals['fast']:.1f} pages/s, structured {n / totals['structured']:.1f} pages/s "
          f"(fast is {totals['structured'] / totals['fast']:.1f}x quicker)")
    print(f"positions (structure variant + chunk boxes): {totals['positions'] * 1000 / n:.2f} ms/page, "
          f"{100 * totals['positions'] / totals['structured']:.1f} % of structured extraction")
    print(f"chunks with a box: {boxed}/{chunks_total}; median box area {100 * statistics.median(areas or [0]):.1f} % "
          f"of the page; page image (1000 px): {totals['render'] * 1000 / n:.1f} ms/page")


if __name__ == "__main__":
    main()
