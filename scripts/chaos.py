#!/usr/bin/env python3
"""Chaos: many clients doing random things to the same files at once, then every invariant checked.

Starts a server on a fresh data directory, runs --clients threads for --seconds, each picking at random:
upload (Markdown, text, CSV, HTML, PDF, DOCX), delete, cancel the latest job, process again, retry,
search, list, read variants. With --kill the server is killed with SIGKILL halfway and restarted on
the same data directory while the clients go on. Then it waits for the queue to drain and checks,
through the API and in the database files:

- no answer was a 5xx, and every 4xx had the contract's error shape;
- every job ended (completed, failed or cancelled) and every file's status follows its latest job;
- a deleted file answers 404, has no rows left (jobs, variants, chunks, FTS, vectors) and no blobs;
- a completed file's variants all read back, its chunks are in FTS and, when embedded, in the vectors;
- no blob in the store belongs to no file.

Prints what it did and every violation; exits 1 if there was any.

    .venv/bin/python scripts/chaos.py [--seconds 60] [--clients 6] [--seed 1] [--kill]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chaos import Chaos  # noqa: E402
from tests.conftest import LiveServer, server_env  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill", action="store_true", help="SIGKILL the server halfway and restart it")
    parser.add_argument("--settle", type=float, default=300, help="seconds allowed for the queue to drain")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roset-chaos-") as tmp:
        server = LiveServer(data_dir=Path(tmp) / "data", env=server_env(ROSET_RATE_LIMIT="1000000")).start()
        chaos = Chaos(server, args.seed)
        try:
            chaos.storm(args.seconds, args.clients, kill=args.kill)
            chaos.check(args.settle)
        finally:
            server.stop()
        errors = chaos.log_errors()
        print(f"{sum(chaos.ops.values())} requests in {args.seconds:.0f} s by {args.clients} clients: "
              f"{dict(sorted(chaos.ops.items()))}")
        print(f"status codes: {dict(sorted(chaos.statuses.items()))}")
        if args.kill:
            print("killed with SIGKILL and restarted halfway")
        print(f"files left {len(chaos.files)}, deleted {len(chaos.deleted)}; server log errors: {len(errors)}")
        for line in errors[:20]:
            print("  log:", line[:300])
        for v in chaos.violations:
            print("VIOLATION:", v)
        print("OK: every invariant held" if not chaos.violations else f"{len(chaos.violations)} violations")
        return 1 if chaos.violations else 0


if __name__ == "__main__":
    sys.exit(main())
