"""``agile serve`` (the REST API and web rater) and ``agile users add|list|revoke|token``."""
from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from server.settings import DEFAULT_DATA_DIR


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="serve the REST API and the web rater for a corpus")
    serve.add_argument("corpus")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--data", default=str(DEFAULT_DATA_DIR), help="database and model versions")
    serve.add_argument("--dev", action="store_true",
                       help="loopback only: no tokens, every request acts as one local owner")
    serve.add_argument("--batch-size", type=int, default=100, help="images per rating batch")
    serve.add_argument("--random-negatives", type=int, default=None,
                       help="unrated images used as extra negatives when training (fewer is faster)")
    serve.add_argument("--eval-versions", type=int, default=3,
                       help="an evaluate job stratifies over this many latest versions (and zero-shot)")
    serve.add_argument("--eval-per-stratum", type=int, default=20,
                       help="evaluation images per score stratum and model (10 strata)")
    serve.add_argument("--pin-scan-store", action="store_true",
                       help="lock the int8 copy AL rounds scan in memory (a machine of its own; needs memlock)")
    serve.set_defaults(func=cmd_serve)

    users = sub.add_parser("users", help="manage the users of a server")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = users_sub.add_parser("add", help="add a user and print their token (shown once)")
    add.add_argument("name")
    add.add_argument("--role", choices=["owner", "viewer"], required=True)
    add.set_defaults(func=cmd_users_add)
    listing = users_sub.add_parser("list", help="users, roles and how many active tokens each has")
    listing.set_defaults(func=cmd_users_list)
    revoke = users_sub.add_parser("revoke", help="revoke every token of a user (their concepts stay)")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_users_revoke)
    token = users_sub.add_parser("token", help="issue a new token for an existing user (shown once)")
    token.add_argument("name")
    token.set_defaults(func=cmd_users_token)
    for action in (add, listing, revoke, token):
        action.add_argument("--data", default=str(DEFAULT_DATA_DIR), help="the server's --data directory")

def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.settings import ServerSettings

    try:
        settings = ServerSettings(corpus=args.corpus, data=args.data, host=args.host, port=args.port,
                                  dev=args.dev, batch_size=args.batch_size,
                                  random_negatives=args.random_negatives,
                                  eval_versions=args.eval_versions, eval_per_stratum=args.eval_per_stratum,
                                  **({"pin_scan_store": True} if args.pin_scan_store else {}))
    except ValidationError as e:
        print(f"agile serve: error: {'; '.join(err['msg'] for err in e.errors())}", file=sys.stderr)
        return 2
    print(f"agile serve: loading {settings.corpus} ...", flush=True)
    # info: uvicorn says when it listens ("Uvicorn running on ..."); requests are not logged.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info", access_log=False)
    return 0


def _accounts(data: str):
    from server.accounts import Accounts
    from server.db import Database
    from server.settings import database_path

    return Accounts(Database(database_path(data)))


def _users_command(action):
    """Run ``action(args)``; a ServerError (unknown user, bad name) is exit code 2 with its message."""
    from server.errors import ServerError

    def run(args: argparse.Namespace) -> int:
        try:
            action(args)
        except ServerError as e:
            print(f"agile users {args.users_command}: error: {e.message}", file=sys.stderr)
            return 2
        return 0
    return run


def _print_token(what: str, token: str) -> None:
    print(f"{what}; their token (shown only now, store it safely):", file=sys.stderr)
    print(token)


@_users_command
def cmd_users_add(args: argparse.Namespace) -> None:
    user, token = _accounts(args.data).add_user(args.name, args.role)
    _print_token(f"added {user.role} {user.name!r}", token)


@_users_command
def cmd_users_token(args: argparse.Namespace) -> None:
    user, token = _accounts(args.data).issue_token(args.name)
    _print_token(f"new token for {user.role} {user.name!r}", token)


@_users_command
def cmd_users_revoke(args: argparse.Namespace) -> None:
    from server.accounts import TOKEN_RECHECK_SECONDS

    count = _accounts(args.data).revoke(args.name)
    print(f"revoked {count} token{'s' * (count != 1)} of {args.name.strip()!r} (a running server refuses "
          f"them within {TOKEN_RECHECK_SECONDS:g} s); their concepts, ratings and versions are kept")


@_users_command
def cmd_users_list(args: argparse.Namespace) -> None:
    rows = [("name", "role", "created", "active tokens")]
    rows += [(u.name, u.role, u.created_at, str(u.active_tokens)) for u in _accounts(args.data).list_users()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
