"""``roset-local users``: console user accounts (create, list, set a password)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise SystemExit("passwords do not match")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    from roset_local.cli import _settings
    from roset_local.portal import users
    from roset_local.services import Services
    from roset_local.store import console as store

    services = Services(_settings(args)).open()
    try:
        db = services.db
        if args.users_cmd == "create":
            try:
                user = users.create_user(db, args.username, _read_password(args), is_admin=args.admin)
            except ValueError as exc:
                print(f"roset-local: {exc}", file=sys.stderr)
                return 1
            print(f"created console user {user['username']}{' (admin)' if args.admin else ''}")
        elif args.users_cmd == "set-password":
            try:
                users.set_password(db, args.username, _read_password(args))
            except ValueError as exc:
                print(f"roset-local: {exc}", file=sys.stderr)
                return 1
            print(f"password changed for {args.username}; their sessions were signed out")
        elif args.users_cmd == "list":
            for row in store.list_users(db):
                print(f"{row['username']}{'  (admin)' if row['is_admin'] else ''}  created {row['created_at']}")
    finally:
        services.db.close()
    return 0


def register(subparsers: Any) -> None:
    users = subparsers.add_parser("users", help="manage console (browser) users")
    sub = users.add_subparsers(dest="users_cmd", required=True)
    create = sub.add_parser("create", help="create a console user")
    create.add_argument("--data-dir", help="data directory (env ROSET_DATA_DIR, default ./data)")
    create.add_argument("--username", required=True)
    create.add_argument("--admin", action="store_true", help="an administrator")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    pw = sub.add_parser("set-password", help="change a user's password (signs their sessions out)")
    pw.add_argument("--data-dir")
    pw.add_argument("--username", required=True)
    pw.add_argument("--password-stdin", action="store_true")
    lst = sub.add_parser("list", help="list console users")
    lst.add_argument("--data-dir")
    users.set_defaults(fn=cmd_users)
