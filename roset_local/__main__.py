"""python -m roset_local → the CLI."""

from roset_local.cli import main

# Guarded: extraction workers start with "spawn", which re-imports the main module.
if __name__ == "__main__":
    raise SystemExit(main())
