"""The roset-local command: serve, worker, keys, version (and the operations commands)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from roset_local import __version__
from roset_local.config import Settings


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "path", "job_id", "file_id"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def configure_logging(fmt: str, level: str) -> dict[str, Any]:
    """Structured logs to stdout; returns a uvicorn log config using the same format."""
    handler = logging.StreamHandler(sys.stdout)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {"uvicorn": {"level": level.upper()}, "uvicorn.access": {"level": "WARNING"}},
    }


def _port(text: str) -> int:
    """argparse type: a TCP port a server can listen on."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, not {port}")
    return port


def check_bindable(host: str, port: int) -> None:
    """Bind (and release) host:port the way uvicorn will, so a busy or bad port fails before anything is created."""
    import socket

    from roset_local.services import StartupError

    if not 1 <= port <= 65535:
        raise StartupError(f"port must be between 1 and 65535, not {port}")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind(addr)
    except OSError as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def cmd_serve(args: argparse.Namespace) -> int:
    import signal

    import uvicorn

    from roset_local.app import create_app

    settings = Settings.from_args(args)
    check_bindable(settings.host, settings.port)
    log_config = configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings)
    logging.getLogger("roset_local").info(
        "Roset Local %s serving on http://%s:%d (data: %s)", __version__, settings.host, settings.port,
        settings.data_dir.resolve(),
    )
    # uvicorn re-raises the signal it caught once shutdown is done; with a no-op handler in place
    # that re-raise is harmless and a clean SIGTERM shutdown exits 0 (systemd, Docker expect it).
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=log_config,
        access_log=False,
        timeout_graceful_shutdown=10,
        lifespan="on",
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """A queue consumer on the same data directory, without the HTTP server; with a shared queue
    (--queue / ROSET_QUEUE_URL) a worker host with no data directory at all."""
    import signal
    import threading

    settings = Settings.from_args(args)
    configure_logging(settings.log_format, settings.log_level)
    if settings.queue_url:
        from roset_local.scaleout import worker as worker_host
        from roset_local.services import StartupError

        try:
            return worker_host.run(settings)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
    from roset_local.services import Services
    from roset_local.wiring import wire

    services = wire(Services.open_existing(Settings.from_args(args)))
    services.start(consumer=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logging.getLogger("roset_local").info("worker running with %d threads", settings.workers)
    stop.wait()
    services.stop()
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Create (or upgrade) a data directory without serving: databases, schema, signing key."""
    from roset_local.services import Services

    services = Services(Settings.from_args(args)).open()
    services.db.close()
    print(f"data directory ready: {services.settings.data_dir.resolve()}")
    return 0


def _scopes_arg(text: str | None) -> list[str] | None:
    """--scopes checked against the API's own list, so the CLI refuses what the API would refuse."""
    from roset_local.auth import check_scopes

    if text is None:
        return None
    scopes = [s.strip() for s in text.split(",") if s.strip()]
    if not scopes:
        raise ValueError("--scopes: give at least one scope, or leave it out for all scopes")
    try:
        return check_scopes(scopes)
    except ValueError as exc:
        raise ValueError(f"--scopes: {exc}") from None


def cmd_keys(args: argparse.Namespace) -> int:
    from roset_local import audit
    from roset_local.services import Services
    from roset_local.store import keys as key_store

    try:
        scopes = _scopes_arg(args.scopes) if args.keys_cmd == "create" else None
    except ValueError as exc:
        print(f"roset-local: {exc}", file=sys.stderr)
        return 2
    services = Services.open_existing(Settings.from_args(args))
    try:
        db = services.db
        if args.keys_cmd == "create":
            spaces = args.spaces.split(",") if args.spaces else None
            with audit.recorded(db, audit.cli_actor("keys create"), "api_key.created", "api_key",
                                changes={"name": args.name, "scopes": scopes or list(key_store.ALL_SCOPES),
                                         "spaces": spaces, "mode": args.mode}) as entry:
                row, raw = key_store.create_key(db, name=args.name, scopes=scopes, spaces=spaces, mode=args.mode)
                entry.target_id = row["id"]
            print(json.dumps({"id": row["id"], "name": row["name"], "key": raw, "scopes": row["scopes"]}, indent=2))
        elif args.keys_cmd == "list":
            for row in key_store.list_keys(db):
                print(f"{row['id']}  {row['prefix']}…  {row['name']}  last used: {row['last_used_at'] or 'never'}")
        elif args.keys_cmd == "revoke":
            key = key_store.get_key(db, args.key_id)
            if key is None or key["revoked_at"]:
                print(f"no active key {args.key_id}", file=sys.stderr)
                return 1
            with audit.recorded(db, audit.cli_actor("keys revoke"), "api_key.revoked", "api_key", args.key_id,
                                changes={"name": key["name"]}):
                key_store.revoke_key(db, args.key_id)
            print(f"revoked {args.key_id}")
    finally:
        services.db.close()
    return 0


def cmd_version(_: argparse.Namespace) -> int:
    print(f"roset-local {__version__}")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (env ROSET_DATA_DIR, default ./data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roset-local", description="Roset Local: the Roset API, self-hosted.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API, the console and the queue in one process")
    _common(serve)
    serve.add_argument("--host", help="bind address (env ROSET_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="port (env ROSET_PORT, default 8700)")
    serve.add_argument("--log-format", choices=["text", "json"], help="log format (env ROSET_LOG_FORMAT)")
    serve.add_argument("--workers", type=int, help="queue worker threads (env ROSET_WORKERS, default: cores)")
    serve.set_defaults(fn=cmd_serve)

    init = sub.add_parser("init", help="create the data directory (databases and keys) without serving")
    _common(init)
    init.set_defaults(fn=cmd_init)

    worker = sub.add_parser("worker", help="run an extra queue worker process on the same data directory, or a "
                                           "worker host on a shared queue (--queue, --storage)")
    _common(worker)
    worker.add_argument("--workers", type=int, help="worker threads")
    worker.add_argument("--queue", help="shared queue of a worker host, redis://HOST:6379/0 (env ROSET_QUEUE_URL)")
    worker.add_argument("--storage", help="the API host's object store, e.g. s3://bucket/prefix (env ROSET_STORAGE_URL)")
    worker.add_argument("--log-format", choices=["text", "json"])
    worker.set_defaults(fn=cmd_worker)

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_cmd", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it once")
    _common(create)
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", help="comma-separated scopes (default: all)")
    create.add_argument("--spaces", help="comma-separated spaces the key is confined to")
    create.add_argument("--mode", choices=["live", "test"], default="live")
    lst = keys_sub.add_parser("list", help="list active keys")
    _common(lst)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    _common(revoke)
    revoke.add_argument("key_id")
    keys.set_defaults(fn=cmd_keys)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(fn=cmd_version)

    for register in extra_commands():
        register(sub)
    return parser


def extra_commands() -> list[Callable[[Any], None]]:
    """Operations commands from other modules (explicit list)."""
    from roset_local.ops import cli as ops_cli

    from roset_local.portal import cli as users_cli

    from roset_local.audit import cli as audit_cli

    from roset_local.mcp_server import stdio as mcp_stdio

    return [ops_cli.register, users_cli.register, audit_cli.register, mcp_stdio.register]


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # the frozen binary re-enters here in extraction workers
    # Everything the program writes (databases, blobs, keys, backups) is for this user only: 0600
    # files in 0700 folders, whatever the shell's umask.
    os.umask(0o077)
    from roset_local.services import StartupError

    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except StartupError as exc:
        print(f"roset-local: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
