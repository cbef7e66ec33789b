"""python -m roset_local → the CLI."""

from roset_local.cli import main

raise SystemExit(main())
