"""Entry point of the frozen application (the folder the one-file launcher unpacks and execs)."""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    multiprocessing.freeze_support()  # extraction workers use the spawn context: re-enter here as a child
    from roset_local.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
