"""`roset-local mcp`: the MCP server over stdio, on the data directory itself (no HTTP server needed).

The process opens the data directory as `serve` and `worker` do: SQLite in WAL mode and leased queue
jobs let it run beside a server on the same directory. It runs a queue consumer too (unless
``--no-worker``), so uploads are processed when no server is running.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

import anyio

from roset_local.auth import Principal, authenticate_key
from roset_local.config import Settings
from roset_local.errors import RosetError
from roset_local.services import Services, StartupError
from roset_local.wiring import wire

KEY_ENV = "ROSET_API_KEY"


def api_key(settings: Settings) -> str:
    """ROSET_API_KEY, else ROSET_ADMIN_KEY, else the admin-key file the first start wrote."""
    for value in (os.environ.get(KEY_ENV), settings.admin_key):
        if value and value.strip():
            return value.strip()
    path = settings.data_dir / "admin-key"
    try:
        return path.read_text().strip()
    except OSError:
        raise StartupError(f"no API key: set {KEY_ENV} (a key from 'roset-local keys create') or keep {path}") from None


def serve_stdio(settings: Settings, *, worker: bool) -> int:
    from roset_local.mcp_server.server import build_server
    from roset_local.mcp_server.tools import STDIO

    services = wire(Services(settings).open())
    try:
        services.ensure_admin_key(announce=lambda m: print(m, file=sys.stderr, flush=True))
        raw = api_key(settings)
        try:
            authenticate_key(services.db, raw)
        except RosetError as exc:
            raise StartupError(f"{exc.message} ({KEY_ENV})") from None

        def caller(_: Any) -> Principal:
            # Checked on every request, so a key revoked meanwhile stops working at once.
            return authenticate_key(services.db, raw, services.key_cache)

        server = build_server(services, caller, STDIO)
        services.start(consumer=worker)

        async def run() -> None:
            from mcp.server.stdio import stdio_server

            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(run)
    finally:
        services.stop()
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    settings = Settings.from_env(data_dir=args.data_dir)
    # stdout carries the protocol: every log line goes to stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    return serve_stdio(settings, worker=not args.no_worker and settings.consumer)


def register(sub: Any) -> None:
    parser = sub.add_parser("mcp", help="serve the MCP tools over stdio (for desktop AI clients)")
    parser.add_argument("--data-dir", help="data directory (env ROSET_DATA_DIR, default ./data)")
    parser.add_argument("--no-worker", action="store_true",
                        help="do not process uploads in this process (a running server or worker does)")
    parser.set_defaults(fn=cmd_mcp)
