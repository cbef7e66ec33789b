"""``roset-local users``: console user accounts (create, list, set a password, a role and spaces, disable)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValueError("no terminal to ask for the password: pipe it in with --password-stdin "
                         "(e.g. `printf '%s\\n' \"$PW\" | roset-local users create ... --password-stdin`)")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise SystemExit("passwords do not match")
    return first


def _describe(row: dict[str, Any]) -> str:
    spaces = ", ".join(row["spaces"]) if row.get("spaces") else "all spaces"
    state = "  DISABLED" if row.get("disabled_at") else ""
    return f"{row['username']}  {row['role']} ({spaces}){state}"


def _run(args: argparse.Namespace, db: Any) -> str:
    from roset_local.audit import cli_actor
    from roset_local.portal import roles, users
    from roset_local.store import console as store

    actor = cli_actor(f"users {args.users_cmd}")

    if args.users_cmd == "create":
        role = "admin" if args.admin else args.role
        row = users.create_user(db, args.username, _read_password(args), role=role,
                                spaces=roles.parse_spaces(args.spaces), actor=actor)
        return f"created console user {_describe(row)}"
    if args.users_cmd == "set-password":
        users.set_password(db, args.username, _read_password(args), actor)
        return f"password changed for {args.username}; their sessions were signed out"
    if args.users_cmd == "set-role":
        return f"changed: {_describe(users.set_access(db, args.username, args.role, roles.parse_spaces(args.spaces), actor))}"
    if args.users_cmd in ("disable", "enable"):
        users.set_disabled(db, args.username, args.users_cmd == "disable", actor)
        return f"{args.username} {args.users_cmd}d"
    lines = [f"{_describe(row)}  last sign-in {row['last_login_at'] or 'never'}  created {row['created_at']}"
             for row in store.list_users(db)]
    return "\n".join(lines)


def cmd_users(args: argparse.Namespace) -> int:
    from roset_local.config import Settings
    from roset_local.services import Services

    services = Services.open_existing(Settings.from_args(args))
    try:
        out = _run(args, services.db)
    except ValueError as exc:
        print(f"roset-local: {exc}", file=sys.stderr)
        return 1
    finally:
        services.db.close()
    if out:
        print(out)
    return 0


def register(subparsers: Any) -> None:
    from roset_local.portal import roles

    users = subparsers.add_parser("users", help="manage console (browser) users")
    sub = users.add_subparsers(dest="users_cmd", required=True)
    role_help = (f"one of {', '.join(roles.ROLES)} (admin: everything; member: only its --spaces; "
                 "read-only: views its --spaces, or every space without --spaces)")
    create = sub.add_parser("create", help="create a console user")
    create.add_argument("--data-dir", help="data directory (env ROSET_DATA_DIR, default ./data)")
    create.add_argument("--username", required=True)
    create.add_argument("--role", choices=roles.ROLES, default=roles.READ_ONLY, help=role_help)
    create.add_argument("--spaces", default="", help="comma-separated spaces (a member needs at least one)")
    create.add_argument("--admin", action="store_true", help="an administrator (the same as --role admin)")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    pw = sub.add_parser("set-password", help="change a user's password (signs their sessions out)")
    pw.add_argument("--data-dir")
    pw.add_argument("--username", required=True)
    pw.add_argument("--password-stdin", action="store_true")
    access = sub.add_parser("set-role", help="change a user's role and spaces")
    access.add_argument("--data-dir")
    access.add_argument("--username", required=True)
    access.add_argument("--role", choices=roles.ROLES, required=True, help=role_help)
    access.add_argument("--spaces", default="", help="comma-separated spaces")
    for verb, text in (("disable", "disable a user (signs their sessions out)"), ("enable", "enable a user again")):
        toggle = sub.add_parser(verb, help=text)
        toggle.add_argument("--data-dir")
        toggle.add_argument("--username", required=True)
    lst = sub.add_parser("list", help="list console users")
    lst.add_argument("--data-dir")
    users.set_defaults(fn=cmd_users)
