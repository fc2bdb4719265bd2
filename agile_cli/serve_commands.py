"""``agile serve`` (the REST API and web rater) and ``agile users add|list|revoke|token``."""
from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from server.settings import DEFAULT_DATA_DIR, ServerSettings

# The settings `agile serve` takes as flags (the rest from AGILE_SERVER_* or their defaults).
SERVE_FLAGS = {"host": str, "port": int, "data": str, "dev": bool, "batch_size": int, "random_negatives": int,
               "eval_versions": int, "eval_per_stratum": int, "pin_scan_store": bool,
               "allowed_hosts": str, "read_access": ("all", "shared"), "max_jobs_per_user": int,
               "max_queued_jobs": int, "max_image_pixels": int, "max_concurrent_images": int, "max_bootstrap": int,
               "request_read_timeout": float, "allow_random_weights": bool,
               "engine": ("local", "ray"), "scan_actors": int, "recipe": ("fixed", "adaptive"),
               "learner": ("ensemble", "mlp", "logreg")}


def _setting_help(name: str) -> str:
    field = ServerSettings.model_fields[name]
    default = "" if field.default is None or isinstance(field.default, bool) else f" (default {field.default})"
    return f"{field.description}{default}"


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="serve the REST API and the web rater for a corpus")
    serve.add_argument("corpus")
    # Every default lives in ServerSettings: flags left out are not passed, so AGILE_SERVER_* apply.
    for name, kind in SERVE_FLAGS.items():
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            serve.add_argument(flag, action="store_true", default=None, help=_setting_help(name))
        elif isinstance(kind, tuple):
            serve.add_argument(flag, choices=kind, help=_setting_help(name))
        else:
            serve.add_argument(flag, type=kind, help=_setting_help(name))
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

    given = {name: getattr(args, name) for name in SERVE_FLAGS if getattr(args, name) is not None}
    try:
        if "allowed_hosts" in given:
            given["allowed_hosts"] = [h.strip() for h in given["allowed_hosts"].split(",") if h.strip()]
        settings = ServerSettings(corpus=args.corpus, **given)
    except ValidationError as e:
        print(f"agile serve: error: {'; '.join(err['msg'] for err in e.errors())}", file=sys.stderr)
        return 2
    # Refuse a model that cannot be used (an open_clip name without weights) before the server starts,
    # so the owner reads one sentence (agile_cli.main prints AgileErrors), not a traceback.
    from agile.corpus.manifest import read_manifest
    from agile.embedder import check_weights

    check_weights(read_manifest(settings.corpus).model, settings.allow_random_weights)
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
